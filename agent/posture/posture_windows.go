package posture

import (
	"context"

	"github.com/rollcall/rollcall/agent/posture/win"
	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

func osReaders() readers {
	return readers{
		antivirus:  win.Antivirus,
		encryption: win.Encryption,
		screenLock: win.ScreenLock,
		usb:        win.USB,
	}
}

func watchUSB(ctx context.Context, emit EmitFunc) error { return win.WatchUSB(ctx, emit) }

func usbHistory(ctx context.Context) ([]*agentv1.UsbEvent, error) { return win.USBHistory(ctx) }
