package mac

// This file holds the decoding of what macOS reports (fdesetup, spctl, sysadminctl, defaults,
// pmset, property lists, system_profiler JSON and ioreg text) into posture messages. It has no
// build tags so that the tests run it on every OS against recorded outputs in testdata/.

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

// Volume states, as the Volume message names them.
const (
	stateEncrypted    = "encrypted"
	stateEncrypting   = "encrypting"
	stateDecrypting   = "decrypting"
	stateNotEncrypted = "not_encrypted"
)

// Where a screen-lock setting came from, as the ScreenLockSetting message names them.
const (
	sourcePolicy  = "policy"
	sourceUser    = "user"
	sourceMachine = "machine"
)

// reasonNoConsoleUser is the reason given when nobody is signed in at the Mac's own screen.
const reasonNoConsoleUser = "no console user"

// maxReason bounds the text of command output quoted in a reason.
const maxReason = 200

// truncate shortens s to maxReason bytes, cutting at a character boundary.
func truncate(s string) string {
	if len(s) <= maxReason {
		return s
	}
	cut := maxReason
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// firstLine returns the first line of s that is not blank, trimmed.
func firstLine(s string) string {
	for line := range strings.Lines(s) {
		if t := strings.TrimSpace(line); t != "" {
			return t
		}
	}
	return ""
}

// permissionDenied reports whether a command's error output says it lacked the privileges it
// needs, as tools do when run by a user who is not root.
func permissionDenied(stderr string) bool {
	s := strings.ToLower(stderr)
	for _, phrase := range []string{"must be run as root", "must be root", "needs to be run as root", "permission denied", "operation not permitted", "not authorized"} {
		if strings.Contains(s, phrase) {
			return true
		}
	}
	return false
}

// isConsoleUser reports whether the owner of /dev/console is a person signed in at the screen.
// At the login window the console belongs to root; during Setup Assistant it belongs to
// _mbsetupuser; macOS names all its own accounts with a leading underscore.
func isConsoleUser(uid uint32, name string) bool {
	return uid != 0 && name != "" && !strings.HasPrefix(name, "_") && name != "root"
}

// ---------------------------------------------------------------------------------------------
// Property lists

// parsePlist decodes an XML property list into Go values: map[string]any for dict, []any for
// array, string, int64 for integer, float64 for real, bool, time.Time for date and []byte for
// data. Binary property lists must be converted to XML first (plutil -convert xml1).
func parsePlist(b []byte) (any, error) {
	if bytes.HasPrefix(b, []byte("bplist")) {
		return nil, errors.New("property list: binary format, convert it to XML first")
	}
	dec := xml.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("property list: no <plist> element: %w", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if se.Name.Local != "plist" {
				return nil, fmt.Errorf("property list: root element is <%s>, not <plist>", se.Name.Local)
			}
			break
		}
	}
	v, end, err := plistNext(dec)
	if err != nil {
		return nil, err
	}
	if end {
		return nil, errors.New("property list: empty <plist>")
	}
	return v, nil
}

// plistNext decodes the next value from dec. It returns end=true when it meets the end of the
// enclosing element instead of a value.
func plistNext(dec *xml.Decoder) (v any, end bool, err error) {
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil, false, fmt.Errorf("property list: %w", err)
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return nil, true, nil
		case xml.StartElement:
			v, err := plistValue(dec, t)
			return v, false, err
		}
	}
}

// plistValue decodes the value that start opens.
func plistValue(dec *xml.Decoder, start xml.StartElement) (any, error) {
	switch start.Name.Local {
	case "dict":
		m := map[string]any{}
		for {
			k, end, err := plistNext(dec)
			if err != nil {
				return nil, err
			}
			if end {
				return m, nil
			}
			key, ok := k.(plistKey)
			if !ok {
				return nil, errors.New("property list: dict entry without <key>")
			}
			v, end, err := plistNext(dec)
			if err != nil {
				return nil, err
			}
			if end {
				return nil, fmt.Errorf("property list: key %q has no value", key)
			}
			m[string(key)] = v
		}
	case "array":
		var a []any
		for {
			v, end, err := plistNext(dec)
			if err != nil {
				return nil, err
			}
			if end {
				return a, nil
			}
			a = append(a, v)
		}
	case "true", "false":
		if err := dec.Skip(); err != nil {
			return nil, fmt.Errorf("property list: %w", err)
		}
		return start.Name.Local == "true", nil
	}
	var text string
	if err := dec.DecodeElement(&text, &start); err != nil {
		return nil, fmt.Errorf("property list: <%s>: %w", start.Name.Local, err)
	}
	text = strings.TrimSpace(text)
	switch start.Name.Local {
	case "key":
		return plistKey(text), nil
	case "string":
		return text, nil
	case "integer":
		n, err := strconv.ParseInt(text, 0, 64)
		if err != nil {
			return nil, fmt.Errorf("property list: integer %q: %w", text, err)
		}
		return n, nil
	case "real":
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, fmt.Errorf("property list: real %q: %w", text, err)
		}
		return f, nil
	case "date":
		t, err := time.Parse(time.RFC3339, text)
		if err != nil {
			return nil, fmt.Errorf("property list: date %q: %w", text, err)
		}
		return t, nil
	case "data":
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(text), ""))
		if err != nil {
			return nil, fmt.Errorf("property list: data: %w", err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("property list: unknown element <%s>", start.Name.Local)
}

// plistKey is the text of a <key> element, kept apart from <string> values.
type plistKey string

// plistDict decodes an XML property list whose top level is a dict.
func plistDict(b []byte) (map[string]any, error) {
	v, err := parsePlist(b)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("property list: top level is %T, not a dict", v)
	}
	return m, nil
}

