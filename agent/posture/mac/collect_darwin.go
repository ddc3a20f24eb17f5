package mac

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

// The commands run, by absolute path: a LaunchDaemon's PATH is short.
const (
	cmdDefaults       = "/usr/bin/defaults"
	cmdDiskutil       = "/usr/sbin/diskutil"
	cmdFdesetup       = "/usr/bin/fdesetup"
	cmdIoreg          = "/usr/sbin/ioreg"
	cmdLaunchctl      = "/bin/launchctl"
	cmdPlutil         = "/usr/bin/plutil"
	cmdPmset          = "/usr/bin/pmset"
	cmdSpctl          = "/usr/sbin/spctl"
	cmdSudo           = "/usr/bin/sudo"
	cmdSysadminctl    = "/usr/sbin/sysadminctl"
	cmdSystemProfiler = "/usr/sbin/system_profiler"
)

// Time limits of single commands. The caller bounds each concern as a whole as well.
const (
	commandLimit  = 5 * time.Second
	profilerLimit = 8 * time.Second
)

// xprotectBundles are the places of XProtect's definitions, in the order XProtect itself
// prefers them: macOS 15 and later keep the copy in use in /var/protected/xprotect; macOS 11
// to 14 in /Library/Apple/System/Library/CoreServices; older systems in
// /System/Library/CoreServices.
var xprotectBundles = []string{
	"/var/protected/xprotect/XProtect.bundle",
	"/Library/Apple/System/Library/CoreServices/XProtect.bundle",
	"/System/Library/CoreServices/XProtect.bundle",
}

// managedPrefsDir is where macOS writes the settings of installed configuration profiles:
// computer-level ones at its top, user-level ones in a folder named after the user.
const managedPrefsDir = "/Library/Managed Preferences"

// USB watching: how often the IOUSB plane is read, and for how many extra reads a new device
// is held back until macOS has configured its interfaces.
const (
	usbPollInterval = 2 * time.Second
	usbMaxWait      = 1
)

// The ioreg arguments: the IOUSB plane lists the devices only, which is cheap enough to read
// every two seconds; the detailed listing adds each device's interfaces and drivers.
var (
	ioregPlaneArgs  = []string{"-p", "IOUSB", "-l", "-w0"}
	ioregDetailArgs = []string{"-r", "-c", classHostDevice, "-l", "-w0"}
)

// Antivirus reports XProtect and Gatekeeper. Third-party antivirus products are not read:
// macOS has no registry of them.
func Antivirus(ctx context.Context) *agentv1.Antivirus {
	p, err := readXProtect(ctx)
	if err != nil {
		return &agentv1.Antivirus{UnknownReason: err.Error()}
	}
	av := &agentv1.Antivirus{Products: []*agentv1.AntivirusProduct{p}}
	// spctl's exit status has varied with the state, so its output is decoded either way.
	r, err := command(ctx, commandLimit, cmdSpctl, "--status")
	if err == nil || len(r.stdout)+len(r.stderr) > 0 {
		if gk, err := decodeSpctl(string(r.stdout) + string(r.stderr)); err == nil {
			av.Gatekeeper = gk
		}
	}
	return av
}

// readXProtect reads the first XProtect bundle found in [xprotectBundles]. A bundle that
// exists but cannot be read stops the search: an older copy further down the list is not the
// one in use.
func readXProtect(ctx context.Context) (*agentv1.AntivirusProduct, error) {
	for _, dir := range xprotectBundles {
		path := filepath.Join(dir, "Contents", "Info.plist")
		fi, err := os.Stat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case errors.Is(err, fs.ErrPermission):
			return nil, errors.New("no permission: run as root")
		case err != nil:
			return nil, fmt.Errorf("XProtect: %w", err)
		}
		b, err := readPlistFile(ctx, path)
		if err != nil {
			return nil, err
		}
		return xprotectProduct(b, fi.ModTime())
	}
	return nil, errors.New("XProtect bundle not found")
}

// Encryption reports FileVault on the startup volume.
func Encryption(ctx context.Context) *agentv1.Encryption {
	r, err := command(ctx, commandLimit, cmdFdesetup, "status")
	if err != nil {
		return &agentv1.Encryption{UnknownReason: err.Error()}
	}
	v, err := decodeFdesetup(string(r.stdout))
	if err != nil {
		return &agentv1.Encryption{UnknownReason: err.Error()}
	}
	// The volume's name is a nicety: without it the state still stands.
	if r, err := command(ctx, commandLimit, cmdDiskutil, "info", "-plist", "/"); err == nil {
		if name, err := diskutilVolumeName(r.stdout); err == nil {
			v.Name = name
		}
	}
	return &agentv1.Encryption{Volumes: []*agentv1.Volume{v}}
}

