package win

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"syscall"

	"github.com/go-ole/go-ole"
	"github.com/go-ole/go-ole/oleutil"
	"github.com/yusufpapurcu/wmi"
)

// The wmi package's clients: missing properties (older builds) leave
// fields unset, and with PtrNil a null or missing property leaves a
// pointer field nil, so that "not said" is never read as false.
var (
	wmiClient    = &wmi.Client{AllowMissingFields: true}
	wmiPtrClient = &wmi.Client{AllowMissingFields: true, PtrNil: true}
)

// queryWMI fills dst with every instance of class in namespace. It selects
// all properties, as naming one an older build lacks makes the query
// fail. A property of an unexpected type leaves its field unset rather
// than failing the query.
func queryWMI[T any](c *wmi.Client, namespace, class string, dst *[]T) error {
	err := c.Query("SELECT * FROM "+class, dst, localComputer, namespace)
	if _, ok := errors.AsType[*wmi.ErrFieldMismatch](err); ok {
		return nil
	}
	if err != nil {
		return winErr("query "+class, err)
	}
	return nil
}

// localComputer is the server ConnectServer is given: "." names this
// machine. A null server means the same to Windows, but not to every
// implementation of the scripting API (Wine's refuses it).
const localComputer = "."

// Codes used below.
const (
	sFalse          = 0x00000001 // S_FALSE: COM was already initialised on this thread
	dispEException  = 0x80020009 // DISP_E_EXCEPTION: the real code is in EXCEPINFO
	authnPktPrivacy = 6          // wbemAuthenticationLevelPktPrivacy
	impImpersonate  = 3          // wbemImpersonationLevelImpersonate
)

// winErr turns an error from go-ole or a system call into a codeError
// carrying its code: the HRESULT, or for an exception raised by WMI the
// SCODE WMI set (such as WBEM_E_ACCESS_DENIED), or the Win32 error. Other
// errors are wrapped as they are.
func winErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if oe, ok := errors.AsType[*ole.OleError](err); ok {
		code := uint32(oe.Code())
		if code == dispEException {
			if ex, ok := oe.SubError().(ole.EXCEPINFO); ok && ex.SCODE() != 0 {
				code = ex.SCODE()
			}
		}
		return &codeError{Op: op, Code: code}
	}
	if errno, ok := errors.AsType[syscall.Errno](err); ok {
		return &codeError{Op: op, Code: uint32(errno)}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// withWMIService connects to a WMI namespace on this machine, with packet
// privacy as the BitLocker provider requires, and calls f with the
// SWbemServices object. COM is set up on a locked OS thread for the
// duration.
func withWMIService(namespace string, f func(svc *ole.IDispatch) error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := ole.CoInitializeEx(0, ole.COINIT_MULTITHREADED); err != nil {
		oe, ok := errors.AsType[*ole.OleError](err)
		if !ok || oe.Code() != sFalse {
			return winErr("initialise COM", err)
		}
	}
	defer ole.CoUninitialize()

	unknown, err := oleutil.CreateObject("WbemScripting.SWbemLocator")
	if err != nil {
		return winErr("create WMI locator", err)
	}
	defer unknown.Release()
	locator, err := unknown.QueryInterface(ole.IID_IDispatch)
	if err != nil {
		return winErr("create WMI locator", err)
	}
	defer locator.Release()
	svcV, err := oleutil.CallMethod(locator, "ConnectServer", localComputer, namespace)
	if err != nil {
		return winErr("connect to "+namespace, err)
	}
	defer svcV.Clear()
	svc := svcV.ToIDispatch()
	if svc == nil {
		return fmt.Errorf("connect to %s: no service object", namespace)
	}
	setPacketPrivacy(svc)
	return f(svc)
}

// setPacketPrivacy asks for an encrypted, impersonating connection. Local
// connections are private already on current Windows, so a failure here
// is left for the query to report.
func setPacketPrivacy(svc *ole.IDispatch) {
	secV, err := oleutil.GetProperty(svc, "Security_")
	if err != nil {
		return
	}
	defer secV.Clear()
	sec := secV.ToIDispatch()
	if sec == nil {
		return
	}
	if r, err := oleutil.PutProperty(sec, "AuthenticationLevel", int32(authnPktPrivacy)); err == nil {
		r.Clear()
	}
	if r, err := oleutil.PutProperty(sec, "ImpersonationLevel", int32(impImpersonate)); err == nil {
		r.Clear()
	}
}

// callWMIMethod calls a method of a WMI object through IDispatch. Out
// parameters are passed as *ole.VARIANT, which WMI fills. It returns the
// method's own return value (0 for success) or the error of the call.
func callWMIMethod(obj *ole.IDispatch, method string, args ...any) (uint32, error) {
	res, err := oleutil.CallMethod(obj, method, args...)
	if err != nil {
		return 0, winErr(method, err)
	}
	defer res.Clear()
	rc, ok := variantUint32(res)
	if !ok {
		return 0, fmt.Errorf("%s: return value of type %d", method, res.VT)
	}
	return rc, nil
}

// variantUint32 reads an integer VARIANT, as WMI returns uint32 values
// (usually as VT_I4). Null, empty and non-integer VARIANTs give false.
func variantUint32(v *ole.VARIANT) (uint32, bool) {
	switch x := v.Value().(type) {
	case int8:
		return uint32(x), true
	case uint8:
		return uint32(x), true
	case int16:
		return uint32(x), true
	case uint16:
		return uint32(x), true
	case int32:
		return uint32(x), true
	case uint32:
		return x, true
	case int64:
		return uint32(x), true
	case uint64:
		return uint32(x), true
	case int:
		return uint32(x), true
	case uint:
		return uint32(x), true
	case string:
		n, err := strconv.ParseUint(x, 10, 32)
		return uint32(n), err == nil
	}
	return 0, false
}

// variantStrings reads a VARIANT holding an array of strings. Null or
// empty gives nil.
func variantStrings(v *ole.VARIANT) []string {
	if v.VT&ole.VT_ARRAY == 0 {
		if s, ok := v.Value().(string); ok && s != "" {
			return []string{s}
		}
		return nil
	}
	arr := v.ToArray()
	if arr == nil {
		return nil
	}
	var out []string
	for _, x := range arr.ToValueArray() {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// propString reads a string property of a WMI object; null gives "".
func propString(obj *ole.IDispatch, name string) string {
	v, err := oleutil.GetProperty(obj, name)
	if err != nil {
		return ""
	}
	defer v.Clear()
	s, _ := v.Value().(string)
	return s
}

// propUint32 reads an integer property of a WMI object; nil when absent
// or null.
func propUint32(obj *ole.IDispatch, name string) *uint32 {
	v, err := oleutil.GetProperty(obj, name)
	if err != nil {
		return nil
	}
	defer v.Clear()
	if n, ok := variantUint32(v); ok {
		return &n
	}
	return nil
}