// plistString returns the string value of key in m.
func plistString(m map[string]any, key string) (string, bool) {
	s, ok := m[key].(string)
	return s, ok
}

// plistInt returns the value of key in m as a whole number: an integer, a real without a
// fraction, or a string of digits (as `defaults write` without a type stores them).
func plistInt(m map[string]any, key string) (int64, bool) {
	switch v := m[key].(type) {
	case int64:
		return v, true
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return int64(v), true
		}
	case string:
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
			return n, true
		}
	}
	return 0, false
}

// plistBool returns the value of key in m as a boolean: <true/>, <false/>, or an integer 1 or 0
// (configuration profiles use both for askForPassword).
func plistBool(m map[string]any, key string) (bool, bool) {
	switch v := m[key].(type) {
	case bool:
		return v, true
	case int64:
		if v == 0 || v == 1 {
			return v == 1, true
		}
	}
	return false, false
}

// ---------------------------------------------------------------------------------------------
// Antivirus

// xprotectProduct describes XProtect from its bundle's Info.plist (XML) and that file's
// modification time, which is when the definitions were last installed.
//
// XProtect cannot be switched off (System Integrity Protection guards it), so it is reported
// enabled whenever its bundle is present. Its real-time protection is left unset: XProtect
// checks code when it is first opened, which is neither quite on-access scanning nor
// something macOS reports. UpToDate is left false, because macOS gives no judgement of its
// own on whether the definitions are current; the server judges their age from
// signature_updated.
func xprotectProduct(infoPlist []byte, modified time.Time) (*agentv1.AntivirusProduct, error) {
	m, err := plistDict(infoPlist)
	if err != nil {
		return nil, fmt.Errorf("XProtect Info.plist: %w", err)
	}
	version, ok := plistString(m, "CFBundleShortVersionString")
	if !ok || strings.TrimSpace(version) == "" {
		version, _ = plistString(m, "CFBundleVersion")
	}
	p := &agentv1.AntivirusProduct{
		Name:             "XProtect",
		Source:           "xprotect",
		Enabled:          true,
		SignatureVersion: strings.TrimSpace(version),
	}
	if !modified.IsZero() {
		p.SignatureUpdated = timestamppb.New(modified)
	}
	return p, nil
}

// decodeSpctl returns Gatekeeper's state, "enabled" or "disabled", from the output of
// `spctl --status`: "assessments enabled" or "assessments disabled".
func decodeSpctl(out string) (string, error) {
	for line := range strings.Lines(out) {
		switch strings.ToLower(strings.TrimSpace(line)) {
		case "assessments enabled":
			return "enabled", nil
		case "assessments disabled":
			return "disabled", nil
		}
	}
	return "", fmt.Errorf("unexpected spctl output: %q", truncate(firstLine(out)))
}

// ---------------------------------------------------------------------------------------------
// Encryption

// decodeFdesetup turns the output of `fdesetup status` into the OS volume's state. The forms
// are:
//
//	FileVault is On.                                         encrypted, 100%
//	FileVault is Off.                                        not_encrypted
//	FileVault is On.\nEncryption in progress: Percent completed = 42    encrypting, 42%
//	Decryption in progress: Percent completed = 12           decrypting, 88% still encrypted
//	FileVault is On, but needs to be restarted to finish.   encrypting, no percentage
//	FileVault is Off, but will be enabled after the next restart.   not_encrypted
//
// Deferred enablement ("…will be enabled after the next restart") has encrypted nothing yet,
// so the volume is not encrypted. "Needs to be restarted to finish" means FileVault was turned
// on and completes at the next restart, so the volume is reported as still encrypting. During
// decryption fdesetup counts how much has been decrypted; the percentage reported is what is
// still encrypted. Anything else is an error: the state is not guessed. The volume's name is
// left for the caller to fill.
func decodeFdesetup(out string) (*agentv1.Volume, error) {
	v := &agentv1.Volume{MountPoint: "/", OsVolume: true, Method: "FileVault"}
	var on, off, restartOn, deferred bool
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "Encryption in progress"):
			pct, err := fdesetupPercent(line)
			if err != nil {
				return nil, err
			}
			v.State, v.EncryptionPercent = stateEncrypting, pct
			return v, nil
		case strings.HasPrefix(line, "Decryption in progress"):
			pct, err := fdesetupPercent(line)
			if err != nil {
				return nil, err
			}
			v.State, v.EncryptionPercent = stateDecrypting, 100-pct
			return v, nil
		case line == "FileVault is On.":
			on = true
		case line == "FileVault is Off.":
			off = true
		case strings.HasPrefix(line, "FileVault is On, but"):
			restartOn = true
		case strings.HasPrefix(line, "FileVault is Off, but will be enabled"):
			deferred = true
		}
	}
	switch {
	case restartOn:
		v.State = stateEncrypting
	case on:
		v.State, v.EncryptionPercent = stateEncrypted, 100
	case off, deferred:
		v.State = stateNotEncrypted
	default:
		return nil, fmt.Errorf("unexpected fdesetup output: %q", truncate(firstLine(out)))
	}
	return v, nil
}

