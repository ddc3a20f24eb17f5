//go:build !windows && !darwin && !linux

package posture

import (
	"context"
	"errors"

	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

func osReaders() readers { return readers{} }

func watchUSB(context.Context, EmitFunc) error {
	return errors.New("USB events are not read on this operating system")
}

func usbHistory(context.Context) ([]*agentv1.UsbEvent, error) { return nil, nil }
