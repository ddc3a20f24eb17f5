package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rollcall/rollcall/agent/collect"
	"github.com/rollcall/rollcall/inventory"
	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

// retentionState is the part of the API's retention answer the tests read.
type retentionState struct {
	Retention inventory.Retention       `json:"retention"`
	InForce   bool                      `json:"in_force"`
	Due       inventory.RetentionCounts `json:"due"`
	DueAudit  int64                     `json:"due_audit_entries"`
	AuditDays int                       `json:"audit_days_applied"`
}

var dueCell = regexp.MustCompile(`data-testid="due-usb_events">(\d+)<`)

// TestRetention sets a school's retention periods on the page and
// through the API, with the preview and the confirmation a deletion
// needs, then runs the sweep: records past their period go, the rest
// stay, each purge is in the audit log, and the audit log, cut at its
// oldest end, still verifies. On both stores.
func TestRetention(t *testing.T) {
	backends(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		store := h.app.Store
		headPW := person(t, h, "head@school.example", inventory.RoleHeadteacher, "")
		head := apiToken(t, h, "head@school.example")
		person(t, h, "zoe@school.example", inventory.RoleStaff, "")
		zoe, tech := apiToken(t, h, "zoe@school.example"), h.apiToken
		school, err := store.FindSchoolBySlug(ctx, inventory.DefaultSchoolSlug)
		if err != nil {
			t.Fatal(err)
		}
		if school.Retention != inventory.DefaultRetention() || school.RetentionSet {
			t.Fatalf("a new school keeps records for %+v (set %v), want the defaults, not yet in force", school.Retention, school.RetentionSet)
		}

		// A laptop with two postures, USB events 200, 60 and 10 days
		// old, a PIN changed once, and a loan that ended.
		id := enroll(t, h.token(t, 1, time.Hour), "SN-KEEP")
		dev := deviceBySerial(t, h, "SN-KEEP")
		rep, _ := report("SN-KEEP", "LAPTOP-KEEP")
		rep.Posture = &agentv1.Posture{Antivirus: &agentv1.Antivirus{Products: []*agentv1.AntivirusProduct{{
			Name: "Windows Defender", Source: "defender", Enabled: true, SignatureUpdated: timestamppb.New(time.Now().Add(-time.Hour)),
		}}}}
		if _, err := agentClient(t, id).CheckIn(ctx, &agentv1.CheckInRequest{Report: rep, ReportHash: collect.Hash(rep)}); err != nil {
			t.Fatal(err)
		}
		usb := func(n int, at time.Time) {
			var evs []*inventory.Event
			for range n {
				evs = append(evs, &inventory.Event{ID: uuid.Must(uuid.NewV7()), Type: inventory.EventUSBInserted, OccurredAt: at,
					Payload: json.RawMessage(`{"device":{"vendor_id":"0781","product_id":"5581","storage":true}}`)})
			}
			if _, err := store.AppendEvents(ctx, dev.ID, evs, at); err != nil {
				t.Fatal(err)
			}
		}
		usb(3, time.Now().AddDate(0, 0, -200))
		usb(2, time.Now().AddDate(0, 0, -60))
		usb(2, time.Now().AddDate(0, 0, -10))
		laptop, err := store.FindAssetByDevice(ctx, dev.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{"1357", "2468"} {
			if st, _ := h.call(t, "PUT", "/api/v1/devices/"+laptop.ID.String()+"/pins/device_passcode", tech, "application/json", []byte(`{"value": "`+v+`"}`)); st != http.StatusOK {
				t.Fatalf("record a PIN = %d", st)
			}
		}
		var l loanJSON
		h.callJSON(t, "POST", "/api/v1/loans", zoe, map[string]string{"device_id": laptop.ID.String(), "reason": "Marking"}, &l)
		h.callJSON(t, "POST", "/api/v1/loans/"+l.ID+"/approve", head, nil, &l)
		h.callJSON(t, "POST", "/api/v1/loans/"+l.ID+"/sign", zoe, map[string]any{"full_name": "Person zoe@school.example", "accept": true}, &l)
		h.callJSON(t, "POST", "/api/v1/loans/"+l.ID+"/handover", tech, map[string]string{}, &l)
		if h.callJSON(t, "POST", "/api/v1/loans/"+l.ID+"/return", tech, map[string]string{"condition": "Good"}, &l); l.Status != "returned" {
			t.Fatalf("the loan is %s", l.Status)
		}
		var before struct{ Items []json.RawMessage }
		h.get(t, "/api/v1/devices/"+dev.ID.String()+"/posture-history", tech, &before)

		// Until the headteacher saves the periods, the sweep deletes
		// nothing for its age, and the page says so.
		h.app.SweepOnce(ctx, time.Now())
		if n := countEvents(t, h, dev.ID); n != 7 {
			t.Errorf("the sweep deleted events before any period was saved: %d left of 7", n)
		}
		b := newBrowser(t, h)
		b.signIn("head@school.example", headPW)
		st, _, page := b.do("GET", "/retention", nil)
		if st != http.StatusOK || !strings.Contains(page, `name="usb_events" min="0" max="36500" value="365"`) || dueOf(page) != "0" || !strings.Contains(page, "Not in force yet") {
			t.Fatalf("retention page = %d, due %q:\n%.3000s", st, dueOf(page), page)
		}
		// A preview of 100 days says the 3 old events would go, and saves nothing.
		form := url.Values{"school": {"default"}, "usb_events": {"100"}, "posture_history": {"365"}, "pin_history": {"90"}, "audit_log": {"2190"}, "loans": {"2190"}, "preview": {"1"}}
		st, _, page = b.do("GET", "/retention?"+form.Encode(), nil)
		if st != http.StatusOK || dueOf(page) != "3" || !strings.Contains(page, "Saving them deletes <strong>3</strong> more records within 5 minutes: 3 USB events.") {
			t.Errorf("preview = %d, due %q:\n%.3000s", st, dueOf(page), page)
		}
		form.Del("preview")
		form.Del("school")
		// Saving without the confirmation is refused, naming what would go.
		st, _, page = b.post("/retention/default", form)
		if st != http.StatusBadRequest || !strings.Contains(page, "3 USB events") || !strings.Contains(page, `name="confirm"`) ||
			!strings.Contains(page, `name="confirm_for" value="100,365,90,2190,2190"`) {
			t.Errorf("save without confirming = %d:\n%.3000s", st, page)
		}
		// A box ticked for 100 days does not confirm 30.
		shorter := url.Values{"usb_events": {"30"}, "posture_history": {"365"}, "pin_history": {"90"}, "audit_log": {"2190"}, "loans": {"2190"},
			"confirm": {"on"}, "confirm_for": {"100,365,90,2190,2190"}}
		if st, _, page = b.post("/retention/default", shorter); st != http.StatusBadRequest || !strings.Contains(page, "5 USB events") || !strings.Contains(page, `value="30"`) {
			t.Errorf("save 30 days confirmed for 100 = %d:\n%.3000s", st, page)
		}
		// A period out of range is refused by name.
		bad := url.Values{"usb_events": {"7"}, "posture_history": {"365"}, "pin_history": {"90"}, "audit_log": {"2190"}, "loans": {"2190"}}
		if st, _, page = b.post("/retention/default", bad); st != http.StatusBadRequest || !strings.Contains(page, "USB events: 7 days is outside 30 to 36500") {
			t.Errorf("save 7 days = %d:\n%.3000s", st, page)
		}
		if sc, _ := store.FindSchoolByID(ctx, school.ID); sc.Retention != inventory.DefaultRetention() || sc.RetentionSet {
			t.Fatalf("refused saves changed the periods to %+v (set %v)", sc.Retention, sc.RetentionSet)
		}
		form.Set("confirm", "on")
		form.Set("confirm_for", "100,365,90,2190,2190")
		if st, loc, page := b.post("/retention/default", form); st != http.StatusSeeOther || !strings.Contains(loc, "done=saved") {
			t.Fatalf("save confirmed = %d to %q:\n%.2000s", st, loc, page)
		}
		if sc, _ := store.FindSchoolByID(ctx, school.ID); sc.Retention.USBEventDays != 100 || !sc.RetentionSet {
			t.Fatalf("saved periods are %+v (set %v)", sc.Retention, sc.RetentionSet)
		}
		if e := lastAudit(t, h, "retention.change"); e == nil || e.Actor != "head@school.example" || !strings.HasPrefix(e.Detail, "periods set, so the purge starts: USB events 100 days; Posture history 365 days;") {
			t.Errorf("audit entry of the change = %+v", e)
		}

		// The API: the technician reads but may not change; the
		// headteacher's change is refused without "confirm" and for an
		// unknown field or a period never kept for ever.
		var ret retentionState
		if st := h.callJSON(t, "GET", "/api/v1/schools/default/retention", tech, nil, &ret); st != http.StatusOK || ret.Retention.USBEventDays != 100 || ret.Due.USBEvents != 3 || ret.AuditDays != 2190 || !ret.InForce {
			t.Errorf("GET retention = %d %+v", st, ret)
		}
		st, raw := h.call(t, "PUT", "/api/v1/schools/default/retention", tech, "application/json", []byte(`{"usb_events": 30}`))
		wantRefused(t, "a technician's change", st, raw, http.StatusForbidden, "headteacher")
		// 30 days adds the two 60-day-old events to the three already due.
		st, raw = h.call(t, "PUT", "/api/v1/schools/default/retention", head, "application/json", []byte(`{"usb_events": 30}`))
		wantRefused(t, "a change without confirm", st, raw, http.StatusConflict, "deletes 2 more records, older than them, within 5 minutes: 2 USB events")
		st, raw = h.call(t, "PUT", "/api/v1/schools/default/retention", head, "application/json", []byte(`{"pin_history": 0}`))
		wantRefused(t, "old PINs for ever", st, raw, http.StatusBadRequest, "Old PIN values")
		st, raw = h.call(t, "PUT", "/api/v1/schools/default/retention", head, "application/json", []byte(`{"usb_event": 90}`))
		wantRefused(t, "an unknown field", st, raw, http.StatusBadRequest, "usb_event")
		if st := h.callJSON(t, "PUT", "/api/v1/schools/default/retention", head, map[string]any{"posture_history": 400, "confirm": true}, &ret); st != http.StatusOK || ret.Retention.PostureDays != 400 || ret.Retention.USBEventDays != 100 {
			t.Errorf("PUT retention = %d %+v", st, ret)
		}

		// The sweep deletes the 3 old events, once, and says so.
		h.app.SweepOnce(ctx, time.Now())
		h.app.SweepOnce(ctx, time.Now())
		if n := countEvents(t, h, dev.ID); n != 4 {
			t.Errorf("%d USB events left, want the 4 younger than 100 days", n)
		}
		purges := auditOf(t, h, inventory.AuditActionRetentionPurge)
		if len(purges) != 1 || purges[0].Detail != "deleted at the end of their retention periods: 3 USB events" || purges[0].SchoolID != school.ID {
			t.Errorf("purge entries = %s", dumpAudit(purges))
		}
		if _, _, page = b.do("GET", "/retention", nil); !strings.Contains(page, "3 USB events") || dueOf(page) != "0" {
			t.Errorf("retention page after the purge does not list it:\n%.3000s", page)
		}

		// Seven years on, everything of its age goes: the events, the old
		// posture (the latest stays), the old PIN value, the loan with its
		// signed agreement, and the audit log up to the purge.
		later := time.Now().AddDate(7, 0, 0)
		h.app.SweepOnce(ctx, later)
		if logs := h.logs.String(); strings.Contains(logs, "purge records at the end of their retention") {
			t.Errorf("the sweep failed to purge:\n%s", logs)
		}
		if n := countEvents(t, h, dev.ID); n != 0 {
			t.Errorf("%d USB events left after 7 years", n)
		}
		var after struct{ Items []json.RawMessage }
		h.get(t, "/api/v1/devices/"+dev.ID.String()+"/posture-history", tech, &after)
		if len(after.Items) >= len(before.Items) {
			t.Errorf("posture history has %d changes after 7 years, %d before", len(after.Items), len(before.Items))
		}
		var device struct {
			Posture inventory.Posture `json:"posture"`
		}
		if h.get(t, "/api/v1/devices/"+dev.ID.String(), tech, &device); device.Posture.Antivirus == nil {
			t.Error("the laptop's latest posture went with its history")
		}
		rec, err := store.FindPINRecord(ctx, laptop.ID, inventory.PINDevicePasscode)
		if err != nil {
			t.Fatal(err)
		}
		if hist, err := store.FindPINHistory(ctx, rec.ID); err != nil || len(hist) != 0 {
			t.Errorf("old PIN values after 7 years: %d, %v", len(hist), err)
		}
		if st, raw := h.call(t, "GET", "/api/v1/loans/"+l.ID, tech, "", nil); st != http.StatusNotFound {
			t.Errorf("GET the ended loan after 7 years = %d %s", st, raw)
		}
		if _, err := store.FindAgreement(ctx, uuid.MustParse(l.ID)); inventory.ErrorCode(err) != inventory.ENOTFOUND {
			t.Errorf("the signed agreement after 7 years: %v", err)
		}
		all := auditOf(t, h, "")
		if len(all) != 2 || all[0].Action != inventory.AuditActionRetentionPurge || all[1].Action != inventory.AuditActionPurge ||
			!strings.Contains(all[0].Detail, "4 USB events") || !strings.Contains(all[0].Detail, "1 old PIN value, 1 ended loan, 1 signed agreement") {
			t.Errorf("audit log after 7 years = %s", dumpAudit(all))
		}
		n, err := inventory.VerifyAudit(ctx, store)
		if err != nil || n != 2 {
			t.Errorf("VerifyAudit after the cut = %d, %v", n, err)
		}
		// New entries go on from the cut, and the chain still holds.
		if st := h.callJSON(t, "PUT", "/api/v1/schools/default/retention", head, map[string]any{"posture_history": 365}, &ret); st != http.StatusOK {
			t.Errorf("PUT retention after the cut = %d", st)
		}
		if n, err := inventory.VerifyAudit(ctx, store); err != nil || n != 3 {
			t.Errorf("VerifyAudit after one more entry = %d, %v", n, err)
		}
	})
}

