package inventory

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Report is what an agent says about its device in a full check-in.
type Report struct {
	Hardware Hardware
	Posture  Posture
	// RecoveryKeys are kept apart from the posture: the server seals them
	// before they are stored.
	RecoveryKeys []RecoveryKey
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

// Posture is a device's security posture, one part per concern. A
// concern the agent could not read has UnknownReason set and nothing else,
// so that "could not tell" is never mistaken for "off". A nil part was not
// sent at all (an older agent) and counts as unknown.
type Posture struct {
	Antivirus  *Antivirus  `json:"antivirus,omitempty"`
	Encryption *Encryption `json:"encryption,omitempty"`
	ScreenLock *ScreenLock `json:"screen_lock,omitempty"`
	USB        *USB        `json:"usb,omitempty"`
}

// Antivirus is what the agent found of antivirus products.
type Antivirus struct {
	UnknownReason string             `json:"unknown_reason,omitempty"`
	Products      []AntivirusProduct `json:"products,omitzero"`
	Gatekeeper    string             `json:"gatekeeper,omitempty"` // macOS: "enabled" or "disabled"
}

// AntivirusProduct is one antivirus product as its source describes it.
type AntivirusProduct struct {
	Name               string    `json:"name"`
	Source             string    `json:"source"` // "security_center", "defender", "xprotect", "clamav"
	Enabled            bool      `json:"enabled"`
	UpToDate           bool      `json:"up_to_date"`
	SignatureUpdated   time.Time `json:"signature_updated,omitzero"`
	SignatureVersion   string    `json:"signature_version,omitempty"`
	RealTimeProtection *bool     `json:"real_time_protection,omitempty"` // nil: the source does not say
	State              string    `json:"state,omitempty"`
}

// Encryption is the encryption state of the device's volumes.
type Encryption struct {
	UnknownReason string   `json:"unknown_reason,omitempty"`
	Volumes       []Volume `json:"volumes,omitzero"`
}

// Volume states.
const (
	VolumeEncrypted    = "encrypted"
	VolumeSuspended    = "suspended"
	VolumeEncrypting   = "encrypting"
	VolumeDecrypting   = "decrypting"
	VolumePaused       = "paused"
	VolumeNotEncrypted = "not_encrypted"
	VolumeUnknown      = "unknown"
)

// Volume is one volume and its encryption state.
type Volume struct {
	Name              string   `json:"name"`
	MountPoint        string   `json:"mount_point,omitempty"`
	OSVolume          bool     `json:"os_volume"`
	State             string   `json:"state"`                // one of the Volume* states
	Protection        string   `json:"protection,omitempty"` // Windows: "on", "off", "unknown"
	Conversion        string   `json:"conversion,omitempty"`
	EncryptionPercent float64  `json:"encryption_percent"`
	Method            string   `json:"method,omitempty"`
	KeyProtectors     []string `json:"key_protectors,omitempty"`
}

// ScreenLock is the effective idle-lock setting and the values it comes
// from.
type ScreenLock struct {
	UnknownReason   string              `json:"unknown_reason,omitempty"`
	IdleLockSeconds int64               `json:"idle_lock_seconds"` // 0: never locks on its own
	PasswordOnWake  bool                `json:"password_on_wake"`
	User            string              `json:"user,omitempty"`
	Settings        []ScreenLockSetting `json:"settings,omitempty"`
}

// ScreenLockSetting is one value read and where it came from.
type ScreenLockSetting struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Source string `json:"source"` // "policy", "user" or "machine"
}

// USB lists the USB devices attached when the report was collected.
type USB struct {
	UnknownReason string      `json:"unknown_reason,omitempty"`
	Devices       []USBDevice `json:"devices,omitzero"`
}

// USBDevice is one USB device.
type USBDevice struct {
	VendorID    string `json:"vendor_id"`
	ProductID   string `json:"product_id"`
	Vendor      string `json:"vendor,omitempty"`
	Product     string `json:"product,omitempty"`
	Serial      string `json:"serial,omitempty"`
	Class       string `json:"class,omitempty"`
	MassStorage bool   `json:"mass_storage"`
}

