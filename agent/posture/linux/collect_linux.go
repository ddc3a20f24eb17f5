package linux

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

// Where Linux keeps what is read.
const (
	clamDir      = "/var/lib/clamav"
	usbDevices   = "/sys/bus/usb/devices"
	sysRoot      = "/sys"
	runUserDir   = "/run/user"
	dconfDBDir   = "/etc/dconf/db"
	commandLimit = 5 * time.Second
)

// Antivirus reports ClamAV. No ClamAV database and no ClamAV process
// means no antivirus: an empty list with no reason.
func Antivirus(ctx context.Context) *agentv1.Antivirus {
	procs := runningCommands()
	s := clamState{
		Clamd:     procs["clamd"],
		OnAccess:  procs["clamonacc"],
		Freshclam: procs["freshclam"],
	}
	found := s.Clamd || s.OnAccess || s.Freshclam
	entries, err := os.ReadDir(clamDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case errors.Is(err, fs.ErrPermission):
		return &agentv1.Antivirus{UnknownReason: "no permission: cannot read " + clamDir}
	case err != nil:
		return &agentv1.Antivirus{UnknownReason: fmt.Sprintf("cannot read %s: %v", clamDir, err)}
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "daily.") {
			continue
		}
		db, err := readClamHeader(filepath.Join(clamDir, e.Name()))
		if err != nil {
			continue // a half-downloaded file; another daily file may do
		}
		found = true
		if db.Built.After(s.Daily.Built) {
			s.Daily = db
		}
	}
	if !found {
		return &agentv1.Antivirus{}
	}
	return &agentv1.Antivirus{Products: []*agentv1.AntivirusProduct{clamProduct(s, time.Now())}}
}

// readClamHeader reads the header of the ClamAV database file at path.
func readClamHeader(path string) (clamDB, error) {
	f, err := os.Open(path)
	if err != nil {
		return clamDB{}, err
	}
	defer f.Close()
	b := make([]byte, 512)
	n, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return clamDB{}, err
	}
	return parseClamHeader(b[:n])
}

// runningCommands returns the command names of the running processes,
// from /proc/*/comm.
func runningCommands() map[string]bool {
	names := map[string]bool{}
	dirs, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, d := range dirs {
		if b, err := os.ReadFile(d); err == nil {
			names[strings.TrimSpace(string(b))] = true
		}
	}
	return names
}

// Encryption reports every mounted file system and whether LUKS protects
// it.
func Encryption(ctx context.Context) *agentv1.Encryption {
	out, err := command(ctx, "lsblk", "--json", "-o", "NAME,TYPE,FSTYPE,MOUNTPOINT,MOUNTPOINTS")
	if err != nil && strings.Contains(err.Error(), "unknown column") {
		// util-linux before 2.37 has no MOUNTPOINTS.
		out, err = command(ctx, "lsblk", "--json", "-o", "NAME,TYPE,FSTYPE,MOUNTPOINT")
	}
	if err != nil {
		return &agentv1.Encryption{UnknownReason: err.Error()}
	}
	vols, err := decodeLsblk(out)
	if err != nil {
		return &agentv1.Encryption{UnknownReason: err.Error()}
	}
	return &agentv1.Encryption{Volumes: vols}
}

// ScreenLock reports GNOME's lock settings for the first user with a
// desktop session, combined with the machine's dconf policy.
func ScreenLock(ctx context.Context) *agentv1.ScreenLock {
	policy, locked := readDconfPolicy(dconfDBDir)
	uid, name, ok := sessionUser()
	if !ok {
		if policy.IdleDelay != nil && policy.LockEnabled != nil {
			return effectiveGnomeLock("", gnomeLock{}, policy, locked)
		}
		return &agentv1.ScreenLock{UnknownReason: "no desktop session: GNOME settings are read for signed-in users"}
	}
	if _, err := exec.LookPath("gsettings"); err != nil {
		return &agentv1.ScreenLock{UnknownReason: "command absent: gsettings (no GNOME desktop)"}
	}
	var u gnomeLock
	for _, k := range gnomeKeys {
		out, err := asUser(ctx, uid, name, "gsettings", "get", k.schema, k.key)
		if err != nil {
			return &agentv1.ScreenLock{User: name, UnknownReason: err.Error()}
		}
		if err := u.set(k.key, string(out)); err != nil {
			return &agentv1.ScreenLock{User: name, UnknownReason: err.Error()}
		}
	}
	return effectiveGnomeLock(name, u, policy, locked)
}

