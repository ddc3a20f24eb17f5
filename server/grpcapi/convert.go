package grpcapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rollcall/rollcall/inventory"
	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

// reportFromProto converts an agent report to the domain and validates it.
// A nil report converts to an empty one. Errors are EINVALID and name the
// bad field.
func reportFromProto(r *agentv1.Report) (inventory.Report, error) {
	h, p := r.GetHardware(), r.GetPosture()
	if err := checkTime("hardware.os_install_date", h.GetOsInstallDate()); err != nil {
		return inventory.Report{}, err
	}
	for i, a := range p.GetAntivirus().GetProducts() {
		if err := checkTime(fmt.Sprintf("posture.antivirus.products[%d].signature_updated", i), a.GetSignatureUpdated()); err != nil {
			return inventory.Report{}, err
		}
	}
	out := inventory.Report{
		Hardware: inventory.Hardware{
			Make:          h.GetMake(),
			Model:         h.GetModel(),
			Serial:        h.GetSerial(),
			ChassisType:   h.GetChassisType(),
			Hostname:      h.GetHostname(),
			OSName:        h.GetOsName(),
			OSVersion:     h.GetOsVersion(),
			KernelVersion: h.GetKernelVersion(),
			Arch:          h.GetArch(),
			OSInstallDate: timeFromProto(h.GetOsInstallDate()),
			CPUModel:      h.GetCpuModel(),
			CPUCores:      h.GetCpuCores(),
			MemoryBytes:   h.GetMemoryBytes(),
			MACAddresses:  h.GetMacAddresses(),
			LoggedInUser:  h.GetLoggedInUser(),
			AgentVersion:  h.GetAgentVersion(),
		},
	}
	for _, d := range h.GetDisks() {
		out.Hardware.Disks = append(out.Hardware.Disks, inventory.Disk{
			Name: d.GetName(), Model: d.GetModel(), Serial: d.GetSerial(), SizeBytes: d.GetSizeBytes(),
		})
	}
	out.Posture = postureFromProto(p)
	for _, k := range p.GetEncryption().GetRecoveryKeys() {
		out.RecoveryKeys = append(out.RecoveryKeys, inventory.RecoveryKey{
			Volume: k.GetVolume(), ProtectorID: k.GetProtectorId(), NumericalPassword: k.GetNumericalPassword(),
		})
	}
	return out, out.Validate()
}

// postureFromProto converts the posture part of a report, leaving out the
// recovery keys, which are handled apart.
func postureFromProto(p *agentv1.Posture) inventory.Posture {
	var out inventory.Posture
	if a := p.GetAntivirus(); a != nil {
		out.Antivirus = &inventory.Antivirus{UnknownReason: a.GetUnknownReason(), Gatekeeper: a.GetGatekeeper()}
		if a.GetUnknownReason() == "" {
			out.Antivirus.Products = []inventory.AntivirusProduct{} // read: empty means none found
		}
		for _, pr := range a.GetProducts() {
			out.Antivirus.Products = append(out.Antivirus.Products, inventory.AntivirusProduct{
				Name:               pr.GetName(),
				Source:             pr.GetSource(),
				Enabled:            pr.GetEnabled(),
				UpToDate:           pr.GetUpToDate(),
				SignatureUpdated:   timeFromProto(pr.GetSignatureUpdated()),
				SignatureVersion:   pr.GetSignatureVersion(),
				RealTimeProtection: pr.RealTimeProtection,
				State:              pr.GetState(),
			})
		}
	}
	if e := p.GetEncryption(); e != nil {
		out.Encryption = &inventory.Encryption{UnknownReason: e.GetUnknownReason()}
		if e.GetUnknownReason() == "" {
			out.Encryption.Volumes = []inventory.Volume{}
		}
		for _, v := range e.GetVolumes() {
			out.Encryption.Volumes = append(out.Encryption.Volumes, inventory.Volume{
				Name:              v.GetName(),
				MountPoint:        v.GetMountPoint(),
				OSVolume:          v.GetOsVolume(),
				State:             v.GetState(),
				Protection:        v.GetProtection(),
				Conversion:        v.GetConversion(),
				EncryptionPercent: v.GetEncryptionPercent(),
				Method:            v.GetMethod(),
				KeyProtectors:     v.GetKeyProtectors(),
			})
		}
	}
	if s := p.GetScreenLock(); s != nil {
		out.ScreenLock = &inventory.ScreenLock{
			UnknownReason:   s.GetUnknownReason(),
			IdleLockSeconds: s.GetIdleLockSeconds(),
			PasswordOnWake:  s.GetPasswordOnWake(),
			User:            s.GetUser(),
		}
		for _, st := range s.GetSettings() {
			out.ScreenLock.Settings = append(out.ScreenLock.Settings, inventory.ScreenLockSetting{
				Name: st.GetName(), Value: st.GetValue(), Source: st.GetSource(),
			})
		}
	}
	if u := p.GetUsb(); u != nil {
		out.USB = &inventory.USB{UnknownReason: u.GetUnknownReason()}
		if u.GetUnknownReason() == "" {
			out.USB.Devices = []inventory.USBDevice{}
		}
		for _, d := range u.GetDevices() {
			out.USB.Devices = append(out.USB.Devices, usbDeviceFromProto(d))
		}
	}
	return out
}

