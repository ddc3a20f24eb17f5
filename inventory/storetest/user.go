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

	su.testUserAccounts(t)
	su.testRecoveryCodes(t)
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

// findUser returns the stored user with this ID.
func (e *env) findUser(id uuid.UUID) *inventory.User {
	e.t.Helper()
	u, err := e.s.FindUserByID(e.ctx, id)
	if err != nil {
		e.t.Fatalf("FindUserByID: %v", err)
	}
	return u
}

// grant gives a user a role, in school or (uuid.Nil) organisation-wide.
func (e *env) grant(user, school uuid.UUID, role inventory.Role) {
	e.t.Helper()
	if err := e.s.GrantRole(e.ctx, inventory.RoleGrant{UserID: user, SchoolID: school, Role: role}); err != nil {
		e.t.Fatalf("GrantRole(%s): %v", role, err)
	}
}

// grants returns a user's grants.
func (e *env) grants(user uuid.UUID) []inventory.RoleGrant {
	e.t.Helper()
	gs, err := e.s.FindRoleGrants(e.ctx, user)
	if err != nil {
		e.t.Fatalf("FindRoleGrants: %v", err)
	}
	return gs
}

// emails returns the users' emails in order.
func emails(us []*inventory.User) []string {
	out := []string{}
	for _, u := range us {
		out = append(out, u.Email)
	}
	return out
}

