package storetest

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

func (su suite) testSchoolStore(t *testing.T) {
	t.Run("CreateSchool", func(t *testing.T) {
		e := su.fresh(t)
		s := &inventory.School{Slug: "st-marys", Name: "St Mary's Primary"}
		if err := e.s.CreateSchool(e.ctx, s); err != nil {
			t.Fatal(err)
		}
		wantV7(t, "ID", s.ID)
		if s.CreatedAt.IsZero() {
			t.Error("CreatedAt was not filled")
		}
		got, err := e.s.FindSchoolByID(e.ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "FindSchoolByID", got, s)
		got, err = e.s.FindSchoolBySlug(e.ctx, "st-marys")
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "FindSchoolBySlug", got, s)
	})

	t.Run("SetSchoolPolicy", func(t *testing.T) {
		e := su.fresh(t)
		a, b := e.school("a"), e.school("b")
		equal(t, "new school's policy", a.Policy, inventory.DefaultPolicy())
		p := inventory.DefaultPolicy()
		p.MaxIdleLockMinutes, p.RequireAntivirus, p.MaxDaysUnseen = 5, false, 0
		if err := e.s.SetSchoolPolicy(e.ctx, a.ID, p); err != nil {
			t.Fatal(err)
		}
		got, err := e.s.FindSchoolByID(e.ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "stored policy", got.Policy, p)
		other, _ := e.s.FindSchoolBySlug(e.ctx, "b")
		equal(t, "other school's policy", other.Policy, b.Policy)

		bad := p
		bad.MaxSignatureAgeDays = 0
		wantCode(t, e.s.SetSchoolPolicy(e.ctx, a.ID, bad), inventory.EINVALID)
		got, _ = e.s.FindSchoolByID(e.ctx, a.ID)
		equal(t, "policy after a refused change", got.Policy, p)
		wantCode(t, e.s.SetSchoolPolicy(e.ctx, uuid.New(), p), inventory.ENOTFOUND)
	})

	t.Run("SetSchoolPolicy/MakesVerdictsDue", func(t *testing.T) {
		// A policy change sets the Until of every verdict of the school's
		// devices to the store's time, so that they are all due; the
		// verdicts are otherwise kept, and other schools' are untouched.
		e := su.fresh(t)
		a, b := e.school("a"), e.school("b")
		ta, tb := e.token(a.ID, 10), e.token(b.ID, 10)
		far := ts(time.Date(2199, 1, 1, 0, 0, 0, 0, time.UTC))
		verdicts := []inventory.Verdict{
			{},
			{Status: inventory.StatusCompliant},
			{Status: inventory.StatusCompliant, Until: far},
			{Status: inventory.StatusNoncompliant, Failing: []string{inventory.RuleEncryption}, Until: far},
			{Status: inventory.StatusUnknown, Unknown: []string{inventory.RuleScreenLock}},
		}
		var devices []*inventory.Device // a's, then b's
		for _, tok := range []*inventory.EnrollToken{ta, tb} {
			for i, v := range verdicts {
				r := enrollRequest(tok, fmt.Sprintf("SN%d", i))
				r.Verdict = v
				d, err := e.s.EnrollDevice(e.ctx, r)
				if err != nil {
					t.Fatal(err)
				}
				devices = append(devices, d)
			}
		}
		dueIDs := func(school uuid.UUID, by time.Time) []uuid.UUID {
			t.Helper()
			f := inventory.DeviceFilter{SchoolIDs: []uuid.UUID{school}, DueBy: by}
			ds, err := e.s.FindDevices(e.ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			ids := []uuid.UUID{}
			for _, d := range ds {
				ids = append(ids, d.ID)
			}
			c, err := e.s.CountDevices(e.ctx, f, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			n, err := e.s.CountDevicesUpTo(e.ctx, f, 100)
			if err != nil {
				t.Fatal(err)
			}
			if c.Total != len(ids) || n != len(ids) {
				t.Fatalf("due devices: %d listed, %d counted, %d counted up to 100", len(ids), c.Total, n)
			}
			return ids
		}
		unjudged := func(ds []*inventory.Device) []uuid.UUID {
			ids := []uuid.UUID{}
			for _, d := range ds {
				if d.Verdict.Status == "" {
					ids = append(ids, d.ID)
				}
			}
			return ids
		}
		allIDs := func(ds []*inventory.Device) []uuid.UUID {
			ids := []uuid.UUID{}
			for _, d := range ds {
				ids = append(ids, d.ID)
			}
			slices.SortFunc(ids, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
			return ids
		}
		as, bs := devices[:len(verdicts)], devices[len(verdicts):]
		equal(t, "a's devices due before", dueIDs(a.ID, time.Now()), unjudged(as))

		// Refused changes make nothing due.
		bad := inventory.DefaultPolicy()
		bad.MaxSignatureAgeDays = 0
		wantCode(t, e.s.SetSchoolPolicy(e.ctx, a.ID, bad), inventory.EINVALID)
		wantCode(t, e.s.SetSchoolPolicy(e.ctx, uuid.New(), inventory.DefaultPolicy()), inventory.ENOTFOUND)
		equal(t, "a's devices due after refused changes", dueIDs(a.ID, time.Now()), unjudged(as))

		p := inventory.DefaultPolicy()
		p.MaxIdleLockMinutes = 5
		before := time.Now()
		if err := e.s.SetSchoolPolicy(e.ctx, a.ID, p); err != nil {
			t.Fatal(err)
		}
		after := time.Now()
		var until time.Time
		for i, d := range as {
			got := e.findDevice(d.ID)
			if i == 0 {
				until = got.Verdict.Until
				if until.Before(ts(before)) || until.After(after) || until != ts(until) {
					t.Fatalf("Until after the change = %v, want the store's time, between %v and %v", until, before, after)
				}
			}
			want := *d
			want.Verdict.Until = until
			equal(t, fmt.Sprintf("a's device %d after the change", i), got, &want)
		}
		for i, d := range bs {
			equal(t, fmt.Sprintf("b's device %d after a's change", i), e.findDevice(d.ID), d)
		}
		equal(t, "a's devices due at the change", dueIDs(a.ID, until), allIDs(as))
		equal(t, "a's devices due just before the change", dueIDs(a.ID, until.Add(-time.Microsecond)), unjudged(as))
		equal(t, "b's devices due after a's change", dueIDs(b.ID, time.Now()), unjudged(bs))
		got, err := e.s.FindSchoolByID(e.ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "policy stored with the change", got.Policy, p)
	})

	t.Run("CreateSchool/KeepsGivenIDAndTime", func(t *testing.T) {
		e := su.fresh(t)
		s := &inventory.School{ID: uuid.New(), Slug: "a", Name: "A", CreatedAt: t0}
		want := *s
		want.CreatedAt = ts(t0)
		want.Policy = inventory.DefaultPolicy()
		want.Retention, want.RetentionSet = inventory.DefaultRetention(), false // nobody saved periods
		if err := e.s.CreateSchool(e.ctx, s); err != nil {
			t.Fatal(err)
		}
		got, err := e.s.FindSchoolByID(e.ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "school", got, &want)
		equal(t, "filled school", s, &want)
	})

	t.Run("CreateSchool/ErrSlugTaken", func(t *testing.T) {
		e := su.fresh(t)
		e.school("st-marys")
		s := &inventory.School{Slug: "st-marys", Name: "Another"}
		err := e.s.CreateSchool(e.ctx, s)
		wantCode(t, err, inventory.ECONFLICT)
		wantMessage(t, err, "st-marys")
		if s.ID != uuid.Nil {
			t.Errorf("ID = %s after a failed create, want it left zero", s.ID)
		}
	})

	t.Run("CreateSchool/ErrIDTaken", func(t *testing.T) {
		e := su.fresh(t)
		a := e.school("a")
		err := e.s.CreateSchool(e.ctx, &inventory.School{ID: a.ID, Slug: "b", Name: "B"})
		wantCode(t, err, inventory.ECONFLICT)
	})

	t.Run("CreateSchool/ErrInvalid", func(t *testing.T) {
		e := su.fresh(t)
		for _, tc := range []struct {
			name string
			s    inventory.School
		}{
			{"EmptySlug", inventory.School{Slug: "", Name: "x"}},
			{"UpperCaseSlug", inventory.School{Slug: "St-Marys", Name: "x"}},
			{"SpaceInSlug", inventory.School{Slug: "st marys", Name: "x"}},
			{"LeadingHyphen", inventory.School{Slug: "-x", Name: "x"}},
			{"LongSlug", inventory.School{Slug: strings.Repeat("a", 64), Name: "x"}},
			{"NoName", inventory.School{Slug: "x", Name: ""}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantCode(t, e.s.CreateSchool(e.ctx, &tc.s), inventory.EINVALID)
			})
		}
		all, err := e.s.FindSchools(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 0 {
			t.Errorf("%d schools stored after invalid creates, want 0", len(all))
		}
	})

	t.Run("FindSchoolByID/ErrNotFound", func(t *testing.T) {
		e := su.fresh(t)
		_, err := e.s.FindSchoolByID(e.ctx, uuid.New())
		wantCode(t, err, inventory.ENOTFOUND)
	})

	t.Run("FindSchoolBySlug/ErrNotFound", func(t *testing.T) {
		e := su.fresh(t)
		e.school("a")
		_, err := e.s.FindSchoolBySlug(e.ctx, "b")
		wantCode(t, err, inventory.ENOTFOUND)
	})

	t.Run("FindSchools", func(t *testing.T) {
		e := su.fresh(t)
		all, err := e.s.FindSchools(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 0 {
			t.Fatalf("new store has %d schools, want 0", len(all))
		}
		c, a, b := e.school("c"), e.school("a"), e.school("b")
		all, err = e.s.FindSchools(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "FindSchools", all, []*inventory.School{a, b, c})
	})

	t.Run("EnsureDefaultSchool", func(t *testing.T) {
		e := su.fresh(t)
		for range 2 {
			if err := inventory.EnsureDefaultSchool(e.ctx, e.s); err != nil {
				t.Fatal(err)
			}
		}
		all, err := e.s.FindSchools(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 1 || all[0].Slug != inventory.DefaultSchoolSlug {
			t.Fatalf("FindSchools = %s, want just the default school", dump(all))
		}
	})
}
