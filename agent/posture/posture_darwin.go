package posture

import (
	"context"

	"github.com/rollcall/rollcall/agent/posture/mac"
	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

func osReaders() readers {
	return readers{
		antivirus:  mac.Antivirus,
		encryption: mac.Encryption,
		screenLock: mac.ScreenLock,
		usb:        mac.USB,
	}
}

func watchUSB(ctx context.Context, emit EmitFunc) error { return mac.WatchUSB(ctx, emit) }

func usbHistory(ctx context.Context) ([]*agentv1.UsbEvent, error) { return mac.USBHistory(ctx) }
