package inventory_test

import (
	"strings"
	"testing"
	"time"

	"github.com/rollcall/rollcall/inventory"
)

func TestRetentionValidate(t *testing.T) {
	with := func(change func(r *inventory.Retention)) inventory.Retention {
		r := inventory.DefaultRetention()
		change(&r)
		return r
	}
	tests := []struct {
		name    string
		r       inventory.Retention
		wantErr string // "" for valid
	}{
		{"Defaults", inventory.DefaultRetention(), ""},
		{"KeepEventsForEver", with(func(r *inventory.Retention) { r.USBEventDays = 0 }), ""},
		{"ShortestAllowed", with(func(r *inventory.Retention) {
			r.USBEventDays, r.PostureDays, r.PINHistoryDays, r.AuditDays, r.LoanDays = 30, 30, 1, 365, 365
		}), ""},
		{"EventsTooShort", with(func(r *inventory.Retention) { r.USBEventDays = 29 }), "USB events: 29 days is outside 30 to 36500, or 0 to keep them for ever"},
		{"Negative", with(func(r *inventory.Retention) { r.PostureDays = -1 }), "Posture history: -1 days"},
		{"PINsNeverForEver", with(func(r *inventory.Retention) { r.PINHistoryDays = 0 }), "Old PIN values: give a number of days from 1 to 3650; these are never kept for ever"},
		{"PINsTooLong", with(func(r *inventory.Retention) { r.PINHistoryDays = 3651 }), "Old PIN values: 3651 days is outside 1 to 3650."},
		{"AuditTooShort", with(func(r *inventory.Retention) { r.AuditDays = 364 }), "Audit log: 364 days"},
		{"LoansTooLong", with(func(r *inventory.Retention) { r.LoanDays = 36501 }), "Ended loans and their signed agreements: 36501 days"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.r.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Validate = %v, want nil", err)
			case tc.wantErr != "" && inventory.ErrorCode(err) != inventory.EINVALID:
				t.Fatalf("Validate = %v, want EINVALID", err)
			case tc.wantErr != "" && !strings.HasPrefix(inventory.ErrorMessage(err)+".", tc.wantErr):
				t.Errorf("Validate = %q, want it to start %q", inventory.ErrorMessage(err), tc.wantErr)
			}
		})
	}
}

func TestDecodeRetention(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want inventory.Retention
	}{
		{"Empty", "", inventory.DefaultRetention()},
		{"Some", `{"usb_events": 90, "loans": 0}`, func() inventory.Retention {
			r := inventory.DefaultRetention()
			r.USBEventDays, r.LoanDays = 90, 0
			return r
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := inventory.DecodeRetention([]byte(tc.doc))
			if err != nil || got != tc.want {
				t.Errorf("DecodeRetention = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
	if _, err := inventory.DecodeRetention([]byte(`{"usb_events": "a year"}`)); err == nil {
		t.Error("DecodeRetention took a period in words")
	}
}

func TestRetentionCutoffs(t *testing.T) {
	now := time.Date(2026, 12, 2, 17, 45, 0, 0, time.UTC)
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	r := inventory.Retention{USBEventDays: 30, PostureDays: 0, PINHistoryDays: 90, AuditDays: 365, LoanDays: 2190}
	got := r.Cutoffs(now)
	want := inventory.RetentionCutoffs{USBEvents: day(2026, 11, 2), PINHistory: day(2026, 9, 3), Loans: day(2020, 12, 3), Today: day(2026, 12, 2)}
	if got != want {
		t.Errorf("Cutoffs = %+v, want %+v", got, want)
	}
	// The same day gives the same cutoffs, whatever its hour.
	if again := r.Cutoffs(day(2026, 12, 2)); again != got {
		t.Errorf("Cutoffs at midnight = %+v, want %+v", again, got)
	}
	// A school whose periods nobody saved deletes only old PIN values.
	sc := &inventory.School{Retention: r}
	if got, want := sc.RetentionCutoffs(now), (inventory.RetentionCutoffs{PINHistory: day(2026, 9, 3), Today: day(2026, 12, 2)}); got != want {
		t.Errorf("cutoffs of a school not set = %+v, want %+v", got, want)
	}
	sc.RetentionSet = true
	if got := sc.RetentionCutoffs(now); got != r.Cutoffs(now) {
		t.Errorf("cutoffs of a school set = %+v, want %+v", got, r.Cutoffs(now))
	}
}

func TestAuditCutoff(t *testing.T) {
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	school := func(days int) *inventory.School {
		return &inventory.School{Retention: inventory.Retention{AuditDays: days}, RetentionSet: true}
	}
	tests := []struct {
		name    string
		schools []*inventory.School
		want    time.Time
	}{
		{"NoSchools", nil, time.Time{}},
		{"One", []*inventory.School{school(365)}, time.Date(2025, 12, 2, 0, 0, 0, 0, time.UTC)},
		{"LongestApplies", []*inventory.School{school(365), school(730), school(400)}, time.Date(2024, 12, 2, 0, 0, 0, 0, time.UTC)},
		{"OneKeepsForEver", []*inventory.School{school(365), school(0)}, time.Time{}},
		{"OneNotSet", []*inventory.School{school(365), {Retention: inventory.Retention{AuditDays: 365}}}, time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := inventory.AuditCutoff(tc.schools, now); !got.Equal(tc.want) {
				t.Errorf("AuditCutoff = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRetentionWords(t *testing.T) {
	tests := []struct {
		name string
		c    inventory.RetentionCounts
		want string
	}{
		{"Nothing", inventory.RetentionCounts{}, "nothing"},
		{"One", inventory.RetentionCounts{USBEvents: 1}, "1 USB event"},
		{"Many", inventory.RetentionCounts{USBEvents: 12, Posture: 3, PINHistory: 1, Loans: 2, Agreements: 1},
			"12 USB events, 3 posture reports, 1 old PIN value, 2 ended loans, 1 signed agreement"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.String(); got != tc.want {
				t.Errorf("String = %q, want %q", got, tc.want)
			}
		})
	}
	extra := inventory.RetentionCounts{USBEvents: 12, Posture: 1, Loans: 2, Agreements: 1}.Extra(inventory.RetentionCounts{USBEvents: 5, Posture: 3, Loans: 2})
	if want := (inventory.RetentionCounts{USBEvents: 7, Agreements: 1}); extra != want {
		t.Errorf("Extra = %+v, want %+v", extra, want)
	}
	if got := (inventory.RetentionCounts{USBEvents: 12, Loans: 2, Agreements: 1}).Total(); got != 14 {
		t.Errorf("Total = %d, want 14 (agreements are counted with their loans)", got)
	}
	a := inventory.DefaultRetention()
	b := a
	b.USBEventDays, b.LoanDays = 180, 0
	if got, want := a.Changes(b), "USB events 365 days → 180 days; Ended loans and their signed agreements 2190 days → for ever"; got != want {
		t.Errorf("Changes = %q, want %q", got, want)
	}
	if got := a.Changes(a); got != "" {
		t.Errorf("Changes of no change = %q", got)
	}
}
