package linux

// This file turns what Linux says (ClamAV headers, lsblk JSON, sysfs
// attributes, uevents, kernel log lines, gsettings and dconf values) into
// posture messages. It has no build tags so that its tests run anywhere.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

// clamDB is what the header of a ClamAV database file says.
type clamDB struct {
	Version int
	Built   time.Time
}

// parseClamHeader decodes the 512-byte ASCII header of a ClamAV .cvd or
// .cld file: "ClamAV-VDB:<time>:<version>:<sigs>:<flevel>:<md5>:<dsig>:<builder>:<epoch>".
func parseClamHeader(b []byte) (clamDB, error) {
	h := string(bytes.TrimRight(b[:min(len(b), 512)], " \x00\n"))
	if !strings.HasPrefix(h, "ClamAV-VDB:") {
		return clamDB{}, errors.New("not a ClamAV database header")
	}
	f := strings.Split(h, ":")
	if len(f) < 9 {
		return clamDB{}, fmt.Errorf("ClamAV header has %d fields, want 9", len(f))
	}
	v, err := strconv.Atoi(f[2])
	if err != nil {
		return clamDB{}, fmt.Errorf("ClamAV header version %q: %w", f[2], err)
	}
	epoch, err := strconv.ParseInt(strings.TrimSpace(f[8]), 10, 64)
	if err != nil || epoch <= 0 {
		return clamDB{}, fmt.Errorf("ClamAV header build time %q is not a Unix time", f[8])
	}
	return clamDB{Version: v, Built: time.Unix(epoch, 0).UTC()}, nil
}

// clamState is what is known of ClamAV on a machine.
type clamState struct {
	Daily             clamDB // the newest daily database
	Clamd, OnAccess   bool   // clamd and clamonacc are running
	Freshclam         bool   // freshclam is running as a daemon
	FreshclamUnitless bool   // no freshclam daemon, but a timer or cron may update
}

// clamStaleAfter is how old the daily database may be while freshclam
// runs before ClamAV is no longer up to date: freshclam checks every two
// hours by default, and a new daily database is published every day.
const clamStaleAfter = 48 * time.Hour

// clamProduct turns what is known of ClamAV into a product. It is enabled
// when clamd runs (a scanner is ready); real-time protection is clamonacc;
// up to date means the daily database is under two days old and freshclam
// runs to keep it so.
func clamProduct(s clamState, now time.Time) *agentv1.AntivirusProduct {
	p := &agentv1.AntivirusProduct{
		Name:               "ClamAV",
		Source:             "clamav",
		Enabled:            s.Clamd,
		RealTimeProtection: &s.OnAccess,
		State:              "freshclam stopped",
	}
	if s.Freshclam {
		p.State = "freshclam running"
	}
	if !s.Daily.Built.IsZero() {
		p.SignatureUpdated = timestamppb.New(s.Daily.Built)
		p.SignatureVersion = strconv.Itoa(s.Daily.Version)
		p.UpToDate = s.Freshclam && now.Sub(s.Daily.Built) < clamStaleAfter
	}
	return p
}

// lsblkDevice is one node of `lsblk --json` output. Older util-linux
// prints "mountpoint", newer prints "mountpoints" too.
type lsblkDevice struct {
	Name        string        `json:"name"`
	Type        string        `json:"type"`
	FSType      *string       `json:"fstype"`
	MountPoint  *string       `json:"mountpoint"`
	MountPoints []*string     `json:"mountpoints"`
	Children    []lsblkDevice `json:"children"`
}

// skipFSTypes are mounted file systems that hold no user data to protect.
var skipFSTypes = map[string]bool{"swap": true, "squashfs": true, "iso9660": true, "erofs": true}