// ScreenLock reports the screen lock of the user at the console, combined with the settings
// of configuration profiles and the Mac's sleep timers.
func ScreenLock(ctx context.Context) *agentv1.ScreenLock {
	u, err := consoleUser()
	if err != nil {
		return &agentv1.ScreenLock{UnknownReason: err.Error()}
	}
	if euid := os.Geteuid(); euid != 0 && euid != u.uid {
		return &agentv1.ScreenLock{UnknownReason: "no permission: run as root"}
	}
	raw := screenLockRaw{User: u.name}

	r, err := asUser(ctx, u, cmdSysadminctl, "-screenLock", "status")
	if err != nil {
		raw.LockErr = err.Error()
	} else if st, err := decodeSysadminctl(string(r.stderr) + string(r.stdout)); err != nil {
		raw.LockErr = err.Error()
	} else {
		raw.Lock = &st
	}

	r, err = asUser(ctx, u, cmdDefaults, "-currentHost", "read", "com.apple.screensaver", "idleTime")
	switch {
	case err == nil:
		if n, err := decodeDefaultsInt(string(r.stdout)); err != nil {
			raw.IdleErr = err.Error()
		} else {
			raw.IdleTime = &n
		}
	case defaultsMissing(string(r.stderr)):
		raw.IdleErr = fmt.Sprintf("screen saver idle time not set for %s (com.apple.screensaver idleTime), so the macOS default applies", u.name)
	default:
		raw.IdleErr = err.Error()
	}

	if r, err := command(ctx, commandLimit, cmdPmset, "-g"); err == nil {
		raw.DisplaySleep, raw.SystemSleep = decodePmset(string(r.stdout))
	}

	// A user-level profile wins over a computer-level one.
	for _, path := range []string{
		filepath.Join(managedPrefsDir, u.name, "com.apple.screensaver.plist"),
		filepath.Join(managedPrefsDir, "com.apple.screensaver.plist"),
	} {
		b, err := readPlistFile(ctx, path)
		if err != nil {
			continue
		}
		if p, err := decodeScreenSaverPolicy(b); err == nil {
			raw.Policy = raw.Policy.over(p)
		}
	}
	return raw.screenLock()
}

// USB reports the USB devices attached now.
func USB(ctx context.Context) *agentv1.Usb {
	recs, err := listUSB(ctx)
	if err != nil {
		return &agentv1.Usb{UnknownReason: err.Error()}
	}
	return &agentv1.Usb{Devices: usbDevices(recs)}
}

// listUSB lists the attached USB devices: as system_profiler reports them (SPUSBDataType, or
// SPUSBHostDataType on macOS 26 and later), completed with the classes ioreg gives; or as
// ioreg alone lists them when system_profiler reports nothing.
func listUSB(ctx context.Context) ([]usbRecord, error) {
	detail, detailErr := ioregUSB(ctx, ioregDetailArgs)
	primary, err := profilerUSB(ctx)
	switch {
	case err == nil:
		return mergeUSB(primary, detail), nil
	case detailErr == nil:
		return detail, nil
	}
	return nil, err
}

// profilerUSB reads system_profiler's USB report, trying SPUSBDataType and then
// SPUSBHostDataType. A report without buses counts as no report.
func profilerUSB(ctx context.Context) ([]usbRecord, error) {
	r, err := command(ctx, profilerLimit, cmdSystemProfiler, "SPUSBDataType", "-json")
	if err == nil {
		if recs, buses, err := decodeSPUSB(r.stdout); err == nil && buses > 0 {
			return recs, nil
		}
	}
	r, err = command(ctx, profilerLimit, cmdSystemProfiler, "SPUSBHostDataType", "-json")
	if err != nil {
		return nil, err
	}
	recs, buses, err := decodeSPUSBHost(r.stdout)
	if err != nil {
		return nil, err
	}
	if buses == 0 {
		return nil, errors.New("system_profiler lists no USB buses")
	}
	return recs, nil
}

// ioregUSB runs ioreg with args and decodes the USB devices it lists.
func ioregUSB(ctx context.Context, args []string) ([]usbRecord, error) {
	r, err := command(ctx, commandLimit, cmdIoreg, args...)
	if err != nil {
		return nil, err
	}
	return decodeIORegUSB(string(r.stdout)), nil
}

// WatchUSB calls emit("usb.inserted"|"usb.removed", body) for each USB device arriving or
// leaving until ctx ends. It returns an error if it cannot start.
//
// It polls: the IOUSB plane is read with ioreg every two seconds and compared with the last
// read, devices being told apart by location, vendor, product and serial. IOKit's arrival and
// removal notifications would need cgo, which the agent is built without. A device plugged in
// and out between two reads is missed; a new device is completed with its interfaces (and so
// its class and whether it is mass storage) from a detailed ioreg listing before it is
// reported. The user is left for the caller to fill.
func WatchUSB(ctx context.Context, emit func(typ string, e *agentv1.UsbEvent)) error {
	attached, err := ioregUSB(ctx, ioregPlaneArgs)
	if err != nil {
		return fmt.Errorf("watch USB: %w", err)
	}
	if detail, err := ioregUSB(ctx, ioregDetailArgs); err == nil {
		attached = mergeUSB(attached, detail)
	}
	w := newUSBWatch(attached, usbMaxWait)
	t := time.NewTicker(usbPollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		attached, err := ioregUSB(ctx, ioregPlaneArgs)
		if err != nil {
			continue // a failed read changes nothing; the next one may succeed
		}
		changes := w.next(attached, func() ([]usbRecord, error) { return ioregUSB(ctx, ioregDetailArgs) })
		for _, c := range changes {
			emit(c.Type, &agentv1.UsbEvent{Device: c.Record.device()})
		}
	}
}

