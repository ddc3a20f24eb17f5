// Package admin carries out the operator's commands: adding people,
// making API tokens and enrolment tokens. The CLI and the demo call it.
package admin

import (
	"context"
	"crypto/sha256"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/agent/client"
	"github.com/rollcall/rollcall/inventory"
	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
	"github.com/rollcall/rollcall/server/pki"
	"github.com/rollcall/rollcall/server/secret"
)

// ResolveSchool returns the school with slug, or the only school when slug
// is empty. The error lists the schools to choose from.
func ResolveSchool(ctx context.Context, s inventory.SchoolStore, slug string) (*inventory.School, error) {
	if slug != "" {
		sc, err := s.FindSchoolBySlug(ctx, slug)
		if inventory.ErrorCode(err) == inventory.ENOTFOUND {
			return nil, inventory.Errorf(inventory.ENOTFOUND, "no school %q: %s", slug, schoolList(ctx, s))
		}
		return sc, err
	}
	all, err := s.FindSchools(ctx)
	if err != nil {
		return nil, err
	}
	if len(all) != 1 {
		return nil, inventory.Errorf(inventory.EINVALID, "this server has %d schools: give --school (%s)", len(all), schoolList(ctx, s))
	}
	return all[0], nil
}

func schoolList(ctx context.Context, s inventory.SchoolStore) string {
	all, err := s.FindSchools(ctx)
	if err != nil || len(all) == 0 {
		return "no schools exist yet"
	}
	slugs := make([]string, len(all))
	for i, sc := range all {
		slugs[i] = sc.Slug
	}
	return "schools are " + strings.Join(slugs, ", ")
}

// AddUser creates a person with a random initial password and grants them
// role (in schoolSlug, unless the role is org_admin). It returns the
// password, which is shown once and stored only as a hash.
func AddUser(ctx context.Context, s inventory.Store, email, name, role, schoolSlug string) (*inventory.User, string, error) {
	email, err := inventory.NormalizeEmail(email)
	if err != nil {
		return nil, "", err
	}
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return nil, "", inventory.Errorf(inventory.EINVALID, "name: give 1-200 characters")
	}
	r, err := inventory.ParseRole(role)
	if err != nil {
		return nil, "", err
	}
	g := inventory.RoleGrant{Role: r}
	if r != inventory.RoleOrgAdmin {
		sc, err := ResolveSchool(ctx, s, schoolSlug)
		if err != nil {
			return nil, "", err
		}
		g.SchoolID = sc.ID
	} else if schoolSlug != "" {
		return nil, "", inventory.Errorf(inventory.EINVALID, "role org_admin covers every school: leave out --school")
	}
	password := secret.NewPassword()
	hash, err := secret.HashPassword(password)
	if err != nil {
		return nil, "", err
	}
	u := &inventory.User{Email: email, Name: name, PasswordHash: hash}
	if err := s.CreateUser(ctx, u); err != nil {
		return nil, "", err
	}
	g.UserID = u.ID
	if err := s.GrantRole(ctx, g); err != nil {
		return nil, "", err
	}
	return u, password, nil
}

// APITokenPrefix starts every API token, so a leaked one is easy to spot.
const APITokenPrefix = "rcapi_"

// CreateAPIToken makes a REST API token for the person with email and
// returns it; only its hash is stored.
func CreateAPIToken(ctx context.Context, s inventory.UserStore, email string) (string, error) {
	email, err := inventory.NormalizeEmail(email)
	if err != nil {
		return "", err
	}
	u, err := s.FindUserByEmail(ctx, email)
	if inventory.ErrorCode(err) == inventory.ENOTFOUND {
		return "", inventory.Errorf(inventory.ENOTFOUND, "no user %s: add them first with `rollcall user add`", email)
	} else if err != nil {
		return "", err
	}
	tok, hash := secret.NewToken(APITokenPrefix)
	if err := s.CreateAPIToken(ctx, &inventory.APIToken{UserID: u.ID, Hash: hash}); err != nil {
		return "", err
	}
	return tok, nil
}

// EnrollTokenRequest describes a new enrolment token.
type EnrollTokenRequest struct {
	School    string        // slug; empty for the only school
	Uses      int           // how many devices may enrol with it
	TTL       time.Duration // how long it is valid
	Advertise string        // host:port agents dial
	Now       time.Time
}

// CreateEnrollToken stores a new enrolment token and returns its string,
// which carries the agent address, the CA pin and the secret.
func CreateEnrollToken(ctx context.Context, s inventory.Store, ca *pki.CA, r EnrollTokenRequest) (string, error) {
	switch {
	case r.Uses < 1 || r.Uses > 100000:
		return "", inventory.Errorf(inventory.EINVALID, "uses: give a number from 1 to 100000")
	case r.TTL <= 0 || r.TTL > 366*24*time.Hour:
		return "", inventory.Errorf(inventory.EINVALID, "ttl: give a duration from 1s to 8784h (a year), such as 24h")
	case r.Advertise == "":
		return "", inventory.Errorf(inventory.EINVALID, "the agent address is unknown: run `rollcall serve` once, or give --advertise HOST:PORT")
	}
	sc, err := ResolveSchool(ctx, s, r.School)
	if err != nil {
		return "", err
	}
	sec := secret.Random(32)
	sum := sha256.Sum256(sec)
	t := &inventory.EnrollToken{
		SchoolID:   sc.ID,
		SecretHash: sum[:],
		MaxUses:    r.Uses,
		ExpiresAt:  r.Now.Add(r.TTL),
		CreatedAt:  r.Now,
	}
	if t.ID, err = uuid.NewV7(); err != nil {
		return "", err
	}
	if err := s.CreateEnrollToken(ctx, t); err != nil {
		return "", err
	}
	return client.EncodeToken(&agentv1.EnrollmentToken{
		AgentAddress: r.Advertise,
		CaPin:        ca.Pin(),
		TokenId:      t.ID.String(),
		Secret:       sec,
	})
}

// ResetSignIn ends the sessions of the person with email, gives them a
// new random password, removes their two-step sign-in and recovery codes
// (they set it up again at their next sign-in) and lifts any lockout. It returns the password, which is
// shown once and stored only as a hash.
func ResetSignIn(ctx context.Context, s interface {
	inventory.UserStore
	inventory.SessionStore
}, email string) (*inventory.User, string, error) {
	email, err := inventory.NormalizeEmail(email)
	if err != nil {
		return nil, "", err
	}
	u, err := s.FindUserByEmail(ctx, email)
	if inventory.ErrorCode(err) == inventory.ENOTFOUND {
		return nil, "", inventory.Errorf(inventory.ENOTFOUND, "no user %s", email)
	} else if err != nil {
		return nil, "", err
	}
	password := secret.NewPassword()
	hash, err := secret.HashPassword(password)
	if err != nil {
		return nil, "", err
	}
	// Sessions go first: whatever fails later, nobody stays signed in.
	for _, step := range []func() error{
		func() error { _, err := s.DeleteUserSessions(ctx, u.ID); return err },
		func() error { return s.SetPassword(ctx, u.ID, hash) },
		func() error { return s.SetTOTP(ctx, u.ID, nil, time.Time{}) },
		func() error { return s.ReplaceRecoveryCodes(ctx, u.ID, nil) },
		func() error { return s.ClearLoginFailures(ctx, u.Email) },
		func() error { return s.ClearLoginFailures(ctx, "totp:"+u.ID.String()) },
	} {
		if err := step(); err != nil {
			return nil, "", err
		}
	}
	return u, password, nil
}