// RecoveryKey is a BitLocker recovery password as the agent sends it for
// escrow. It never goes into a posture snapshot, a log or a listing.
type RecoveryKey struct {
	Volume            string
	ProtectorID       string
	NumericalPassword string
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
	if a := p.Antivirus; a != nil {
		v.str("posture.antivirus.unknown_reason", a.UnknownReason)
		v.str("posture.antivirus.gatekeeper", a.Gatekeeper)
		v.count("posture.antivirus.products", len(a.Products))
		for i, pr := range a.Products {
			q := fmt.Sprintf("posture.antivirus.products[%d]", i)
			v.strs(q, map[string]string{"name": pr.Name, "source": pr.Source, "signature_version": pr.SignatureVersion, "state": pr.State})
			v.time(q+".signature_updated", pr.SignatureUpdated)
		}
	}
	if e := p.Encryption; e != nil {
		v.str("posture.encryption.unknown_reason", e.UnknownReason)
		v.count("posture.encryption.volumes", len(e.Volumes))
		for i, vol := range e.Volumes {
			q := fmt.Sprintf("posture.encryption.volumes[%d]", i)
			v.strs(q, map[string]string{"name": vol.Name, "mount_point": vol.MountPoint, "state": vol.State,
				"protection": vol.Protection, "conversion": vol.Conversion, "method": vol.Method})
			if vol.EncryptionPercent < 0 || vol.EncryptionPercent > 100 || vol.EncryptionPercent != vol.EncryptionPercent {
				v.fail(q+".encryption_percent", "%v is not a percentage", vol.EncryptionPercent)
			}
			v.count(q+".key_protectors", len(vol.KeyProtectors))
			for j, k := range vol.KeyProtectors {
				v.str(fmt.Sprintf("%s.key_protectors[%d]", q, j), k)
			}
		}
	}
	v.count("posture.encryption.recovery_keys", len(r.RecoveryKeys))
	for i, k := range r.RecoveryKeys {
		q := fmt.Sprintf("posture.encryption.recovery_keys[%d]", i)
		v.str(q+".volume", k.Volume)
		v.str(q+".protector_id", k.ProtectorID)
		if k.ProtectorID == "" {
			v.fail(q+".protector_id", "missing")
		}
		// Say what is wrong with a password without repeating it.
		if len(k.NumericalPassword) > 64 || !utf8.ValidString(k.NumericalPassword) {
			v.fail(q+".numerical_password", "not a BitLocker numerical password")
		}
	}
	if s := p.ScreenLock; s != nil {
		v.str("posture.screen_lock.unknown_reason", s.UnknownReason)
		v.str("posture.screen_lock.user", s.User)
		if s.IdleLockSeconds < 0 || s.IdleLockSeconds > 366*24*3600 {
			v.fail("posture.screen_lock.idle_lock_seconds", "%d is out of range", s.IdleLockSeconds)
		}
		v.count("posture.screen_lock.settings", len(s.Settings))
		for i, st := range s.Settings {
			v.strs(fmt.Sprintf("posture.screen_lock.settings[%d]", i), map[string]string{"name": st.Name, "value": st.Value, "source": st.Source})
		}
	}
	if u := p.USB; u != nil {
		v.str("posture.usb.unknown_reason", u.UnknownReason)
		v.count("posture.usb.devices", len(u.Devices))
		for i, d := range u.Devices {
			v.usbDevice(fmt.Sprintf("posture.usb.devices[%d]", i), d)
		}
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

// strs checks the strings of one item, named by their fields under
// prefix, in the order of their names so the first failure is stable.
func (v *validator) strs(prefix string, fields map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		v.str(prefix+"."+k, fields[k])
	}
}

// usbDevice checks one USB device.
func (v *validator) usbDevice(prefix string, d USBDevice) {
	v.strs(prefix, map[string]string{"vendor_id": d.VendorID, "product_id": d.ProductID, "vendor": d.Vendor,
		"product": d.Product, "serial": d.Serial, "class": d.Class})
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

// PostureChange is one concern of a device's posture changing between two
// reports.
type PostureChange struct {
	Concern   string          `json:"concern"` // antivirus, encryption, screen_lock or usb
	ChangedAt time.Time       `json:"changed_at"`
	Before    json.RawMessage `json:"before"` // null when it was never reported
	After     json.RawMessage `json:"after"`
}

// PostureChanges lists what changed between consecutive snapshots, newest
// first, given snapshots newest first. The oldest snapshot counts as a
// change from nothing.
func PostureChanges(snaps []*PostureSnapshot) []PostureChange {
	var out []PostureChange
	for i, s := range snaps {
		var prev *Posture
		if i+1 < len(snaps) {
			prev = &snaps[i+1].Posture
		}
		for _, c := range s.Posture.concerns(prev) {
			if !bytes.Equal(c.before, c.after) {
				out = append(out, PostureChange{Concern: c.name, ChangedAt: s.ReceivedAt, Before: c.before, After: c.after})
			}
		}
	}
	return out
}

// concernJSON is one concern's JSON in two postures.
type concernJSON struct {
	name          string
	before, after json.RawMessage
}

// concerns returns each concern of p and of prev (nil: nothing before) as
// JSON, in a fixed order.
func (p *Posture) concerns(prev *Posture) []concernJSON {
	if prev == nil {
		prev = &Posture{}
	}
	enc := func(v any) json.RawMessage {
		b, _ := json.Marshal(v) // the posture types always encode
		return b
	}
	return []concernJSON{
		{"antivirus", enc(prev.Antivirus), enc(p.Antivirus)},
		{"encryption", enc(prev.Encryption), enc(p.Encryption)},
		{"screen_lock", enc(prev.ScreenLock), enc(p.ScreenLock)},
		{"usb", enc(prev.USB), enc(p.USB)},
	}
}
