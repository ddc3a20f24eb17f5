package storetest

import (
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

func (e *env) user(email string) *inventory.User {
	e.t.Helper()
	u := &inventory.User{Email: email, Name: "Person " + email, PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"}
	if err := e.s.CreateUser(e.ctx, u); err != nil {
		e.t.Fatalf("CreateUser(%s): %v", email, err)
	}
	return u
}

func (su suite) testUserStore(t *testing.T) {
	t.Run("CreateUser", func(t *testing.T) {
		e := su.fresh(t)
		u := e.user("head@stmarys.sch.uk")
		wantV7(t, "ID", u.ID)
		if u.CreatedAt.IsZero() {
			t.Error("CreatedAt was not filled")
		}
		got, err := e.s.FindUserByID(e.ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "FindUserByID", got, u)
		got, err = e.s.FindUserByEmail(e.ctx, "head@stmarys.sch.uk")
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "FindUserByEmail", got, u)
	})

	t.Run("CreateUser/ErrEmailTaken", func(t *testing.T) {
		e := su.fresh(t)
		e.user("it@school.example")
		err := e.s.CreateUser(e.ctx, &inventory.User{Email: "it@school.example", Name: "Someone else"})
		wantCode(t, err, inventory.ECONFLICT)
		wantMessage(t, err, "it@school.example")
	})

	t.Run("FindUserByID/ErrNotFound", func(t *testing.T) {
		e := su.fresh(t)
		_, err := e.s.FindUserByID(e.ctx, uuid.New())
		wantCode(t, err, inventory.ENOTFOUND)
	})

	t.Run("FindUserByEmail/ErrNotFound", func(t *testing.T) {
		e := su.fresh(t)
		e.user("a@school.example")
		_, err := e.s.FindUserByEmail(e.ctx, "b@school.example")
		wantCode(t, err, inventory.ENOTFOUND)
	})

	t.Run("GrantRole", func(t *testing.T) {
		e := su.fresh(t)
		u := e.user("a@school.example")
		other := e.user("b@school.example")
		sc := e.school("a")
		for _, tc := range []struct {
			name string
			g    inventory.RoleGrant
			code string
		}{
			{"OrgAdmin", inventory.RoleGrant{UserID: u.ID, Role: inventory.RoleOrgAdmin}, ""},
			{"OrgAdminAgain", inventory.RoleGrant{UserID: u.ID, Role: inventory.RoleOrgAdmin}, ""},
			{"Technician", inventory.RoleGrant{UserID: u.ID, SchoolID: sc.ID, Role: inventory.RoleTechnician}, ""},
			{"TechnicianAgain", inventory.RoleGrant{UserID: u.ID, SchoolID: sc.ID, Role: inventory.RoleTechnician}, ""},
			{"Staff", inventory.RoleGrant{UserID: u.ID, SchoolID: sc.ID, Role: inventory.RoleStaff}, ""},
			{"OtherUser", inventory.RoleGrant{UserID: other.ID, SchoolID: sc.ID, Role: inventory.RoleTechnician}, ""},
			{"ErrSchoolNotFound", inventory.RoleGrant{UserID: u.ID, SchoolID: uuid.New(), Role: inventory.RoleAuditor}, inventory.ENOTFOUND},
			{"ErrUserNotFound", inventory.RoleGrant{UserID: uuid.New(), SchoolID: sc.ID, Role: inventory.RoleAuditor}, inventory.ENOTFOUND},
			{"ErrOrgAdminWithSchool", inventory.RoleGrant{UserID: u.ID, SchoolID: sc.ID, Role: inventory.RoleOrgAdmin}, inventory.EINVALID},
			{"ErrTechnicianWithoutSchool", inventory.RoleGrant{UserID: u.ID, Role: inventory.RoleTechnician}, inventory.EINVALID},
			{"ErrUnknownRole", inventory.RoleGrant{UserID: u.ID, SchoolID: sc.ID, Role: "janitor"}, inventory.EINVALID},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantCode(t, e.s.GrantRole(e.ctx, tc.g), tc.code)
			})
		}

		got, err := e.s.FindRoleGrants(e.ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := []inventory.RoleGrant{
			{UserID: u.ID, Role: inventory.RoleOrgAdmin},
			{UserID: u.ID, SchoolID: sc.ID, Role: inventory.RoleStaff},
			{UserID: u.ID, SchoolID: sc.ID, Role: inventory.RoleTechnician},
		}
		equal(t, "FindRoleGrants", got, want)

		got, err = e.s.FindRoleGrants(e.ctx, uuid.New())
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "grants of an unknown user", len(got), 0)
	})

	t.Run("CreateAPIToken", func(t *testing.T) {
		e := su.fresh(t)
		u := e.user("a@school.example")
		h := sha256.Sum256([]byte("token"))
		tok := &inventory.APIToken{UserID: u.ID, Hash: h[:]}
		if err := e.s.CreateAPIToken(e.ctx, tok); err != nil {
			t.Fatal(err)
		}
		wantV7(t, "ID", tok.ID)
		if tok.CreatedAt.IsZero() {
			t.Error("CreatedAt was not filled")
		}
		got, err := e.s.FindAPITokenByHash(e.ctx, h[:])
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "FindAPITokenByHash", got, tok)

		err = e.s.CreateAPIToken(e.ctx, &inventory.APIToken{UserID: u.ID, Hash: h[:]})
		wantCode(t, err, inventory.ECONFLICT)
	})

	t.Run("CreateAPIToken/ErrUserNotFound", func(t *testing.T) {
		e := su.fresh(t)
		h := sha256.Sum256([]byte("token"))
		wantCode(t, e.s.CreateAPIToken(e.ctx, &inventory.APIToken{UserID: uuid.New(), Hash: h[:]}), inventory.ENOTFOUND)
	})

	t.Run("FindAPITokenByHash/ErrNotFound", func(t *testing.T) {
		e := su.fresh(t)
		h := sha256.Sum256([]byte("nothing"))
		_, err := e.s.FindAPITokenByHash(e.ctx, h[:])
		wantCode(t, err, inventory.ENOTFOUND)
	})
}