// testUserAccounts tests the people-management methods of UserStore.
func (su suite) testUserAccounts(t *testing.T) {
	t.Run("CreateUser/AllFields", func(t *testing.T) {
		e := su.fresh(t)
		zone := time.FixedZone("UTC+1", 3600)
		in := &inventory.User{
			Email:           "Mixed.Case@School.Example",
			Name:            "Mixed Case",
			PasswordHash:    "hash",
			CreatedAt:       t0.In(zone),
			DisabledAt:      t0.Add(time.Hour).In(zone),
			TOTPSealed:      []byte{0, 1, 2, 0xff},
			TOTPConfirmedAt: t0.Add(time.Minute),
			TOTPLastStep:    58_000_000,
		}
		if err := e.s.CreateUser(e.ctx, in); err != nil {
			t.Fatal(err)
		}
		want := &inventory.User{
			ID: in.ID, Email: "mixed.case@school.example", Name: "Mixed Case", PasswordHash: "hash",
			CreatedAt: ts(t0), DisabledAt: ts(t0.Add(time.Hour)), TOTPSealed: []byte{0, 1, 2, 0xff},
			TOTPConfirmedAt: ts(t0.Add(time.Minute)), TOTPLastStep: 58_000_000,
		}
		equal(t, "CreateUser result", in, want)
		equal(t, "FindUserByID", e.findUser(in.ID), want)
		got, err := e.s.FindUserByEmail(e.ctx, "MIXED.case@school.example")
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "FindUserByEmail", got, want)
		all, err := e.s.FindUsers(e.ctx, inventory.UserFilter{})
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "FindUsers", all, []*inventory.User{want})
		if !got.Disabled() {
			t.Error("Disabled() = false for a user with DisabledAt")
		}

		// A user without the new fields reads them back zero and nil.
		plain := e.user("plain@school.example")
		equal(t, "plain user", e.findUser(plain.ID), plain)
		if plain.TOTPSealed != nil || plain.Disabled() {
			t.Errorf("plain user = %+v, want no TOTP and enabled", plain)
		}
	})

	t.Run("FindUsers", func(t *testing.T) {
		e := su.fresh(t)
		a, b := e.school("a"), e.school("b")
		// Created out of email order, to check the order.
		techA := e.user("tech-a@school.example")
		admin := e.user("admin@school.example")
		staffB := e.user("staff-b@school.example")
		e.user("nobody@school.example")
		both := e.user("both@school.example")
		e.grant(techA.ID, a.ID, inventory.RoleTechnician)
		e.grant(admin.ID, uuid.Nil, inventory.RoleOrgAdmin)
		e.grant(staffB.ID, b.ID, inventory.RoleStaff)
		e.grant(both.ID, a.ID, inventory.RoleAuditor)
		e.grant(both.ID, b.ID, inventory.RoleHeadteacher)
		e.grant(both.ID, b.ID, inventory.RoleStaff)
		for _, tc := range []struct {
			name    string
			schools []uuid.UUID
			want    []string
		}{
			{"Everyone", nil, []string{"admin@school.example", "both@school.example", "nobody@school.example", "staff-b@school.example", "tech-a@school.example"}},
			{"SchoolA", []uuid.UUID{a.ID}, []string{"admin@school.example", "both@school.example", "tech-a@school.example"}},
			{"SchoolB", []uuid.UUID{b.ID}, []string{"admin@school.example", "both@school.example", "staff-b@school.example"}},
			{"BothSchools", []uuid.UUID{a.ID, b.ID}, []string{"admin@school.example", "both@school.example", "staff-b@school.example", "tech-a@school.example"}},
			{"NoSchools", []uuid.UUID{}, []string{"admin@school.example"}},
			{"UnknownSchool", []uuid.UUID{uuid.New()}, []string{"admin@school.example"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := e.s.FindUsers(e.ctx, inventory.UserFilter{SchoolIDs: tc.schools})
				if err != nil {
					t.Fatal(err)
				}
				equal(t, "emails", emails(got), tc.want)
			})
		}
		got, err := e.s.FindUsers(e.ctx, inventory.UserFilter{SchoolIDs: []uuid.UUID{a.ID}})
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "FindUsers user", got[2], techA)
	})

	t.Run("RevokeRole", func(t *testing.T) {
		e := su.fresh(t)
		u := e.user("a@school.example")
		sc := e.school("a")
		e.grant(u.ID, uuid.Nil, inventory.RoleOrgAdmin)
		e.grant(u.ID, sc.ID, inventory.RoleTechnician)
		e.grant(u.ID, sc.ID, inventory.RoleStaff)
		for _, tc := range []struct {
			name string
			g    inventory.RoleGrant
			code string
			want []inventory.RoleGrant
		}{
			{"Technician", inventory.RoleGrant{UserID: u.ID, SchoolID: sc.ID, Role: inventory.RoleTechnician}, "",
				[]inventory.RoleGrant{{UserID: u.ID, Role: inventory.RoleOrgAdmin}, {UserID: u.ID, SchoolID: sc.ID, Role: inventory.RoleStaff}}},
			{"TechnicianAgain", inventory.RoleGrant{UserID: u.ID, SchoolID: sc.ID, Role: inventory.RoleTechnician}, "",
				[]inventory.RoleGrant{{UserID: u.ID, Role: inventory.RoleOrgAdmin}, {UserID: u.ID, SchoolID: sc.ID, Role: inventory.RoleStaff}}},
			{"NotHeldInOtherSchool", inventory.RoleGrant{UserID: u.ID, SchoolID: uuid.New(), Role: inventory.RoleStaff}, "",
				[]inventory.RoleGrant{{UserID: u.ID, Role: inventory.RoleOrgAdmin}, {UserID: u.ID, SchoolID: sc.ID, Role: inventory.RoleStaff}}},
			{"OrgAdmin", inventory.RoleGrant{UserID: u.ID, Role: inventory.RoleOrgAdmin}, "",
				[]inventory.RoleGrant{{UserID: u.ID, SchoolID: sc.ID, Role: inventory.RoleStaff}}},
			{"ErrUserNotFound", inventory.RoleGrant{UserID: uuid.New(), SchoolID: sc.ID, Role: inventory.RoleStaff}, inventory.ENOTFOUND,
				[]inventory.RoleGrant{{UserID: u.ID, SchoolID: sc.ID, Role: inventory.RoleStaff}}},
			{"ErrInvalid", inventory.RoleGrant{UserID: u.ID, Role: inventory.RoleStaff}, inventory.EINVALID,
				[]inventory.RoleGrant{{UserID: u.ID, SchoolID: sc.ID, Role: inventory.RoleStaff}}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantCode(t, e.s.RevokeRole(e.ctx, tc.g), tc.code)
				equal(t, "grants", e.grants(u.ID), tc.want)
			})
		}
	})

	t.Run("SetPassword", func(t *testing.T) {
		e := su.fresh(t)
		u := e.user("a@school.example")
		other := e.user("b@school.example")
		if err := e.s.SetPassword(e.ctx, u.ID, "new-hash"); err != nil {
			t.Fatal(err)
		}
		u.PasswordHash = "new-hash"
		equal(t, "user", e.findUser(u.ID), u)
		equal(t, "other user", e.findUser(other.ID), other)
		err := e.s.SetPassword(e.ctx, uuid.New(), "x")
		wantCode(t, err, inventory.ENOTFOUND)
	})

	t.Run("SetUserDisabled", func(t *testing.T) {
		e := su.fresh(t)
		u := e.user("a@school.example")
		other := e.user("b@school.example")
		mine := []*inventory.Session{e.session(u.ID), e.session(u.ID)}
		theirs := e.session(other.ID)

		at := t0.Add(time.Hour)
		if err := e.s.SetUserDisabled(e.ctx, u.ID, at); err != nil {
			t.Fatal(err)
		}
		u.DisabledAt = ts(at)
		equal(t, "disabled user", e.findUser(u.ID), u)
		for _, s := range mine {
			_, err := e.s.FindSessionByHash(e.ctx, s.Hash)
			wantCode(t, err, inventory.ENOTFOUND)
		}
		equal(t, "other user's session", e.findSession(theirs.Hash), theirs)
		equal(t, "other user", e.findUser(other.ID), other)

		if err := e.s.SetUserDisabled(e.ctx, u.ID, time.Time{}); err != nil {
			t.Fatal(err)
		}
		u.DisabledAt = time.Time{}
		equal(t, "enabled user", e.findUser(u.ID), u)

		// Enabling keeps sessions.
		s := e.session(u.ID)
		if err := e.s.SetUserDisabled(e.ctx, u.ID, time.Time{}); err != nil {
			t.Fatal(err)
		}
		equal(t, "session after enabling", e.findSession(s.Hash), s)

		wantCode(t, e.s.SetUserDisabled(e.ctx, uuid.New(), at), inventory.ENOTFOUND)
	})

	t.Run("SetTOTP", func(t *testing.T) {
		e := su.fresh(t)
		u := e.user("a@school.example")
		for _, tc := range []struct {
			name        string
			sealed      []byte
			confirmedAt time.Time
			wantSealed  []byte
			wantConfAt  time.Time
		}{
			{"Unconfirmed", []byte("sealed-1"), time.Time{}, []byte("sealed-1"), time.Time{}},
			{"Confirmed", []byte("sealed-1"), t0, []byte("sealed-1"), ts(t0)},
			{"Replaced", []byte("sealed-2"), t0.Add(time.Hour), []byte("sealed-2"), ts(t0.Add(time.Hour))},
			{"Removed", nil, t0, nil, time.Time{}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if err := e.s.UseTOTPStep(e.ctx, u.ID, 1000); err != nil { // after the reset to 0
					t.Fatal(err)
				}
				if err := e.s.SetTOTP(e.ctx, u.ID, tc.sealed, tc.confirmedAt); err != nil {
					t.Fatal(err)
				}
				u.TOTPSealed, u.TOTPConfirmedAt, u.TOTPLastStep = tc.wantSealed, tc.wantConfAt, 0
				equal(t, "user", e.findUser(u.ID), u)
			})
		}
		wantCode(t, e.s.SetTOTP(e.ctx, uuid.New(), []byte("x"), t0), inventory.ENOTFOUND)
	})

	t.Run("UseTOTPStep", func(t *testing.T) {
		e := su.fresh(t)
		u := e.user("a@school.example")
		other := e.user("b@school.example")
		for _, tc := range []struct {
			name string
			step int64
			code string
			last int64
		}{
			{"ErrZero", 0, inventory.ECONFLICT, 0},
			{"First", 58_000_000, "", 58_000_000},
			{"ErrReplay", 58_000_000, inventory.ECONFLICT, 58_000_000},
			{"ErrEarlier", 57_999_999, inventory.ECONFLICT, 58_000_000},
			{"Next", 58_000_001, "", 58_000_001},
			{"Skip", 58_000_010, "", 58_000_010},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := e.s.UseTOTPStep(e.ctx, u.ID, tc.step)
				wantCode(t, err, tc.code)
				if tc.code != "" {
					wantMessage(t, err, "used already")
				}
				equal(t, "TOTPLastStep", e.findUser(u.ID).TOTPLastStep, tc.last)
			})
		}
		equal(t, "other user's TOTPLastStep", e.findUser(other.ID).TOTPLastStep, int64(0))
		wantCode(t, e.s.UseTOTPStep(e.ctx, uuid.New(), 1), inventory.ENOTFOUND)
	})

	t.Run("UseTOTPStep/Concurrent", func(t *testing.T) {
		// Of several requests using one code at once, exactly one wins.
		e := su.fresh(t)
		u := e.user("a@school.example")
		const n = 8
		errs := make(chan error, n)
		for range n {
			go func() { errs <- e.s.UseTOTPStep(e.ctx, u.ID, 42) }()
		}
		ok := 0
		for range n {
			switch err := <-errs; inventory.ErrorCode(err) {
			case "":
				ok++
			case inventory.ECONFLICT:
			default:
				t.Errorf("UseTOTPStep: %v", err)
			}
		}
		equal(t, "successful uses", ok, 1)
	})
}