// fdesetupPercent reads the number after "Percent completed =" in line, such as
// "Encryption in progress: Percent completed = 42.5".
func fdesetupPercent(line string) (float64, error) {
	_, after, ok := strings.Cut(line, "=")
	if ok {
		s := strings.TrimRight(strings.TrimSpace(after), "%.")
		if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 0 && f <= 100 {
			return f, nil
		}
	}
	return 0, fmt.Errorf("unexpected fdesetup output: %q", truncate(line))
}

// diskutilVolumeName returns VolumeName from the output of `diskutil info -plist /`.
func diskutilVolumeName(out []byte) (string, error) {
	m, err := plistDict(out)
	if err != nil {
		return "", fmt.Errorf("diskutil info: %w", err)
	}
	name, ok := plistString(m, "VolumeName")
	if !ok || strings.TrimSpace(name) == "" {
		return "", errors.New("diskutil info: no VolumeName")
	}
	return strings.TrimSpace(name), nil
}

// ---------------------------------------------------------------------------------------------
// Screen lock

// lockStatus is what `sysadminctl -screenLock status` says for the console user: whether a
// password is asked for after the screen saver starts or the display sleeps, and after how
// many seconds.
type lockStatus struct {
	Off   bool
	Delay int64 // seconds; 0 means immediately
}

// String writes the status as sysadminctl does, after "screenLock ".
func (s lockStatus) String() string {
	switch {
	case s.Off:
		return "off"
	case s.Delay == 0:
		return "delay is immediate"
	}
	return fmt.Sprintf("delay is %d seconds", s.Delay)
}

// decodeSysadminctl reads what `sysadminctl -screenLock status` wrote (to standard error, each
// line prefixed with a timestamp and the process, as in
// "2024-05-02 09:15:27.123 sysadminctl[1234:56789] screenLock delay is immediate"). The forms
// are "screenLock delay is immediate", "screenLock delay is N seconds" and "screenLock is off".
func decodeSysadminctl(out string) (lockStatus, error) {
	for line := range strings.Lines(out) {
		i := strings.Index(line, "screenLock ")
		if i < 0 {
			continue
		}
		rest := strings.TrimSpace(line[i+len("screenLock "):])
		switch {
		case rest == "is off":
			return lockStatus{Off: true}, nil
		case rest == "delay is immediate":
			return lockStatus{}, nil
		case strings.HasPrefix(rest, "delay is "):
			f := strings.Fields(strings.TrimPrefix(rest, "delay is "))
			if len(f) == 2 && strings.HasPrefix(f[1], "second") {
				if n, err := strconv.ParseInt(f[0], 10, 64); err == nil && n >= 0 {
					return lockStatus{Delay: n}, nil
				}
			}
		}
	}
	return lockStatus{}, fmt.Errorf("unexpected sysadminctl output: %q", truncate(firstLine(out)))
}

// decodeDefaultsInt reads the whole number that `defaults read <domain> <key>` printed.
func decodeDefaultsInt(out string) (int64, error) {
	s := strings.TrimSpace(out)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return int64(f), nil
	}
	return 0, fmt.Errorf("unexpected defaults output: %q", truncate(firstLine(out)))
}

// defaultsMissing reports whether `defaults read` failed because the key is not set: it then
// writes "The domain/default pair of (<domain>, <key>) does not exist" to standard error.
func defaultsMissing(stderr string) bool {
	return strings.Contains(stderr, "does not exist")
}

// decodePmset reads the display sleep and system sleep timers, in minutes, from the "Currently
// in use" settings that `pmset -g` prints, such as " displaysleep         10". 0 means never.
// A timer that is not listed is returned as nil.
func decodePmset(out string) (displaySleep, sleep *int64) {
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil || n < 0 {
			continue
		}
		switch f[0] {
		case "displaysleep":
			if displaySleep == nil {
				displaySleep = &n
			}
		case "sleep":
			if sleep == nil {
				sleep = &n
			}
		}
	}
	return displaySleep, sleep
}

// screenSaverPolicy is the com.apple.screensaver payload of a configuration profile, as macOS
// writes it to /Library/Managed Preferences. Each field is nil when the profile leaves it
// unset.
type screenSaverPolicy struct {
	IdleTime            *int64 // seconds before the screen saver starts; 0 means never
	AskForPassword      *bool
	AskForPasswordDelay *int64 // seconds
}

// decodeScreenSaverPolicy reads a managed com.apple.screensaver property list (XML).
func decodeScreenSaverPolicy(b []byte) (screenSaverPolicy, error) {
	m, err := plistDict(b)
	if err != nil {
		return screenSaverPolicy{}, fmt.Errorf("managed com.apple.screensaver: %w", err)
	}
	var p screenSaverPolicy
	if n, ok := plistInt(m, "idleTime"); ok {
		p.IdleTime = &n
	}
	if b, ok := plistBool(m, "askForPassword"); ok {
		p.AskForPassword = &b
	}
	if n, ok := plistInt(m, "askForPasswordDelay"); ok {
		p.AskForPasswordDelay = &n
	}
	return p, nil
}

