package posture

import (
	"context"

	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

// Event types of USB events.
const (
	USBInserted = "usb.inserted"
	USBRemoved  = "usb.removed"
	// USBRecorded is an insertion the OS recorded while the agent was not
	// running.
	USBRecorded = "usb.recorded"
)

// EmitFunc receives one live USB event: its type (USBInserted or
// USBRemoved) and body.
type EmitFunc func(typ string, e *agentv1.UsbEvent)

// WatchUSB calls emit for every USB device inserted or removed until ctx
// ends, as the OS reports it (not by polling where the OS can tell). It
// returns an error when the OS's event source cannot be opened.
func WatchUSB(ctx context.Context, emit EmitFunc) error {
	return watchUSB(ctx, emit)
}

// USBHistory returns the USB insertions the OS recorded, newest last, as
// bodies of USBRecorded events. The caller reports each once.
func USBHistory(ctx context.Context) ([]*agentv1.UsbEvent, error) {
	return usbHistory(ctx)
}
