package win

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

// Registry paths read for the screen lock.
const (
	keySystemPolicy  = `SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System`
	keyPowerPolicy   = `SOFTWARE\Policies\Microsoft\Power\PowerSettings\`
	keyLogonUI       = `SOFTWARE\Microsoft\Windows\CurrentVersion\Authentication\LogonUI`
	keyDesktop       = `\Control Panel\Desktop`
	keyDesktopPolicy = `\Software\Policies\Microsoft\Windows\Control Panel\Desktop`
)

// powrprof.dll, loaded from System32 on first use.
var (
	modpowrprof               = windows.NewLazySystemDLL("powrprof.dll")
	procPowerGetActiveScheme  = modpowrprof.NewProc("PowerGetActiveScheme")
	procPowerReadACValueIndex = modpowrprof.NewProc("PowerReadACValueIndex")
	procPowerReadDCValueIndex = modpowrprof.NewProc("PowerReadDCValueIndex")
)

// powerKey names a power setting: its subgroup and its own GUID (winnt.h).
type powerKey struct {
	subgroup, setting string
}

// The power settings read.
var (
	powerConsoleLock = powerKey{"fea3413e-7e05-4911-9a71-700331f1c294", "0e796bdb-100d-47d6-a2d5-f7d2daa51f51"} // NO_SUBGROUP, CONSOLELOCK
	powerVideoIdle   = powerKey{"7516b95f-f776-4464-8c53-06167f40cc99", "3c0bc021-c8a8-4e07-a973-6b14cbcb2b7e"} // SUB_VIDEO, VIDEOIDLE
	powerStandbyIdle = powerKey{"238c9fa8-0aad-41ed-83f4-97be242c8f20", "29f6c1db-86da-48c5-9fdb-f2b67b1f44da"} // SUB_SLEEP, STANDBYIDLE
)

// readScreenLock reads the machine policy, the power scheme and the
// console user's screen saver settings. Absent keys and values are left
// nil; other failures go into the raw struct's error fields.
func readScreenLock(ctx context.Context) screenLockRaw {
	var r screenLockRaw
	r.InactivityTimeoutSecs, r.MachineErr = regDWORD(registry.LOCAL_MACHINE, keySystemPolicy, "InactivityTimeoutSecs")
	if r.MachineErr == nil {
		r.MachineErr = ctx.Err()
	}

	scheme, err := activePowerScheme()
	if err != nil {
		r.PowerErr = err
	} else {
		for _, s := range []struct {
			key powerKey
			dst *powerSetting
		}{{powerConsoleLock, &r.ConsoleLock}, {powerVideoIdle, &r.VideoIdle}, {powerStandbyIdle, &r.StandbyIdle}} {
			if *s.dst, err = readPowerSetting(scheme, s.key); err != nil {
				r.PowerErr = err
				break
			}
		}
	}
	if r.PowerErr == nil {
		r.PowerErr = ctx.Err()
	}

	sid, user, err := consoleUser()
	if err != nil {
		r.UserErr = err
		return r
	}
	if sid == "" {
		return r
	}
	r.User = user
	if r.Desktop, err = readDesktop(sid + keyDesktop); err != nil {
		r.UserErr = err
	} else if r.DesktopPolicy, err = readDesktop(sid + keyDesktopPolicy); err != nil {
		r.UserErr = err
	}
	return r
}

// regDWORD reads a DWORD value from root\path; nil, nil when the key or
// value is absent.
func regDWORD(root registry.Key, path, name string) (*uint32, error) {
	k, err := registry.OpenKey(root, path, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if errors.Is(err, registry.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, winErr("open "+path, err)
	}
	defer k.Close()
	v, _, err := k.GetIntegerValue(name)
	if errors.Is(err, registry.ErrNotExist) {
		return nil, nil
	}
	if errors.Is(err, registry.ErrUnexpectedType) {
		// A policy written as a string by hand still counts if it is a number.
		s, _, serr := k.GetStringValue(name)
		n, perr := strconv.ParseUint(s, 10, 32)
		if serr != nil || perr != nil {
			return nil, nil
		}
		v = n
	} else if err != nil {
		return nil, winErr("read "+name, err)
	}
	n := uint32(v)
	return &n, nil
}

// regStrings reads the string values names of HKEY_USERS\path; an absent
// key or value stays nil. A DWORD written where Windows expects a string
// is read as its decimal form.
func regStrings(path string, names ...string) ([]*string, error) {
	out := make([]*string, len(names))
	k, err := registry.OpenKey(registry.USERS, path, registry.QUERY_VALUE)
	if errors.Is(err, registry.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return out, winErr("open user key", err)
	}
	defer k.Close()
	for i, name := range names {
		s, _, err := k.GetStringValue(name)
		switch {
		case err == nil:
			out[i] = &s
		case errors.Is(err, registry.ErrUnexpectedType):
			if n, _, err := k.GetIntegerValue(name); err == nil {
				s := strconv.FormatUint(n, 10)
				out[i] = &s
			}
		case errors.Is(err, registry.ErrNotExist):
		default:
			return out, winErr("read "+name, err)
		}
	}
	return out, nil
}

// readDesktop reads the screen saver values of HKEY_USERS\path.
func readDesktop(path string) (desktopValues, error) {
	v, err := regStrings(path, "ScreenSaveActive", "ScreenSaveTimeOut", "ScreenSaverIsSecure", "SCRNSAVE.EXE")
	return desktopValues{ScreenSaveActive: v[0], ScreenSaveTimeOut: v[1], ScreenSaverIsSecure: v[2], ScreenSaverExe: v[3]}, err
}

// activePowerScheme returns the GUID of the active power scheme.
func activePowerScheme() (*windows.GUID, error) {
	if err := procPowerGetActiveScheme.Find(); err != nil {
		return nil, fmt.Errorf("power settings: %w", err)
	}
	var p *windows.GUID
	r, _, _ := procPowerGetActiveScheme.Call(0, uintptr(unsafe.Pointer(&p)))
	if r != 0 {
		return nil, &codeError{Op: "PowerGetActiveScheme", Code: uint32(r)}
	}
	if p == nil {
		return nil, errors.New("PowerGetActiveScheme: no scheme")
	}
	g := *p
	windows.LocalFree(windows.Handle(uintptr(unsafe.Pointer(p))))
	return &g, nil
}

// readPowerSetting reads a setting's AC and DC values in the scheme and
// their Group Policy copies. A value the scheme does not hold is nil.
func readPowerSetting(scheme *windows.GUID, key powerKey) (powerSetting, error) {
	var s powerSetting
	sub, err := windows.GUIDFromString("{" + key.subgroup + "}")
	if err != nil {
		return s, err
	}
	setting, err := windows.GUIDFromString("{" + key.setting + "}")
	if err != nil {
		return s, err
	}
	if s.AC, err = readPowerValue(procPowerReadACValueIndex, scheme, &sub, &setting); err != nil {
		return s, err
	}
	if s.DC, err = readPowerValue(procPowerReadDCValueIndex, scheme, &sub, &setting); err != nil {
		return s, err
	}
	if s.PolicyAC, err = regDWORD(registry.LOCAL_MACHINE, keyPowerPolicy+key.setting, "ACSettingIndex"); err != nil {
		return s, err
	}
	if s.PolicyDC, err = regDWORD(registry.LOCAL_MACHINE, keyPowerPolicy+key.setting, "DCSettingIndex"); err != nil {
		return s, err
	}
	return s, nil
}

// readPowerValue calls PowerReadACValueIndex or PowerReadDCValueIndex.
func readPowerValue(proc *windows.LazyProc, scheme, sub, setting *windows.GUID) (*uint32, error) {
	if err := proc.Find(); err != nil {
		return nil, fmt.Errorf("power settings: %w", err)
	}
	var v uint32
	r, _, _ := proc.Call(0, uintptr(unsafe.Pointer(scheme)), uintptr(unsafe.Pointer(sub)), uintptr(unsafe.Pointer(setting)), uintptr(unsafe.Pointer(&v)))
	switch syscall.Errno(r) {
	case 0:
		return &v, nil
	case windows.ERROR_FILE_NOT_FOUND, windows.ERROR_NOT_FOUND:
		return nil, nil
	}
	return nil, &codeError{Op: proc.Name, Code: uint32(r)}
}

// consoleUser returns the SID and the DOMAIN\name of the user signed in at
// the console, or "" when nobody is. It asks Terminal Services for the
// console session's token, which needs SYSTEM; when the agent is not
// SYSTEM it falls back to the user hives loaded under HKEY_USERS.
func consoleUser() (sid, name string, err error) {
	session := windows.WTSGetActiveConsoleSessionId()
	if session == 0xFFFFFFFF {
		return "", "", nil // no session attached to the console
	}
	var tok windows.Token
	err = windows.WTSQueryUserToken(session, &tok)
	if errors.Is(err, windows.ERROR_NO_TOKEN) {
		return "", "", nil // nobody signed in
	}
	if err != nil {
		sid, err = userHiveSID()
		if err != nil || sid == "" {
			return "", "", err
		}
		return sid, accountName(sid), nil
	}
	defer tok.Close()
	tu, err := tok.GetTokenUser()
	if err != nil {
		return "", "", winErr("read console user token", err)
	}
	sid = tu.User.Sid.String()
	return sid, accountName(sid), nil
}

// userHiveSID picks a loaded user hive under HKEY_USERS with pickUserHive.
func userHiveSID() (string, error) {
	k, err := registry.OpenKey(registry.USERS, "", registry.ENUMERATE_SUB_KEYS)
	if err != nil {
		return "", winErr("list HKEY_USERS", err)
	}
	defer k.Close()
	hives, err := k.ReadSubKeyNames(-1)
	if err != nil {
		return "", winErr("list HKEY_USERS", err)
	}
	var last string
	if lk, err := registry.OpenKey(registry.LOCAL_MACHINE, keyLogonUI, registry.QUERY_VALUE|registry.WOW64_64KEY); err == nil {
		last, _, _ = lk.GetStringValue("LastLoggedOnUserSID")
		lk.Close()
	}
	return pickUserHive(hives, last), nil
}

// accountName returns DOMAIN\name for sid, or the SID itself when it
// cannot be looked up.
func accountName(sid string) string {
	s, err := windows.StringToSid(sid)
	if err != nil {
		return sid
	}
	account, domain, _, err := s.LookupAccount("")
	if err != nil || account == "" {
		return sid
	}
	if domain == "" {
		return account
	}
	return domain + `\` + account
}