// over returns p with the fields it leaves unset taken from q.
func (p screenSaverPolicy) over(q screenSaverPolicy) screenSaverPolicy {
	return screenSaverPolicy{
		IdleTime:            cmp.Or(p.IdleTime, q.IdleTime),
		AskForPassword:      cmp.Or(p.AskForPassword, q.AskForPassword),
		AskForPasswordDelay: cmp.Or(p.AskForPasswordDelay, q.AskForPasswordDelay),
	}
}

// screenLockRaw is everything read about the console user's screen lock, before it is judged.
// A value that could not be read is nil, with the reason in the matching Err field.
type screenLockRaw struct {
	User string

	// Lock is `sysadminctl -screenLock status`, run as the user.
	Lock    *lockStatus
	LockErr string

	// IdleTime is the user's ByHost com.apple.screensaver idleTime: seconds before the screen
	// saver starts, 0 meaning never.
	IdleTime *int64
	IdleErr  string

	// DisplaySleep and SystemSleep are the pmset timers in use, in minutes, 0 meaning never.
	// The lock also starts when the display or the Mac goes to sleep.
	DisplaySleep *int64
	SystemSleep  *int64

	// Policy is what configuration profiles set; it wins over the user's settings.
	Policy screenSaverPolicy
}

// screenLock judges raw: whether a password is needed on wake and after how many idle
// seconds the screen locks.
//
// The password is needed when the policy's askForPassword says so or, without one, when
// sysadminctl does not say "off". The screen locks after the delay (askForPasswordDelay from
// policy, else sysadminctl's) once the first of these starts: the screen saver (idleTime from
// policy, else the user's), display sleep or system sleep. Timers set to 0 never start; when
// none starts, or no password is needed, the screen never locks on its own (0).
//
// When a needed value could not be read, the result carries only the reason.
func (r screenLockRaw) screenLock() *agentv1.ScreenLock {
	unknown := func(reason string) *agentv1.ScreenLock {
		return &agentv1.ScreenLock{UnknownReason: reason}
	}
	var settings []*agentv1.ScreenLockSetting
	add := func(name, value, source string) {
		settings = append(settings, &agentv1.ScreenLockSetting{Name: name, Value: value, Source: source})
	}
	itoa := func(n int64) string { return strconv.FormatInt(n, 10) }
	if p := r.Policy.IdleTime; p != nil {
		add("idleTime", itoa(*p), sourcePolicy)
	}
	if p := r.Policy.AskForPassword; p != nil {
		add("askForPassword", strconv.FormatBool(*p), sourcePolicy)
	}
	if p := r.Policy.AskForPasswordDelay; p != nil {
		add("askForPasswordDelay", itoa(*p), sourcePolicy)
	}
	if r.Lock != nil {
		add("screenLock", r.Lock.String(), sourceUser)
	}
	if r.IdleTime != nil {
		add("idleTime", itoa(*r.IdleTime), sourceUser)
	}
	if r.DisplaySleep != nil {
		add("displaysleep", itoa(*r.DisplaySleep)+" min", sourceMachine)
	}
	if r.SystemSleep != nil {
		add("sleep", itoa(*r.SystemSleep)+" min", sourceMachine)
	}

	var password bool
	switch {
	case r.Policy.AskForPassword != nil:
		password = *r.Policy.AskForPassword
	case r.Lock != nil:
		password = !r.Lock.Off
	default:
		return unknown(cmp.Or(r.LockErr, "screen lock setting not read"))
	}
	sl := &agentv1.ScreenLock{User: r.User, PasswordOnWake: password, Settings: settings}
	if !password {
		return sl
	}

	var delay int64
	switch {
	case r.Policy.AskForPasswordDelay != nil:
		delay = *r.Policy.AskForPasswordDelay
	case r.Lock != nil && !r.Lock.Off:
		delay = r.Lock.Delay
	case r.Lock == nil:
		return unknown(cmp.Or(r.LockErr, "screen lock delay not read"))
	default:
		return unknown(fmt.Sprintf("screen lock delay unknown: a profile requires a password but sets no askForPasswordDelay, and the screen lock is off for %s", r.User))
	}

	var idle int64
	switch {
	case r.Policy.IdleTime != nil:
		idle = *r.Policy.IdleTime
	case r.IdleTime != nil:
		idle = *r.IdleTime
	default:
		return unknown(cmp.Or(r.IdleErr, "screen saver idle time not read"))
	}

	var starts []int64
	for _, t := range []int64{idle, minutesToSeconds(r.DisplaySleep), minutesToSeconds(r.SystemSleep)} {
		if t > 0 {
			starts = append(starts, t)
		}
	}
	if len(starts) > 0 {
		sl.IdleLockSeconds = slices.Min(starts) + max(delay, 0)
	}
	return sl
}

