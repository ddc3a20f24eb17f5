package collect

// This file holds the decoding that turns what each operating system reports (sysfs files, WMI
// strings, ioreg and system_profiler output) into report fields. It has no build tags so that
// the tests run it on every OS against recorded outputs in testdata/.

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v3/host"
	"github.com/shirou/gopsutil/v3/net"

	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

// platform is the make, model, serial and chassis type of a device, the facts gopsutil does not
// provide.
type platform struct {
	make, model, serial, chassis string
}

// fill copies p into hw.
func (p platform) fill(hw *agentv1.Hardware) {
	hw.Make = p.make
	hw.Model = p.model
	hw.Serial = p.serial
	hw.ChassisType = p.chassis
}

// placeholders are values that firmware vendors leave in SMBIOS strings they did not fill in.
// They are compared case-insensitively after trimming.
var placeholders = map[string]bool{
	"":                         true,
	"to be filled by o.e.m.":   true,
	"to be filled by oem":      true,
	"default string":           true,
	"system serial number":     true,
	"system product name":      true,
	"system manufacturer":      true,
	"system version":           true,
	"chassis serial number":    true,
	"base board serial number": true,
	"none":                     true,
	"null":                     true,
	"n/a":                      true,
	"na":                       true,
	"not specified":            true,
	"not applicable":           true,
	"not available":            true,
	"unknown":                  true,
	"invalid":                  true,
	"o.e.m.":                   true,
	"oem":                      true,
	"0123456789":               true,
	"1234567890":               true,
	"123456789":                true,
	"xxxxxxxxxx":               true,
}

// clean trims s and returns "" when what is left is a placeholder, or is made only of zeros,
// dots or spaces (as in "0", "00000000" or "...").
func clean(s string) string {
	s = strings.TrimSpace(strings.Trim(s, "\x00"))
	if placeholders[strings.ToLower(s)] {
		return ""
	}
	if strings.Trim(s, "0. ") == "" {
		return ""
	}
	return s
}

// firstClean returns the first of values that is not empty after [clean].
func firstClean(values ...string) string {
	for _, v := range values {
		if c := clean(v); c != "" {
			return c
		}
	}
	return ""
}

// chassisNames maps SMBIOS system enclosure types (SMBIOS 3.x, section 7.4.1) to names. Type 2,
// "Unknown", is deliberately absent so that it reads as empty.
var chassisNames = map[int]string{
	1:  "Other",
	3:  "Desktop",
	4:  "Low Profile Desktop",
	5:  "Pizza Box",
	6:  "Mini Tower",
	7:  "Tower",
	8:  "Portable",
	9:  "Laptop",
	10: "Notebook",
	11: "Hand Held",
	12: "Docking Station",
	13: "All in One",
	14: "Sub Notebook",
	15: "Space-saving",
	16: "Lunch Box",
	17: "Main Server Chassis",
	18: "Expansion Chassis",
	19: "SubChassis",
	20: "Bus Expansion Chassis",
	21: "Peripheral Chassis",
	22: "RAID Chassis",
	23: "Rack Mount Chassis",
	24: "Sealed-case PC",
	25: "Multi-system Chassis",
	26: "Compact PCI",
	27: "Advanced TCA",
	28: "Blade",
	29: "Blade Enclosure",
	30: "Tablet",
	31: "Convertible",
	32: "Detachable",
	33: "IoT Gateway",
	34: "Embedded PC",
	35: "Mini PC",
	36: "Stick PC",
}

// chassisName returns the name of SMBIOS chassis type t, or "" when t is unknown. Bit 7 of the
// SMBIOS byte flags a chassis lock and is ignored.
func chassisName(t int) string {
	return chassisNames[t&0x7f]
}

// chassisFromTypes picks the chassis name from a list of SMBIOS chassis types, as
// Win32_SystemEnclosure.ChassisTypes gives it: the first type that names a real form factor,
// else "Other" if that was listed, else "".
func chassisFromTypes(types []int32) string {
	other := ""
	for _, t := range types {
		switch name := chassisName(int(t)); name {
		case "":
		case "Other":
			other = name
		default:
			return name
		}
	}
	return other
}

// chassisFromSysfs decodes the decimal chassis type in /sys/class/dmi/id/chassis_type.
func chassisFromSysfs(s string) string {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return ""
	}
	return chassisName(n)
}

// chooseModel returns the model to report. Lenovo puts the machine type (such as "20XW0026UK")
// in the SMBIOS product name and the marketing name (such as "ThinkPad X1 Carbon Gen 9") in the
// product version, so for Lenovo the version wins when it is set, as osquery does.
func chooseModel(vendor, model, version string) string {
	model, version = clean(model), clean(version)
	if strings.Contains(strings.ToLower(vendor), "lenovo") && version != "" && !strings.EqualFold(version, "lenovo") {
		return version
	}
	return model
}

