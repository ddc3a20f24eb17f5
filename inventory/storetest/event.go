package storetest

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// event returns a new event of type typ that occurred at t0 plus offset.
func event(typ string, offset time.Duration) *inventory.Event {
	return &inventory.Event{
		ID:         uuid.Must(uuid.NewV7()),
		Type:       typ,
		OccurredAt: t0.Add(offset),
		Payload:    json.RawMessage(`{"offset": "` + offset.String() + `"}`),
	}
}

// clone returns copies of events, so that the store's filling of fields
// does not change the originals.
func clone(events ...*inventory.Event) []*inventory.Event {
	out := make([]*inventory.Event, len(events))
	for i, e := range events {
		c := *e
		out[i] = &c
	}
	return out
}

// jsonEqual reports whether a and b hold the same JSON value; the stores
// may reformat a document.
func jsonEqual(a, b json.RawMessage) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func (su suite) testEventStore(t *testing.T) {
	t.Run("AppendEvents", func(t *testing.T) {
		e := su.fresh(t)
		d := e.device("SN1")
		a, b, c := event("usb.inserted", 0), event("agent.started", time.Second), event("bitlocker.off", 2*time.Second)
		b.Payload = nil

		batch := clone(a, b, a) // a twice in one call
		n, err := e.s.AppendEvents(e.ctx, d.ID, batch, t0.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "new events", n, 2)
		for _, ev := range batch {
			if ev.DeviceID != d.ID || ev.SchoolID != d.SchoolID || !ev.ReceivedAt.Equal(ts(t0.Add(time.Minute))) {
				t.Errorf("event %s: DeviceID, SchoolID, ReceivedAt = %s, %s, %s; want them filled", ev.ID, ev.DeviceID, ev.SchoolID, ev.ReceivedAt)
			}
		}

		// A retry that repeats b stores only c.
		n, err = e.s.AppendEvents(e.ctx, d.ID, clone(b, c), t0.Add(2*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "new events on retry", n, 1)

		got, err := e.s.FindEvents(e.ctx, inventory.EventFilter{DeviceID: d.ID})
		if err != nil {
			t.Fatal(err)
		}
		want := []*inventory.Event{c, b, a}
		if len(got) != len(want) {
			t.Fatalf("FindEvents returned %d events, want %d", len(got), len(want))
		}
		received := map[uuid.UUID]time.Time{a.ID: t0.Add(time.Minute), b.ID: t0.Add(time.Minute), c.ID: t0.Add(2 * time.Minute)}
		for i, w := range want {
			g := got[i]
			if !jsonEqual(g.Payload, w.Payload) {
				t.Errorf("event %d payload = %s, want %s", i, g.Payload, w.Payload)
			}
			g.Payload = nil
			equal(t, "event", g, &inventory.Event{
				ID:         w.ID,
				DeviceID:   d.ID,
				SchoolID:   d.SchoolID,
				Type:       w.Type,
				OccurredAt: ts(w.OccurredAt),
				ReceivedAt: ts(received[w.ID]),
			})
		}
	})

	t.Run("AppendEvents/Empty", func(t *testing.T) {
		e := su.fresh(t)
		d := e.device("SN1")
		n, err := e.s.AppendEvents(e.ctx, d.ID, nil, t0)
		if err != nil || n != 0 {
			t.Fatalf("AppendEvents(nil) = %d, %v; want 0, nil", n, err)
		}
	})

	t.Run("AppendEvents/ErrDeviceNotFound", func(t *testing.T) {
		e := su.fresh(t)
		for _, events := range [][]*inventory.Event{nil, {event("x", 0)}} {
			n, err := e.s.AppendEvents(e.ctx, uuid.New(), events, t0)
			wantCode(t, err, inventory.ENOTFOUND)
			equal(t, "count", n, 0)
		}
	})

	t.Run("AppendEvents/ErrInvalid", func(t *testing.T) {
		e := su.fresh(t)
		d := e.device("SN1")
		bad := event("x", 0)
		bad.Payload = json.RawMessage(`{not json`)
		n, err := e.s.AppendEvents(e.ctx, d.ID, []*inventory.Event{event("ok", 0), bad}, t0)
		wantCode(t, err, inventory.EINVALID)
		equal(t, "count", n, 0)
		got, err := e.s.FindEvents(e.ctx, inventory.EventFilter{DeviceID: d.ID})
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "events stored", len(got), 0)
	})

	t.Run("FindEvents/Order", func(t *testing.T) {
		e := su.fresh(t)
		d := e.device("SN1")
		// Two events at the same moment are ordered by ID, newest first.
		tie1, tie2 := event("tie", time.Hour), event("tie", time.Hour)
		events := []*inventory.Event{
			event("old", -time.Hour), tie1, event("newest", 2*time.Hour), tie2, event("middle", time.Minute),
		}
		if _, err := e.s.AppendEvents(e.ctx, d.ID, clone(events...), t0); err != nil {
			t.Fatal(err)
		}
		other := e.device("SN2")
		if _, err := e.s.AppendEvents(e.ctx, other.ID, []*inventory.Event{event("elsewhere", 3*time.Hour)}, t0); err != nil {
			t.Fatal(err)
		}

		wantOrder := []uuid.UUID{events[2].ID, tie2.ID, tie1.ID, events[4].ID, events[0].ID}
		for _, tc := range []struct {
			name  string
			limit int
			want  []uuid.UUID
		}{
			{"All", 0, wantOrder},
			{"Limit", 2, wantOrder[:2]},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := e.s.FindEvents(e.ctx, inventory.EventFilter{DeviceID: d.ID, Limit: tc.limit})
				if err != nil {
					t.Fatal(err)
				}
				ids := make([]uuid.UUID, len(got))
				for i, ev := range got {
					ids[i] = ev.ID
				}
				equal(t, "event IDs", ids, tc.want)
			})
		}
	})

	t.Run("FindEvents/Filter", func(t *testing.T) {
		e := su.fresh(t)
		d1, d2, d3 := e.device("SN1"), e.device("SN2"), e.device("SN3") // each in its own school
		add := func(d *inventory.Device, evs ...*inventory.Event) {
			t.Helper()
			if _, err := e.s.AppendEvents(e.ctx, d.ID, evs, t0); err != nil {
				t.Fatal(err)
			}
		}
		a := event("usb.inserted", time.Hour)
		b := event("usb.removed", 2*time.Hour)
		c := event("agent.started", 3*time.Hour)
		f := event("usb.recorded", 4*time.Hour)
		g := event("usb.inserted", 5*time.Hour)
		add(d1, a, b, c)
		add(d2, f)
		add(d3, g)
		tests := []struct {
			name   string
			filter inventory.EventFilter
			want   []*inventory.Event
		}{
			{"TwoSchools", inventory.EventFilter{SchoolIDs: []uuid.UUID{d1.SchoolID, d2.SchoolID}}, []*inventory.Event{f, c, b, a}},
			{"USBInTwoSchools", inventory.EventFilter{SchoolIDs: []uuid.UUID{d1.SchoolID, d2.SchoolID}, TypePrefix: "usb."}, []*inventory.Event{f, b, a}},
			{"ExactType", inventory.EventFilter{SchoolIDs: []uuid.UUID{d1.SchoolID, d3.SchoolID}, TypePrefix: "usb.inserted"}, []*inventory.Event{g, a}},
			{"Window", inventory.EventFilter{SchoolIDs: []uuid.UUID{d1.SchoolID, d2.SchoolID, d3.SchoolID}, Since: t0.Add(2 * time.Hour), Until: t0.Add(5 * time.Hour)}, []*inventory.Event{f, c, b}},
			{"DeviceAndType", inventory.EventFilter{DeviceID: d1.ID, TypePrefix: "agent."}, []*inventory.Event{c}},
			{"NoSchools", inventory.EventFilter{}, nil},
			{"LikeIsNotAPattern", inventory.EventFilter{SchoolIDs: []uuid.UUID{d1.SchoolID}, TypePrefix: "usb%"}, nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := e.s.FindEvents(e.ctx, tc.filter)
				if err != nil {
					t.Fatal(err)
				}
				var gotIDs, wantIDs []uuid.UUID
				for _, ev := range got {
					gotIDs = append(gotIDs, ev.ID)
				}
				for _, ev := range tc.want {
					wantIDs = append(wantIDs, ev.ID)
				}
				if !reflect.DeepEqual(gotIDs, wantIDs) {
					t.Errorf("got %v, want %v", gotIDs, wantIDs)
				}
			})
		}
	})

	t.Run("FindEvents/NoEvents", func(t *testing.T) {
		e := su.fresh(t)
		got, err := e.s.FindEvents(e.ctx, inventory.EventFilter{DeviceID: uuid.New()})
		if err != nil {
			t.Fatal(err)
		}
		if got == nil || len(got) != 0 {
			t.Fatalf("FindEvents = %v, want an empty slice", got)
		}
	})
}
