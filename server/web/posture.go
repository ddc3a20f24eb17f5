package web

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// policies loads schools' compliance policies once each per request.
type policies struct {
	store inventory.SchoolStore
	got   map[uuid.UUID]inventory.Policy
}

func newPolicies(store inventory.SchoolStore) *policies {
	return &policies{store: store, got: map[uuid.UUID]inventory.Policy{}}
}

// of returns the policy of school id.
func (p *policies) of(ctx context.Context, id uuid.UUID) (inventory.Policy, error) {
	if pol, ok := p.got[id]; ok {
		return pol, nil
	}
	s, err := p.store.FindSchoolByID(ctx, id)
	if err != nil {
		return inventory.Policy{}, err
	}
	p.got[id] = s.Policy
	return s.Policy, nil
}

// latestPosture returns a device's newest posture, or nil when it has sent
// none.
func latestPosture(ctx context.Context, store inventory.DeviceStore, id uuid.UUID) (*inventory.Posture, error) {
	snap, err := store.FindLatestPosture(ctx, id)
	if inventory.ErrorCode(err) == inventory.ENOTFOUND {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &snap.Posture, nil
}

// judge returns the compliance of device d with posture p now under its
// school's policy.
func judge(policy inventory.Policy, d *inventory.Device, p *inventory.Posture) inventory.Compliance {
	return inventory.Judge(policy, p, d.LastSeenAt, time.Now())
}

// visibleSchools returns the IDs of the schools whose fleet the viewer
// may see.
func visibleSchools(ctx context.Context, store inventory.SchoolStore) ([]uuid.UUID, error) {
	if ids := viewerOf(ctx).schoolsWith(fleetReaders...); ids != nil {
		return ids, nil
	}
	all, err := store.FindSchools(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]uuid.UUID, 0, len(all))
	for _, s := range all {
		ids = append(ids, s.ID)
	}
	return ids, nil
}

// eventJSON is an event as the REST API shows it.
type eventJSON struct {
	ID         string          `json:"id"`
	DeviceID   string          `json:"device_id"`
	SchoolID   string          `json:"school_id"`
	Type       string          `json:"type"`
	OccurredAt time.Time       `json:"occurred_at"`
	ReceivedAt time.Time       `json:"received_at"`
	Payload    json.RawMessage `json:"payload"`
	// NeedsReview marks a mass-storage insertion the school's policy
	// flags for review; only in the USB event list.
	NeedsReview *bool `json:"needs_review,omitempty"`
}

func toEventJSON(e *inventory.Event) eventJSON {
	p := e.Payload
	if p == nil {
		p = json.RawMessage("null")
	}
	return eventJSON{
		ID: e.ID.String(), DeviceID: e.DeviceID.String(), SchoolID: e.SchoolID.String(),
		Type: e.Type, OccurredAt: e.OccurredAt, ReceivedAt: e.ReceivedAt, Payload: p,
	}
}

// eventFilter reads ?type=, ?since=, ?until= and ?limit= into f.
func eventFilter(r *http.Request, f inventory.EventFilter) (inventory.EventFilter, error) {
	q := r.URL.Query()
	f.TypePrefix = q.Get("type")
	for _, b := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if s := q.Get(b.name); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return f, inventory.Errorf(inventory.EINVALID, "%s: %q is not an RFC 3339 time such as 2026-11-22T09:00:00Z", b.name, s)
			}
			*b.dst = t
		}
	}
	var err error
	f.Limit, err = parseLimit(q)
	return f, err
}

// writeEvents answers with the events f selects. Pages are bounded by
// ?until=: the next page is asked for with the oldest time returned.
func writeEvents(w http.ResponseWriter, r *http.Request, logger *slog.Logger, store inventory.Store, f inventory.EventFilter, mark func(*eventJSON) error) {
	events, err := store.FindEvents(r.Context(), f)
	if err != nil {
		writeError(w, r, logger, err)
		return
	}
	out := listJSON[eventJSON]{Items: make([]eventJSON, 0, len(events))}
	for _, e := range events {
		j := toEventJSON(e)
		if mark != nil {
			if err := mark(&j); err != nil {
				writeError(w, r, logger, err)
				return
			}
		}
		out.Items = append(out.Items, j)
	}
	if len(events) == (inventory.DeviceFilter{Limit: f.Limit}).PageLimit() {
		out.Next = events[len(events)-1].OccurredAt.UTC().Format(time.RFC3339Nano)
	}
	writeJSON(w, http.StatusOK, out)
}

func handleDeviceEvents(logger *slog.Logger, store inventory.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, ok := visibleDevice(w, r, logger, store)
		if !ok {
			return
		}
		f, err := eventFilter(r, inventory.EventFilter{DeviceID: d.ID})
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		writeEvents(w, r, logger, store, f, nil)
	})
}