// decodeLsblk returns a volume for every mounted file system in the
// output of `lsblk --json -o NAME,TYPE,FSTYPE,MOUNTPOINT,MOUNTPOINTS`,
// encrypted when a crypt device lies between it and its disk.
func decodeLsblk(out []byte) ([]*agentv1.Volume, error) {
	var doc struct {
		BlockDevices []lsblkDevice `json:"blockdevices"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("lsblk output: %w", err)
	}
	var vols []*agentv1.Volume
	var walk func(d lsblkDevice, crypt string)
	walk = func(d lsblkDevice, crypt string) {
		if d.Type == "loop" {
			return
		}
		if d.Type == "crypt" && crypt == "" {
			crypt = "LUKS"
		}
		fstype := deref(d.FSType)
		for _, mp := range mountPoints(d) {
			if skipFSTypes[fstype] || strings.HasPrefix(mp, "[") {
				continue
			}
			v := &agentv1.Volume{Name: "/dev/" + d.Name, MountPoint: mp, OsVolume: mp == "/", State: "not_encrypted"}
			if crypt != "" {
				v.State, v.Method, v.EncryptionPercent = "encrypted", crypt, 100
			}
			vols = append(vols, v)
		}
		for _, c := range d.Children {
			walk(c, crypt)
		}
	}
	for _, d := range doc.BlockDevices {
		walk(d, "")
	}
	slices.SortStableFunc(vols, func(a, b *agentv1.Volume) int { return strings.Compare(a.MountPoint, b.MountPoint) })
	return vols, nil
}

// mountPoints returns the distinct mount points of d.
func mountPoints(d lsblkDevice) []string {
	var mps []string
	for _, p := range append([]*string{d.MountPoint}, d.MountPoints...) {
		if mp := deref(p); mp != "" && !slices.Contains(mps, mp) {
			mps = append(mps, mp)
		}
	}
	return mps
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// usbClasses names the USB base classes (usb.org "Defined Class Codes").
var usbClasses = map[int]string{
	0x01: "audio", 0x02: "comm", 0x03: "hid", 0x05: "physical", 0x06: "image",
	0x07: "printer", 0x08: "mass_storage", 0x09: "hub", 0x0a: "comm", 0x0b: "smart_card",
	0x0d: "content_security", 0x0e: "video", 0x0f: "healthcare", 0x10: "audio_video",
	0x11: "billboard", 0xdc: "diagnostic", 0xe0: "wireless", 0xef: "misc",
	0xfe: "application_specific", 0xff: "vendor_specific",
}

// usbClassName names a USB class code; unknown codes are "other".
func usbClassName(code int) string {
	if n, ok := usbClasses[code]; ok {
		return n
	}
	return "other"
}

// linuxFoundation is the vendor ID of the kernel's virtual root hubs.
const linuxFoundation = "1d6b"

// decodeSysfsUSB reads the devices in fsys, a view of /sys/bus/usb/devices,
// skipping root hubs. A device's class is its own or, when it leaves that
// to its interfaces (class 0), its first interface's; it is mass storage
// when any interface is.
func decodeSysfsUSB(fsys fs.FS) ([]*agentv1.UsbDevice, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var out []*agentv1.UsbDevice
	for _, e := range entries {
		name := e.Name()
		if strings.Contains(name, ":") {
			continue // an interface, read with its device
		}
		d := readSysfsUSBDevice(fsys, name)
		if d == nil || d.VendorId == linuxFoundation {
			continue
		}
		out = append(out, d)
	}
	return out, nil
}

// readSysfsUSBDevice reads the device directory dir of fsys and its
// interfaces. It returns nil when dir holds no USB device.
func readSysfsUSBDevice(fsys fs.FS, dir string) *agentv1.UsbDevice {
	attr := func(name string) string {
		b, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	vid, pid := strings.ToLower(attr("idVendor")), strings.ToLower(attr("idProduct"))
	if vid == "" || pid == "" {
		return nil
	}
	d := &agentv1.UsbDevice{
		VendorId:  vid,
		ProductId: pid,
		Vendor:    attr("manufacturer"),
		Product:   attr("product"),
		Serial:    attr("serial"),
	}
	class, _ := strconv.ParseInt(attr("bDeviceClass"), 16, 32)
	var ifClasses []int
	// Interfaces are folders inside the device's, named after it: 1-1:1.0.
	if ifaces, err := fs.Glob(fsys, path.Join(dir, path.Base(dir)+":*")); err == nil {
		slices.Sort(ifaces)
		for _, i := range ifaces {
			b, err := fs.ReadFile(fsys, path.Join(i, "bInterfaceClass"))
			if err != nil {
				continue
			}
			if c, err := strconv.ParseInt(strings.TrimSpace(string(b)), 16, 32); err == nil {
				ifClasses = append(ifClasses, int(c))
			}
		}
	}
	if class == 0 && len(ifClasses) > 0 {
		class = int64(ifClasses[0])
	}
	d.Class = usbClassName(int(class))
	d.MassStorage = class == 0x08 || slices.Contains(ifClasses, 0x08)
	return d
}

// uevent is one kernel uevent: "ACTION@DEVPATH" then KEY=VALUE fields,
// separated by NUL bytes.
type uevent struct {
	Action, DevPath string
	Env             map[string]string
}

// parseUevent decodes a kernel uevent message. Messages relayed by udev
// start with "libudev" and a binary header; they are refused, as the
// agent listens to the kernel itself.
func parseUevent(msg []byte) (uevent, error) {
	parts := bytes.Split(bytes.TrimRight(msg, "\x00"), []byte{0})
	head := string(parts[0])
	if strings.HasPrefix(head, "libudev") {
		return uevent{}, errors.New("udev message, not a kernel uevent")
	}
	action, devpath, ok := strings.Cut(head, "@")
	if !ok {
		return uevent{}, fmt.Errorf("uevent header %q has no @", truncate(head))
	}
	u := uevent{Action: action, DevPath: devpath, Env: map[string]string{}}
	for _, p := range parts[1:] {
		if k, v, ok := strings.Cut(string(p), "="); ok {
			u.Env[k] = v
		}
	}
	return u, nil
}

// usbDevice reports whether u concerns a whole USB device (not one of its
// interfaces), which is what insertions and removals are about.
func (u uevent) usbDevice() bool {
	return u.Env["SUBSYSTEM"] == "usb" && u.Env["DEVTYPE"] == "usb_device"
}

// productIDs returns the vendor and product IDs in PRODUCT=vid/pid/bcd,
// where the kernel prints them in hex without leading zeros.
func (u uevent) productIDs() (vid, pid string, ok bool) {
	f := strings.Split(u.Env["PRODUCT"], "/")
	if len(f) < 2 {
		return "", "", false
	}
	v, err1 := strconv.ParseUint(f[0], 16, 16)
	p, err2 := strconv.ParseUint(f[1], 16, 16)
	if err1 != nil || err2 != nil {
		return "", "", false
	}
	return fmt.Sprintf("%04x", v), fmt.Sprintf("%04x", p), true
}

// kernelUSBRecord is one insertion found in the kernel log.
type kernelUSBRecord struct {
	Port string // the kernel's name for the port, such as "1-1.2"
	At   time.Time
	Dev  *agentv1.UsbDevice
}

// kernelLogLine is one kernel message with its time.
type kernelLogLine struct {
	At  time.Time
	Msg string
}

// decodeKernelUSBLog finds USB insertions in kernel messages, oldest
// first. An insertion starts at "usb P: New USB device found, idVendor=V,
// idProduct=I"; the following "usb P: Product:", "Manufacturer:" and
// "SerialNumber:" lines and "usb-storage P:C.I: USB Mass Storage device
// detected" fill it in.
func decodeKernelUSBLog(lines []kernelLogLine) []kernelUSBRecord {
	var recs []kernelUSBRecord
	open := map[string]int{} // port → index in recs of its latest insertion
	for _, l := range lines {
		drv, rest, ok := strings.Cut(l.Msg, " ")
		if !ok {
			continue
		}
		port, text, ok := strings.Cut(rest, ": ")
		if !ok {
			continue
		}
		switch drv {
		case "usb":
			if strings.HasPrefix(text, "New USB device found,") {
				kv := kernelFields(strings.TrimPrefix(text, "New USB device found,"))
				vid, pid := strings.ToLower(kv["idVendor"]), strings.ToLower(kv["idProduct"])
				if vid == "" || pid == "" || vid == linuxFoundation {
					continue
				}
				recs = append(recs, kernelUSBRecord{Port: port, At: l.At, Dev: &agentv1.UsbDevice{VendorId: vid, ProductId: pid}})
				open[port] = len(recs) - 1
				continue
			}
			i, ok := open[port]
			if !ok {
				continue
			}
			switch k, v, _ := strings.Cut(text, ": "); k {
			case "Product":
				recs[i].Dev.Product = strings.TrimSpace(v)
			case "Manufacturer":
				recs[i].Dev.Vendor = strings.TrimSpace(v)
			case "SerialNumber":
				recs[i].Dev.Serial = strings.TrimSpace(v)
			}
		case "usb-storage":
			dev, _, _ := strings.Cut(port, ":")
			if i, ok := open[dev]; ok && strings.Contains(text, "Mass Storage device detected") {
				recs[i].Dev.MassStorage = true
				recs[i].Dev.Class = "mass_storage"
			}
		}
	}
	return recs
}

// kernelFields splits "a=1, b= 2" into a map.
func kernelFields(s string) map[string]string {
	m := map[string]string{}
	for _, f := range strings.Split(s, ",") {
		if k, v, ok := strings.Cut(f, "="); ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

// parseShortUnix decodes one line of `journalctl -o short-unix` output,
// "1700000000.123456 host kernel: message", into its time and message.
func parseShortUnix(line string) (kernelLogLine, bool) {
	ts, rest, ok := strings.Cut(line, " ")
	if !ok {
		return kernelLogLine{}, false
	}
	sec, frac, _ := strings.Cut(ts, ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return kernelLogLine{}, false
	}
	us, _ := strconv.ParseInt((frac + "000000")[:6], 10, 64)
	_, msg, ok := strings.Cut(rest, " kernel: ")
	if !ok {
		return kernelLogLine{}, false
	}
	return kernelLogLine{At: time.Unix(s, us*1000).UTC(), Msg: msg}, true
}

// gnomeLock is what GNOME says about locking for one user, or the machine
// policy. A nil field was not read.
type gnomeLock struct {
	IdleDelay   *int64 // org.gnome.desktop.session idle-delay, seconds; 0 never
	LockEnabled *bool  // org.gnome.desktop.screensaver lock-enabled
	LockDelay   *int64 // org.gnome.desktop.screensaver lock-delay, seconds after blanking
}

// parseGVariant decodes the text form gsettings and dconf print for the
// three keys read: "uint32 300", "300", "true", "false".
func parseGVariant(s string) (n *int64, b *bool, err error) {
	s = strings.TrimSpace(s)
	switch s {
	case "true", "false":
		v := s == "true"
		return nil, &v, nil
	}
	s = strings.TrimPrefix(s, "uint32 ")
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil, nil, fmt.Errorf("value %q is neither a number nor a boolean", truncate(s))
	}
	return &v, nil, nil
}

// gnomeKeys are the keys read, as "schema key" and their dconf paths.
var gnomeKeys = []struct{ schema, key, dconf string }{
	{"org.gnome.desktop.session", "idle-delay", "/org/gnome/desktop/session/idle-delay"},
	{"org.gnome.desktop.screensaver", "lock-enabled", "/org/gnome/desktop/screensaver/lock-enabled"},
	{"org.gnome.desktop.screensaver", "lock-delay", "/org/gnome/desktop/screensaver/lock-delay"},
}

// set stores the value of key into g.
func (g *gnomeLock) set(key, value string) error {
	n, b, err := parseGVariant(value)
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	switch {
	case key == "lock-enabled" && b != nil:
		g.LockEnabled = b
	case key == "idle-delay" && n != nil:
		g.IdleDelay = n
	case key == "lock-delay" && n != nil:
		g.LockDelay = n
	default:
		return fmt.Errorf("%s: unexpected value %q", key, truncate(value))
	}
	return nil
}

// parseDconfPolicy reads dconf keyfiles (the files of /etc/dconf/db/*.d)
// and lock files (their locks/ folders), returning the machine's values
// for the keys read and which of them are locked against users.
func parseDconfPolicy(keyfiles, lockfiles []string) (gnomeLock, map[string]bool) {
	var g gnomeLock
	locked := map[string]bool{}
	for _, lf := range lockfiles {
		for _, line := range strings.Split(lf, "\n") {
			line = strings.TrimSpace(line)
			for _, k := range gnomeKeys {
				if line == k.dconf {
					locked[k.key] = true
				}
			}
		}
	}
	for _, kf := range keyfiles {
		section := ""
		for _, line := range strings.Split(kf, "\n") {
			line = strings.TrimSpace(line)
			if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
				section = "/" + strings.Trim(line, "[]/") + "/"
				continue
			}
			k, v, ok := strings.Cut(line, "=")
			if !ok || strings.HasPrefix(line, "#") {
				continue
			}
			for _, gk := range gnomeKeys {
				if section+strings.TrimSpace(k) == gk.dconf {
					_ = g.set(gk.key, v) // a malformed policy value is as good as absent
				}
			}
		}
	}
	return g, locked
}

// effectiveGnomeLock combines a user's values with the machine policy,
// where a locked policy value wins, into a screen-lock message. GNOME
// locks when the session goes idle (idle-delay) and lock-enabled is true,
// lock-delay seconds after the screen blanks.
func effectiveGnomeLock(user string, u, policy gnomeLock, locked map[string]bool) *agentv1.ScreenLock {
	sl := &agentv1.ScreenLock{User: user}
	idle, idleSrc := pick(locked["idle-delay"], u.IdleDelay, policy.IdleDelay)
	enabled, enSrc := pick(locked["lock-enabled"], u.LockEnabled, policy.LockEnabled)
	delay, delaySrc := pick(locked["lock-delay"], u.LockDelay, policy.LockDelay)
	if idle == nil || enabled == nil {
		sl.UnknownReason = "GNOME settings not found for " + user
		return sl
	}
	sl.Settings = append(sl.Settings,
		&agentv1.ScreenLockSetting{Name: "idle-delay", Value: strconv.FormatInt(*idle, 10), Source: idleSrc},
		&agentv1.ScreenLockSetting{Name: "lock-enabled", Value: strconv.FormatBool(*enabled), Source: enSrc})
	if delay != nil {
		sl.Settings = append(sl.Settings, &agentv1.ScreenLockSetting{Name: "lock-delay", Value: strconv.FormatInt(*delay, 10), Source: delaySrc})
	}
	if *enabled && *idle > 0 {
		sl.IdleLockSeconds = *idle
		if delay != nil {
			sl.IdleLockSeconds += *delay
		}
	}
	sl.PasswordOnWake = *enabled
	return sl
}

// pick returns the value that applies and where it came from: a locked
// policy value, else the user's, else the machine default.
func pick[T any](locked bool, user, policy *T) (*T, string) {
	switch {
	case locked && policy != nil:
		return policy, "policy"
	case user != nil:
		return user, "user"
	case policy != nil:
		return policy, "machine"
	}
	return nil, ""
}

// truncate shortens text from the OS before it goes into a reason.
func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
