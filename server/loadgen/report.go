package loadgen

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rollcall/rollcall/agent/collect"
	"github.com/rollcall/rollcall/inventory"
	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

// model is one kind of school laptop, as Windows describes it.
type model struct {
	make, model, cpu, disk string
	cores                  int32
	memory, diskSize       uint64
}

// models are the laptops of the simulated fleet, chosen by agent index.
var models = []model{
	{"Dell Inc.", "Latitude 5440", "13th Gen Intel(R) Core(TM) i5-1345U", "KIOXIA KBG50ZNV512G", 12, 16 << 30, 512105932800},
	{"LENOVO", "21JK0008UK", "AMD Ryzen 5 7530U with Radeon Graphics", "SAMSUNG MZAL4512HBLU-00BL2", 12, 16 << 30, 512110190592},
	{"HP", "HP ProBook 450 15.6 inch G10 Notebook PC", "13th Gen Intel(R) Core(TM) i5-1335U", "SK hynix BC901 HFS256GEJ4X108N", 12, 8 << 30, 256060514304},
}

// The ways a simulated laptop falls short of the default policy, as in
// the dashboard benchmark: about one in three has BitLocker off and one
// in five has antivirus definitions staleDefinitions old.
const staleDefinitions = 10 * 24 * time.Hour

func bitLockerOff(i int) bool   { return i%3 == 0 }
func staleAntivirus(i int) bool { return i%5 == 0 }

// laptop is what a simulated agent reports about: its place in the fleet,
// the fleet's tag and when its current report was collected.
type laptop struct {
	tag string
	i   int
	at  time.Time // whole seconds, UTC
}

func (l laptop) serial() string   { return fmt.Sprintf("LG%s%06d", l.tag, l.i) }
func (l laptop) hostname() string { return fmt.Sprintf("LT-%s-%06d", l.tag, l.i) }
func (l laptop) user() string     { return fmt.Sprintf(`SCHOOL\staff%05d`, l.i%20000) }
func (l laptop) model() model     { return models[l.i%len(models)] }

// seed returns bytes that are the same for one laptop whenever asked.
func (l laptop) seed(what string) [32]byte {
	return sha256.Sum256(fmt.Appendf(nil, "%s/%d/%s", l.tag, l.i, what))
}

// macs returns the laptop's Ethernet and Wi-Fi addresses: a vendor's
// prefix and three bytes of its own.
func (l laptop) macs() []string {
	s := l.seed("mac")
	return []string{
		fmt.Sprintf("8c:16:45:%02x:%02x:%02x", s[0], s[1], s[2]),
		fmt.Sprintf("a4:c3:f0:%02x:%02x:%02x", s[3], s[4], s[5]),
	}
}

// diskSerial is the serial number of the laptop's disk.
func (l laptop) diskSerial() string {
	s := l.seed("disk")
	return fmt.Sprintf("%X", s[:8])
}

// installed is when Windows was installed on the laptop.
func (l laptop) installed() time.Time {
	return time.Date(2024, 1, 8, 9, 0, 0, 0, time.UTC).Add(time.Duration(l.i%400) * 24 * time.Hour)
}

// definitions returns when the antivirus definitions were last updated
// and whether they count as up to date.
func (l laptop) definitions() (time.Time, bool) {
	if staleAntivirus(l.i) {
		return l.at.Add(-staleDefinitions), false
	}
	return l.at.Add(-time.Duration(l.i%12) * time.Hour), true
}

// recoveryKey returns the BitLocker recovery password of the OS volume:
// eight blocks of six digits, each a multiple of 11 below 720896, as
// BitLocker makes them.
func (l laptop) recoveryKey() (protector, password string) {
	s := l.seed("bitlocker")
	id, _ := uuid.FromBytes(s[:16]) // 16 bytes always make a UUID
	var pw []byte
	for b := range 8 {
		if b > 0 {
			pw = append(pw, '-')
		}
		pw = fmt.Appendf(pw, "%06d", 11*(int(binary.BigEndian.Uint16(s[16+2*b:]))%65536))
	}
	return "{" + strings.ToUpper(id.String()) + "}", string(pw)
}

