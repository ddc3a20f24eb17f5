package inventory

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Report is what an agent says about its device in a full check-in.
type Report struct {
	Hardware Hardware
	Posture  Posture
}

// Hardware is a device's hardware and operating-system inventory.
type Hardware struct {
	Make          string    `json:"make,omitempty"`
	Model         string    `json:"model,omitempty"`
	Serial        string    `json:"serial,omitempty"`
	ChassisType   string    `json:"chassis_type,omitempty"`
	Hostname      string    `json:"hostname,omitempty"`
	OSName        string    `json:"os_name,omitempty"`
	OSVersion     string    `json:"os_version,omitempty"`
	KernelVersion string    `json:"kernel_version,omitempty"`
	Arch          string    `json:"arch,omitempty"`
	OSInstallDate time.Time `json:"os_install_date,omitzero"`
	CPUModel      string    `json:"cpu_model,omitempty"`
	CPUCores      int32     `json:"cpu_cores,omitempty"`
	MemoryBytes   uint64    `json:"memory_bytes,omitempty"`
	Disks         []Disk    `json:"disks,omitempty"`
	MACAddresses  []string  `json:"mac_addresses,omitempty"`
	LoggedInUser  string    `json:"logged_in_user,omitempty"`
	AgentVersion  string    `json:"agent_version,omitempty"`
}

// Disk is one physical disk.
type Disk struct {
	Name      string `json:"name,omitempty"`
	Model     string `json:"model,omitempty"`
	Serial    string `json:"serial,omitempty"`
	SizeBytes uint64 `json:"size_bytes,omitempty"`
}

// Posture is a device's security posture. Each concern carries its own
// status so that "could not tell" is never mistaken for "off".
type Posture struct {
	Antivirus  []AntivirusProduct `json:"antivirus,omitempty"`
	Volumes    []Volume           `json:"volumes,omitempty"`
	ScreenLock *ScreenLock        `json:"screen_lock,omitempty"`
	USBDevices []USBDevice        `json:"usb_devices,omitempty"`
	// Unknown lists concerns the agent could not read, with the reason.
	Unknown []UnknownConcern `json:"unknown,omitempty"`
}

// AntivirusProduct is one registered antivirus product.
type AntivirusProduct struct {
	Name              string    `json:"name"`
	Enabled           bool      `json:"enabled"`
	UpToDate          bool      `json:"up_to_date"`
	SignatureUpdated  time.Time `json:"signature_updated,omitzero"`
	RealTimeProtected bool      `json:"real_time_protected"`
}

// Volume is one disk volume and its encryption state.
type Volume struct {
	Name              string  `json:"name"`
	MountPoint        string  `json:"mount_point,omitempty"`
	OSVolume          bool    `json:"os_volume"`
	Protected         bool    `json:"protected"`
	EncryptionPercent float64 `json:"encryption_percent"`
	Method            string  `json:"method,omitempty"`
	Conversion        string  `json:"conversion,omitempty"`
}

// ScreenLock is the effective idle-lock setting.
type ScreenLock struct {
	IdleTimeoutSeconds int64  `json:"idle_timeout_seconds"`
	PasswordOnWake     bool   `json:"password_on_wake"`
	Source             string `json:"source,omitempty"` // "policy" or "user"
}

// USBDevice is one USB device present at collection time.
type USBDevice struct {
	VendorID    string `json:"vendor_id"`
	ProductID   string `json:"product_id"`
	Vendor      string `json:"vendor,omitempty"`
	Product     string `json:"product,omitempty"`
	Serial      string `json:"serial,omitempty"`
	Class       string `json:"class,omitempty"`
	MassStorage bool   `json:"mass_storage"`
}

// UnknownConcern records a posture concern the agent could not read.
type UnknownConcern struct {
	Concern string `json:"concern"`
	Reason  string `json:"reason"`
}

// Limits on what one report may hold. They are far above any real laptop
// and keep a broken or hostile agent from filling the database.
const (
	MaxStringLen = 1024
	MaxItems     = 256
	MaxMemory    = 1 << 50 // 1 PiB
	MaxCores     = 4096
)

