package posture

import (
	"context"

	"github.com/rollcall/rollcall/agent/posture/linux"
	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

func osReaders() readers {
	return readers{
		antivirus:  linux.Antivirus,
		encryption: linux.Encryption,
		screenLock: linux.ScreenLock,
		usb:        linux.USB,
	}
}

func watchUSB(ctx context.Context, emit EmitFunc) error { return linux.WatchUSB(ctx, emit) }

func usbHistory(ctx context.Context) ([]*agentv1.UsbEvent, error) { return linux.USBHistory(ctx) }
