package win

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"

	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

// cfgmgr32.dll's notification API (Windows 8 and later), not in x/sys.
var (
	modcfgmgr32                  = windows.NewLazySystemDLL("cfgmgr32.dll")
	procCMRegisterNotification   = modcfgmgr32.NewProc("CM_Register_Notification")
	procCMUnregisterNotification = modcfgmgr32.NewProc("CM_Unregister_Notification")
)

// guidDevinterfaceUSBDevice is GUID_DEVINTERFACE_USB_DEVICE
// {A5DCBF10-6530-11D2-901F-00C04FB951ED}, the interface every USB device
// node exposes.
var guidDevinterfaceUSBDevice = windows.GUID{
	Data1: 0xA5DCBF10, Data2: 0x6530, Data3: 0x11D2,
	Data4: [8]byte{0x90, 0x1F, 0x00, 0xC0, 0x4F, 0xB9, 0x51, 0xED},
}

// cfgmgr32.h values.
const (
	cmNotifyFilterTypeDeviceInterface = 0
	cmNotifyActionInterfaceArrival    = 0
	cmNotifyActionInterfaceRemoval    = 1
	maxDeviceIDLen                    = 200
)

// cmNotifyFilter is CM_NOTIFY_FILTER for a device interface class: the
// union is as large as its largest member, WCHAR InstanceId[200].
type cmNotifyFilter struct {
	Size       uint32
	Flags      uint32
	FilterType uint32
	Reserved   uint32
	ClassGUID  windows.GUID
	_          [maxDeviceIDLen*2 - 16]byte
}

// cmNotifyEventData is the head of CM_NOTIFY_EVENT_DATA for a device
// interface event; the NUL-terminated symbolic link runs on past
// SymbolicLink up to the size the callback is given.
type cmNotifyEventData struct {
	FilterType   uint32
	Reserved     uint32
	ClassGUID    windows.GUID
	SymbolicLink [1]uint16
}

// settle is how long after an arrival the device is looked up: the USB
// mass storage disk below a device appears a moment after the device.
const settle = 500 * time.Millisecond

// usbNotice is one notification, as the callback hands it over.
type usbNotice struct {
	arrived bool
	link    string
}

// usbWatcher queues the notifications for one WatchUSB call. The callback
// runs on a system thread and must return at once, so it only appends.
type usbWatcher struct {
	mu    sync.Mutex
	queue []usbNotice
	wake  chan struct{}
}

// push queues n and wakes the reader.
func (w *usbWatcher) push(n usbNotice) {
	w.mu.Lock()
	w.queue = append(w.queue, n)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// take returns and empties the queue.
func (w *usbWatcher) take() []usbNotice {
	w.mu.Lock()
	defer w.mu.Unlock()
	q := w.queue
	w.queue = nil
	return q
}

// watchers maps the context value given to CM_Register_Notification to
// its watcher, so that one callback serves every WatchUSB call: callbacks
// made by windows.NewCallback are never freed.
var (
	watchers    sync.Map // uintptr → *usbWatcher
	nextWatcher atomic.Uintptr
	cmCallback  = sync.OnceValue(func() uintptr { return windows.NewCallback(onCMNotify) })
)

// onCMNotify is the CM_NOTIFY_CALLBACK. It copies the symbolic link of an
// arriving or leaving USB device interface to the watcher's queue and
// returns ERROR_SUCCESS. Action and EventDataSize are DWORDs: declared as
// uint32, only the low half of their registers is read, as the x64
// calling convention leaves the high half undefined.
func onCMNotify(_ uintptr, key uintptr, action uint32, data *cmNotifyEventData, size uint32) uintptr {
	if data == nil || (action != cmNotifyActionInterfaceArrival && action != cmNotifyActionInterfaceRemoval) {
		return 0
	}
	v, ok := watchers.Load(key)
	if !ok {
		return 0
	}
	head := uint32(unsafe.Offsetof(data.SymbolicLink))
	if size <= head {
		return 0
	}
	chars := unsafe.Slice(&data.SymbolicLink[0], (size-head)/2)
	v.(*usbWatcher).push(usbNotice{
		arrived: action == cmNotifyActionInterfaceArrival,
		link:    windows.UTF16ToString(chars),
	})
	return 0
}

// watchUSB registers for USB device interface notifications and emits an
// event for each until ctx ends. An arrival is looked up after settle, so
// that its disk is known; a removal is described as the device was at
// its arrival, else as SetupAPI still knows it, else by the IDs in its
// symbolic link.
func watchUSB(ctx context.Context, emit func(typ string, e *agentv1.UsbEvent)) error {
	if err := procCMRegisterNotification.Find(); err != nil {
		return fmt.Errorf("USB notifications need Windows 8 or later: %w", err)
	}
	if err := procCMUnregisterNotification.Find(); err != nil {
		return fmt.Errorf("USB notifications need Windows 8 or later: %w", err)
	}
	w := &usbWatcher{wake: make(chan struct{}, 1)}
	id := nextWatcher.Add(1)
	watchers.Store(id, w)
	defer watchers.Delete(id)

	filter := cmNotifyFilter{FilterType: cmNotifyFilterTypeDeviceInterface, ClassGUID: guidDevinterfaceUSBDevice}
	filter.Size = uint32(unsafe.Sizeof(filter))
	var handle uintptr
	r, _, _ := procCMRegisterNotification.Call(uintptr(unsafe.Pointer(&filter)), id, cmCallback(), uintptr(unsafe.Pointer(&handle)))
	if r != 0 {
		return fmt.Errorf("CM_Register_Notification: %w", windows.CONFIGRET(r))
	}
	defer procCMUnregisterNotification.Call(handle)

	seen := map[string]*agentv1.UsbDevice{} // upper-case instance ID → device at arrival
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.wake:
		}
		notices := w.take()
		arrivals := false
		for _, n := range notices {
			arrivals = arrivals || n.arrived
		}
		if arrivals {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(settle):
			}
		}
		// One look-up serves the whole batch; it includes devices no
		// longer present, which removals need.
		looked, _ := readUSBDevices(ctx, false, false)
		for _, n := range notices {
			id, ok := instanceIDFromSymbolicLink(n.link)
			if !ok {
				continue
			}
			key := strings.ToUpper(id)
			if n.arrived {
				d := deviceForEvent(id, looked)
				if d == nil {
					continue
				}
				seen[key] = d
				emit(usbInserted, &agentv1.UsbEvent{Device: d})
				continue
			}
			d := seen[key]
			delete(seen, key)
			if d == nil {
				d = deviceForEvent(id, looked)
			}
			if d == nil {
				continue
			}
			emit(usbRemoved, &agentv1.UsbEvent{Device: d})
		}
	}
}
