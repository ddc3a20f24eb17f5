package win

// This file turns what Windows says (WMI rows, BitLocker method results,
// registry and power values, device instance IDs and properties) into
// posture messages. It has no build tags so that its tests run on every
// OS against recorded outputs in testdata/; the *_windows.go files only
// fetch the raw values and hand them to the functions here.

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

// Event types that WatchUSB emits.
const (
	usbInserted = "usb.inserted"
	usbRemoved  = "usb.removed"
)

// Reasons given in unknown_reason. They are short and name the cause, so
// a technician knows what to change.
const (
	reasonTimedOut      = "timed out"
	reasonNoPermission  = "no permission: run as SYSTEM or an administrator"
	reasonBitLockerPerm = "no permission: BitLocker status needs administrator rights"
	reasonNoBitLocker   = "class missing: BitLocker is not installed"
	reasonNoAVClasses   = "class missing: Security Center is not available on Windows Server and Defender is not installed"
)

// codeError is a failed Windows call with the HRESULT or Win32 error code
// it returned. Only the operation and the code are kept: descriptions that
// WMI or the system attach are not copied into reasons.
type codeError struct {
	Op   string
	Code uint32
}

// Error names the operation and the code in hexadecimal.
func (e *codeError) Error() string { return fmt.Sprintf("%s: 0x%08X", e.Op, e.Code) }

// failure is the kind of a failed read, which picks its reason.
type failure int

const (
	failOther      failure = iota
	failDenied             // the caller lacks a right or privilege
	failMissing            // the WMI namespace, class or provider does not exist
	failTimeout            // Windows or the caller gave up waiting
	failNotRunning         // the service behind a WMI provider is stopped
)

// failures sorts the Windows codes the readers meet. Codes not listed are
// failOther.
var failures = map[uint32]failure{
	5:          failDenied,     // ERROR_ACCESS_DENIED
	1314:       failDenied,     // ERROR_PRIVILEGE_NOT_HELD
	0x80070005: failDenied,     // E_ACCESSDENIED
	0x80070522: failDenied,     // HRESULT_FROM_WIN32(ERROR_PRIVILEGE_NOT_HELD)
	0x80041003: failDenied,     // WBEM_E_ACCESS_DENIED
	0x80041002: failMissing,    // WBEM_E_NOT_FOUND
	0x8004100C: failMissing,    // WBEM_E_NOT_SUPPORTED
	0x8004100E: failMissing,    // WBEM_E_INVALID_NAMESPACE
	0x80041010: failMissing,    // WBEM_E_INVALID_CLASS
	0x80041011: failMissing,    // WBEM_E_PROVIDER_NOT_FOUND
	1460:       failTimeout,    // ERROR_TIMEOUT
	0x800705B4: failTimeout,    // HRESULT_FROM_WIN32(ERROR_TIMEOUT)
	0x8001011F: failTimeout,    // RPC_E_TIMEOUT
	0x800106BA: failNotRunning, // Defender: the antimalware service is not running
	0x800706BA: failNotRunning, // RPC_S_SERVER_UNAVAILABLE
}

// classify returns the kind of err and, when it carries one, its code.
func classify(err error) (failure, uint32) {
	if errors.Is(err, context.DeadlineExceeded) {
		return failTimeout, 0
	}
	var ce *codeError
	if errors.As(err, &ce) {
		return failures[ce.Code], ce.Code
	}
	return failOther, 0
}

// reasonFor turns a failed read into an unknown_reason, using denied and
// missing for those kinds of failure.
func reasonFor(what string, err error, denied, missing string) string {
	kind, code := classify(err)
	switch kind {
	case failDenied:
		return denied
	case failMissing:
		return missing
	case failTimeout:
		return reasonTimedOut
	case failNotRunning:
		return what + ": service not running"
	}
	if code != 0 {
		return fmt.Sprintf("%s: error 0x%08X", what, code)
	}
	return what + ": " + err.Error()
}

// ---------------------------------------------------------------------
// Antivirus

// securityCenterProduct is one AntiVirusProduct row of root\SecurityCenter2.
type securityCenterProduct struct {
	DisplayName  string
	ProductState uint32
	// Timestamp is an RFC 1123 time, "Thu, 23 May 2024 12:29:05 GMT".
	Timestamp string
}

// productState is a decoded Security Center productState.
type productState struct {
	// State is "on", "off", "snoozed" or "expired"; "" for a state value
	// nobody has documented.
	State string
	// Enabled is State == "on".
	Enabled bool
	// UpToDate is true when the signature nibble says up to date.
	UpToDate bool
	// Microsoft is true when the owner nibble says the product is
	// Microsoft's own.
	Microsoft bool
}

// wscStates names the state bits (0xF000) of productState.
var wscStates = map[uint32]string{0x0000: "off", 0x1000: "on", 0x2000: "snoozed", 0x3000: "expired"}

// decodeProductState decodes a Security Center productState. Microsoft
// does not document it; the masks are those of mondoohq/cnquery's
// parseProductState and the common PowerShell tools: bits 0xF000 are the
// state, 0x0F00 the owner (0x100 Microsoft) and 0x00F0 the signatures
// (0x00 up to date, 0x10 out of date).
func decodeProductState(ps uint32) productState {
	state := wscStates[ps&0xF000]
	return productState{
		State:     state,
		Enabled:   state == "on",
		UpToDate:  ps&0x00F0 == 0,
		Microsoft: ps&0x0F00 == 0x0100,
	}
}