// minutesToSeconds converts a pmset timer to seconds; nil reads as 0, never.
func minutesToSeconds(m *int64) int64 {
	if m == nil {
		return 0
	}
	return *m * 60
}

// ---------------------------------------------------------------------------------------------
// USB

// usbRecord is one USB device as a source describes it, before it becomes a UsbDevice.
type usbRecord struct {
	Location    uint32 // IOKit locationID: the bus and the port path; 0 when not given
	VendorID    string // four lower-case hex digits
	ProductID   string
	Vendor      string
	Product     string
	Serial      string
	DeviceClass int   // bDeviceClass; -1 when the source does not give it
	Interfaces  []int // bInterfaceClass of each interface, in interface-number order
	MassStorage bool  // a storage medium or a mass-storage driver was seen on the device
}

// key identifies one attachment of a device: where it is plugged in and what it is.
func (r usbRecord) key() string {
	return fmt.Sprintf("%08x/%s/%s/%s", r.Location, r.VendorID, r.ProductID, r.Serial)
}

// usbClasses names the USB base class codes (usb.org "Defined Class Codes") with the
// vocabulary of UsbDevice.class; other codes are "other".
var usbClasses = map[int]string{
	0x01: "audio",
	0x02: "comm",
	0x03: "hid",
	0x07: "printer",
	0x08: "mass_storage",
	0x09: "hub",
	0x0a: "comm", // CDC data
	0x0b: "smart_card",
	0x0e: "video",
	0xe0: "wireless",
	0xff: "vendor_specific",
}

// usbClassName names a USB class code.
func usbClassName(code int) string {
	if n, ok := usbClasses[code]; ok {
		return n
	}
	return "other"
}

// deferredClass reports whether a device with bDeviceClass c leaves its class to its
// interfaces: 0x00 ("use class information in the interface descriptors") and 0xef with
// interface association descriptors, as webcams and composite gadgets use.
func deferredClass(c int) bool { return c == 0x00 || c == 0xef }

// device converts r. The class is the device's own or, when the device leaves it to its
// interfaces, its first interface's; it is empty when neither is known. The device is mass
// storage when its class or any interface's is mass storage, or a medium or mass-storage
// driver was seen.
func (r usbRecord) device() *agentv1.UsbDevice {
	d := &agentv1.UsbDevice{
		VendorId:  r.VendorID,
		ProductId: r.ProductID,
		Vendor:    r.Vendor,
		Product:   r.Product,
		Serial:    r.Serial,
	}
	switch {
	case r.DeviceClass > 0 && !deferredClass(r.DeviceClass):
		d.Class = usbClassName(r.DeviceClass)
	case len(r.Interfaces) > 0:
		d.Class = usbClassName(r.Interfaces[0])
	case r.DeviceClass == 0xef:
		d.Class = usbClassName(r.DeviceClass)
	}
	d.MassStorage = r.MassStorage || r.DeviceClass == 0x08 || slices.Contains(r.Interfaces, 0x08)
	return d
}

// usbDevices converts records.
func usbDevices(recs []usbRecord) []*agentv1.UsbDevice {
	out := make([]*agentv1.UsbDevice, 0, len(recs))
	for _, r := range recs {
		out = append(out, r.device())
	}
	return out
}

// cleanUSBString trims s and drops the placeholders system_profiler prints for strings a
// device does not provide.
func cleanUSBString(s string) string {
	s = strings.TrimSpace(strings.Trim(s, "\x00"))
	switch strings.ToLower(s) {
	case "not provided", "unknown", "n/a":
		return ""
	}
	return s
}

// appleVendorID is Apple's USB vendor ID. system_profiler writes "apple_vendor_id" in place of
// it, a key it shows as "Apple Inc.".
const appleVendorID = "05ac"

// parseSPID reads a vendor or product ID as system_profiler writes it: "0x0781",
// "0x0781  (SanDisk Corporation)" or "apple_vendor_id". It returns four lower-case hex digits
// and the name in parentheses, if any.
func parseSPID(s string) (id, name string, ok bool) {
	s = strings.TrimSpace(s)
	if s == "apple_vendor_id" {
		return appleVendorID, "Apple Inc.", true
	}
	hex, rest, _ := strings.Cut(s, " ")
	hex = strings.TrimPrefix(strings.ToLower(hex), "0x")
	n, err := strconv.ParseUint(hex, 16, 16)
	if err != nil {
		return "", "", false
	}
	rest = strings.TrimSpace(rest)
	if strings.HasPrefix(rest, "(") && strings.HasSuffix(rest, ")") {
		name = strings.TrimSpace(rest[1 : len(rest)-1])
	}
	return fmt.Sprintf("%04x", n), name, true
}

// parseSPLocation reads a location ID as system_profiler writes it: "0x14100000 / 5" (the
// number after the slash is the USB address) or "0x01100000".
func parseSPLocation(s string) uint32 {
	f := strings.Fields(s)
	if len(f) == 0 {
		return 0
	}
	n, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(f[0]), "0x"), 16, 32)
	if err != nil {
		return 0
	}
	return uint32(n)
}

// looseString is a JSON value read as text whether system_profiler wrote it as a string, a
// number or a boolean.
type looseString string