// Windows facts every simulated laptop shares.
const (
	osName      = "Microsoft Windows 11 Education"
	osVersion   = "10.0.22631.3447 Build 22631.3447 (23H2)"
	kernel      = "10.0.22631.3447 Build 22631.3447"
	defender    = "Microsoft Defender Antivirus"
	idleLock    = 600 // seconds: locks within the default policy's 10 minutes
	agentVer    = "loadgen"
	diskName    = `\\.\PHYSICALDRIVE0`
	osVolume    = "C:"
	osMount     = `C:\`
	bitLocker   = "XTS-AES 128"
	chassisType = "Notebook"
)

// attached are the USB devices plugged in when a report is collected.
var attached = []*agentv1.UsbDevice{
	{VendorId: "046d", ProductId: "c52b", Product: "USB Receiver", Class: "hid"},
	{VendorId: "04f2", ProductId: "b6dd", Product: "Integrated Camera", Serial: "0001", Class: "video"},
	{VendorId: "8087", ProductId: "0026", Vendor: "Intel Corporation", Product: "Intel(R) Wireless Bluetooth(R)", Class: "wireless"},
}

// screenLockSettings are the values the screen lock is read from.
var screenLockSettings = [][3]string{
	{"InactivityTimeoutSecs", "600", "policy"},
	{"CONSOLELOCK (AC)", "1", "machine"},
	{"CONSOLELOCK (DC)", "1", "machine"},
	{"VIDEOIDLE (AC)", "900", "machine"},
	{"VIDEOIDLE (DC)", "300", "machine"},
}

// report returns the laptop's report as its agent sends it, and its hash.
func (l laptop) report() (*agentv1.Report, string) {
	m := l.model()
	sig, fresh := l.definitions()
	r := &agentv1.Report{
		Hardware: &agentv1.Hardware{
			Make: m.make, Model: m.model, Serial: l.serial(), ChassisType: chassisType, Hostname: l.hostname(),
			OsName: osName, OsVersion: osVersion, KernelVersion: kernel, Arch: "x86_64",
			OsInstallDate: timestamppb.New(l.installed()),
			CpuModel:      m.cpu, CpuCores: m.cores, MemoryBytes: m.memory,
			Disks:        []*agentv1.Disk{{Name: diskName, Model: m.disk, Serial: l.diskSerial(), SizeBytes: m.diskSize}},
			MacAddresses: l.macs(), LoggedInUser: l.user(), AgentVersion: agentVer,
		},
		Posture: &agentv1.Posture{
			Antivirus: &agentv1.Antivirus{Products: []*agentv1.AntivirusProduct{
				{Name: "Windows Defender", Source: "security_center", Enabled: true, UpToDate: fresh, State: "on", SignatureUpdated: timestamppb.New(sig)},
				{Name: defender, Source: "defender", Enabled: true, UpToDate: fresh, SignatureUpdated: timestamppb.New(sig),
					SignatureVersion: signatureVersion(sig), RealTimeProtection: proto.Bool(true), State: "normal"},
			}},
			Encryption: &agentv1.Encryption{},
			ScreenLock: &agentv1.ScreenLock{IdleLockSeconds: idleLock, PasswordOnWake: true, User: l.user()},
			Usb:        &agentv1.Usb{Devices: attached},
		},
	}
	if bitLockerOff(l.i) {
		r.Posture.Encryption.Volumes = []*agentv1.Volume{{Name: osVolume, MountPoint: osMount, OsVolume: true, State: inventory.VolumeNotEncrypted,
			Protection: "off", Conversion: "fully_decrypted", Method: "None"}}
	} else {
		id, pw := l.recoveryKey()
		r.Posture.Encryption.Volumes = []*agentv1.Volume{{Name: osVolume, MountPoint: osMount, OsVolume: true, State: inventory.VolumeEncrypted,
			Protection: "on", Conversion: "fully_encrypted", EncryptionPercent: 100, Method: bitLocker, KeyProtectors: []string{"tpm", "numerical_password"}}}
		r.Posture.Encryption.RecoveryKeys = []*agentv1.RecoveryKey{{Volume: osVolume, ProtectorId: id, NumericalPassword: pw}}
	}
	for _, s := range screenLockSettings {
		r.Posture.ScreenLock.Settings = append(r.Posture.ScreenLock.Settings, &agentv1.ScreenLockSetting{Name: s[0], Value: s[1], Source: s[2]})
	}
	return r, collect.Hash(r)
}

// domainReport returns what the server makes of the laptop's report, for
// the bulk path, which stores devices without the agent API. It says what
// report says, field for field; TestBulkEnroll checks that a report sent
// over the API is stored the same.
func (l laptop) domainReport() inventory.Report {
	m := l.model()
	sig, fresh := l.definitions()
	r := inventory.Report{
		Hardware: inventory.Hardware{
			Make: m.make, Model: m.model, Serial: l.serial(), ChassisType: chassisType, Hostname: l.hostname(),
			OSName: osName, OSVersion: osVersion, KernelVersion: kernel, Arch: "x86_64",
			OSInstallDate: l.installed(),
			CPUModel:      m.cpu, CPUCores: m.cores, MemoryBytes: m.memory,
			Disks:        []inventory.Disk{{Name: diskName, Model: m.disk, Serial: l.diskSerial(), SizeBytes: m.diskSize}},
			MACAddresses: l.macs(), LoggedInUser: l.user(), AgentVersion: agentVer,
		},
		Posture: inventory.Posture{
			Antivirus: &inventory.Antivirus{Products: []inventory.AntivirusProduct{
				{Name: "Windows Defender", Source: "security_center", Enabled: true, UpToDate: fresh, State: "on", SignatureUpdated: sig},
				{Name: defender, Source: "defender", Enabled: true, UpToDate: fresh, SignatureUpdated: sig,
					SignatureVersion: signatureVersion(sig), RealTimeProtection: proto.Bool(true), State: "normal"},
			}},
			Encryption: &inventory.Encryption{},
			ScreenLock: &inventory.ScreenLock{IdleLockSeconds: idleLock, PasswordOnWake: true, User: l.user()},
			USB:        &inventory.USB{Devices: []inventory.USBDevice{}},
		},
	}
	for _, d := range attached {
		r.Posture.USB.Devices = append(r.Posture.USB.Devices, inventory.USBDevice{VendorID: d.VendorId, ProductID: d.ProductId,
			Vendor: d.Vendor, Product: d.Product, Serial: d.Serial, Class: d.Class, MassStorage: d.MassStorage})
	}
	if bitLockerOff(l.i) {
		r.Posture.Encryption.Volumes = []inventory.Volume{{Name: osVolume, MountPoint: osMount, OSVolume: true, State: inventory.VolumeNotEncrypted,
			Protection: "off", Conversion: "fully_decrypted", Method: "None"}}
	} else {
		id, pw := l.recoveryKey()
		r.Posture.Encryption.Volumes = []inventory.Volume{{Name: osVolume, MountPoint: osMount, OSVolume: true, State: inventory.VolumeEncrypted,
			Protection: "on", Conversion: "fully_encrypted", EncryptionPercent: 100, Method: bitLocker, KeyProtectors: []string{"tpm", "numerical_password"}}}
		r.RecoveryKeys = []inventory.RecoveryKey{{Volume: osVolume, ProtectorID: id, NumericalPassword: pw}}
	}
	for _, s := range screenLockSettings {
		r.Posture.ScreenLock.Settings = append(r.Posture.ScreenLock.Settings, inventory.ScreenLockSetting{Name: s[0], Value: s[1], Source: s[2]})
	}
	return r
}

// signatureVersion is Defender's definitions version on the day of sig.
func signatureVersion(sig time.Time) string {
	return fmt.Sprintf("1.411.%d.0", sig.Unix()/86400%1000)
}

// sticks are the USB devices staff plug in and pull out.
var sticks = []*agentv1.UsbDevice{
	{VendorId: "0781", ProductId: "5567", Vendor: "SanDisk", Product: "Cruzer Blade", Serial: "4C530001230817117174", Class: "mass_storage", MassStorage: true},
	{VendorId: "0951", ProductId: "1666", Vendor: "Kingston", Product: "DataTraveler 3.0", Serial: "E0D55EA574C1F4B0A9190D2E", Class: "mass_storage", MassStorage: true},
	{VendorId: "18d1", ProductId: "4ee2", Vendor: "Google", Product: "Pixel 7", Serial: "0A1B2C3D4E5F", Class: "other", MassStorage: true},
	{VendorId: "046d", ProductId: "c52b", Product: "USB Receiver", Class: "hid"},
	{VendorId: "03f0", ProductId: "6c17", Product: "HP LaserJet Pro M404-M405", Serial: "CN12A3B4C5", Class: "printer"},
}

// usbEvents returns n usb.inserted and usb.removed events at about now,
// each with a new UUID, as the agent's USB watcher queues them.
func (l laptop) usbEvents(n int, now time.Time) ([]*agentv1.Event, error) {
	out := make([]*agentv1.Event, n)
	first := rand.IntN(len(sticks))
	for k := range out {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, err
		}
		// Each device is pulled out after it went in.
		typ := inventory.EventUSBInserted
		if k%2 == 1 {
			typ = inventory.EventUSBRemoved
		}
		out[k] = &agentv1.Event{
			Id: id.String(), Type: typ, OccurredAt: timestamppb.New(now.Add(time.Duration(k-n) * time.Second)),
			Usb: &agentv1.UsbEvent{Device: sticks[(first+k/2)%len(sticks)], User: l.user()},
		}
	}
	return out, nil
}