// USBHistory returns the USB devices attached now, each with last_seen set to now and the
// console user, as usb.recorded bodies. macOS keeps no history of USB devices, so devices
// plugged in and removed while the agent was not running cannot be known; those still
// attached when it starts are reported this way. first_seen is left unset: macOS does not
// record when a device arrived.
func USBHistory(ctx context.Context) ([]*agentv1.UsbEvent, error) {
	recs, err := listUSB(ctx)
	if err != nil {
		return nil, fmt.Errorf("USB history: %w", err)
	}
	now := timestamppb.Now()
	name := ""
	if u, err := consoleUser(); err == nil {
		name = u.name
	}
	events := make([]*agentv1.UsbEvent, 0, len(recs))
	for _, r := range recs {
		events = append(events, &agentv1.UsbEvent{Device: r.device(), User: name, LastSeen: now})
	}
	return events, nil
}

// account is a person signed in at the console.
type account struct {
	uid  int
	name string
}

// consoleUser returns the owner of /dev/console, the user at the Mac's own screen. At the
// login window the owner is root, which is no user.
func consoleUser() (account, error) {
	fi, err := os.Stat("/dev/console")
	if err != nil {
		return account{}, fmt.Errorf("%s: %v", reasonNoConsoleUser, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return account{}, errors.New(reasonNoConsoleUser)
	}
	u, err := user.LookupId(strconv.FormatUint(uint64(st.Uid), 10))
	if err != nil {
		return account{}, fmt.Errorf("%s: uid %d has no account: %v", reasonNoConsoleUser, st.Uid, err)
	}
	if !isConsoleUser(st.Uid, u.Username) {
		return account{}, errors.New(reasonNoConsoleUser)
	}
	return account{uid: int(st.Uid), name: u.Username}, nil
}

// asUser runs a command as the console user, inside their login session (launchctl asuser,
// then sudo to take their identity) so that it reads their preferences and session state.
// When the agent already runs as that user, the command runs directly. Errors name the
// command, not launchctl.
func asUser(ctx context.Context, u account, name string, args ...string) (result, error) {
	if os.Geteuid() == u.uid {
		return command(ctx, commandLimit, name, args...)
	}
	base := filepath.Base(name)
	if _, err := exec.LookPath(name); err != nil {
		return result{}, fmt.Errorf("command absent: %s", base)
	}
	full := append([]string{"asuser", strconv.Itoa(u.uid), cmdSudo, "-n", "-u", u.name, name}, args...)
	r, err := command(ctx, commandLimit, cmdLaunchctl, full...)
	switch {
	case err == nil:
		return r, nil
	case errors.Is(err, errTimedOut):
		return r, fmt.Errorf("%w: %s", errTimedOut, base)
	case permissionDenied(string(r.stderr)):
		return r, errors.New("no permission: run as root")
	}
	return r, fmt.Errorf("%s failed: %s", base, truncate(cmp.Or(firstLine(string(r.stderr)), err.Error())))
}

// readPlistFile reads a property list file as XML, converting a binary one with plutil.
func readPlistFile(ctx context.Context, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrPermission):
		return nil, errors.New("no permission: run as root")
	case err != nil:
		return nil, err
	case !bytes.HasPrefix(b, []byte("bplist")):
		return b, nil
	}
	r, err := command(ctx, commandLimit, cmdPlutil, "-convert", "xml1", "-o", "-", path)
	if err != nil {
		return nil, err
	}
	return r.stdout, nil
}

// result is what a command wrote.
type result struct {
	stdout, stderr []byte
}

// errTimedOut marks the error of a command stopped at its time limit.
var errTimedOut = errors.New("timed out")

// command runs name with args under its own time limit and ctx. Its errors are the reasons
// reported: "command absent: fdesetup", "timed out: fdesetup", "no permission: run as root" or
// "fdesetup failed: <first line of its error output>". What the command wrote is returned in
// every case.
func command(ctx context.Context, limit time.Duration, name string, args ...string) (result, error) {
	base := filepath.Base(name)
	if _, err := exec.LookPath(name); err != nil {
		return result{}, fmt.Errorf("command absent: %s", base)
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// launchctl asuser and sudo start children that may outlive a killed parent and hold its
	// output open; stop waiting for them a second after.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	r := result{stdout: stdout.Bytes(), stderr: stderr.Bytes()}
	switch {
	case ctx.Err() != nil:
		return r, fmt.Errorf("%w: %s", errTimedOut, base)
	case err == nil:
		return r, nil
	case os.Geteuid() != 0 && permissionDenied(stderr.String()):
		return r, errors.New("no permission: run as root")
	}
	return r, fmt.Errorf("%s failed: %s", base, truncate(cmp.Or(firstLine(stderr.String()), err.Error())))
}
