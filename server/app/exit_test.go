package app_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rollcall/rollcall/agent/collect"
	"github.com/rollcall/rollcall/inventory"
	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

type exitJSON struct {
	ID     string   `json:"id"`
	Status string   `json:"status"`
	Open   []string `json:"open"`
	Items  []struct {
		AssetID string                  `json:"asset_id"`
		Source  string                  `json:"source"`
		Steps   map[string]stepDoneJSON `json:"steps"`
	} `json:"items"`
}

type stepDoneJSON struct {
	Note string `json:"note"`
	Auto bool   `json:"auto"`
}

// TestExitCheckIn takes a leaver's check-in from start to completion on
// both stores through the API: it finds the laptop on loan to them, the
// iPad assigned to them and the trolley iPad whose passcode they used;
// refuses steps out of order and sign-offs before the steps; records the
// laptop's factory reset by itself when its agent enrols again with a new
// OS; and on completion puts the kit back in stock, returns the loan,
// retires the PINs and stores the record.
func TestExitCheckIn(t *testing.T) {
	backends(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		store := h.app.Store
		person(t, h, "zoe@school.example", inventory.RoleStaff, "")
		person(t, h, "lm@school.example", inventory.RoleLineManager, "")
		zoe, lm, tech := apiToken(t, h, "zoe@school.example"), apiToken(t, h, "lm@school.example"), h.apiToken
		zoeUser, err := store.FindUserByEmail(ctx, "zoe@school.example")
		if err != nil {
			t.Fatal(err)
		}
		school, err := store.FindSchoolBySlug(ctx, inventory.DefaultSchoolSlug)
		if err != nil {
			t.Fatal(err)
		}

		// The laptop has an agent and is on loan to Zoë.
		id := enroll(t, h.token(t, 1, time.Hour), "SN-LEAVER")
		laptop, err := store.FindAssetByDevice(ctx, deviceBySerial(t, h, "SN-LEAVER").ID)
		if err != nil {
			t.Fatal(err)
		}
		var l loanJSON
		h.callJSON(t, "POST", "/api/v1/loans", zoe, map[string]string{"device_id": laptop.ID.String(), "reason": "Marking"}, &l)
		person(t, h, "head@school.example", inventory.RoleHeadteacher, "")
		h.callJSON(t, "POST", "/api/v1/loans/"+l.ID+"/approve", apiToken(t, h, "head@school.example"), nil, &l)
		h.callJSON(t, "POST", "/api/v1/loans/"+l.ID+"/sign", zoe, map[string]any{"full_name": "Person zoe@school.example", "accept": true}, &l)
		if h.callJSON(t, "POST", "/api/v1/loans/"+l.ID+"/handover", tech, map[string]string{}, &l); l.Status != "on_loan" {
			t.Fatalf("the loan is %s", l.Status)
		}
		assigned := &inventory.Asset{SchoolID: school.ID, Kind: inventory.KindTablet, AssetTag: "IPAD-ZOE", Status: inventory.AssetAssigned, AssignedTo: "zoe@school.example"}
		trolley := &inventory.Asset{SchoolID: school.ID, Kind: inventory.KindTablet, AssetTag: "IPAD-T1", Status: inventory.AssetInStock, Shared: true}
		for _, a := range []*inventory.Asset{assigned, trolley} {
			if err := store.CreateAsset(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		for _, a := range []*inventory.Asset{laptop, trolley} {
			if st, _ := h.call(t, "PUT", "/api/v1/devices/"+a.ID.String()+"/pins/device_passcode", tech, "application/json", []byte(`{"value": "2468"}`)); st != http.StatusOK {
				t.Fatalf("record a PIN = %d", st)
			}
		}
		h.callJSON(t, "POST", "/api/v1/devices/"+trolley.ID.String()+"/pins/device_passcode/use", zoe, map[string]string{}, nil)

		// Start: the three are listed.
		var e exitJSON
		today := time.Now().UTC().Format("2006-01-02")
		if st := h.callJSON(t, "POST", "/api/v1/exits", lm, map[string]string{"person_id": zoeUser.ID.String(), "leaving_date": today}, &e); st != http.StatusCreated || len(e.Items) != 3 {
			t.Fatalf("start = %d, %d items: %+v", st, len(e.Items), e)
		}
		sources := map[string]string{}
		for _, it := range e.Items {
			sources[it.AssetID] = it.Source
		}
		if sources[laptop.ID.String()] != "loan" || sources[assigned.ID.String()] != "assigned" || sources[trolley.ID.String()] != "pin" {
			t.Errorf("items by source: %v", sources)
		}
		st, raw := h.call(t, "POST", "/api/v1/exits", tech, "application/json", []byte(`{"person_id": "`+zoeUser.ID.String()+`", "leaving_date": "`+today+`"}`))
		wantRefused(t, "a second open check-in", st, raw, http.StatusConflict, "open exit check-in")
		st, raw = h.call(t, "POST", "/api/v1/exits", zoe, "application/json", []byte(`{"person_id": "`+zoeUser.ID.String()+`", "leaving_date": "`+today+`"}`))
		wantRefused(t, "staff starting a check-in", st, raw, http.StatusForbidden, "do not let you")

		step := func(token, asset, name, note string) (int, []byte) {
			body := `{"device_id": "` + asset + `", "step": "` + name + `", "note": "` + note + `"}`
			return h.call(t, "POST", "/api/v1/exits/"+e.ID+"/steps", token, "application/json", []byte(body))
		}
		st, raw = step(tech, laptop.ID.String(), "cleared", "")
		wantRefused(t, "clearing before the return", st, raw, http.StatusConflict, "return first")
		st, raw = step(zoe, laptop.ID.String(), "returned", "")
		wantRefused(t, "the leaver recording a step", st, raw, http.StatusForbidden, "never on their own")
		st, raw = h.call(t, "POST", "/api/v1/exits/"+e.ID+"/signoff", tech, "application/json", []byte(`{"as": "technician"}`))
		wantRefused(t, "signing off with steps open", st, raw, http.StatusConflict, "steps open")

		// The laptop comes back and its agent enrols again after a reset: Rollcall notes the reset.
		for _, s := range []string{"returned", "credentials", "account_removed"} {
			if st, raw := step(tech, laptop.ID.String(), s, "done"); st != http.StatusOK {
				t.Fatalf("%s = %d %s", s, st, raw)
			}
		}
		rep, _ := report("SN-LEAVER", "LAPTOP-SN-LEAVER")
		rep.Hardware.OsInstallDate = timestamppb.New(time.Now().Add(time.Minute))
		if _, err := agentClient(t, id).CheckIn(ctx, &agentv1.CheckInRequest{ReportHash: collect.Hash(rep), Report: rep}); err != nil {
			t.Fatal(err)
		}
		h.callJSON(t, "GET", "/api/v1/exits/"+e.ID, tech, nil, &e)
		for _, it := range e.Items {
			if it.AssetID == laptop.ID.String() && (!it.Steps["factory_reset"].Auto || !strings.Contains(it.Steps["factory_reset"].Note, "enrolled again")) {
				t.Errorf("the laptop's reset was not recorded by itself: %+v", it.Steps["factory_reset"])
			}
		}
		st, raw = step(tech, assigned.ID.String(), "factory_reset", "Wiped")
		wantRefused(t, "a reset before the return", st, raw, http.StatusConflict, "return first")
		step(tech, assigned.ID.String(), "returned", "Good")
		st, raw = step(tech, assigned.ID.String(), "factory_reset", "")
		wantRefused(t, "a reset without saying how", st, raw, http.StatusBadRequest, "how the reset was done")
		for _, a := range []string{assigned.ID.String(), trolley.ID.String(), laptop.ID.String()} {
			for _, s := range []string{"returned", "credentials", "account_removed", "factory_reset", "cleared"} {
				if a == laptop.ID.String() && s != "cleared" || a == assigned.ID.String() && s == "returned" {
					continue
				}
				if st, raw := step(tech, a, s, "Erase all content and settings"); st != http.StatusOK {
					t.Fatalf("%s of %s = %d %s", s, a, st, raw)
				}
			}
		}
		// Sign-offs: the leaver, the technician, then the line manager completes it.
		st, raw = h.call(t, "POST", "/api/v1/exits/"+e.ID+"/signoff", lm, "application/json", []byte(`{"as": "leaver"}`))
		wantRefused(t, "someone else confirming for the leaver", st, raw, http.StatusForbidden, "only the leaver")
		for _, s := range []struct{ token, as string }{{zoe, "leaver"}, {tech, "technician"}, {lm, "line_manager"}} {
			if st := h.callJSON(t, "POST", "/api/v1/exits/"+e.ID+"/signoff", s.token, map[string]string{"as": s.as}, &e); st != http.StatusOK {
				t.Fatalf("sign off as %s = %d", s.as, st)
			}
		}
		if e.Status != "completed" || len(e.Open) != 0 {
			t.Fatalf("after every sign-off the check-in is %s, open %v", e.Status, e.Open)
		}
		for _, a := range []*inventory.Asset{laptop, assigned, trolley} {
			got, err := store.FindAssetByID(ctx, a.ID)
			if err != nil || got.Status != inventory.AssetInStock {
				t.Errorf("%s is %s after the check-in (%v)", a.AssetTag, got.Status, err)
			}
			recs, _ := store.FindPINRecords(ctx, a.ID)
			for _, r := range recs {
				if r.RetiredAt.IsZero() {
					t.Errorf("%s's %s PIN is not retired", a.AssetTag, r.Kind)
				}
			}
		}
		if got, err := store.FindLoanByID(ctx, uuid.MustParse(l.ID)); err != nil || got.Status != inventory.LoanReturned {
			t.Errorf("the loan is %v after the check-in (%v)", got.Status, err)
		}
		pdf, err := store.FindExitRecord(ctx, uuid.MustParse(e.ID))
		if err != nil {
			t.Fatal(err)
		}
		if txt := pdfText(t, pdf); !strings.Contains(txt, "Person zoe@school.example") || !strings.Contains(txt, "IPAD-ZOE") || !strings.Contains(txt, "enrolled again") {
			t.Errorf("the record lacks the leaver, the iPad or the reset:\n%s", txt)
		}
		if st, body := h.call(t, "GET", "/api/v1/exits/"+e.ID, zoe, "", nil); st != http.StatusOK || !strings.Contains(string(body), "completed") {
			t.Errorf("the leaver reading their check-in = %d", st)
		}
		for _, action := range []string{"exit.start", "exit.step", "exit.signoff", "exit.complete"} {
			if got, err := store.FindAudit(ctx, inventory.AuditFilter{Action: action}); err != nil || len(got) == 0 {
				t.Errorf("no %s audit entry (%v)", action, err)
			}
		}
	})
}
