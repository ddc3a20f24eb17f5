package linux

import (
	"context"
	"io"
	"io/fs"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

// settleTime is how long after a device's "add" uevent its sysfs entry is
// read: the kernel announces the device before its interfaces, and the
// interfaces say whether it is mass storage.
const settleTime = 300 * time.Millisecond

// WatchUevents reads kernel uevent messages from src, one per Read, until
// src fails or ctx ends, and emits an insertion or removal for each whole
// USB device. Details of an inserted device are read from sys, a view of
// /sys, settle after its uevent; a removed device is described as it was
// inserted when that was seen, else by the IDs in its uevent. WatchUSB
// runs it on the kernel's netlink socket; tests feed it recorded uevents.
func WatchUevents(ctx context.Context, src io.Reader, sys fs.FS, settle time.Duration, emit func(typ string, e *agentv1.UsbEvent)) error {
	seen := map[string]*agentv1.UsbDevice{} // devpath → device
	buf := make([]byte, 64*1024)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return err
		}
		u, err := parseUevent(buf[:n])
		if err != nil || !u.usbDevice() {
			continue
		}
		switch u.Action {
		case "add":
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(settle):
			}
			d := readSysfsUSBDevice(sys, strings.TrimPrefix(u.DevPath, "/"))
			if d == nil {
				d = fromUevent(u)
			}
			if d == nil || d.VendorId == linuxFoundation {
				continue
			}
			seen[u.DevPath] = d
			emit("usb.inserted", &agentv1.UsbEvent{Device: d})
		case "remove":
			d := seen[u.DevPath]
			delete(seen, u.DevPath)
			if d == nil {
				d = fromUevent(u)
			}
			if d == nil || d.VendorId == linuxFoundation {
				continue
			}
			emit("usb.removed", &agentv1.UsbEvent{Device: d})
		}
	}
}

// fromUevent describes a device by the IDs in its uevent alone, or
// returns nil when it carries none.
func fromUevent(u uevent) *agentv1.UsbDevice {
	vid, pid, ok := u.productIDs()
	if !ok {
		return nil
	}
	return &agentv1.UsbDevice{VendorId: vid, ProductId: pid, Class: "other"}
}

// recordEvent turns an insertion found in the kernel log into the body of
// a usb.recorded event.
func recordEvent(r kernelUSBRecord) *agentv1.UsbEvent {
	if r.Dev.Class == "" {
		r.Dev.Class = "other"
	}
	at := timestamppb.New(r.At)
	return &agentv1.UsbEvent{Device: r.Dev, FirstSeen: at, LastSeen: at}
}