// dueOf reads how many USB events the retention page says are due.
func dueOf(page string) string {
	if m := dueCell.FindStringSubmatch(page); m != nil {
		return m[1]
	}
	return ""
}

// countEvents counts a device's events.
func countEvents(t *testing.T, h *harness, device uuid.UUID) int {
	t.Helper()
	evs, err := h.app.Store.FindEvents(context.Background(), inventory.EventFilter{DeviceID: device, Limit: inventory.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// auditOf returns the audit entries whose action starts with prefix,
// oldest first.
func auditOf(t *testing.T, h *harness, prefix string) []*inventory.AuditEntry {
	t.Helper()
	var all []*inventory.AuditEntry
	err := h.app.Store.WalkAudit(context.Background(), func(e *inventory.AuditEntry) error {
		if strings.HasPrefix(e.Action, prefix) {
			all = append(all, e)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// lastAudit returns the newest audit entry of an action, or nil.
func lastAudit(t *testing.T, h *harness, action string) *inventory.AuditEntry {
	t.Helper()
	all := auditOf(t, h, action)
	if len(all) == 0 {
		return nil
	}
	return all[len(all)-1]
}

// dumpAudit lists entries for a failure message.
func dumpAudit(all []*inventory.AuditEntry) string {
	var b strings.Builder
	for _, e := range all {
		b.WriteString("\n  " + e.Action + " " + e.Record + ": " + e.Detail)
	}
	return b.String()
}
