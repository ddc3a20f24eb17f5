package win

import (
	"context"
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
)

// SetupDiGetDevicePropertyW, called directly: x/sys's wrapper decodes
// only strings, and the timestamps are FILETIMEs.
var (
	modsetupapi                   = windows.NewLazySystemDLL("setupapi.dll")
	procSetupDiGetDevicePropertyW = modsetupapi.NewProc("SetupDiGetDevicePropertyW")
)

// Device property keys read (devpkey.h).
var (
	devpkeyBusReportedDeviceDesc = devpropKey("{540b947e-8b40-45bc-a8a2-6a0b894cbda2}", 4)
	devpkeyParent                = devpropKey("{4340a6c5-93fa-4706-972c-7b648008a5a7}", 8)
	devpkeyFirstInstallDate      = devpropKey("{83da6326-97a6-4088-9453-a1923f573b29}", 101)
	devpkeyLastArrivalDate       = devpropKey("{83da6326-97a6-4088-9453-a1923f573b29}", 102)
)

// devpropKey builds a DEVPROPKEY from a GUID written in braces, which must
// be well formed.
func devpropKey(guid string, pid uint32) windows.DEVPROPKEY {
	g, err := windows.GUIDFromString(guid)
	if err != nil {
		panic("bad DEVPROPKEY GUID " + guid)
	}
	return windows.DEVPROPKEY{FmtID: windows.DEVPROPGUID(g), PID: windows.DEVPROPID(pid)}
}

// readUSBDevices lists the device nodes of the USB and USBSTOR
// enumerators: only those attached now when present, else every one
// Windows recorded. withTimes reads each device's first install and last
// arrival times too. A machine that never had a USB disk has no USBSTOR
// enumerator, which is not an error.
func readUSBDevices(ctx context.Context, present, withTimes bool) ([]pnpDevice, error) {
	devs, err := readEnumerator(ctx, "USB", present, withTimes)
	if err != nil {
		return nil, err
	}
	if stor, err := readEnumerator(ctx, "USBSTOR", present, false); err == nil {
		devs = append(devs, stor...)
	} else if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return devs, nil
}

// readEnumerator lists the device nodes of one enumerator with SetupAPI.
func readEnumerator(ctx context.Context, enumerator string, present, withTimes bool) ([]pnpDevice, error) {
	flags := windows.DIGCF_ALLCLASSES
	if present {
		flags |= windows.DIGCF_PRESENT
	}
	set, err := windows.SetupDiGetClassDevsEx(nil, enumerator, 0, flags, 0, "")
	if err != nil {
		return nil, winErr("list "+enumerator+" devices", err)
	}
	defer set.Close()
	var out []pnpDevice
	for i := 0; ; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		data, err := set.EnumDeviceInfo(i)
		if errors.Is(err, windows.ERROR_NO_MORE_ITEMS) {
			break
		}
		if err != nil {
			continue
		}
		d, err := readDevice(set, data, withTimes)
		if err != nil {
			continue
		}
		out = append(out, d)
	}
	return out, nil
}

// readDevice reads one device node. Only its instance ID is required;
// every other property is best effort.
func readDevice(set windows.DevInfo, data *windows.DevInfoData, withTimes bool) (pnpDevice, error) {
	id, err := set.DeviceInstanceID(data)
	if err != nil {
		return pnpDevice{}, err
	}
	str := func(p windows.SPDRP) string {
		v, err := set.DeviceRegistryProperty(data, p)
		if err != nil {
			return ""
		}
		switch x := v.(type) {
		case string:
			return x
		case []string:
			if len(x) > 0 {
				return x[0]
			}
		}
		return ""
	}
	d := pnpDevice{
		InstanceID:   id,
		Service:      str(windows.SPDRP_SERVICE),
		Class:        str(windows.SPDRP_CLASS),
		Manufacturer: str(windows.SPDRP_MFG),
		FriendlyName: str(windows.SPDRP_FRIENDLYNAME),
		Description:  str(windows.SPDRP_DEVICEDESC),
	}
	if v, err := set.DeviceRegistryProperty(data, windows.SPDRP_COMPATIBLEIDS); err == nil {
		d.CompatibleIDs, _ = v.([]string)
	}
	if typ, b, err := deviceProperty(set, data, &devpkeyParent); err == nil && typ == windows.DEVPROP_TYPE_STRING {
		d.Parent = devpropString(b)
	}
	if typ, b, err := deviceProperty(set, data, &devpkeyBusReportedDeviceDesc); err == nil && typ == windows.DEVPROP_TYPE_STRING {
		d.BusReportedDescription = devpropString(b)
	}
	if withTimes {
		if typ, b, err := deviceProperty(set, data, &devpkeyFirstInstallDate); err == nil && typ == windows.DEVPROP_TYPE_FILETIME {
			d.FirstInstallDate, _ = devpropFiletime(b)
		}
		if typ, b, err := deviceProperty(set, data, &devpkeyLastArrivalDate); err == nil && typ == windows.DEVPROP_TYPE_FILETIME {
			d.LastArrivalDate, _ = devpropFiletime(b)
		}
	}
	return d, nil
}

// deviceProperty reads a device property's type and raw value with
// SetupDiGetDevicePropertyW.
func deviceProperty(set windows.DevInfo, data *windows.DevInfoData, key *windows.DEVPROPKEY) (windows.DEVPROPTYPE, []byte, error) {
	if err := procSetupDiGetDevicePropertyW.Find(); err != nil {
		return 0, nil, err
	}
	buf := make([]byte, 256)
	for {
		var typ windows.DEVPROPTYPE
		var size uint32
		r, _, e := procSetupDiGetDevicePropertyW.Call(
			uintptr(set), uintptr(unsafe.Pointer(data)), uintptr(unsafe.Pointer(key)),
			uintptr(unsafe.Pointer(&typ)), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)),
			uintptr(unsafe.Pointer(&size)), 0)
		if r != 0 {
			if int(size) > len(buf) {
				return 0, nil, fmt.Errorf("SetupDiGetDevicePropertyW: size %d over buffer %d", size, len(buf))
			}
			return typ, buf[:size], nil
		}
		if errors.Is(e, windows.ERROR_INSUFFICIENT_BUFFER) && int(size) > len(buf) {
			buf = make([]byte, size)
			continue
		}
		return 0, nil, winErr("SetupDiGetDevicePropertyW", e)
	}
}
