package win

import (
	"context"

	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

// WMI namespaces and classes of the antivirus reader.
const (
	nsSecurityCenter = `root\SecurityCenter2`
	nsDefender       = `root\Microsoft\Windows\Defender`
)

// Antivirus lists the products Security Center knows (client Windows
// only) and Microsoft Defender's own status. Either source alone is
// enough; only when neither can be read is the concern unknown.
func Antivirus(ctx context.Context) *agentv1.Antivirus {
	var r antivirusRaw
	r.SecurityCenterErr = queryWMI(wmiClient, nsSecurityCenter, "AntiVirusProduct", &r.SecurityCenter)
	if err := ctx.Err(); err != nil {
		return &agentv1.Antivirus{UnknownReason: reasonTimedOut}
	}
	r.DefenderErr = queryWMI(wmiPtrClient, nsDefender, "MSFT_MpComputerStatus", &r.Defender)
	return decodeAntivirus(r)
}

// Encryption reads BitLocker's status of every volume and the recovery
// passwords of their numerical-password protectors. It needs
// administrator rights.
func Encryption(ctx context.Context) *agentv1.Encryption {
	raw, err := readBitLocker(ctx)
	if err != nil {
		return &agentv1.Encryption{UnknownReason: encryptionReason(err)}
	}
	return decodeEncryption(raw)
}

// ScreenLock works out after how long idle the console session locks,
// from the machine inactivity limit, the power scheme's sign-in on wake
// and sleep timeout, and the console user's secure screen saver.
func ScreenLock(ctx context.Context) *agentv1.ScreenLock {
	return decodeScreenLock(readScreenLock(ctx))
}

// USB lists the USB devices attached now.
func USB(ctx context.Context) *agentv1.Usb {
	devs, err := readUSBDevices(ctx, true, false)
	if err != nil {
		return &agentv1.Usb{UnknownReason: reasonFor("USB", err, reasonNoPermission, "USB: enumerator missing")}
	}
	return &agentv1.Usb{Devices: usbDevices(decodeUSB(devs))}
}

// WatchUSB calls emit("usb.inserted" or "usb.removed", body) for each USB
// device arriving or leaving until ctx ends, as Windows announces it
// through CM_Register_Notification. It returns an error when the
// notification cannot be registered, and nil when ctx ends.
func WatchUSB(ctx context.Context, emit func(typ string, e *agentv1.UsbEvent)) error {
	return watchUSB(ctx, emit)
}

// USBHistory returns every USB device Windows recorded, attached or not,
// with when it was first installed and last arrived, newest last, as
// bodies of usb.recorded events.
func USBHistory(ctx context.Context) ([]*agentv1.UsbEvent, error) {
	devs, err := readUSBDevices(ctx, false, true)
	if err != nil {
		return nil, err
	}
	return usbHistory(decodeUSB(devs)), nil
}