// UnmarshalJSON implements json.Unmarshaler.
func (s *looseString) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case string:
		*s = looseString(v)
	case float64:
		*s = looseString(strconv.FormatFloat(v, 'f', -1, 64))
	case bool:
		*s = looseString(strconv.FormatBool(v))
	default:
		*s = ""
	}
	return nil
}

// spUSBNode is one entry of system_profiler's USB report: a bus, a hub or a device, with the
// entries below it in _items. It holds the keys of both SPUSBDataType (macOS 15 and earlier)
// and SPUSBHostDataType (macOS 26 and later).
type spUSBNode struct {
	Name  looseString `json:"_name"`
	Items []spUSBNode `json:"_items"`

	// SPUSBDataType.
	VendorID     looseString       `json:"vendor_id"`
	ProductID    looseString       `json:"product_id"`
	Manufacturer looseString       `json:"manufacturer"`
	SerialNum    looseString       `json:"serial_num"`
	LocationID   looseString       `json:"location_id"`
	Media        []json.RawMessage `json:"Media"`

	// SPUSBHostDataType.
	HostVendorID   looseString `json:"USBDeviceKeyVendorID"`
	HostProductID  looseString `json:"USBDeviceKeyProductID"`
	HostVendorName looseString `json:"USBDeviceKeyVendorName"`
	HostSerial     looseString `json:"USBDeviceKeySerialNumber"`
	HostLocationID looseString `json:"USBKeyLocationID"`
}

// decodeSPUSB decodes `system_profiler SPUSBDataType -json`. It returns the devices, in the
// order of the report (each hub before the devices behind it), and the number of top-level
// entries (buses): macOS 26 and later answer with none, as the data type is gone there.
//
// Each entry with a vendor and a product ID is a device: its name is the product, manufacturer
// the vendor (else the vendor name system_profiler adds to the ID), serial_num the serial. A
// device with a "Media" entry carries a storage medium and is mass storage. The report has no
// class codes; [mergeUSB] takes them from ioreg.
func decodeSPUSB(out []byte) (recs []usbRecord, buses int, err error) {
	var sp struct {
		Buses []spUSBNode `json:"SPUSBDataType"`
	}
	if err := json.Unmarshal(out, &sp); err != nil {
		return nil, 0, fmt.Errorf("decode SPUSBDataType: %w", err)
	}
	walkSP(sp.Buses, func(n spUSBNode) {
		vid, vname, okV := parseSPID(string(n.VendorID))
		pid, _, okP := parseSPID(string(n.ProductID))
		if !okV || !okP {
			return
		}
		recs = append(recs, usbRecord{
			Location:    parseSPLocation(string(n.LocationID)),
			VendorID:    vid,
			ProductID:   pid,
			Vendor:      cmp.Or(cleanUSBString(string(n.Manufacturer)), vname),
			Product:     cleanUSBString(string(n.Name)),
			Serial:      cleanUSBString(string(n.SerialNum)),
			DeviceClass: -1,
			MassStorage: len(n.Media) > 0,
		})
	})
	return recs, len(sp.Buses), nil
}

// decodeSPUSBHost decodes `system_profiler SPUSBHostDataType -json`, the USB report of macOS 26
// and later. It assumes these keys on each device entry, as found in captures from macOS 26:
// USBDeviceKeyVendorID and USBDeviceKeyProductID ("0x0781"), USBDeviceKeyVendorName,
// USBDeviceKeySerialNumber, USBKeyLocationID ("0x01100000") and _name, the product. The
// report has no class codes and no media, so class and mass storage come from ioreg
// ([mergeUSB]). It returns the devices and the number of buses, as [decodeSPUSB] does.
func decodeSPUSBHost(out []byte) (recs []usbRecord, buses int, err error) {
	var sp struct {
		Buses []spUSBNode `json:"SPUSBHostDataType"`
	}
	if err := json.Unmarshal(out, &sp); err != nil {
		return nil, 0, fmt.Errorf("decode SPUSBHostDataType: %w", err)
	}
	walkSP(sp.Buses, func(n spUSBNode) {
		vid, _, okV := parseSPID(string(n.HostVendorID))
		pid, _, okP := parseSPID(string(n.HostProductID))
		if !okV || !okP {
			return
		}
		recs = append(recs, usbRecord{
			Location:    parseSPLocation(string(n.HostLocationID)),
			VendorID:    vid,
			ProductID:   pid,
			Vendor:      cleanUSBString(string(n.HostVendorName)),
			Product:     cleanUSBString(string(n.Name)),
			Serial:      cleanUSBString(string(n.HostSerial)),
			DeviceClass: -1,
			MassStorage: len(n.Media) > 0,
		})
	})
	return recs, len(sp.Buses), nil
}

// walkSP calls fn for each node of nodes and the nodes below it, depth first, parents first.
func walkSP(nodes []spUSBNode, fn func(spUSBNode)) {
	for _, n := range nodes {
		fn(n)
		walkSP(n.Items, fn)
	}
}

// ioregNode is one object in ioreg's text output.
type ioregNode struct {
	Depth int
	Name  string // the name in the plane, without "@location"
	Class string
	Props map[string]string // property values as printed; strings without their quotes
}