// parseWMIDateTime parses a CIM_DATETIME string such as "20240315093012.000000+000": local time
// to the microsecond, then the offset from UTC in minutes.
func parseWMIDateTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if len(s) != 25 || s[14] != '.' || (s[21] != '+' && s[21] != '-') {
		return time.Time{}, fmt.Errorf("wmi datetime %q: want yyyymmddHHMMSS.mmmmmmsUUU", s)
	}
	offset, err := strconv.Atoi(s[22:])
	if err != nil {
		return time.Time{}, fmt.Errorf("wmi datetime %q: offset: %w", s, err)
	}
	if s[21] == '-' {
		offset = -offset
	}
	t, err := time.ParseInLocation("20060102150405.000000", s[:21], time.FixedZone("", offset*60))
	if err != nil {
		return time.Time{}, fmt.Errorf("wmi datetime %q: %w", s, err)
	}
	return t, nil
}

// plausibleInstallDate reports whether t can be an OS install date seen at now: set, after
// 1 January 2000 and not in the future (with a day's grace for clock skew). File systems that do
// not record birth times report zero.
func plausibleInstallDate(t, now time.Time) bool {
	return t.After(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)) && t.Before(now.Add(24*time.Hour))
}

// osName returns the OS name to report from gopsutil's host.InfoStat OS and Platform: "macOS" on
// darwin (gopsutil says "darwin"), else the platform, such as "ubuntu" or
// "Microsoft Windows 11 Pro".
func osName(goos, platform string) string {
	if goos == "darwin" {
		return "macOS"
	}
	if platform != "" {
		return platform
	}
	return goos
}

// windowsOSVersion appends the feature update name (DisplayVersion, such as "23H2", or ReleaseId,
// such as "1909", on older builds) to gopsutil's version "10.0.22631.3447 Build 22631.3447".
func windowsOSVersion(version, displayVersion string) string {
	displayVersion = strings.TrimSpace(displayVersion)
	switch {
	case displayVersion == "":
		return version
	case version == "":
		return displayVersion
	default:
		return version + " (" + displayVersion + ")"
	}
}

// macAddresses returns the MAC addresses of ifaces, lower case, without loopback interfaces or
// empty and all-zero addresses, deduplicated and sorted.
func macAddresses(ifaces []net.InterfaceStat) []string {
	var macs []string
	for _, iface := range ifaces {
		if slices.Contains(iface.Flags, "loopback") {
			continue
		}
		mac := strings.ToLower(strings.TrimSpace(iface.HardwareAddr))
		if strings.Trim(mac, "0:-") == "" {
			continue
		}
		macs = append(macs, mac)
	}
	slices.Sort(macs)
	return slices.Compact(macs)
}

// pickUser returns the user logged in at the device's own screen: the first session on a local
// console or graphical seat, else the first session of any kind, such as SSH.
func pickUser(users []host.UserStat) string {
	first := ""
	for _, u := range users {
		name := strings.TrimSpace(u.User)
		if name == "" {
			continue
		}
		if first == "" {
			first = name
		}
		if localTerminal(u.Terminal) {
			return name
		}
	}
	return first
}

// localTerminal reports whether a utmp terminal is at the device itself: the macOS graphical
// login ("console"), an X display (":0"), a logind seat ("seat0") or a Linux virtual console
// ("tty2"). Pseudo-terminals ("pts/0" on Linux, "ttys000" on macOS) are not.
func localTerminal(term string) bool {
	switch {
	case term == "console", strings.HasPrefix(term, ":"), strings.HasPrefix(term, "seat"):
		return true
	case strings.HasPrefix(term, "tty") && len(term) > 3:
		return term[3] >= '0' && term[3] <= '9'
	}
	return false
}

// decodeDMI reads the SMBIOS facts that Linux exposes as files in /sys/class/dmi/id; fsys is
// rooted at that directory. Files that are missing or unreadable (product_serial is readable
// only by root) leave their field empty.
func decodeDMI(fsys fs.FS) platform {
	read := func(name string) string {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return ""
		}
		return clean(string(b))
	}
	vendor := read("sys_vendor")
	return platform{
		make:    vendor,
		model:   chooseModel(vendor, read("product_name"), read("product_version")),
		serial:  read("product_serial"),
		chassis: chassisFromSysfs(read("chassis_type")),
	}
}

// skippedBlockPrefixes are the /sys/block entries that are not disks: loop devices, RAM disks,
// compressed swap in RAM and device-mapper volumes (which sit on a disk already listed).
var skippedBlockPrefixes = []string{"loop", "ram", "zram", "dm-"}

