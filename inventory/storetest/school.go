package storetest

import (
	"strings"
	"testing"

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

	t.Run("CreateSchool/KeepsGivenIDAndTime", func(t *testing.T) {
		e := su.fresh(t)
		s := &inventory.School{ID: uuid.New(), Slug: "a", Name: "A", CreatedAt: t0}
		want := *s
		want.CreatedAt = ts(t0)
		want.Policy = inventory.DefaultPolicy()
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