// parseIORegTree reads the objects printed by `ioreg -l -w0` (with or without -p, -r and -c)
// in order, each with its depth in the tree. An object line is
//
//	| | +-o Name@location  <class IOUSBHostDevice, id 0x100001a2b, registered, …>
//
// where each level above it takes two characters ("| " or "  "); its properties follow as
// lines `"key" = value` between braces.
func parseIORegTree(out string) []ioregNode {
	var nodes []ioregNode
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "+-o "); i >= 0 && strings.Trim(line[:i], " |") == "" {
			nodes = append(nodes, parseIORegObject(i/2, line[i+len("+-o "):]))
			continue
		}
		if len(nodes) == 0 {
			continue
		}
		t := strings.TrimLeft(line, " |")
		if !strings.HasPrefix(t, `"`) {
			continue
		}
		end := strings.Index(t[1:], `"`)
		if end < 0 {
			continue
		}
		key := t[1 : end+1]
		rest, ok := strings.CutPrefix(strings.TrimSpace(t[end+2:]), "= ")
		if !ok {
			continue
		}
		nodes[len(nodes)-1].Props[key] = ioregScalar(rest)
	}
	return nodes
}

// parseIORegObject reads the part of an object line after "+-o ".
func parseIORegObject(depth int, s string) ioregNode {
	n := ioregNode{Depth: depth, Props: map[string]string{}}
	head := s
	if i := strings.LastIndex(s, "  <class "); i >= 0 {
		head = s[:i]
		class := s[i+len("  <class "):]
		if j := strings.IndexAny(class, ",>"); j >= 0 {
			class = class[:j]
		}
		n.Class = strings.TrimSpace(class)
	}
	if i := strings.LastIndex(head, "@"); i >= 0 {
		head = head[:i]
	}
	n.Name = strings.TrimSpace(head)
	return n
}