// decodeBlockDisks lists the disks in /sys/block; fsys is rooted at that directory. It skips the
// pseudo-devices in [skippedBlockPrefixes], eMMC boot partitions, removable media (so that
// plugging in a USB stick does not change the report; USB devices are a posture concern) and
// devices of size zero, such as an empty optical drive. The model is in device/model, or
// device/name for eMMC; the serial in device/serial (NVMe, eMMC) or serial (virtio). The size
// file counts 512-byte sectors whatever the device's block size.
func decodeBlockDisks(fsys fs.FS) ([]*agentv1.Disk, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read block devices: %w", err)
	}
	read := func(name string) string {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	var disks []*agentv1.Disk
	for _, e := range entries {
		name := e.Name()
		if slices.ContainsFunc(skippedBlockPrefixes, func(p string) bool { return strings.HasPrefix(name, p) }) {
			continue
		}
		if strings.HasPrefix(name, "mmcblk") && strings.Contains(name, "boot") {
			continue // an eMMC boot partition, part of the mmcblkN disk
		}
		if read(path.Join(name, "removable")) == "1" {
			continue
		}
		sectors, err := strconv.ParseUint(read(path.Join(name, "size")), 10, 64)
		if err != nil || sectors == 0 {
			continue
		}
		disks = append(disks, &agentv1.Disk{
			Name:      name,
			Model:     firstClean(read(path.Join(name, "device", "model")), read(path.Join(name, "device", "name"))),
			Serial:    firstClean(read(path.Join(name, "device", "serial")), read(path.Join(name, "serial"))),
			SizeBytes: sectors * 512,
		})
	}
	slices.SortFunc(disks, func(a, b *agentv1.Disk) int { return cmp.Compare(a.Name, b.Name) })
	return disks, nil
}

// parseIORegProperties reads the properties of the first object in the output of
// `ioreg -rd1 -c <class>`: lines such as `"key" = "value"`, `"key" = <"value">` or
// `"key" = <"a","b">`. A quoted string value is returned without its quotes; a list of quoted
// strings is returned as its first element; any other value (hex data, numbers, Yes/No) is
// returned as printed.
func parseIORegProperties(out string) map[string]string {
	props := make(map[string]string)
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, `"`) {
			continue
		}
		end := strings.Index(line[1:], `"`)
		if end < 0 {
			continue
		}
		key := line[1 : end+1]
		rest, ok := strings.CutPrefix(strings.TrimSpace(line[end+2:]), "=")
		if !ok {
			continue
		}
		if _, seen := props[key]; seen {
			// A second object began; only the first is wanted.
			continue
		}
		props[key] = ioregValue(strings.TrimSpace(rest))
	}
	return props
}

// ioregValue decodes one ioreg property value; see [parseIORegProperties].
func ioregValue(v string) string {
	inner := v
	if strings.HasPrefix(v, "<") && strings.HasSuffix(v, ">") {
		inner = v[1 : len(v)-1]
	}
	if strings.HasPrefix(inner, `"`) {
		if end := strings.Index(inner[1:], `"`); end >= 0 {
			return inner[1 : end+1]
		}
	}
	return v
}

// decodeIOReg returns what the IOPlatformExpertDevice properties from `ioreg -rd1 -c
// IOPlatformExpertDevice` say about the Mac: the manufacturer (which every Mac reports as
// "Apple Inc."), the model identifier (such as "MacBookPro18,1") and the serial number.
func decodeIOReg(out string) platform {
	props := parseIORegProperties(out)
	return platform{
		make:   firstClean(props["manufacturer"], "Apple Inc."),
		model:  clean(props["model"]),
		serial: clean(props["IOPlatformSerialNumber"]),
	}
}

// spHardware is the part of `system_profiler SPHardwareDataType -json` that is used.
type spHardware struct {
	SPHardwareDataType []struct {
		MachineModel string `json:"machine_model"`
		MachineName  string `json:"machine_name"`
		SerialNumber string `json:"serial_number"`
	} `json:"SPHardwareDataType"`
}

// decodeSPHardware decodes the output of `system_profiler SPHardwareDataType -json`. The model
// is the marketing name with the model identifier, such as "MacBook Air (Mac14,2)", because
// Apple silicon identifiers alone ("Mac14,2") do not say what the device is. The chassis type is
// inferred from the name, since Macs expose no SMBIOS chassis type.
func decodeSPHardware(out []byte) (platform, error) {
	var sp spHardware
	if err := json.Unmarshal(out, &sp); err != nil {
		return platform{}, fmt.Errorf("decode SPHardwareDataType: %w", err)
	}
	if len(sp.SPHardwareDataType) == 0 {
		return platform{}, errors.New("decode SPHardwareDataType: no hardware overview")
	}
	h := sp.SPHardwareDataType[0]
	name, ident := clean(h.MachineName), clean(h.MachineModel)
	model := name
	switch {
	case name == "":
		model = ident
	case ident != "":
		model = name + " (" + ident + ")"
	}
	return platform{
		make:    "Apple Inc.",
		model:   model,
		serial:  clean(h.SerialNumber),
		chassis: macChassis(name, ident),
	}, nil
}

