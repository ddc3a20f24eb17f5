package grpcapi

import (
	"fmt"
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
	for i, a := range p.GetAntivirus() {
		if err := checkTime(fmt.Sprintf("posture.antivirus[%d].signature_updated", i), a.GetSignatureUpdated()); err != nil {
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
	for _, a := range p.GetAntivirus() {
		out.Posture.Antivirus = append(out.Posture.Antivirus, inventory.AntivirusProduct{
			Name:              a.GetName(),
			Enabled:           a.GetEnabled(),
			UpToDate:          a.GetUpToDate(),
			SignatureUpdated:  timeFromProto(a.GetSignatureUpdated()),
			RealTimeProtected: a.GetRealTimeProtected(),
		})
	}
	for _, v := range p.GetVolumes() {
		out.Posture.Volumes = append(out.Posture.Volumes, inventory.Volume{
			Name:              v.GetName(),
			MountPoint:        v.GetMountPoint(),
			OSVolume:          v.GetOsVolume(),
			Protected:         v.GetProtected(),
			EncryptionPercent: v.GetEncryptionPercent(),
			Method:            v.GetMethod(),
			Conversion:        v.GetConversion(),
		})
	}
	if s := p.GetScreenLock(); s != nil {
		out.Posture.ScreenLock = &inventory.ScreenLock{
			IdleTimeoutSeconds: s.GetIdleTimeoutSeconds(),
			PasswordOnWake:     s.GetPasswordOnWake(),
			Source:             s.GetSource(),
		}
	}
	for _, u := range p.GetUsbDevices() {
		out.Posture.USBDevices = append(out.Posture.USBDevices, inventory.USBDevice{
			VendorID:    u.GetVendorId(),
			ProductID:   u.GetProductId(),
			Vendor:      u.GetVendor(),
			Product:     u.GetProduct(),
			Serial:      u.GetSerial(),
			Class:       u.GetClass(),
			MassStorage: u.GetMassStorage(),
		})
	}
	for _, u := range p.GetUnknown() {
		out.Posture.Unknown = append(out.Posture.Unknown, inventory.UnknownConcern{Concern: u.GetConcern(), Reason: u.GetReason()})
	}
	return out, out.Validate()
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
