package inventory

import (
	"context"
	"regexp"
	"time"

	"github.com/google/uuid"
)

// DefaultSchoolSlug is the slug of the school that a new data store is
// given, so that a single-school install needs no set-up step.
const DefaultSchoolSlug = "default"

// School is one tenant: every device, token and role grant belongs to one.
type School struct {
	ID        uuid.UUID
	Slug      string // short, unique, used on the command line ("st-marys")
	Name      string
	CreatedAt time.Time
	// Policy is the school's compliance policy; a new school has
	// DefaultPolicy. It is changed only with SetSchoolPolicy.
	Policy Policy
	// Loans are the school's rules for staff loans, changed only with
	// [AgreementStore.SetSchoolLoanSettings].
	Loans LoanSettings
	// PINs are the school's rules for its PIN register, changed only with
	// [PINStore.SetSchoolPINSettings].
	PINs PINSettings
	// Retention is how long the school keeps records that age out; a new
	// school has DefaultRetention. It is changed only with
	// [RetentionStore.SetSchoolRetention].
	Retention Retention
	// RetentionSet says someone saved the school's periods. Until then
	// the purge deletes only old PIN values (see School.RetentionCutoffs),
	// so an upgrade or a new school deletes nothing anyone has not chosen
	// to.
	RetentionSet bool
}

// SchoolStore keeps schools.
type SchoolStore interface {
	// CreateSchool stores s, filling ID and CreatedAt when zero.
	// Returns ECONFLICT if the slug is taken and EINVALID for a bad slug or name.
	CreateSchool(ctx context.Context, s *School) error
	// FindSchoolByID returns ENOTFOUND if there is no such school.
	FindSchoolByID(ctx context.Context, id uuid.UUID) (*School, error)
	// FindSchoolBySlug returns ENOTFOUND if there is no such school.
	FindSchoolBySlug(ctx context.Context, slug string) (*School, error)
	// FindSchools returns every school ordered by slug.
	FindSchools(ctx context.Context) ([]*School, error)
	// SetSchoolPolicy replaces a school's compliance policy and, in the
	// same transaction, makes every verdict of the school's devices due
	// (Verdict.Until set to the store's current time), so that the sweep
	// judges any device the caller does not. Returns EINVALID for a policy
	// that fails [Policy.Validate] and ENOTFOUND.
	SetSchoolPolicy(ctx context.Context, id uuid.UUID, p Policy) error
}

var slugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Validate checks a school's slug and name.
func (s *School) Validate() error {
	switch {
	case !slugPattern.MatchString(s.Slug):
		return Errorf(EINVALID, "school slug %q: use 1-63 lower-case letters, digits and hyphens", s.Slug)
	case s.Name == "" || len(s.Name) > 200:
		return Errorf(EINVALID, "school name: give 1-200 characters")
	}
	return nil
}