// parseWSCTime parses a Security Center timestamp. Windows writes RFC 1123
// with a two-digit day; the one-digit form and numeric zones are accepted
// too. The time is returned in UTC.
func parseWSCTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC1123, time.RFC1123Z, "Mon, 2 Jan 2006 15:04:05 MST", "Mon, 2 Jan 2006 15:04:05 -0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// securityCenterProducts turns AntiVirusProduct rows into products. The
// timestamp is when the product last reported its state to Security
// Center, which products send when their definitions change; it is
// reported as signature_updated where it parses.
func securityCenterProducts(rows []securityCenterProduct) []*agentv1.AntivirusProduct {
	var out []*agentv1.AntivirusProduct
	for _, r := range rows {
		st := decodeProductState(r.ProductState)
		p := &agentv1.AntivirusProduct{
			Name:     strings.TrimSpace(r.DisplayName),
			Source:   "security_center",
			Enabled:  st.Enabled,
			UpToDate: st.UpToDate,
			State:    st.State,
		}
		if t, ok := parseWSCTime(r.Timestamp); ok {
			p.SignatureUpdated = timestamppb.New(t)
		}
		out = append(out, p)
	}
	return out
}

// defenderStatus is the MSFT_MpComputerStatus row of
// root\Microsoft\Windows\Defender. Pointer fields are nil when the
// property is absent (older builds) or null.
type defenderStatus struct {
	AMServiceEnabled              *bool
	AntivirusEnabled              *bool
	RealTimeProtectionEnabled     *bool
	AntivirusSignatureLastUpdated *time.Time
	AntivirusSignatureVersion     string
	// AntivirusSignatureAge is in days; 65535 or more means never updated.
	AntivirusSignatureAge *uint32
	// AMRunningMode is "Normal", "Passive Mode", "SxS Passive Mode",
	// "EDR Block Mode" and the like, on builds that have it.
	AMRunningMode               string
	DefenderSignaturesOutOfDate *bool
}

// defenderName is the name reported for the Defender product; the class
// does not carry one.
const defenderName = "Microsoft Defender Antivirus"

// defenderStaleDays is Defender's default for "Define the number of days
// before virus security intelligence is considered out of date", used
// only on builds without DefenderSignaturesOutOfDate.
const defenderStaleDays = 7

// runningMode turns AMRunningMode into a state word: lower case, without
// the trailing " Mode", spaces as underscores ("Normal" → "normal",
// "Passive Mode" → "passive", "SxS Passive Mode" → "sxs_passive").
func runningMode(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimSpace(strings.TrimSuffix(s, " mode"))
	return strings.Join(strings.Fields(s), "_")
}

// defenderProduct turns Defender's status into a product. Defender is
// enabled when its antivirus is enabled, its service runs and it is not
// in a passive mode (where another product protects and Defender only
// scans on demand). Its definitions are up to date as
// DefenderSignaturesOutOfDate says or, on builds without it, when they are
// at most defenderStaleDays old.
func defenderProduct(d defenderStatus) *agentv1.AntivirusProduct {
	mode := runningMode(d.AMRunningMode)
	p := &agentv1.AntivirusProduct{
		Name:             defenderName,
		Source:           "defender",
		State:            mode,
		SignatureVersion: strings.TrimSpace(d.AntivirusSignatureVersion),
	}
	p.Enabled = d.AntivirusEnabled != nil && *d.AntivirusEnabled &&
		(d.AMServiceEnabled == nil || *d.AMServiceEnabled) &&
		!strings.Contains(mode, "passive")
	switch {
	case d.DefenderSignaturesOutOfDate != nil:
		p.UpToDate = !*d.DefenderSignaturesOutOfDate
	case d.AntivirusSignatureAge != nil:
		p.UpToDate = *d.AntivirusSignatureAge <= defenderStaleDays
	}
	if d.RealTimeProtectionEnabled != nil {
		p.RealTimeProtection = proto.Bool(*d.RealTimeProtectionEnabled)
	}
	if t := d.AntivirusSignatureLastUpdated; t != nil && t.Year() > 2000 {
		p.SignatureUpdated = timestamppb.New(*t)
	}
	return p
}

// antivirusRaw is what the antivirus reader fetched: the rows of each
// class, or the error querying it.
type antivirusRaw struct {
	SecurityCenter    []securityCenterProduct
	SecurityCenterErr error
	Defender          []defenderStatus
	DefenderErr       error
}

// decodeAntivirus lists the Security Center products and Defender's. One
// source failing is not an error, as Windows Server has no Security
// Center and a machine may lack Defender; only when neither could be read
// is the concern unknown.
func decodeAntivirus(r antivirusRaw) *agentv1.Antivirus {
	if r.SecurityCenterErr != nil && r.DefenderErr != nil {
		return &agentv1.Antivirus{UnknownReason: antivirusReason(r.SecurityCenterErr, r.DefenderErr)}
	}
	av := &agentv1.Antivirus{}
	if r.SecurityCenterErr == nil {
		av.Products = securityCenterProducts(r.SecurityCenter)
	}
	if r.DefenderErr == nil {
		for _, d := range r.Defender {
			av.Products = append(av.Products, defenderProduct(d))
		}
	}
	return av
}

// antivirusReason says why neither Security Center nor Defender could be
// read.
func antivirusReason(scErr, defErr error) string {
	sc, _ := classify(scErr)
	def, _ := classify(defErr)
	switch {
	case sc == failDenied || def == failDenied:
		return reasonNoPermission
	case sc == failTimeout || def == failTimeout:
		return reasonTimedOut
	case sc == failMissing && def == failMissing:
		return reasonNoAVClasses
	case sc == failMissing && def == failNotRunning:
		return "class missing: Security Center is not available on Windows Server, and the Defender service is not running"
	case sc == failMissing:
		return "class missing: Security Center is not available on Windows Server; " +
			reasonFor("Defender", defErr, reasonNoPermission, "Defender is not installed")
	}
	return reasonFor("Security Center", scErr, reasonNoPermission, "class missing: Security Center")
}