// testRecoveryCodes tests ReplaceRecoveryCodes, UseRecoveryCode and
// CountRecoveryCodes.
func (su suite) testRecoveryCodes(t *testing.T) {
	codes := func(words ...string) [][]byte {
		var out [][]byte
		for _, w := range words {
			h := sha256.Sum256([]byte(w))
			out = append(out, h[:])
		}
		return out
	}
	count := func(e *env, id uuid.UUID) int {
		e.t.Helper()
		n, err := e.s.CountRecoveryCodes(e.ctx, id)
		if err != nil {
			e.t.Fatal(err)
		}
		return n
	}

	t.Run("RecoveryCodes", func(t *testing.T) {
		e := su.fresh(t)
		u := e.user("a@school.example")
		other := e.user("b@school.example")
		first := codes("one", "two", "three")
		if err := e.s.ReplaceRecoveryCodes(e.ctx, u.ID, first); err != nil {
			t.Fatal(err)
		}
		if err := e.s.ReplaceRecoveryCodes(e.ctx, other.ID, codes("four")); err != nil {
			t.Fatal(err)
		}
		equal(t, "count", count(e, u.ID), 3)

		for _, tc := range []struct {
			name  string
			user  uuid.UUID
			hash  []byte
			code  string
			count int
		}{
			{"Use", u.ID, first[1], "", 2},
			{"ErrUsedAlready", u.ID, first[1], inventory.ENOTFOUND, 2},
			{"ErrUnknownHash", u.ID, codes("five")[0], inventory.ENOTFOUND, 2},
			{"ErrOtherUsersCode", u.ID, codes("four")[0], inventory.ENOTFOUND, 2},
			{"ErrUnknownUser", uuid.New(), first[0], inventory.ENOTFOUND, 2},
			{"UseAnother", u.ID, first[0], "", 1},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantCode(t, e.s.UseRecoveryCode(e.ctx, tc.user, tc.hash, t0), tc.code)
				equal(t, "count", count(e, u.ID), tc.count)
			})
		}
		equal(t, "other user's count", count(e, other.ID), 1)

		// Replacing forgets the old codes, used or not.
		second := codes("six", "seven")
		if err := e.s.ReplaceRecoveryCodes(e.ctx, u.ID, second); err != nil {
			t.Fatal(err)
		}
		equal(t, "count after replacing", count(e, u.ID), 2)
		wantCode(t, e.s.UseRecoveryCode(e.ctx, u.ID, first[2], t0), inventory.ENOTFOUND)
		if err := e.s.UseRecoveryCode(e.ctx, u.ID, second[0], t0); err != nil {
			t.Fatal(err)
		}
		equal(t, "count after use", count(e, u.ID), 1)

		// A code used and then given again in a new set is unused.
		if err := e.s.ReplaceRecoveryCodes(e.ctx, u.ID, second); err != nil {
			t.Fatal(err)
		}
		equal(t, "count after giving a used code again", count(e, u.ID), 2)

		if err := e.s.ReplaceRecoveryCodes(e.ctx, u.ID, nil); err != nil {
			t.Fatal(err)
		}
		equal(t, "count after removing", count(e, u.ID), 0)
		equal(t, "other user's count at the end", count(e, other.ID), 1)
		equal(t, "count of an unknown user", count(e, uuid.New()), 0)

		wantCode(t, e.s.ReplaceRecoveryCodes(e.ctx, uuid.New(), first), inventory.ENOTFOUND)
	})

	t.Run("UseRecoveryCode/Concurrent", func(t *testing.T) {
		e := su.fresh(t)
		u := e.user("a@school.example")
		c := codes("only")
		if err := e.s.ReplaceRecoveryCodes(e.ctx, u.ID, c); err != nil {
			t.Fatal(err)
		}
		const n = 8
		errs := make(chan error, n)
		for range n {
			go func() { errs <- e.s.UseRecoveryCode(e.ctx, u.ID, c[0], t0) }()
		}
		ok := 0
		for range n {
			switch err := <-errs; inventory.ErrorCode(err) {
			case "":
				ok++
			case inventory.ENOTFOUND:
			default:
				t.Errorf("UseRecoveryCode: %v", err)
			}
		}
		equal(t, "successful uses", ok, 1)
	})
}

