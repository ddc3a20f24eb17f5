package win

import (
	"context"
	"os"

	"github.com/go-ole/go-ole"
	"github.com/go-ole/go-ole/oleutil"
)

// bitlockerNamespace holds Win32_EncryptableVolume. Reading it needs
// administrator rights.
const bitlockerNamespace = `ROOT\CIMV2\Security\MicrosoftVolumeEncryption`

// numericalPasswordType is the key protector type of a recovery password.
const numericalPasswordType = 3

// readBitLocker reads every encryptable volume through the live methods
// of Win32_EncryptableVolume; the ProtectionStatus property is a snapshot
// taken when the class is instantiated and can be stale. A method that
// fails leaves its value unset. ctx is checked between volumes; a WMI
// call in progress cannot be cancelled.
func readBitLocker(ctx context.Context) (encryptionRaw, error) {
	raw := encryptionRaw{SystemDrive: os.Getenv("SystemDrive")}
	err := withWMIService(bitlockerNamespace, func(svc *ole.IDispatch) error {
		setV, err := oleutil.CallMethod(svc, "ExecQuery", "SELECT * FROM Win32_EncryptableVolume")
		if err != nil {
			return winErr("query Win32_EncryptableVolume", err)
		}
		defer setV.Clear()
		set := setV.ToIDispatch()
		if set == nil {
			return nil
		}
		err = oleutil.ForEach(set, func(item *ole.VARIANT) error {
			defer item.Clear()
			if err := ctx.Err(); err != nil {
				return err
			}
			if vol := item.ToIDispatch(); vol != nil {
				raw.Volumes = append(raw.Volumes, readVolume(vol))
			}
			return nil
		})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return winErr("list Win32_EncryptableVolume", err)
	})
	return raw, err
}

// outVars are VARIANTs for a method's out parameters, cleared after use.
type outVars []ole.VARIANT

// newOutVars returns n empty VARIANTs.
func newOutVars(n int) outVars {
	v := make(outVars, n)
	for i := range v {
		ole.VariantInit(&v[i])
	}
	return v
}

// uint32At returns out parameter i as a number, or nil.
func (v outVars) uint32At(i int) *uint32 {
	if n, ok := variantUint32(&v[i]); ok {
		return &n
	}
	return nil
}

// clear frees what the VARIANTs hold (strings, arrays).
func (v outVars) clear() {
	for i := range v {
		v[i].Clear()
	}
}

// call calls method with the in arguments before the out parameters when
// inFirst, else after, and reports whether the call and the method
// succeeded. On success the caller clears out.
func (v outVars) call(obj *ole.IDispatch, method string, in []any, inFirst bool) bool {
	args := make([]any, 0, len(in)+len(v))
	if inFirst {
		args = append(args, in...)
	}
	for i := range v {
		args = append(args, &v[i])
	}
	if !inFirst {
		args = append(args, in...)
	}
	rc, err := callWMIMethod(obj, method, args...)
	if err != nil || rc != 0 {
		v.clear()
		return false
	}
	return true
}

// readVolume reads one Win32_EncryptableVolume instance.
func readVolume(vol *ole.IDispatch) bitlockerVolume {
	v := bitlockerVolume{
		DeviceID:    propString(vol, "DeviceID"),
		DriveLetter: propString(vol, "DriveLetter"),
		VolumeType:  propUint32(vol, "VolumeType"),
	}

	if out := newOutVars(1); out.call(vol, "GetProtectionStatus", nil, false) {
		v.Protection = out.uint32At(0)
		out.clear()
	}

	// GetConversionStatus(out ConversionStatus, EncryptionPercentage,
	// EncryptionFlags, WipingStatus, WipingPercentage; in PrecisionFactor).
	// PrecisionFactor came with Windows 8; without it the percentage is
	// whole.
	if out := newOutVars(5); out.call(vol, "GetConversionStatus", []any{int32(1)}, false) {
		v.Conversion, v.EncryptionPercentage, v.PrecisionFactor = out.uint32At(0), out.uint32At(1), 1
		out.clear()
	} else if out := newOutVars(5); out.call(vol, "GetConversionStatus", nil, false) {
		v.Conversion, v.EncryptionPercentage, v.PrecisionFactor = out.uint32At(0), out.uint32At(1), 0
		out.clear()
	}

	// GetEncryptionMethod has a second out parameter (the self-encrypting
	// drive's method) from Windows 8 on.
	if out := newOutVars(2); out.call(vol, "GetEncryptionMethod", nil, false) {
		v.EncryptionMethod = out.uint32At(0)
		out.clear()
	} else if out := newOutVars(1); out.call(vol, "GetEncryptionMethod", nil, false) {
		v.EncryptionMethod = out.uint32At(0)
		out.clear()
	}
	if v.EncryptionMethod != nil && *v.EncryptionMethod == 0xFFFFFFFF {
		v.EncryptionMethod = nil
	}

	if out := newOutVars(1); out.call(vol, "GetLockStatus", nil, false) {
		v.LockStatus = out.uint32At(0)
		out.clear()
	}

	// GetKeyProtectors([in] KeyProtectorType = 0 for all; out IDs).
	var ids []string
	if out := newOutVars(1); out.call(vol, "GetKeyProtectors", []any{int32(0)}, true) {
		ids = variantStrings(&out[0])
		out.clear()
	}
	for _, id := range ids {
		p := bitlockerProtector{ID: id}
		if out := newOutVars(1); out.call(vol, "GetKeyProtectorType", []any{id}, true) {
			p.Type = out.uint32At(0)
			out.clear()
		}
		if p.Type != nil && *p.Type == numericalPasswordType {
			if out := newOutVars(1); out.call(vol, "GetKeyProtectorNumericalPassword", []any{id}, true) {
				s, _ := out[0].Value().(string)
				p.NumericalPassword = secret(s)
				out.clear()
			}
		}
		v.Protectors = append(v.Protectors, p)
	}
	return v
}