func handleUSBEvents(logger *slog.Logger, store inventory.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		schools, err := visibleSchools(r.Context(), store)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		f, err := eventFilter(r, inventory.EventFilter{SchoolIDs: schools})
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		if f.TypePrefix == "" {
			f.TypePrefix = "usb."
		} else if len(f.TypePrefix) < 4 || f.TypePrefix[:4] != "usb." {
			writeError(w, r, logger, inventory.Errorf(inventory.EINVALID, "type: %q is not a USB event type (usb.inserted, usb.removed, usb.recorded)", f.TypePrefix))
			return
		}
		pols := newPolicies(store)
		writeEvents(w, r, logger, store, f, func(e *eventJSON) error {
			var body inventory.USBEvent
			_ = json.Unmarshal(e.Payload, &body)
			pol, err := pols.of(r.Context(), uuid.MustParse(e.SchoolID))
			if err != nil {
				return err
			}
			review := pol.FlagMassStorage && body.Device.MassStorage && e.Type != inventory.EventUSBRemoved
			e.NeedsReview = &review
			return nil
		})
	})
}

// ruleCountJSON counts one rule's verdicts in a school.
type ruleCountJSON struct {
	Rule         string `json:"rule"`
	Compliant    int    `json:"compliant"`
	Noncompliant int    `json:"noncompliant"`
	Unknown      int    `json:"unknown"`
	NotRequired  int    `json:"not_required"`
}

// schoolComplianceJSON is one school's compliance summary.
type schoolComplianceJSON struct {
	SchoolID     string           `json:"school_id"`
	School       string           `json:"school"`
	Policy       inventory.Policy `json:"policy"`
	Devices      int              `json:"devices"`
	Compliant    int              `json:"compliant"`
	Noncompliant int              `json:"noncompliant"`
	Unknown      int              `json:"unknown"`
	Rules        []*ruleCountJSON `json:"rules"`
}

// handleCompliance answers with the compliance summary of each school
// the viewer may see, in the order of [visibleSchools], reading the
// schools in one query and their devices' counts in another.
func handleCompliance(logger *slog.Logger, store inventory.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		visible := viewerOf(ctx).schoolsWith(fleetReaders...)
		schools, err := findSchoolsIn(ctx, store, visible)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		counts, err := store.CountDevicesBySchool(ctx, inventory.DeviceFilter{SchoolIDs: visible}, time.Time{})
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		out := listJSON[*schoolComplianceJSON]{Items: make([]*schoolComplianceJSON, 0, len(schools))}
		for _, s := range schools {
			out.Items = append(out.Items, summarise(s, counts[s.ID]))
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// findSchoolsIn returns the schools ids names, in that order, or every
// school by slug when ids is nil, reading them in one query. Returns
// ENOTFOUND for a school there is no longer.
func findSchoolsIn(ctx context.Context, store inventory.SchoolStore, ids []uuid.UUID) ([]*inventory.School, error) {
	all, err := store.FindSchools(ctx)
	if err != nil || ids == nil {
		return all, err
	}
	byID := make(map[uuid.UUID]*inventory.School, len(all))
	for _, s := range all {
		byID[s.ID] = s
	}
	out := make([]*inventory.School, 0, len(ids))
	for _, id := range ids {
		s, ok := byID[id]
		if !ok {
			// Gone since the viewer's grants were read: say so as a
			// lookup of it would.
			if s, err = store.FindSchoolByID(ctx, id); err != nil {
				return nil, err
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// summarise returns the compliance summary of school s from the counts c
// of its devices, which are zero when c is.
func summarise(s *inventory.School, c inventory.DeviceCounts) *schoolComplianceJSON {
	sum := &schoolComplianceJSON{
		SchoolID: s.ID.String(), School: s.Slug, Policy: s.Policy,
		Devices: c.Total, Compliant: c.Compliant, Noncompliant: c.Noncompliant, Unknown: c.Unknown,
	}
	for _, rule := range inventory.Rules {
		n := &ruleCountJSON{Rule: rule}
		if !s.Policy.Requires(rule) {
			n.NotRequired = c.Total
		} else {
			n.Noncompliant, n.Unknown = c.Failing[rule], c.Unknowns[rule]+c.Unjudged
			n.Compliant = c.Total - n.Noncompliant - n.Unknown
		}
		sum.Rules = append(sum.Rules, n)
	}
	return sum
}

// historySnapshots is how many of a device's latest reports the posture
// history compares.
const historySnapshots = 200

// handlePostureHistory answers with what changed in a device's posture and
// when, newest first, over its latest reports.
func handlePostureHistory(logger *slog.Logger, store inventory.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, ok := visibleDevice(w, r, logger, store)
		if !ok {
			return
		}
		snaps, err := store.FindPostureSnapshots(r.Context(), d.ID, historySnapshots)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		changes := inventory.PostureChanges(snaps)
		if changes == nil {
			changes = []inventory.PostureChange{}
		}
		writeJSON(w, http.StatusOK, listJSON[inventory.PostureChange]{Items: changes})
	})
}