// Validate checks r for oversized strings, invalid UTF-8, absurd numbers and
// too many items, and returns an EINVALID error naming the first bad field.
func (r *Report) Validate() error {
	h := &r.Hardware
	v := validator{}
	v.str("hardware.make", h.Make)
	v.str("hardware.model", h.Model)
	v.str("hardware.serial", h.Serial)
	v.str("hardware.chassis_type", h.ChassisType)
	v.str("hardware.hostname", h.Hostname)
	v.str("hardware.os_name", h.OSName)
	v.str("hardware.os_version", h.OSVersion)
	v.str("hardware.kernel_version", h.KernelVersion)
	v.str("hardware.arch", h.Arch)
	v.str("hardware.cpu_model", h.CPUModel)
	v.str("hardware.logged_in_user", h.LoggedInUser)
	v.str("hardware.agent_version", h.AgentVersion)
	v.time("hardware.os_install_date", h.OSInstallDate)
	if h.CPUCores < 0 || h.CPUCores > MaxCores {
		v.fail("hardware.cpu_cores", "%d is out of range 0..%d", h.CPUCores, MaxCores)
	}
	if h.MemoryBytes > MaxMemory {
		v.fail("hardware.memory_bytes", "%d is beyond any real machine", h.MemoryBytes)
	}
	v.count("hardware.disks", len(h.Disks))
	for i, d := range h.Disks {
		p := fmt.Sprintf("hardware.disks[%d]", i)
		v.str(p+".name", d.Name)
		v.str(p+".model", d.Model)
		v.str(p+".serial", d.Serial)
		if d.SizeBytes > MaxMemory*1024 {
			v.fail(p+".size_bytes", "%d is beyond any real disk", d.SizeBytes)
		}
	}
	v.count("hardware.mac_addresses", len(h.MACAddresses))
	for i, m := range h.MACAddresses {
		v.str(fmt.Sprintf("hardware.mac_addresses[%d]", i), m)
	}

	p := &r.Posture
	v.count("posture.antivirus", len(p.Antivirus))
	for i, a := range p.Antivirus {
		v.str(fmt.Sprintf("posture.antivirus[%d].name", i), a.Name)
		v.time(fmt.Sprintf("posture.antivirus[%d].signature_updated", i), a.SignatureUpdated)
	}
	v.count("posture.volumes", len(p.Volumes))
	for i, vol := range p.Volumes {
		q := fmt.Sprintf("posture.volumes[%d]", i)
		v.str(q+".name", vol.Name)
		v.str(q+".mount_point", vol.MountPoint)
		v.str(q+".method", vol.Method)
		v.str(q+".conversion", vol.Conversion)
		if vol.EncryptionPercent < 0 || vol.EncryptionPercent > 100 || vol.EncryptionPercent != vol.EncryptionPercent {
			v.fail(q+".encryption_percent", "%v is not a percentage", vol.EncryptionPercent)
		}
	}
	if s := p.ScreenLock; s != nil {
		if s.IdleTimeoutSeconds < 0 || s.IdleTimeoutSeconds > 366*24*3600 {
			v.fail("posture.screen_lock.idle_timeout_seconds", "%d is out of range", s.IdleTimeoutSeconds)
		}
		v.str("posture.screen_lock.source", s.Source)
	}
	v.count("posture.usb_devices", len(p.USBDevices))
	for i, u := range p.USBDevices {
		q := fmt.Sprintf("posture.usb_devices[%d]", i)
		v.str(q+".vendor_id", u.VendorID)
		v.str(q+".product_id", u.ProductID)
		v.str(q+".vendor", u.Vendor)
		v.str(q+".product", u.Product)
		v.str(q+".serial", u.Serial)
		v.str(q+".class", u.Class)
	}
	v.count("posture.unknown", len(p.Unknown))
	for i, u := range p.Unknown {
		v.str(fmt.Sprintf("posture.unknown[%d].concern", i), u.Concern)
		v.str(fmt.Sprintf("posture.unknown[%d].reason", i), u.Reason)
	}
	return v.err
}

// validator collects the first validation failure.
type validator struct{ err error }

func (v *validator) fail(field, format string, args ...any) {
	if v.err == nil {
		v.err = Errorf(EINVALID, "%s: %s", field, fmt.Sprintf(format, args...))
	}
}

func (v *validator) str(field, s string) {
	switch {
	case len(s) > MaxStringLen:
		v.fail(field, "%d bytes is longer than the limit of %d", len(s), MaxStringLen)
	case !utf8.ValidString(s):
		v.fail(field, "not valid UTF-8")
	case strings.ContainsRune(s, 0):
		v.fail(field, "contains a NUL character")
	}
}

func (v *validator) count(field string, n int) {
	if n > MaxItems {
		v.fail(field, "%d items is more than the limit of %d", n, MaxItems)
	}
}

// earliest and latest bound the times a report may carry.
var (
	earliest = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	latest   = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

func (v *validator) time(field string, t time.Time) {
	if !t.IsZero() && (t.Before(earliest) || t.After(latest)) {
		v.fail(field, "%s is not a plausible date", t.Format(time.RFC3339))
	}
}
