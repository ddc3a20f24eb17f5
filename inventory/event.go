package inventory

import (
	"context"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Event is something that happened on a device: a USB stick inserted, the
// agent started, encryption switched off. Its ID is made on the device, so
// the server stores each event once however often the agent retries.
type Event struct {
	ID         uuid.UUID
	DeviceID   uuid.UUID
	SchoolID   uuid.UUID
	Type       string
	OccurredAt time.Time
	Payload    json.RawMessage // a JSON object, or nil
	ReceivedAt time.Time
}

// Limits on events.
const (
	MaxEventTypeLen  = 64
	MaxEventPayload  = 64 << 10
	MaxEventsPerCall = 500
)

// Validate returns an EINVALID error naming the first bad field of e.
func (e *Event) Validate() error {
	switch {
	case e.ID == uuid.Nil:
		return Errorf(EINVALID, "event.id: missing")
	case e.Type == "":
		return Errorf(EINVALID, "event.type: missing")
	case len(e.Type) > MaxEventTypeLen || !utf8.ValidString(e.Type) || strings.ContainsRune(e.Type, 0):
		return Errorf(EINVALID, "event.type: must be at most %d bytes of UTF-8", MaxEventTypeLen)
	case e.OccurredAt.Before(earliest) || e.OccurredAt.After(latest):
		return Errorf(EINVALID, "event.occurred_at: %s is not a plausible time", e.OccurredAt.UTC().Format(time.RFC3339))
	case len(e.Payload) > MaxEventPayload:
		return Errorf(EINVALID, "event.payload: %d bytes is more than the limit of %d", len(e.Payload), MaxEventPayload)
	case e.Payload != nil && !json.Valid(e.Payload):
		return Errorf(EINVALID, "event.payload: not valid JSON")
	}
	return nil
}

// EventFilter selects events, newest first: those of one device, or of
// the given schools when DeviceID is uuid.Nil.
type EventFilter struct {
	DeviceID   uuid.UUID
	SchoolIDs  []uuid.UUID // used when DeviceID is uuid.Nil; none selects nothing
	TypePrefix string      // e.g. "usb." or "usb.inserted"; empty selects every type
	Since      time.Time   // occurred at or after; zero means no bound
	Until      time.Time   // occurred before; zero means no bound
	Limit      int         // zero or less means DefaultPageSize
}

// EventStore keeps device events.
type EventStore interface {
	// AppendEvents stores events for a device in one transaction, filling
	// DeviceID, SchoolID and ReceivedAt. An event whose ID is already
	// stored is skipped, so retries are safe. Returns how many were new,
	// and ENOTFOUND for an unknown device.
	AppendEvents(ctx context.Context, deviceID uuid.UUID, events []*Event, at time.Time) (int, error)
	// FindEvents returns the events f selects, newest first.
	FindEvents(ctx context.Context, f EventFilter) ([]*Event, error)
}

// USB event types.
const (
	EventUSBInserted = "usb.inserted"
	EventUSBRemoved  = "usb.removed"
	// EventUSBRecorded is an insertion the OS recorded while the agent was
	// not running.
	EventUSBRecorded = "usb.recorded"
)

// USBEvent is the payload of a usb.* event.
type USBEvent struct {
	Device    USBDevice `json:"device"`
	User      string    `json:"user,omitempty"`
	FirstSeen time.Time `json:"first_seen,omitzero"`
	LastSeen  time.Time `json:"last_seen,omitzero"`
}

// Validate returns an EINVALID error naming the first bad field of u.
func (u *USBEvent) Validate() error {
	v := validator{}
	v.usbDevice("event.usb.device", u.Device)
	v.str("event.usb.user", u.User)
	v.time("event.usb.first_seen", u.FirstSeen)
	v.time("event.usb.last_seen", u.LastSeen)
	return v.err
}