// invite creates an invite for email to role in school (uuid.Nil for
// org_admin), made by by at created, expiring a day later.
func (e *env) invite(by uuid.UUID, email string, school uuid.UUID, role inventory.Role, created time.Time) *inventory.Invite {
	e.t.Helper()
	inv := &inventory.Invite{
		Hash: secret(), Email: email, Name: "Invited " + email, SchoolID: school, Role: role,
		CreatedBy: by, CreatedAt: created, ExpiresAt: created.Add(24 * time.Hour),
	}
	if err := e.s.CreateInvite(e.ctx, inv); err != nil {
		e.t.Fatalf("CreateInvite(%s): %v", email, err)
	}
	return inv
}

func (e *env) findInvite(hash []byte) *inventory.Invite {
	e.t.Helper()
	inv, err := e.s.FindInviteByHash(e.ctx, hash)
	if err != nil {
		e.t.Fatalf("FindInviteByHash: %v", err)
	}
	return inv
}

// inviteEmails returns the invites' emails in order.
func inviteEmails(invs []*inventory.Invite) []string {
	out := []string{}
	for _, inv := range invs {
		out = append(out, inv.Email)
	}
	return out
}

func (su suite) testInvites(t *testing.T) {
	t.Run("CreateInvite", func(t *testing.T) {
		e := su.fresh(t)
		by := e.user("head@school.example")
		sc := e.school("a")
		in := &inventory.Invite{
			Hash: secret(), Email: "New.Teacher@School.Example", Name: "New Teacher", SchoolID: sc.ID,
			Role: inventory.RoleStaff, CreatedBy: by.ID, ExpiresAt: t0.Add(time.Hour).In(time.FixedZone("X", -3600)),
		}
		if err := e.s.CreateInvite(e.ctx, in); err != nil {
			t.Fatal(err)
		}
		wantV7(t, "ID", in.ID)
		if in.CreatedAt.IsZero() {
			t.Error("CreatedAt was not filled")
		}
		want := &inventory.Invite{
			ID: in.ID, Hash: in.Hash, Email: "new.teacher@school.example", Name: "New Teacher", SchoolID: sc.ID,
			Role: inventory.RoleStaff, CreatedBy: by.ID, CreatedAt: in.CreatedAt, ExpiresAt: ts(t0.Add(time.Hour)),
		}
		equal(t, "CreateInvite result", in, want)
		equal(t, "FindInviteByHash", e.findInvite(in.Hash), want)

		org := e.invite(by.ID, "admin@school.example", uuid.Nil, inventory.RoleOrgAdmin, t0)
		equal(t, "org_admin invite", e.findInvite(org.Hash), org)
	})

	t.Run("CreateInvite/Errors", func(t *testing.T) {
		e := su.fresh(t)
		by := e.user("head@school.example")
		sc := e.school("a")
		taken := e.invite(by.ID, "x@school.example", sc.ID, inventory.RoleStaff, t0)
		good := func() *inventory.Invite {
			return &inventory.Invite{Hash: secret(), Email: "y@school.example", Name: "Y", SchoolID: sc.ID,
				Role: inventory.RoleTechnician, CreatedBy: by.ID, ExpiresAt: t0.Add(time.Hour)}
		}
		for _, tc := range []struct {
			name   string
			change func(*inventory.Invite)
			code   string
			msg    string
		}{
			{"ErrBadEmail", func(inv *inventory.Invite) { inv.Email = "not an email" }, inventory.EINVALID, "not an email"},
			{"ErrNoName", func(inv *inventory.Invite) { inv.Name = " " }, inventory.EINVALID, "name"},
			{"ErrNoExpiry", func(inv *inventory.Invite) { inv.ExpiresAt = time.Time{} }, inventory.EINVALID, "expiry"},
			{"ErrOrgAdminWithSchool", func(inv *inventory.Invite) { inv.Role = inventory.RoleOrgAdmin }, inventory.EINVALID, "org_admin"},
			{"ErrStaffWithoutSchool", func(inv *inventory.Invite) { inv.SchoolID = uuid.Nil }, inventory.EINVALID, "school"},
			{"ErrUnknownRole", func(inv *inventory.Invite) { inv.Role = "janitor" }, inventory.EINVALID, "janitor"},
			{"ErrSchoolNotFound", func(inv *inventory.Invite) { inv.SchoolID = uuid.New() }, inventory.ENOTFOUND, "school"},
			{"ErrInviterNotFound", func(inv *inventory.Invite) { inv.CreatedBy = uuid.New() }, inventory.ENOTFOUND, "inviter"},
			{"ErrHashTaken", func(inv *inventory.Invite) { inv.Hash = taken.Hash }, inventory.ECONFLICT, "hash"},
			{"ErrIDTaken", func(inv *inventory.Invite) { inv.ID = taken.ID }, inventory.ECONFLICT, taken.ID.String()},
		} {
			t.Run(tc.name, func(t *testing.T) {
				inv := good()
				tc.change(inv)
				err := e.s.CreateInvite(e.ctx, inv)
				wantCode(t, err, tc.code)
				wantMessage(t, err, tc.msg)
			})
		}
		got, err := e.s.FindInvites(e.ctx, nil, t0)
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "invites stored", got, []*inventory.Invite{taken})
	})

	t.Run("FindInviteByHash/ErrNotFound", func(t *testing.T) {
		e := su.fresh(t)
		_, err := e.s.FindInviteByHash(e.ctx, secret())
		wantCode(t, err, inventory.ENOTFOUND)
	})

	t.Run("FindInvites", func(t *testing.T) {
		e := su.fresh(t)
		by := e.user("head@school.example")
		a, b := e.school("a"), e.school("b")
		// Expiring exactly at now counts as expired.
		now := t0.Add(24 * time.Hour)
		e.invite(by.ID, "old-a@school.example", a.ID, inventory.RoleStaff, t0)
		e.invite(by.ID, "tech-a@school.example", a.ID, inventory.RoleTechnician, t0.Add(time.Hour))
		e.invite(by.ID, "staff-b@school.example", b.ID, inventory.RoleStaff, t0.Add(2*time.Hour))
		e.invite(by.ID, "admin@school.example", uuid.Nil, inventory.RoleOrgAdmin, t0.Add(3*time.Hour))
		used := e.invite(by.ID, "used-a@school.example", a.ID, inventory.RoleStaff, t0.Add(4*time.Hour))
		if _, err := e.s.AcceptInvite(e.ctx, used.ID, "hash", t0.Add(5*time.Hour)); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name    string
			schools []uuid.UUID
			now     time.Time
			want    []string
		}{
			{"Every", nil, now, []string{"admin@school.example", "staff-b@school.example", "tech-a@school.example"}},
			{"SchoolA", []uuid.UUID{a.ID}, now, []string{"tech-a@school.example"}},
			{"BothSchools", []uuid.UUID{b.ID, a.ID}, now, []string{"staff-b@school.example", "tech-a@school.example"}},
			{"NoSchools", []uuid.UUID{}, now, []string{}},
			{"UnknownSchool", []uuid.UUID{uuid.New()}, now, []string{}},
			{"Earlier", []uuid.UUID{a.ID}, t0.Add(23 * time.Hour), []string{"tech-a@school.example", "old-a@school.example"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := e.s.FindInvites(e.ctx, tc.schools, tc.now)
				if err != nil {
					t.Fatal(err)
				}
				equal(t, "emails", inviteEmails(got), tc.want)
			})
		}
	})

	t.Run("AcceptInvite/NewUser", func(t *testing.T) {
		e := su.fresh(t)
		by := e.user("head@school.example")
		sc := e.school("a")
		inv := e.invite(by.ID, "New@School.Example", sc.ID, inventory.RoleTechnician, t0)
		at := t0.Add(time.Hour)
		u, err := e.s.AcceptInvite(e.ctx, inv.ID, "new-hash", at)
		if err != nil {
			t.Fatal(err)
		}
		wantV7(t, "user ID", u.ID)
		want := &inventory.User{ID: u.ID, Email: "new@school.example", Name: inv.Name, PasswordHash: "new-hash", CreatedAt: ts(at)}
		equal(t, "AcceptInvite user", u, want)
		got, err := e.s.FindUserByEmail(e.ctx, "new@school.example")
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "stored user", got, want)
		equal(t, "grants", e.grants(u.ID), []inventory.RoleGrant{{UserID: u.ID, SchoolID: sc.ID, Role: inventory.RoleTechnician}})
		inv.AcceptedAt = ts(at)
		equal(t, "invite", e.findInvite(inv.Hash), inv)

		_, err = e.s.AcceptInvite(e.ctx, inv.ID, "other-hash", at)
		wantCode(t, err, inventory.ECONFLICT)
		wantMessage(t, err, "accepted already")
		equal(t, "user after a second acceptance", e.findUser(u.ID), want)
	})

	t.Run("AcceptInvite/ExistingUser", func(t *testing.T) {
		e := su.fresh(t)
		by := e.user("head@school.example")
		a, b := e.school("a"), e.school("b")
		existing := e.user("teacher@school.example")
		e.grant(existing.ID, a.ID, inventory.RoleStaff)
		inv := e.invite(by.ID, "Teacher@School.Example", b.ID, inventory.RoleHeadteacher, t0)
		u, err := e.s.AcceptInvite(e.ctx, inv.ID, "new-hash", t0.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "AcceptInvite user", u, existing)
		equal(t, "stored user", e.findUser(existing.ID), existing)
		equal(t, "grants", e.grants(existing.ID), []inventory.RoleGrant{
			{UserID: existing.ID, SchoolID: a.ID, Role: inventory.RoleStaff},
			{UserID: existing.ID, SchoolID: b.ID, Role: inventory.RoleHeadteacher},
		})
	})

	t.Run("AcceptInvite/OrgAdminAlreadyHeld", func(t *testing.T) {
		e := su.fresh(t)
		by := e.user("head@school.example")
		e.grant(by.ID, uuid.Nil, inventory.RoleOrgAdmin)
		inv := e.invite(by.ID, "head@school.example", uuid.Nil, inventory.RoleOrgAdmin, t0)
		u, err := e.s.AcceptInvite(e.ctx, inv.ID, "x", t0.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "user", u.ID, by.ID)
		equal(t, "grants", e.grants(by.ID), []inventory.RoleGrant{{UserID: by.ID, Role: inventory.RoleOrgAdmin}})
	})

	t.Run("AcceptInvite/ErrExpired", func(t *testing.T) {
		e := su.fresh(t)
		by := e.user("head@school.example")
		sc := e.school("a")
		inv := e.invite(by.ID, "late@school.example", sc.ID, inventory.RoleStaff, t0)
		_, err := e.s.AcceptInvite(e.ctx, inv.ID, "x", inv.ExpiresAt)
		wantCode(t, err, inventory.EEXPIRED)
		wantMessage(t, err, "expired")
		equal(t, "invite", e.findInvite(inv.Hash), inv)
		_, err = e.s.FindUserByEmail(e.ctx, "late@school.example")
		wantCode(t, err, inventory.ENOTFOUND)

		// Just before the expiry it works.
		if _, err := e.s.AcceptInvite(e.ctx, inv.ID, "x", inv.ExpiresAt.Add(-time.Microsecond)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("AcceptInvite/ErrNotFound", func(t *testing.T) {
		e := su.fresh(t)
		id := uuid.New()
		_, err := e.s.AcceptInvite(e.ctx, id, "x", t0)
		wantCode(t, err, inventory.ENOTFOUND)
		wantMessage(t, err, id.String())
	})

	t.Run("AcceptInvite/Concurrent", func(t *testing.T) {
		// Of several acceptances at once, exactly one succeeds and one
		// user is made.
		e := su.fresh(t)
		by := e.user("head@school.example")
		sc := e.school("a")
		inv := e.invite(by.ID, "race@school.example", sc.ID, inventory.RoleStaff, t0)
		const n = 6
		type result struct {
			u   *inventory.User
			err error
		}
		results := make(chan result, n)
		for i := range n {
			go func() {
				u, err := e.s.AcceptInvite(e.ctx, inv.ID, "hash-"+strings.Repeat("x", i), t0.Add(time.Minute))
				results <- result{u, err}
			}()
		}
		var won []*inventory.User
		for range n {
			r := <-results
			switch inventory.ErrorCode(r.err) {
			case "":
				won = append(won, r.u)
			case inventory.ECONFLICT:
			default:
				t.Errorf("AcceptInvite: %v", r.err)
			}
		}
		if len(won) != 1 {
			t.Fatalf("%d acceptances succeeded, want 1", len(won))
		}
		got, err := e.s.FindUserByEmail(e.ctx, "race@school.example")
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "user", got, won[0])
	})
}
