package win

import (
	"context"
	"testing"
	"time"
	"unsafe"

	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

// TestCMLayout checks the Go mirrors of the cfgmgr32 structures against
// the sizes and offsets of cfgmgr32.h.
func TestCMLayout(t *testing.T) {
	if got := unsafe.Sizeof(cmNotifyFilter{}); got != 416 {
		t.Errorf("CM_NOTIFY_FILTER is %d bytes, want 416", got)
	}
	if got := unsafe.Offsetof(cmNotifyFilter{}.ClassGUID); got != 16 {
		t.Errorf("CM_NOTIFY_FILTER.u at %d, want 16", got)
	}
	if got := unsafe.Offsetof(cmNotifyEventData{}.SymbolicLink); got != 24 {
		t.Errorf("CM_NOTIFY_EVENT_DATA.u.DeviceInterface.SymbolicLink at %d, want 24", got)
	}
	if got := guidDevinterfaceUSBDevice.String(); got != "{A5DCBF10-6530-11D2-901F-00C04FB951ED}" {
		t.Errorf("GUID_DEVINTERFACE_USB_DEVICE = %s", got)
	}
}

// TestReaders runs every reader on this machine. What they find depends
// on the machine; each must answer, in time, with either values or a
// reason.
func TestReaders(t *testing.T) {
	if testing.Short() {
		t.Skip("reads this machine's posture")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	av := Antivirus(ctx)
	t.Logf("antivirus: reason %q, %d products", av.GetUnknownReason(), len(av.GetProducts()))
	enc := Encryption(ctx)
	t.Logf("encryption: reason %q, %d volumes", enc.GetUnknownReason(), len(enc.GetVolumes())) // never the keys
	sl := ScreenLock(ctx)
	t.Logf("screen lock: reason %q, idle %d, password %v, user %q", sl.GetUnknownReason(), sl.GetIdleLockSeconds(), sl.GetPasswordOnWake(), sl.GetUser())
	usb := USB(ctx)
	if usb.GetUnknownReason() != "" {
		t.Errorf("USB: %s", usb.GetUnknownReason())
	}
	hist, err := USBHistory(ctx)
	if err != nil {
		t.Errorf("USBHistory: %v", err)
	}
	t.Logf("USB: %d attached, %d recorded", len(usb.GetDevices()), len(hist))
	for i := 1; i < len(hist); i++ {
		if hist[i].GetLastSeen().AsTime().Before(hist[i-1].GetLastSeen().AsTime()) && hist[i-1].GetLastSeen() != nil {
			t.Errorf("history not oldest first at %d", i)
		}
	}
}

// TestWatchUSB registers for notifications and stops when ctx ends.
func TestWatchUSB(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err := WatchUSB(ctx, func(typ string, e *agentv1.UsbEvent) {
		t.Logf("%s %v", typ, e.GetDevice())
	})
	if err != nil {
		t.Fatal(err)
	}
	if ctx.Err() == nil {
		t.Error("WatchUSB returned before ctx ended")
	}
}