// ---------------------------------------------------------------------
// BitLocker

// secret is a string never to be printed: fmt shows it as [redacted], so
// a raw struct holding a recovery password can be logged by mistake
// without leaking it.
type secret string

// String hides the value.
func (secret) String() string { return "[redacted]" }

// GoString hides the value from %#v.
func (secret) GoString() string { return "[redacted]" }

// bitlockerProtector is one key protector of a volume.
type bitlockerProtector struct {
	// ID is the protector's GUID in braces.
	ID string
	// Type is GetKeyProtectorType's answer; nil when the call failed.
	Type *uint32
	// NumericalPassword is GetKeyProtectorNumericalPassword's answer, read
	// only for type 3.
	NumericalPassword secret
}

// bitlockerVolume is one Win32_EncryptableVolume with the answers of its
// methods. A pointer is nil when the method failed or the property is
// absent.
type bitlockerVolume struct {
	DeviceID    string
	DriveLetter string
	// VolumeType is 0 for the OS volume, 1 fixed data, 2 removable.
	VolumeType *uint32
	// Protection is GetProtectionStatus: 0 off, 1 on, 2 unknown.
	Protection *uint32
	// Conversion is GetConversionStatus: 0 fully decrypted … 5
	// decryption paused.
	Conversion *uint32
	// EncryptionPercentage is in units of 10^-PrecisionFactor percent.
	EncryptionPercentage *uint32
	PrecisionFactor      uint32
	// EncryptionMethod is GetEncryptionMethod; 0xFFFFFFFF means unknown.
	EncryptionMethod *uint32
	// LockStatus is GetLockStatus: 0 unlocked, 1 locked.
	LockStatus *uint32
	Protectors []bitlockerProtector
}

// encryptionRaw is what the BitLocker reader fetched.
type encryptionRaw struct {
	// SystemDrive is %SystemDrive%, such as "C:".
	SystemDrive string
	Volumes     []bitlockerVolume
}

var (
	protectionNames = map[uint32]string{0: "off", 1: "on", 2: "unknown"}
	conversionNames = map[uint32]string{
		0: "fully_decrypted", 1: "fully_encrypted", 2: "encryption_in_progress",
		3: "decryption_in_progress", 4: "encryption_paused", 5: "decryption_paused",
	}
	methodNames = map[uint32]string{
		0: "None", 1: "AES 128 with Diffuser", 2: "AES 256 with Diffuser", 3: "AES 128",
		4: "AES 256", 5: "Hardware Encryption", 6: "XTS-AES 128", 7: "XTS-AES 256",
	}
	protectorNames = map[uint32]string{
		0: "unknown", 1: "tpm", 2: "external_key", 3: "numerical_password", 4: "tpm_pin",
		5: "tpm_startup_key", 6: "tpm_pin_startup_key", 7: "public_key", 8: "passphrase",
		9: "tpm_certificate", 10: "sid",
	}
)

// nameOf looks v up in names; nil or an unlisted value gives "".
func nameOf(names map[uint32]string, v *uint32) string {
	if v == nil {
		return ""
	}
	return names[*v]
}

// volumeState judges a volume: "encrypted" when fully encrypted with
// protection on, "suspended" when fully encrypted with protection off,
// "encrypting", "decrypting", "paused" (either direction),
// "not_encrypted", or "unknown" when the volume is locked or its status
// could not be read.
func volumeState(v bitlockerVolume) string {
	if v.LockStatus != nil && *v.LockStatus == 1 {
		return "unknown"
	}
	if v.Conversion == nil {
		return "unknown"
	}
	switch *v.Conversion {
	case 0:
		return "not_encrypted"
	case 1:
		switch {
		case v.Protection == nil:
			return "unknown"
		case *v.Protection == 1:
			return "encrypted"
		case *v.Protection == 0:
			return "suspended"
		}
		return "unknown"
	case 2:
		return "encrypting"
	case 3:
		return "decrypting"
	case 4, 5:
		return "paused"
	}
	return "unknown"
}

// normalizeRecoveryPassword returns p as a BitLocker recovery password,
// eight groups of six digits joined by hyphens, or false when it is not
// one. Each group is a 16-bit block multiplied by 11, which catches a
// mangled value before it is escrowed.
func normalizeRecoveryPassword(p string) (string, bool) {
	p = strings.TrimSpace(p)
	groups := strings.Split(p, "-")
	if len(groups) != 8 {
		return "", false
	}
	for _, g := range groups {
		if len(g) != 6 {
			return "", false
		}
		n, err := strconv.Atoi(g)
		if err != nil || n%11 != 0 || n/11 > math.MaxUint16 {
			return "", false
		}
	}
	return p, true
}

// volumeName names a volume by its drive letter or, without one, its
// device ID (\\?\Volume{…}\).
func volumeName(v bitlockerVolume) string {
	if l := strings.TrimSpace(v.DriveLetter); l != "" {
		return strings.ToUpper(l)
	}
	return v.DeviceID
}