// ioregScalar returns a property value as printed, with the quotes of a string removed. ioreg
// prints strings between double quotes without escaping, so everything between the first and
// the last quote is the string.
func ioregScalar(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

// IOKit classes of USB devices and interfaces.
const (
	classHostDevice    = "IOUSBHostDevice"
	classHostInterface = "IOUSBHostInterface"
)

// decodeIORegUSB reads the USB devices in the output of `ioreg -p IOUSB -l -w0` (the devices
// only, with their bDeviceClass) or `ioreg -r -c IOUSBHostDevice -l -w0` (each device with
// the objects below it: its interfaces and their drivers, and the devices behind a hub).
//
// A device is an IOUSBHostDevice object with idVendor and idProduct (decimal numbers). Its
// strings are "USB Vendor Name", "USB Product Name" and "USB Serial Number" (or the
// kUSB…String properties), its place is locationID. An IOUSBHostInterface below it, before
// any device further down, is one of its interfaces, with bInterfaceClass and
// bInterfaceNumber; an object whose class names mass storage (IOUSBMassStorageDriver,
// IOUSBMassStorageUASDriver, …) marks the device as mass storage. Driver objects, which can
// carry idVendor and idProduct from their matching dictionaries, are not devices.
func decodeIORegUSB(out string) []usbRecord {
	type iface struct{ number, class int }
	var (
		recs   []usbRecord
		ifaces [][]iface
		path   []int // path[d]: the record index of the device at or above depth d, or -1
	)
	for _, n := range parseIORegTree(out) {
		if n.Depth < len(path) {
			path = path[:n.Depth]
		}
		owner := -1
		if len(path) > 0 {
			owner = path[len(path)-1]
		}
		for len(path) < n.Depth {
			path = append(path, owner)
		}
		if r, ok := ioregDevice(n); ok {
			recs = append(recs, r)
			ifaces = append(ifaces, nil)
			path = append(path, len(recs)-1)
			continue
		}
		path = append(path, owner)
		if owner < 0 {
			continue
		}
		if n.Class == classHostInterface || n.Class == "IOUSBInterface" {
			class, errC := strconv.Atoi(n.Props["bInterfaceClass"])
			number, errN := strconv.Atoi(n.Props["bInterfaceNumber"])
			if errC == nil {
				if errN != nil {
					number = len(ifaces[owner])
				}
				ifaces[owner] = append(ifaces[owner], iface{number, class})
			}
		}
		if strings.Contains(n.Class, "MassStorage") {
			recs[owner].MassStorage = true
		}
	}
	for i := range recs {
		slices.SortStableFunc(ifaces[i], func(a, b iface) int { return cmp.Compare(a.number, b.number) })
		for _, f := range ifaces[i] {
			recs[i].Interfaces = append(recs[i].Interfaces, f.class)
		}
	}
	return recs
}

// ioregDevice reads a USB device from node n; ok is false when n is not one.
func ioregDevice(n ioregNode) (usbRecord, bool) {
	if n.Class != classHostDevice && n.Class != "IOUSBDevice" {
		return usbRecord{}, false
	}
	vid, errV := strconv.ParseUint(n.Props["idVendor"], 0, 16)
	pid, errP := strconv.ParseUint(n.Props["idProduct"], 0, 16)
	if errV != nil || errP != nil {
		return usbRecord{}, false
	}
	r := usbRecord{
		VendorID:    fmt.Sprintf("%04x", vid),
		ProductID:   fmt.Sprintf("%04x", pid),
		Vendor:      cleanUSBString(cmp.Or(n.Props["USB Vendor Name"], n.Props["kUSBVendorString"])),
		Product:     cleanUSBString(cmp.Or(n.Props["USB Product Name"], n.Props["kUSBProductString"])),
		Serial:      cleanUSBString(cmp.Or(n.Props["USB Serial Number"], n.Props["kUSBSerialNumberString"])),
		DeviceClass: -1,
	}
	if r.Product == "" && n.Name != n.Class {
		r.Product = n.Name
	}
	if loc, err := strconv.ParseUint(n.Props["locationID"], 0, 32); err == nil {
		r.Location = uint32(loc)
	}
	if c, err := strconv.Atoi(n.Props["bDeviceClass"]); err == nil {
		r.DeviceClass = c
	}
	return r, true
}

// mergeUSB completes the devices a report lists (primary) with what ioreg says of the same
// devices (detail), matched by location, vendor and product ID: the device and interface
// classes and mass-storage drivers, and any string the report left empty. Devices that only
// ioreg lists are not added: the report is the list.
func mergeUSB(primary, detail []usbRecord) []usbRecord {
	out := slices.Clone(primary)
	for i, p := range out {
		j := slices.IndexFunc(detail, func(d usbRecord) bool {
			return p.Location != 0 && d.Location == p.Location && d.VendorID == p.VendorID && d.ProductID == p.ProductID
		})
		if j < 0 {
			continue
		}
		d := detail[j]
		if p.DeviceClass < 0 {
			out[i].DeviceClass = d.DeviceClass
		}
		if len(p.Interfaces) == 0 {
			out[i].Interfaces = slices.Clone(d.Interfaces)
		}
		out[i].MassStorage = p.MassStorage || d.MassStorage
		out[i].Vendor = cmp.Or(p.Vendor, d.Vendor)
		out[i].Product = cmp.Or(p.Product, d.Product)
		out[i].Serial = cmp.Or(p.Serial, d.Serial)
	}
	return out
}

// Event types of USB events.
const (
	usbInserted = "usb.inserted"
	usbRemoved  = "usb.removed"
)

// usbChange is one insertion or removal found by [usbWatch].
type usbChange struct {
	Type   string // usbInserted or usbRemoved
	Record usbRecord
}

// usbWatch turns successive lists of attached USB devices into insertions and removals.
//
// The lists come from the IOUSB plane, which has no interfaces, so a new device is completed
// from a detailed listing before it is reported. A device that has no interfaces there yet
// (macOS configures a device a moment after it appears) is held back for up to maxWait more
// lists, then reported with what is known.
type usbWatch struct {
	known   map[string]usbRecord
	waiting map[string]pendingUSB
	maxWait int
}

// pendingUSB is a new device held back until its interfaces are listed.
type pendingUSB struct {
	record usbRecord
	waited int
}

// newUSBWatch starts a watch from the devices attached now, which are not reported.
func newUSBWatch(attached []usbRecord, maxWait int) *usbWatch {
	w := &usbWatch{known: map[string]usbRecord{}, waiting: map[string]pendingUSB{}, maxWait: maxWait}
	for _, r := range attached {
		w.known[r.key()] = r
	}
	return w
}

// next compares the devices attached now with those known and returns the changes: removals
// first, then insertions, each in key order. detail, called at most once and only when a
// device is new, lists the devices with their interfaces. A device inserted and removed again
// before it was reported is reported as both.
func (w *usbWatch) next(attached []usbRecord, detail func() ([]usbRecord, error)) []usbChange {
	now := make(map[string]usbRecord, len(attached))
	for _, r := range attached {
		now[r.key()] = r
	}
	var changes []usbChange
	for _, k := range sortedKeys(w.known) {
		if _, ok := now[k]; !ok {
			changes = append(changes, usbChange{usbRemoved, w.known[k]})
			delete(w.known, k)
		}
	}
	for _, k := range sortedKeys(w.waiting) {
		if _, ok := now[k]; !ok {
			r := w.waiting[k].record
			changes = append(changes, usbChange{usbInserted, r}, usbChange{usbRemoved, r})
			delete(w.waiting, k)
		}
	}
	var fresh []string
	for _, k := range sortedKeys(now) {
		if _, ok := w.known[k]; !ok {
			fresh = append(fresh, k)
		}
	}
	if len(fresh) == 0 {
		return changes
	}
	var details []usbRecord
	if detail != nil {
		if d, err := detail(); err == nil {
			details = d
		}
	}
	for _, k := range fresh {
		r := now[k]
		merged := mergeUSB([]usbRecord{r}, details)[0]
		complete := slices.ContainsFunc(details, func(d usbRecord) bool { return d.key() == k && len(d.Interfaces) > 0 })
		p := w.waiting[k]
		if !complete && p.waited < w.maxWait {
			w.waiting[k] = pendingUSB{record: merged, waited: p.waited + 1}
			continue
		}
		delete(w.waiting, k)
		w.known[k] = merged
		changes = append(changes, usbChange{usbInserted, merged})
	}
	return changes
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
