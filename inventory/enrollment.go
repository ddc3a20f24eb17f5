package inventory

import (
	"context"
	"crypto/subtle"
	"time"

	"github.com/google/uuid"
)

// EnrollToken lets agents enrol into one school. Only a hash of its secret
// is stored; the secret itself is shown once, inside the token string.
type EnrollToken struct {
	ID         uuid.UUID
	SchoolID   uuid.UUID
	SecretHash []byte // SHA-256 of the secret
	MaxUses    int
	Uses       int
	ExpiresAt  time.Time
	RevokedAt  time.Time // zero unless revoked
	CreatedAt  time.Time
}

// Usable reports whether the token may enrol a device now, given the hash
// of the secret the agent presented. The error says which rule failed:
// EUNAUTHORIZED (forged secret), EREVOKED, EEXPIRED or EEXHAUSTED.
func (t *EnrollToken) Usable(secretHash []byte, now time.Time) error {
	switch {
	case subtle.ConstantTimeCompare(t.SecretHash, secretHash) != 1:
		return Errorf(EUNAUTHORIZED, "enrolment token is not valid for this server")
	case !t.RevokedAt.IsZero():
		return Errorf(EREVOKED, "enrolment token was revoked on %s", t.RevokedAt.UTC().Format(time.RFC3339))
	case !now.Before(t.ExpiresAt):
		return Errorf(EEXPIRED, "enrolment token expired on %s", t.ExpiresAt.UTC().Format(time.RFC3339))
	case t.Uses >= t.MaxUses:
		return Errorf(EEXHAUSTED, "enrolment token has been used %d of %d times", t.Uses, t.MaxUses)
	}
	return nil
}

// Enrollment is one client certificate issued to a device's agent. The
// certificate's common name is the enrolment ID.
type Enrollment struct {
	ID           uuid.UUID
	DeviceID     uuid.UUID
	SchoolID     uuid.UUID
	TokenID      uuid.UUID // the token used, or uuid.Nil for a renewal
	CertSerial   string    // hex serial number of the certificate
	CertNotAfter time.Time
	RevokedAt    time.Time // zero unless revoked
	CreatedAt    time.Time
}

// Active returns nil if e may be used at now, or an EREVOKED or EEXPIRED
// error.
func (e *Enrollment) Active(now time.Time) error {
	switch {
	case !e.RevokedAt.IsZero():
		return Errorf(EREVOKED, "certificate was revoked on %s", e.RevokedAt.UTC().Format(time.RFC3339))
	case !now.Before(e.CertNotAfter):
		return Errorf(EEXPIRED, "certificate expired on %s", e.CertNotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// EnrollRequest asks to enrol a device with a token.
type EnrollRequest struct {
	TokenID    uuid.UUID
	SecretHash []byte
	Report     Report     // the agent's first report; Hardware.Serial matches an existing device
	ReportHash string     // hash of Report as the agent serialised it
	Enrollment Enrollment // ID, CertSerial and CertNotAfter set by the caller
	At         time.Time
	// RecoveryKeys are the report's recovery keys, sealed.
	RecoveryKeys []EscrowedKey
	// Verdict is the report judged against the school's policy at At,
	// stored with the device.
	Verdict Verdict
}

// EnrollmentStore keeps enrolment tokens and the enrolments made with them.
type EnrollmentStore interface {
	// CreateEnrollToken stores t, filling ID and CreatedAt when zero.
	// Returns ENOTFOUND if the school does not exist.
	CreateEnrollToken(ctx context.Context, t *EnrollToken) error
	// FindEnrollTokenByID returns ENOTFOUND if there is no such token.
	FindEnrollTokenByID(ctx context.Context, id uuid.UUID) (*EnrollToken, error)
	// FindEnrollTokens returns the tokens of these schools (nil: every
	// school), newest first, at most limit (DefaultPageSize when zero).
	FindEnrollTokens(ctx context.Context, schoolIDs []uuid.UUID, limit int) ([]*EnrollToken, error)
	// FindEnrollmentsByDevice returns a device's enrolments, newest first.
	FindEnrollmentsByDevice(ctx context.Context, deviceID uuid.UUID) ([]*Enrollment, error)
	// RevokeEnrollToken marks a token revoked. Returns ENOTFOUND.
	RevokeEnrollToken(ctx context.Context, id uuid.UUID, at time.Time) error
	// EnrollDevice checks the token with [EnrollToken.Usable], counts one
	// use, finds the school's device with the report's serial number or
	// creates one, records the report and stores the enrolment, all in one
	// transaction: on any error nothing is stored. Returns ENOTFOUND for an
	// unknown token and the codes of Usable. Fills r.Enrollment's DeviceID,
	// SchoolID, TokenID and CreatedAt and returns the device.
	EnrollDevice(ctx context.Context, r *EnrollRequest) (*Device, error)
	// FindEnrollmentByID returns ENOTFOUND if there is no such enrolment.
	FindEnrollmentByID(ctx context.Context, id uuid.UUID) (*Enrollment, error)
	// FindEnrollments returns the enrolments with the given IDs, by ID;
	// an ID with no enrolment is not in the map.
	FindEnrollments(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*Enrollment, error)
	// CreateEnrollment stores a renewal certificate for a device that is
	// already enrolled. Returns ENOTFOUND for an unknown device.
	CreateEnrollment(ctx context.Context, e *Enrollment) error
	// RevokeEnrollment marks an enrolment revoked. Returns ENOTFOUND.
	RevokeEnrollment(ctx context.Context, id uuid.UUID, at time.Time) error
	// SupersedeEnrollments revokes, at at, every unrevoked enrolment of
	// keep's device made before keep, so that a renewed certificate
	// retires the ones it replaced. Returns how many it revoked, or
	// ENOTFOUND when keep does not exist.
	SupersedeEnrollments(ctx context.Context, keep uuid.UUID, at time.Time) (int, error)
}