// decodeVolume turns one volume into a Volume and the recovery keys of its
// numerical-password protectors.
func decodeVolume(v bitlockerVolume, systemDrive string) (*agentv1.Volume, []*agentv1.RecoveryKey) {
	name := volumeName(v)
	out := &agentv1.Volume{
		Name:       name,
		State:      volumeState(v),
		Protection: nameOf(protectionNames, v.Protection),
		Conversion: nameOf(conversionNames, v.Conversion),
		Method:     nameOf(methodNames, v.EncryptionMethod),
	}
	if l := strings.TrimSpace(v.DriveLetter); l != "" {
		out.MountPoint = strings.ToUpper(l) + `\`
	}
	out.OsVolume = (v.VolumeType != nil && *v.VolumeType == 0) ||
		(v.DriveLetter != "" && systemDrive != "" && strings.EqualFold(strings.TrimSpace(v.DriveLetter), strings.TrimSpace(systemDrive)))
	if v.EncryptionPercentage != nil {
		out.EncryptionPercent = float64(*v.EncryptionPercentage) / math.Pow10(int(v.PrecisionFactor))
	}
	var keys []*agentv1.RecoveryKey
	for _, p := range v.Protectors {
		if p.Type == nil {
			continue
		}
		word, ok := protectorNames[*p.Type]
		if !ok {
			word = fmt.Sprintf("type_%d", *p.Type)
		}
		if !slices.Contains(out.KeyProtectors, word) {
			out.KeyProtectors = append(out.KeyProtectors, word)
		}
		if *p.Type != 3 {
			continue
		}
		if pw, ok := normalizeRecoveryPassword(string(p.NumericalPassword)); ok {
			keys = append(keys, &agentv1.RecoveryKey{Volume: name, ProtectorId: p.ID, NumericalPassword: pw})
		}
	}
	return out, keys
}

// decodeEncryption turns every volume into a Volume, the OS volume first
// and the rest by name, with the recovery keys found.
func decodeEncryption(r encryptionRaw) *agentv1.Encryption {
	e := &agentv1.Encryption{}
	for _, v := range r.Volumes {
		vol, keys := decodeVolume(v, r.SystemDrive)
		e.Volumes = append(e.Volumes, vol)
		e.RecoveryKeys = append(e.RecoveryKeys, keys...)
	}
	slices.SortStableFunc(e.Volumes, func(a, b *agentv1.Volume) int {
		if a.OsVolume != b.OsVolume {
			if a.OsVolume {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return e
}

// encryptionReason says why BitLocker could not be read.
func encryptionReason(err error) string {
	return reasonFor("BitLocker", err, reasonBitLockerPerm, reasonNoBitLocker)
}

// ---------------------------------------------------------------------
// Screen lock

// powerSetting is one power setting on AC and on DC: the active scheme's
// value (read with powrprof) and the Group Policy copy under
// HKLM\SOFTWARE\Policies\Microsoft\Power\PowerSettings\<GUID>, which wins
// when present. Nil means not set.
type powerSetting struct {
	AC, DC             *uint32
	PolicyAC, PolicyDC *uint32
}

// effective returns the value that applies on AC (ac true) or DC, with its
// source, or nil when neither copy is set.
func (p powerSetting) effective(ac bool) (*uint32, string) {
	scheme, policy := p.DC, p.PolicyDC
	if ac {
		scheme, policy = p.AC, p.PolicyAC
	}
	if policy != nil {
		return policy, "policy"
	}
	return scheme, "machine"
}

// desktopValues are the screen saver values of a user's
// Control Panel\Desktop key or its policy copy, as the REG_SZ strings
// Windows stores. Nil means absent.
type desktopValues struct {
	ScreenSaveActive    *string
	ScreenSaveTimeOut   *string
	ScreenSaverIsSecure *string
	ScreenSaverExe      *string `json:"SCRNSAVE.EXE"`
}

// screenLockRaw is what the screen-lock reader fetched.
type screenLockRaw struct {
	// InactivityTimeoutSecs is the machine inactivity limit,
	// HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System.
	InactivityTimeoutSecs *uint32
	// ConsoleLock is CONSOLELOCK (1 = sign in on wake), VideoIdle is
	// VIDEOIDLE (display off) and StandbyIdle is STANDBYIDLE (sleep), the
	// timeouts in seconds with 0 meaning never.
	ConsoleLock, VideoIdle, StandbyIdle powerSetting
	// User is the account whose hive was read, "" when nobody is at the
	// console.
	User string
	// Desktop is HKU\<SID>\Control Panel\Desktop; DesktopPolicy is
	// HKU\<SID>\Software\Policies\Microsoft\Windows\Control Panel\Desktop.
	Desktop, DesktopPolicy desktopValues
	// MachineErr, PowerErr and UserErr are failures reading the machine
	// policy, the power scheme and the user's hive; absent keys and values
	// are not failures.
	MachineErr, PowerErr, UserErr error `json:"-"`
}

// pick returns the policy copy of a desktop value if set, else the
// user's, with its source.
func pick(policy, user *string) (string, string, bool) {
	if policy != nil {
		return strings.TrimSpace(*policy), "policy", true
	}
	if user != nil {
		return strings.TrimSpace(*user), "user", true
	}
	return "", "", false
}

// screenSaverLock returns the seconds after which the screen saver locks
// the session, or 0 when it does not: it must be active, secure, have an
// executable (not empty or "(none)") and a timeout.
func screenSaverLock(r screenLockRaw) int64 {
	active, _, _ := pick(r.DesktopPolicy.ScreenSaveActive, r.Desktop.ScreenSaveActive)
	secure, _, _ := pick(r.DesktopPolicy.ScreenSaverIsSecure, r.Desktop.ScreenSaverIsSecure)
	exe, _, _ := pick(r.DesktopPolicy.ScreenSaverExe, r.Desktop.ScreenSaverExe)
	timeout, _, _ := pick(r.DesktopPolicy.ScreenSaveTimeOut, r.Desktop.ScreenSaveTimeOut)
	if active != "1" || secure != "1" || exe == "" || strings.EqualFold(exe, "(none)") {
		return 0
	}
	n, err := strconv.ParseInt(timeout, 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// minPositive returns the smallest of vs above 0, or 0 when there is none.
func minPositive(vs ...int64) int64 {
	var m int64
	for _, v := range vs {
		if v > 0 && (m == 0 || v < m) {
			m = v
		}
	}
	return m
}

// powerLock returns, for AC or DC, the seconds after which the session
// locks and whether a password is needed to get back in. The lock is the
// soonest of the machine inactivity limit, the secure screen saver and,
// when CONSOLELOCK asks for sign-in on wake, going to sleep. Every one of
// those locks asks for a password, and CONSOLELOCK asks for one on any
// wake even when sleep is never automatic.
func powerLock(r screenLockRaw, ac bool, screenSaver int64) (int64, bool) {
	var inactivity int64
	if r.InactivityTimeoutSecs != nil {
		inactivity = int64(*r.InactivityTimeoutSecs)
	}
	var sleepLock int64
	consoleLock, _ := r.ConsoleLock.effective(ac)
	onWake := consoleLock != nil && *consoleLock == 1
	if sleep, _ := r.StandbyIdle.effective(ac); onWake && sleep != nil {
		sleepLock = int64(*sleep)
	}
	lock := minPositive(inactivity, screenSaver, sleepLock)
	return lock, lock > 0 || onWake
}

// decodeScreenLock computes the effective screen lock. AC and DC are
// judged apart, each as a whole, and the stricter (the one that locks
// sooner) is reported; every value read is listed in settings. With
// nobody at the console only the machine values count.
func decodeScreenLock(r screenLockRaw) *agentv1.ScreenLock {
	for _, err := range []error{r.MachineErr, r.PowerErr, r.UserErr} {
		if err != nil {
			return &agentv1.ScreenLock{UnknownReason: reasonFor("screen lock", err, reasonNoPermission, "screen lock: setting missing")}
		}
	}
	var ss int64
	if r.User != "" {
		ss = screenSaverLock(r)
	}
	acLock, acPw := powerLock(r, true, ss)
	dcLock, dcPw := powerLock(r, false, ss)
	sl := &agentv1.ScreenLock{User: r.User, Settings: screenLockSettings(r)}
	switch {
	case acLock == dcLock:
		sl.IdleLockSeconds, sl.PasswordOnWake = acLock, acPw || dcPw
	case minPositive(acLock, dcLock) == acLock:
		sl.IdleLockSeconds, sl.PasswordOnWake = acLock, acPw
	default:
		sl.IdleLockSeconds, sl.PasswordOnWake = dcLock, dcPw
	}
	return sl
}

// screenLockSettings lists every value read, machine values first.
func screenLockSettings(r screenLockRaw) []*agentv1.ScreenLockSetting {
	var out []*agentv1.ScreenLockSetting
	add := func(name, value, source string) {
		out = append(out, &agentv1.ScreenLockSetting{Name: name, Value: value, Source: source})
	}
	if r.InactivityTimeoutSecs != nil {
		add("InactivityTimeoutSecs", strconv.FormatUint(uint64(*r.InactivityTimeoutSecs), 10), "policy")
	}
	for _, s := range []struct {
		name string
		p    powerSetting
	}{{"CONSOLELOCK", r.ConsoleLock}, {"VIDEOIDLE", r.VideoIdle}, {"STANDBYIDLE", r.StandbyIdle}} {
		for _, v := range []struct {
			suffix, source string
			value          *uint32
		}{
			{" (AC)", "machine", s.p.AC}, {" (DC)", "machine", s.p.DC},
			{" (AC)", "policy", s.p.PolicyAC}, {" (DC)", "policy", s.p.PolicyDC},
		} {
			if v.value != nil {
				add(s.name+v.suffix, strconv.FormatUint(uint64(*v.value), 10), v.source)
			}
		}
	}
	if r.User == "" {
		return out
	}
	for _, v := range []struct {
		name         string
		policy, user *string
	}{
		{"ScreenSaveActive", r.DesktopPolicy.ScreenSaveActive, r.Desktop.ScreenSaveActive},
		{"ScreenSaveTimeOut", r.DesktopPolicy.ScreenSaveTimeOut, r.Desktop.ScreenSaveTimeOut},
		{"ScreenSaverIsSecure", r.DesktopPolicy.ScreenSaverIsSecure, r.Desktop.ScreenSaverIsSecure},
		{"SCRNSAVE.EXE", r.DesktopPolicy.ScreenSaverExe, r.Desktop.ScreenSaverExe},
	} {
		if v.user != nil {
			add(v.name, *v.user, "user")
		}
		if v.policy != nil {
			add(v.name, *v.policy, "policy")
		}
	}
	return out
}

// pickUserHive chooses whose settings to read when the console user
// cannot be asked for (the agent is not SYSTEM): among the loaded hives
// under HKEY_USERS, the local and domain users' (S-1-5-21-…, not their
// _Classes hives), the last user to sign in if loaded, else the first by
// SID. It returns "" when no user hive is loaded.
func pickUserHive(hives []string, lastLoggedOn string) string {
	var users []string
	for _, h := range hives {
		if strings.HasPrefix(strings.ToUpper(h), "S-1-5-21-") && !strings.HasSuffix(strings.ToLower(h), "_classes") {
			users = append(users, h)
		}
	}
	for _, u := range users {
		if lastLoggedOn != "" && strings.EqualFold(u, lastLoggedOn) {
			return u
		}
	}
	slices.Sort(users)
	if len(users) == 0 {
		return ""
	}
	return users[0]
}

// ---------------------------------------------------------------------
// USB

// usbID is what a USB device instance ID says.
type usbID struct {
	VendorID, ProductID string // four lower-case hex digits
	// Interface is the MI_nn number of a composite device's interface, or
	// -1 for the device itself.
	Interface int
	// Serial is the device's serial number, "" when Windows generated the
	// instance part because the device has none.
	Serial string
}

// generatedInstance reports whether the instance part of a device
// instance ID was made up by Windows, such as "5&2c8f4d1a&0&3", rather
// than being the device's serial: its second character is '&' (or, for
// deep hub trees, its third after two hex digits).
func generatedInstance(s string) bool {
	if len(s) < 2 {
		return true
	}
	if s[1] == '&' {
		return true
	}
	return len(s) > 2 && s[2] == '&' && isHex(s[:2])
}

// isHex reports whether s is made only of hexadecimal digits.
func isHex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

// parseUSBInstanceID decodes a USB device instance ID such as
// USB\VID_0781&PID_5567\4C530001230817117174 or, for an interface of a
// composite device, USB\VID_046D&PID_C52B&MI_01\7&2a3d1e3&0&0001. Root
// hubs (USB\ROOT_HUB30\…) and IDs of other buses give false.
func parseUSBInstanceID(id string) (usbID, bool) {
	parts := strings.Split(id, `\`)
	if len(parts) != 3 || !strings.EqualFold(parts[0], "USB") {
		return usbID{}, false
	}
	u := usbID{Interface: -1}
	for _, f := range strings.Split(parts[1], "&") {
		key, val, ok := strings.Cut(f, "_")
		if !ok {
			continue
		}
		switch strings.ToUpper(key) {
		case "VID":
			u.VendorID = strings.ToLower(val)
		case "PID":
			u.ProductID = strings.ToLower(val)
		case "MI":
			if n, err := strconv.ParseUint(val, 16, 8); err == nil {
				u.Interface = int(n)
			}
		}
	}
	if len(u.VendorID) != 4 || len(u.ProductID) != 4 || !isHex(u.VendorID) || !isHex(u.ProductID) {
		return usbID{}, false
	}
	if !generatedInstance(parts[2]) {
		u.Serial = parts[2]
	}
	return u, true
}

// usbstorID is what a USBSTOR disk instance ID says.
type usbstorID struct {
	Vendor, Product, Revision string
	// Serial is the serial of the USB device holding the disk, "" when
	// Windows generated the instance part.
	Serial string
}

// parseUSBSTORInstanceID decodes a USB mass-storage disk ID such as
// USBSTOR\Disk&Ven_SanDisk&Prod_Cruzer_Blade&Rev_1.00\4C530001230817117174&0,
// whose instance part is the device's serial followed by "&" and the LUN.
// Underscores in the vendor and product stand for spaces.
func parseUSBSTORInstanceID(id string) (usbstorID, bool) {
	parts := strings.Split(id, `\`)
	if len(parts) != 3 || !strings.EqualFold(parts[0], "USBSTOR") {
		return usbstorID{}, false
	}
	var s usbstorID
	for _, f := range strings.Split(parts[1], "&") {
		key, val, ok := strings.Cut(f, "_")
		if !ok {
			continue
		}
		val = strings.TrimSpace(strings.ReplaceAll(val, "_", " "))
		switch strings.ToUpper(key) {
		case "VEN":
			s.Vendor = val
		case "PROD":
			s.Product = val
		case "REV":
			s.Revision = val
		}
	}
	inst := parts[2]
	if i := strings.LastIndexByte(inst, '&'); i > 0 {
		if _, err := strconv.Atoi(inst[i+1:]); err == nil {
			inst = inst[:i]
		}
	}
	if !generatedInstance(parts[2]) {
		s.Serial = inst
	}
	return s, true
}

// instanceIDFromSymbolicLink turns a device interface's symbolic link,
// \\?\USB#VID_0781&PID_5567#4C530001230817117174#{a5dcbf10-…}, into the
// device instance ID USB\VID_0781&PID_5567\4C530001230817117174.
func instanceIDFromSymbolicLink(link string) (string, bool) {
	for _, prefix := range []string{`\\?\`, `\??\`, `\\.\`} {
		if strings.HasPrefix(link, prefix) {
			link = link[len(prefix):]
			break
		}
	}
	parts := strings.Split(link, "#")
	if n := len(parts); n > 0 && strings.HasPrefix(parts[n-1], "{") {
		parts = parts[:n-1]
	}
	if len(parts) != 3 || slices.Contains(parts, "") {
		return "", false
	}
	return strings.Join(parts, `\`), true
}

// classFromCompatibleIDs reads the USB class from a device's compatible
// IDs: USB\Class_08&SubClass_06&Prot_50 for a device or interface that
// has one, USB\DevClass_00…  and USB\COMPOSITE for a composite device,
// which leaves its class to its interfaces (deferred true).
func classFromCompatibleIDs(ids []string) (code int, known, deferred bool) {
	devClass := -1
	for _, id := range ids {
		id = strings.ToUpper(strings.TrimSpace(id))
		rest, ok := strings.CutPrefix(id, `USB\`)
		if !ok {
			continue
		}
		if rest == "COMPOSITE" {
			deferred = true
			continue
		}
		for _, p := range []string{"CLASS_", "DEVCLASS_"} {
			hex, ok := strings.CutPrefix(rest, p)
			if !ok || len(hex) < 2 {
				continue
			}
			n, err := strconv.ParseUint(hex[:2], 16, 8)
			if err != nil {
				continue
			}
			if p == "CLASS_" && !known {
				code, known = int(n), true
			}
			if p == "DEVCLASS_" && devClass < 0 {
				devClass = int(n)
			}
		}
	}
	if !known && devClass >= 0 {
		code, known = devClass, true
		deferred = deferred || devClass == 0
	}
	return code, known, deferred
}

// usbClassWords names USB base classes (usb.org "Defined Class Codes") in
// the report's vocabulary; other known codes are "other".
var usbClassWords = map[int]string{
	0x01: "audio", 0x02: "comm", 0x03: "hid", 0x07: "printer", 0x08: "mass_storage",
	0x09: "hub", 0x0a: "comm", 0x0b: "smart_card", 0x0e: "video", 0x10: "video",
	0xe0: "wireless", 0xff: "vendor_specific",
}

// usbClassWord names a USB class code.
func usbClassWord(code int) string {
	if w, ok := usbClassWords[code]; ok {
		return w
	}
	return "other"
}

// setupClassWords names the Windows setup classes whose meaning is clear,
// for devices without compatible IDs (keyed in lower case).
var setupClassWords = map[string]string{
	"diskdrive": "mass_storage", "hidclass": "hid", "keyboard": "hid", "mouse": "hid",
	"camera": "video", "media": "audio", "audioendpoint": "audio", "printer": "printer",
	"smartcardreader": "smart_card", "bluetooth": "wireless", "ports": "comm", "modem": "comm",
}

// storageServices are the drivers of USB mass storage: USBSTOR for bulk
// only transport, UASPStor for USB attached SCSI (keyed in lower case).
var storageServices = map[string]bool{"usbstor": true, "uaspstor": true}

// genericMakers are names Windows puts in the Manufacturer property for
// its own class drivers, which say who wrote the driver, not who made the
// device (keyed in lower case).
var genericMakers = map[string]bool{
	"microsoft": true, "compatible usb storage device": true, "generic": true,
	"usb": true, "(standard system devices)": true,
}

// makerFromManufacturer returns the Manufacturer property as the device's
// vendor, or "" when it names a Windows class driver, such as
// "(Standard USB HUBs)" or "Microsoft".
func makerFromManufacturer(m string) string {
	m = strings.TrimSpace(m)
	if m == "" || strings.HasPrefix(m, "(") || genericMakers[strings.ToLower(m)] {
		return ""
	}
	return m
}

// pnpDevice is one device node as SetupAPI describes it. The reader fills
// it for USB\ and USBSTOR\ devices.
type pnpDevice struct {
	InstanceID string
	// Parent is DEVPKEY_Device_Parent, known only for present devices.
	Parent  string
	Service string
	// Class is the setup class name, such as "HIDClass" or "USB".
	Class         string
	Manufacturer  string
	FriendlyName  string
	Description   string
	CompatibleIDs []string
	// BusReportedDescription is the product string the device itself
	// reports (DEVPKEY_Device_BusReportedDeviceDesc).
	BusReportedDescription string
	// FirstInstallDate and LastArrivalDate are FILETIMEs (100 ns since
	// 1601, UTC); 0 when not read.
	FirstInstallDate, LastArrivalDate uint64
}

// usbRecord is one USB device found among pnpDevices.
type usbRecord struct {
	InstanceID          string
	Device              *agentv1.UsbDevice
	FirstSeen, LastSeen time.Time
}

// decodeUSB finds the USB devices among devs, skipping root hubs and the
// interfaces of composite devices, which describe their device. A
// device's class comes from its compatible IDs: its own or, when it
// leaves that to its interfaces, its first interface's; without them,
// from its mass storage driver or its setup class where that is
// unambiguous, else it is left empty. It is mass storage when its class,
// its driver, one of its interfaces or a USBSTOR disk below it (by
// parent, or by serial for devices no longer present) says so; the disk
// also gives the vendor and product names when the device does not.
// Devices are sorted by vendor ID, product ID and serial.
func decodeUSB(devs []pnpDevice) []usbRecord {
	type iface struct {
		id  usbID
		dev pnpDevice
	}
	var (
		ifaces   = map[string][]iface{} // "vid:pid" → interfaces
		disks    = map[string][]usbstorID{}
		bySerial = map[string][]usbstorID{}
	)
	for _, d := range devs {
		if s, ok := parseUSBSTORInstanceID(d.InstanceID); ok {
			if d.Parent != "" {
				p := strings.ToUpper(d.Parent)
				disks[p] = append(disks[p], s)
			}
			if s.Serial != "" {
				bySerial[strings.ToUpper(s.Serial)] = append(bySerial[strings.ToUpper(s.Serial)], s)
			}
			continue
		}
		if u, ok := parseUSBInstanceID(d.InstanceID); ok && u.Interface >= 0 {
			k := u.VendorID + ":" + u.ProductID
			ifaces[k] = append(ifaces[k], iface{u, d})
		}
	}
	var out []usbRecord
	for _, d := range devs {
		u, ok := parseUSBInstanceID(d.InstanceID)
		if !ok || u.Interface >= 0 {
			continue
		}
		dev := &agentv1.UsbDevice{VendorId: u.VendorID, ProductId: u.ProductID, Serial: u.Serial}
		// The interfaces of this device: by parent where known, else the
		// ones with the same IDs (identical devices have identical
		// interfaces).
		mine := slices.Clone(ifaces[u.VendorID+":"+u.ProductID])
		if byParent := slices.DeleteFunc(slices.Clone(mine), func(i iface) bool {
			return !strings.EqualFold(i.dev.Parent, d.InstanceID)
		}); len(byParent) > 0 {
			mine = byParent
		}
		slices.SortStableFunc(mine, func(a, b iface) int { return cmp.Compare(a.id.Interface, b.id.Interface) })

		code, known, deferred := classFromCompatibleIDs(d.CompatibleIDs)
		if deferred && len(mine) > 0 {
			if c, ok, _ := classFromCompatibleIDs(mine[0].dev.CompatibleIDs); ok {
				code, known = c, true
			}
		}
		switch {
		case known && !(deferred && code == 0):
			dev.Class = usbClassWord(code)
		case storageServices[strings.ToLower(d.Service)]:
			dev.Class = "mass_storage" // its own driver is the mass storage one
		case setupClassWords[strings.ToLower(d.Class)] != "":
			dev.Class = setupClassWords[strings.ToLower(d.Class)]
		default:
			dev.Class = "other" // as on the other systems: nothing says what it is
		}

		// The disks below it: by parent (the device or one of its
		// interfaces), else by serial.
		var stor []usbstorID
		stor = append(stor, disks[strings.ToUpper(d.InstanceID)]...)
		for _, i := range mine {
			stor = append(stor, disks[strings.ToUpper(i.dev.InstanceID)]...)
		}
		if len(stor) == 0 && u.Serial != "" {
			stor = bySerial[strings.ToUpper(u.Serial)]
		}
		dev.MassStorage = dev.Class == "mass_storage" || storageServices[strings.ToLower(d.Service)] || len(stor) > 0
		for _, i := range mine {
			if c, ok, _ := classFromCompatibleIDs(i.dev.CompatibleIDs); (ok && c == 0x08) || storageServices[strings.ToLower(i.dev.Service)] {
				dev.MassStorage = true
			}
		}

		dev.Vendor = makerFromManufacturer(d.Manufacturer)
		if len(stor) > 0 && stor[0].Vendor != "" {
			dev.Vendor = stor[0].Vendor
		}
		dev.Product = strings.TrimSpace(d.BusReportedDescription)
		if dev.Product == "" && len(stor) > 0 {
			dev.Product = stor[0].Product
		}
		if dev.Product == "" {
			dev.Product = strings.TrimSpace(cmp.Or(d.FriendlyName, d.Description))
		}
		out = append(out, usbRecord{
			InstanceID: d.InstanceID,
			Device:     dev,
			FirstSeen:  filetimeToTime(d.FirstInstallDate),
			LastSeen:   filetimeToTime(d.LastArrivalDate),
		})
	}
	slices.SortStableFunc(out, func(a, b usbRecord) int {
		return cmp.Or(
			cmp.Compare(a.Device.VendorId, b.Device.VendorId),
			cmp.Compare(a.Device.ProductId, b.Device.ProductId),
			cmp.Compare(a.Device.Serial, b.Device.Serial),
			cmp.Compare(a.InstanceID, b.InstanceID),
		)
	})
	return out
}

// usbDevices returns the devices of records.
func usbDevices(records []usbRecord) []*agentv1.UsbDevice {
	out := make([]*agentv1.UsbDevice, len(records))
	for i, r := range records {
		out[i] = r.Device
	}
	return out
}

// usbHistory turns records into bodies of usb.recorded events, with the
// first and last time Windows saw each device where it recorded them,
// newest last (devices without a last arrival first).
func usbHistory(records []usbRecord) []*agentv1.UsbEvent {
	records = slices.Clone(records)
	slices.SortStableFunc(records, func(a, b usbRecord) int {
		return cmp.Or(a.LastSeen.Compare(b.LastSeen), a.FirstSeen.Compare(b.FirstSeen))
	})
	out := make([]*agentv1.UsbEvent, 0, len(records))
	for _, r := range records {
		e := &agentv1.UsbEvent{Device: r.Device}
		if !r.FirstSeen.IsZero() {
			e.FirstSeen = timestamppb.New(r.FirstSeen)
		}
		if !r.LastSeen.IsZero() {
			e.LastSeen = timestamppb.New(r.LastSeen)
		}
		out = append(out, e)
	}
	return out
}

// deviceForEvent describes the device named by an instance ID taken from
// a notification: as decodeUSB describes it among looked (what SetupAPI
// knew), or else by what the ID itself says. It returns nil when the ID
// is not a whole USB device.
func deviceForEvent(instanceID string, looked []pnpDevice) *agentv1.UsbDevice {
	u, ok := parseUSBInstanceID(instanceID)
	if !ok || u.Interface >= 0 {
		return nil
	}
	for _, r := range decodeUSB(looked) {
		if strings.EqualFold(r.InstanceID, instanceID) {
			return r.Device
		}
	}
	return &agentv1.UsbDevice{VendorId: u.VendorID, ProductId: u.ProductID, Serial: u.Serial}
}

// filetimeEpoch is 1 January 1970 as a FILETIME.
const filetimeEpoch = 116444736000000000

// filetimeToTime converts a FILETIME (100 ns intervals since 1601, UTC).
// Zero, or a time before 1970, gives the zero time.
func filetimeToTime(ft uint64) time.Time {
	if ft <= filetimeEpoch {
		return time.Time{}
	}
	d := ft - filetimeEpoch
	return time.Unix(int64(d/1e7), int64(d%1e7)*100).UTC()
}

// devpropFiletime decodes a DEVPROP_TYPE_FILETIME property value.
func devpropFiletime(b []byte) (uint64, bool) {
	if len(b) != 8 {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b), true
}

// devpropString decodes a DEVPROP_TYPE_STRING property value: UTF-16LE,
// ending at the first NUL.
func devpropString(b []byte) string {
	list := devpropStringList(b)
	if len(list) == 0 {
		return ""
	}
	return list[0]
}

// devpropStringList decodes a DEVPROP_TYPE_STRING_LIST property value:
// UTF-16LE strings each ending in NUL, the list ending in an empty one.
func devpropStringList(b []byte) []string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	var out []string
	for len(u) > 0 {
		end := slices.Index(u, 0)
		if end < 0 {
			end = len(u)
		}
		if end == 0 {
			break
		}
		out = append(out, string(utf16.Decode(u[:end])))
		u = u[min(end+1, len(u)):]
	}
	return out
}
