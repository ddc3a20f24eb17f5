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
	// DisabledAt is when the person was disabled; zero while they may sign
	// in. A disabled person's sessions and API tokens are refused.
	DisabledAt time.Time
	// TOTPSealed is the person's TOTP secret sealed by the server (the
	// store never sees it in the clear); nil when none is set up.
	TOTPSealed []byte
	// TOTPConfirmedAt is when the person first proved a code from the
	// secret; zero while set-up is unfinished.
	TOTPConfirmedAt time.Time
	// TOTPLastStep is the time step of the last code accepted, so that a
	// code is never accepted twice.
	TOTPLastStep int64
}

// Label names the person in a message: "Jo Bloggs (jo@school.example)".
func (u *User) Label() string {
	if u.Name != "" {
		return u.Name + " (" + u.Email + ")"
	}
	return u.Email
}

// Disabled reports whether the person may no longer sign in.
func (u *User) Disabled() bool { return !u.DisabledAt.IsZero() }

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

	// FindUsers returns the people f selects, ordered by email.
	FindUsers(ctx context.Context, f UserFilter) ([]*User, error)
	// RevokeRole removes a grant; removing one the user does not hold is
	// not an error. Returns ENOTFOUND for an unknown user.
	RevokeRole(ctx context.Context, g RoleGrant) error
	// SetPassword replaces a user's password hash. Returns ENOTFOUND.
	SetPassword(ctx context.Context, userID uuid.UUID, hash string) error
	// SetUserDisabled disables the user at at, or enables them when at is
	// zero. Disabling also deletes their sessions, in the same
	// transaction. Returns ENOTFOUND.
	SetUserDisabled(ctx context.Context, userID uuid.UUID, at time.Time) error
	// SetTOTP stores a sealed TOTP secret and when it was confirmed (zero
	// while set-up is unfinished), resetting TOTPLastStep to zero; a nil
	// secret removes TOTP. Returns ENOTFOUND.
	SetTOTP(ctx context.Context, userID uuid.UUID, sealed []byte, confirmedAt time.Time) error
	// UseTOTPStep records that a code of time step step was accepted.
	// Returns ECONFLICT when step is not after TOTPLastStep (the code was
	// used already), and ENOTFOUND.
	UseTOTPStep(ctx context.Context, userID uuid.UUID, step int64) error
	// ReplaceRecoveryCodes replaces a user's recovery codes with the
	// given SHA-256 hashes, unused. Returns ENOTFOUND.
	ReplaceRecoveryCodes(ctx context.Context, userID uuid.UUID, hashes [][]byte) error
	// UseRecoveryCode marks the unused code with this hash used at at.
	// Returns ENOTFOUND when the user has no unused code with that hash.
	UseRecoveryCode(ctx context.Context, userID uuid.UUID, hash []byte, at time.Time) error
	// CountRecoveryCodes returns how many unused codes a user has.
	CountRecoveryCodes(ctx context.Context, userID uuid.UUID) (int, error)

	// CreateInvite stores inv, filling ID and CreatedAt when zero.
	// Returns ENOTFOUND for an unknown school or inviter, EINVALID when
	// inv fails [Invite.Validate].
	CreateInvite(ctx context.Context, inv *Invite) error
	// FindInviteByHash returns ENOTFOUND if no invite has this hash.
	FindInviteByHash(ctx context.Context, hash []byte) (*Invite, error)
	// FindInvites returns the invites of these schools (nil: every
	// school) that are neither accepted nor expired at now, newest first.
	FindInvites(ctx context.Context, schoolIDs []uuid.UUID, now time.Time) ([]*Invite, error)
	// AcceptInvite, in one transaction, checks the invite is unused
	// (ECONFLICT) and unexpired at at (EEXPIRED), creates the user with
	// the invite's email and name and passwordHash — or, when a user has
	// that email already, keeps them and their password — grants the
	// invite's role and marks the invite accepted. Returns the user, and
	// ENOTFOUND for an unknown invite.
	AcceptInvite(ctx context.Context, id uuid.UUID, passwordHash string, at time.Time) (*User, error)
}

// UserFilter selects people.
type UserFilter struct {
	// SchoolIDs selects people holding a role in one of these schools,
	// and organisation admins. A nil slice means everyone.
	SchoolIDs []uuid.UUID
}

// Invite is a one-time link that lets a person set their password and
// take up a role. Only the SHA-256 of the link's token is stored.
type Invite struct {
	ID         uuid.UUID
	Hash       []byte
	Email      string
	Name       string
	SchoolID   uuid.UUID // uuid.Nil for an org_admin invite
	Role       Role
	CreatedBy  uuid.UUID
	CreatedAt  time.Time
	ExpiresAt  time.Time
	AcceptedAt time.Time // zero until used
}

// Validate checks the invite's person and grant.
func (inv *Invite) Validate() error {
	if _, err := NormalizeEmail(inv.Email); err != nil {
		return err
	}
	if n := len(strings.TrimSpace(inv.Name)); n == 0 || n > 200 {
		return Errorf(EINVALID, "name: give 1-200 characters")
	}
	if inv.ExpiresAt.IsZero() {
		return Errorf(EINVALID, "invite: no expiry")
	}
	return RoleGrant{SchoolID: inv.SchoolID, Role: inv.Role}.Validate()
}

// Store is every store a backend provides.
type Store interface {
	SchoolStore
	DeviceStore
	EnrollmentStore
	EscrowStore
	EventStore
	UserStore
	SessionStore
	AuditStore
	ComplianceHistoryStore
	RegisterStore
	LoanStore
	AgreementStore
	SignOutStore
	PINStore
	SealStore
	DisposalStore
	ExitStore
	RetentionStore
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
