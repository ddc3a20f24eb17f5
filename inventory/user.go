package inventory

import (
	"context"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Role is what a person may do in a school.
type Role string

// Roles, as written in the CLI and the API.
const (
	RoleOrgAdmin      Role = "org_admin"
	RoleTechnician    Role = "technician"
	RoleHeadteacher   Role = "headteacher"
	RoleComputingLead Role = "computing_lead"
	RoleStaff         Role = "staff"
	RoleLineManager   Role = "line_manager"
	RoleAuditor       Role = "auditor"
)

// Roles lists every role.
var Roles = []Role{RoleOrgAdmin, RoleTechnician, RoleHeadteacher, RoleComputingLead, RoleStaff, RoleLineManager, RoleAuditor}

// ParseRole returns the role named s, or an EINVALID error listing the
// valid names.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	names := make([]string, len(Roles))
	for i, r := range Roles {
		names[i] = string(r)
	}
	return "", Errorf(EINVALID, "unknown role %q: use one of %s", s, strings.Join(names, ", "))
}

// User is a person who signs in to Rollcall.
type User struct {
	ID           uuid.UUID
	Email        string // lower case, unique
	Name         string
	PasswordHash string // encoded hash; never the password
	CreatedAt    time.Time
}

// NormalizeEmail checks an address and returns it in lower case, or an
// EINVALID error.
func NormalizeEmail(s string) (string, error) {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != strings.TrimSpace(s) {
		return "", Errorf(EINVALID, "%q is not an email address", s)
	}
	return strings.ToLower(a.Address), nil
}

// RoleGrant gives a user a role in one school. An org_admin grant has
// SchoolID uuid.Nil and covers every school.
type RoleGrant struct {
	UserID   uuid.UUID
	SchoolID uuid.UUID
	Role     Role
}

// Validate checks that the grant names a school exactly when the role needs one.
func (g RoleGrant) Validate() error {
	if _, err := ParseRole(string(g.Role)); err != nil {
		return err
	}
	if g.Role == RoleOrgAdmin && g.SchoolID != uuid.Nil {
		return Errorf(EINVALID, "role org_admin covers every school: give no school")
	}
	if g.Role != RoleOrgAdmin && g.SchoolID == uuid.Nil {
		return Errorf(EINVALID, "role %s is granted per school: give a school", g.Role)
	}
	return nil
}

// APIToken is a bearer token for the REST API. Only its SHA-256 is stored.
type APIToken struct {
	ID        uuid.UUID
	UserID    uuid.UUID
	Hash      []byte
	CreatedAt time.Time
}

// UserStore keeps people, their role grants and their API tokens.
type UserStore interface {
	// CreateUser stores u, filling ID and CreatedAt when zero. Returns
	// ECONFLICT if the email is taken.
	CreateUser(ctx context.Context, u *User) error
	// FindUserByID returns ENOTFOUND if there is no such user.
	FindUserByID(ctx context.Context, id uuid.UUID) (*User, error)
	// FindUserByEmail returns ENOTFOUND if there is no such user.
	FindUserByEmail(ctx context.Context, email string) (*User, error)
	// GrantRole stores g; granting a role the user already holds is not an
	// error. Returns ENOTFOUND for an unknown user or school.
	GrantRole(ctx context.Context, g RoleGrant) error
	// FindRoleGrants returns every grant of a user.
	FindRoleGrants(ctx context.Context, userID uuid.UUID) ([]RoleGrant, error)
	// CreateAPIToken stores t, filling ID and CreatedAt when zero. Returns
	// ENOTFOUND for an unknown user.
	CreateAPIToken(ctx context.Context, t *APIToken) error
	// FindAPITokenByHash returns ENOTFOUND if no token has this hash.
	FindAPITokenByHash(ctx context.Context, hash []byte) (*APIToken, error)
}

// Store is every store a backend provides.
type Store interface {
	SchoolStore
	DeviceStore
	EnrollmentStore
	EscrowStore
	EventStore
	UserStore
	Close() error
}

// EnsureDefaultSchool creates the default school when the store has no
// school at all, so that a single-school install works without set-up.
func EnsureDefaultSchool(ctx context.Context, s SchoolStore) error {
	all, err := s.FindSchools(ctx)
	if err != nil {
		return fmt.Errorf("list schools: %w", err)
	}
	if len(all) > 0 {
		return nil
	}
	err = s.CreateSchool(ctx, &School{Slug: DefaultSchoolSlug, Name: "Default school"})
	if ErrorCode(err) == ECONFLICT { // another replica made it first
		return nil
	}
	return err
}
