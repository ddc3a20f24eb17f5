package linux

import (
	"context"
	"io"
	"testing"
	"testing/fstest"
	"time"

	"google.golang.org/protobuf/proto"

	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

// messages is an uevent source that returns one message per Read, then
// io.EOF.
type messages [][]byte

func (m *messages) Read(b []byte) (int, error) {
	if len(*m) == 0 {
		return 0, io.EOF
	}
	n := copy(b, (*m)[0])
	*m = (*m)[1:]
	return n, nil
}

func TestWatchUevents(t *testing.T) {
	const dev = "devices/pci0000:00/0000:00:14.0/usb1/1-1/"
	f := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s + "\n")} }
	sys := fstest.MapFS{
		dev + "idVendor":                f("0781"),
		dev + "idProduct":               f("5567"),
		dev + "manufacturer":            f("SanDisk"),
		dev + "product":                 f("Cruzer Blade"),
		dev + "serial":                  f("4C530001230512109084"),
		dev + "bDeviceClass":            f("00"),
		dev + "1-1:1.0/bInterfaceClass": f("08"),
	}
	src := &messages{
		ueventMsg(t, "uevent-add-net.txt"),
		ueventMsg(t, "uevent-add-device.txt"),
		ueventMsg(t, "uevent-add-interface.txt"),
		[]byte("libudev\x00\xfe\xed\xca\xfe"),
		ueventMsg(t, "uevent-remove-device.txt"),
		ueventMsg(t, "uevent-remove-unseen.txt"),
	}
	type got struct {
		typ string
		dev *agentv1.UsbDevice
	}
	var events []got
	err := WatchUevents(context.Background(), src, sys, time.Millisecond, func(typ string, e *agentv1.UsbEvent) {
		events = append(events, got{typ, e.GetDevice()})
	})
	if err != io.EOF {
		t.Fatalf("WatchUevents = %v, want the source's io.EOF", err)
	}
	stick := &agentv1.UsbDevice{VendorId: "0781", ProductId: "5567", Vendor: "SanDisk", Product: "Cruzer Blade",
		Serial: "4C530001230512109084", Class: "mass_storage", MassStorage: true}
	want := []got{
		{"usb.inserted", stick},
		{"usb.removed", stick}, // described as it was inserted
		{"usb.removed", &agentv1.UsbDevice{VendorId: "046d", ProductId: "c52b", Class: "other"}},
	}
	if len(events) != len(want) {
		t.Fatalf("got %d events %v, want %d", len(events), events, len(want))
	}
	for i := range want {
		if events[i].typ != want[i].typ || !proto.Equal(events[i].dev, want[i].dev) {
			t.Errorf("event %d = %s %v, want %s %v", i, events[i].typ, events[i].dev, want[i].typ, want[i].dev)
		}
	}
}

func TestWatchUevents_Cancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	src := &messages{ueventMsg(t, "uevent-add-device.txt")}
	err := WatchUevents(ctx, src, fstest.MapFS{}, time.Hour, func(string, *agentv1.UsbEvent) {
		t.Error("emitted after cancel")
	})
	if err != context.Canceled {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}