// macChassis infers the chassis type from a Mac's marketing name ("MacBook Air") or, when that
// is missing, its model identifier ("MacBookAir10,1"). Apple silicon identifiers such as
// "Mac14,2" say nothing, so without a name the answer may be "".
func macChassis(name, ident string) string {
	s := strings.ToLower(strings.ReplaceAll(name, " ", ""))
	if s == "" {
		s = strings.ToLower(ident)
	}
	switch {
	case strings.HasPrefix(s, "macbook"):
		return "Laptop"
	case strings.HasPrefix(s, "imac"):
		return "All in One"
	case strings.HasPrefix(s, "macmini"):
		return "Mini PC"
	case strings.HasPrefix(s, "macstudio"), strings.HasPrefix(s, "macpro"):
		return "Desktop"
	}
	return ""
}

// spStorage is the part of `system_profiler SPNVMeDataType SPSerialATADataType -json` that is
// used: each data type lists controllers, and each controller's _items are its drives.
type spStorage map[string][]struct {
	Items []struct {
		Name           string `json:"_name"`
		BSDName        string `json:"bsd_name"`
		DeviceModel    string `json:"device_model"`
		DeviceSerial   string `json:"device_serial"`
		SizeInBytes    uint64 `json:"size_in_bytes"`
		RemovableMedia string `json:"removable_media"`
	} `json:"_items"`
}

// decodeSPStorage decodes the drives in the output of
// `system_profiler SPNVMeDataType SPSerialATADataType -json`, skipping removable media, sorted by
// BSD name. The drives' volumes are not disks and are ignored.
func decodeSPStorage(out []byte) ([]*agentv1.Disk, error) {
	var sp spStorage
	if err := json.Unmarshal(out, &sp); err != nil {
		return nil, fmt.Errorf("decode storage data types: %w", err)
	}
	var disks []*agentv1.Disk
	for _, controllers := range sp {
		for _, c := range controllers {
			for _, d := range c.Items {
				if strings.EqualFold(d.RemovableMedia, "yes") {
					continue
				}
				disks = append(disks, &agentv1.Disk{
					Name:      firstClean(d.BSDName, d.Name),
					Model:     firstClean(d.DeviceModel, d.Name),
					Serial:    clean(d.DeviceSerial),
					SizeBytes: d.SizeInBytes,
				})
			}
		}
	}
	slices.SortFunc(disks, func(a, b *agentv1.Disk) int { return cmp.Compare(a.Name, b.Name) })
	return disks, nil
}

// windowsDisk is the part of a Win32_DiskDrive instance that is used.
type windowsDisk struct {
	DeviceID      string
	Model         string
	SerialNumber  string
	Size          uint64
	InterfaceType string
	MediaType     string
}

// decodeWindowsDisks turns Win32_DiskDrive instances into disks, skipping USB and removable
// drives, sorted by device ID ("\\.\PHYSICALDRIVE0").
func decodeWindowsDisks(drives []windowsDisk) []*agentv1.Disk {
	var disks []*agentv1.Disk
	for _, d := range drives {
		if strings.EqualFold(d.InterfaceType, "USB") || strings.HasPrefix(strings.ToLower(d.MediaType), "removable") {
			continue
		}
		disks = append(disks, &agentv1.Disk{
			Name:      strings.TrimSpace(d.DeviceID),
			Model:     clean(d.Model),
			Serial:    clean(d.SerialNumber),
			SizeBytes: d.Size,
		})
	}
	slices.SortFunc(disks, func(a, b *agentv1.Disk) int { return cmp.Compare(a.Name, b.Name) })
	return disks
}

// windowsPlatform is what WMI says about a Windows device's identity.
type windowsPlatform struct {
	Manufacturer      string  // Win32_ComputerSystem.Manufacturer
	Model             string  // Win32_ComputerSystem.Model
	BIOSSerial        string  // Win32_BIOS.SerialNumber
	IdentifyingNumber string  // Win32_ComputerSystemProduct.IdentifyingNumber
	ProductVersion    string  // Win32_ComputerSystemProduct.Version
	ChassisTypes      []int32 // Win32_SystemEnclosure.ChassisTypes
}

// decode picks the report's make, model, serial and chassis from w: the serial from the BIOS,
// else the product's identifying number, and the model by [chooseModel].
func (w windowsPlatform) decode() platform {
	vendor := clean(w.Manufacturer)
	return platform{
		make:    vendor,
		model:   chooseModel(vendor, w.Model, w.ProductVersion),
		serial:  firstClean(w.BIOSSerial, w.IdentifyingNumber),
		chassis: chassisFromTypes(w.ChassisTypes),
	}
}