// usbDeviceFromProto converts one USB device.
func usbDeviceFromProto(d *agentv1.UsbDevice) inventory.USBDevice {
	return inventory.USBDevice{
		VendorID:    d.GetVendorId(),
		ProductID:   d.GetProductId(),
		Vendor:      d.GetVendor(),
		Product:     d.GetProduct(),
		Serial:      d.GetSerial(),
		Class:       d.GetClass(),
		MassStorage: d.GetMassStorage(),
	}
}

// checkTime returns an EINVALID error when a timestamp is present but out
// of the range a timestamp may hold.
func checkTime(field string, t *timestamppb.Timestamp) error {
	if t == nil {
		return nil
	}
	if err := t.CheckValid(); err != nil {
		return inventory.Errorf(inventory.EINVALID, "%s: %v", field, err)
	}
	return nil
}

// eventFromProto converts an agent event to the domain, or returns an
// EINVALID error naming the bad field.
func eventFromProto(e *agentv1.Event) (*inventory.Event, error) {
	id, err := uuid.Parse(e.GetId())
	if err != nil {
		return nil, inventory.Errorf(inventory.EINVALID, "event.id: %q is not a UUID", truncate(e.GetId()))
	}
	if e.GetOccurredAt() == nil {
		return nil, inventory.Errorf(inventory.EINVALID, "event.occurred_at: missing")
	}
	if err := e.GetOccurredAt().CheckValid(); err != nil {
		return nil, inventory.Errorf(inventory.EINVALID, "event.occurred_at: %v", err)
	}
	out := &inventory.Event{ID: id, Type: e.GetType(), OccurredAt: e.GetOccurredAt().AsTime()}
	if u := e.GetUsb(); u != nil {
		if !strings.HasPrefix(e.GetType(), "usb.") {
			return nil, inventory.Errorf(inventory.EINVALID, "event.usb: only usb.* events carry a USB body, not %q", truncate(e.GetType()))
		}
		for _, t := range []struct {
			field string
			ts    *timestamppb.Timestamp
		}{{"event.usb.first_seen", u.GetFirstSeen()}, {"event.usb.last_seen", u.GetLastSeen()}} {
			if err := checkTime(t.field, t.ts); err != nil {
				return nil, err
			}
		}
		body := inventory.USBEvent{
			Device:    usbDeviceFromProto(u.GetDevice()),
			User:      u.GetUser(),
			FirstSeen: timeFromProto(u.GetFirstSeen()),
			LastSeen:  timeFromProto(u.GetLastSeen()),
		}
		if err := body.Validate(); err != nil {
			return nil, err
		}
		b, err := json.Marshal(body)
		if err != nil {
			return nil, inventory.Errorf(inventory.EINVALID, "event.usb: %v", err)
		}
		out.Payload = b
		return out, out.Validate()
	}
	if e.GetPayload() != nil {
		b, err := protojson.Marshal(e.GetPayload())
		if err != nil {
			return nil, inventory.Errorf(inventory.EINVALID, "event.payload: %v", err)
		}
		out.Payload = b
	}
	return out, out.Validate()
}

func timeFromProto(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

// truncate shortens untrusted text before it goes into an error message.
func truncate(s string) string {
	const n = 64
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