// sessionUser returns the lowest-numbered ordinary user with a session bus
// in /run/user, the usual sign of a desktop session.
func sessionUser() (uid int, name string, ok bool) {
	entries, err := os.ReadDir(runUserDir)
	if err != nil {
		return 0, "", false
	}
	var uids []int
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil || n < 1000 {
			continue
		}
		if _, err := os.Stat(filepath.Join(runUserDir, e.Name(), "bus")); err == nil {
			uids = append(uids, n)
		}
	}
	if len(uids) == 0 {
		return 0, "", false
	}
	slices.Sort(uids)
	u, err := user.LookupId(strconv.Itoa(uids[0]))
	if err != nil {
		return 0, "", false
	}
	return uids[0], u.Username, true
}

// asUser runs a command as the user uid with their session bus, through
// runuser when the agent is root.
func asUser(ctx context.Context, uid int, name string, args ...string) ([]byte, error) {
	bus := fmt.Sprintf("DBUS_SESSION_BUS_ADDRESS=unix:path=%s/%d/bus", runUserDir, uid)
	if os.Geteuid() == uid {
		return command(ctx, "env", append([]string{bus}, args...)...)
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("no permission: reading %s's settings needs root", name)
	}
	return command(ctx, "runuser", append([]string{"-u", name, "--", "env", bus}, args...)...)
}

// readDconfPolicy reads the machine's dconf keyfiles and locks under dir.
func readDconfPolicy(dir string) (gnomeLock, map[string]bool) {
	var keyfiles, lockfiles []string
	files, _ := filepath.Glob(filepath.Join(dir, "*.d", "*"))
	locks, _ := filepath.Glob(filepath.Join(dir, "*.d", "locks", "*"))
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil {
			keyfiles = append(keyfiles, string(b))
		}
	}
	for _, f := range locks {
		if b, err := os.ReadFile(f); err == nil {
			lockfiles = append(lockfiles, string(b))
		}
	}
	return parseDconfPolicy(keyfiles, lockfiles)
}

// USB lists the USB devices attached now. A machine without a USB bus
// (many virtual machines) has none.
func USB(ctx context.Context) *agentv1.Usb {
	devs, err := decodeSysfsUSB(os.DirFS(usbDevices))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &agentv1.Usb{}
	case err != nil:
		return &agentv1.Usb{UnknownReason: fmt.Sprintf("cannot read %s: %v", usbDevices, err)}
	}
	return &agentv1.Usb{Devices: devs}
}

// WatchUSB listens for kernel uevents and emits USB insertions and
// removals as they happen.
func WatchUSB(ctx context.Context, emit func(typ string, e *agentv1.UsbEvent)) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		return fmt.Errorf("open kernel uevent socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1}); err != nil {
		unix.Close(fd)
		return fmt.Errorf("listen for kernel uevents: %w", err)
	}
	f := os.NewFile(uintptr(fd), "uevents")
	go func() {
		<-ctx.Done()
		f.Close() // unblocks the read below
	}()
	err = WatchUevents(ctx, f, os.DirFS(sysRoot), settleTime, emit)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// USBHistory reads the insertions in the kernel log kept by the systemd
// journal. Without a journal there is no history, which is not an error.
func USBHistory(ctx context.Context) ([]*agentv1.UsbEvent, error) {
	if _, err := exec.LookPath("journalctl"); err != nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "journalctl", "_TRANSPORT=kernel", "-o", "short-unix", "--no-pager", "-q")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("journalctl: %w", err)
	}
	var lines []kernelLogLine
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		// Keep only what the decoder looks at, so a long journal costs
		// little memory.
		if !strings.Contains(sc.Text(), "usb") {
			continue
		}
		if l, ok := parseShortUnix(sc.Text()); ok {
			lines = append(lines, l)
		}
	}
	if err := cmd.Wait(); err != nil && len(lines) == 0 {
		return nil, fmt.Errorf("journalctl: %w", err)
	}
	var events []*agentv1.UsbEvent
	for _, r := range decodeKernelUSBLog(lines) {
		events = append(events, recordEvent(r))
	}
	return events, nil
}

// command runs name under a short timeout and returns its standard output.
// The error says "command absent" when name is not installed and carries
// the first line of standard error otherwise.
func command(ctx context.Context, name string, args ...string) ([]byte, error) {
	if _, err := exec.LookPath(name); err != nil {
		return nil, fmt.Errorf("command absent: %s", name)
	}
	ctx, cancel := context.WithTimeout(ctx, commandLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("timed out: %s", name)
	}
	if err != nil {
		first, _, _ := strings.Cut(strings.TrimSpace(stderr.String()), "\n")
		return nil, fmt.Errorf("%s failed: %s", name, truncate(cmp.Or(first, err.Error())))
	}
	return out, nil
}