func (su suite) testTime(t *testing.T) {
	// Times come back in UTC, truncated to microseconds, whatever zone
	// and precision they were given in; the zero time comes back zero.
	t.Run("RoundTrip", func(t *testing.T) {
		e := su.fresh(t)
		zone := time.FixedZone("UTC+5:30", 5*3600+1800)
		for _, tc := range []struct {
			name string
			in   time.Time
		}{
			{"Nanoseconds", time.Date(2025, 3, 30, 0, 59, 59, 999999999, time.UTC)},
			{"OtherZone", time.Date(2025, 10, 26, 1, 30, 0, 123456789, zone)},
			{"Local", time.Date(2026, 1, 1, 0, 0, 0, 1000, time.Local)},
			{"Monotonic", time.Now()},
			{"Early", time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)},
			{"Late", time.Date(2199, 12, 31, 23, 59, 59, 999999000, time.UTC)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				sc := &inventory.School{Slug: "s-" + strings.ToLower(tc.name), Name: "x", CreatedAt: tc.in}
				if err := e.s.CreateSchool(e.ctx, sc); err != nil {
					t.Fatal(err)
				}
				tok := &inventory.EnrollToken{SchoolID: sc.ID, SecretHash: secret(), MaxUses: 1, ExpiresAt: tc.in, CreatedAt: tc.in}
				if err := e.s.CreateEnrollToken(e.ctx, tok); err != nil {
					t.Fatal(err)
				}
				gotSchool, err := e.s.FindSchoolByID(e.ctx, sc.ID)
				if err != nil {
					t.Fatal(err)
				}
				gotTok := e.findToken(tok.ID)
				want := tc.in.UTC().Truncate(time.Microsecond)
				for what, got := range map[string]time.Time{
					"school CreatedAt": gotSchool.CreatedAt,
					"token ExpiresAt":  gotTok.ExpiresAt,
					"token CreatedAt":  gotTok.CreatedAt,
				} {
					if got != want || got.Location() != time.UTC {
						t.Errorf("%s = %s (%s), want %s in UTC", what, got, got.Location(), want)
					}
				}
				if !gotTok.RevokedAt.IsZero() {
					t.Errorf("RevokedAt = %s, want the zero time", gotTok.RevokedAt)
				}
			})
		}
	})
}
