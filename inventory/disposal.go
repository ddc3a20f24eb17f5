package inventory

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// DisposalMethod is how kit left the school.
type DisposalMethod string

// Disposal methods.
const (
	DisposalWEEE           DisposalMethod = "weee_recycler"    // a licensed WEEE recycler
	DisposalDestruction    DisposalMethod = "data_destruction" // a data destruction service
	DisposalResale         DisposalMethod = "resale"
	DisposalReturnToLessor DisposalMethod = "return_to_lessor"
)

// DisposalMethods lists every method, in the order pages offer them.
var DisposalMethods = []DisposalMethod{DisposalWEEE, DisposalDestruction, DisposalResale, DisposalReturnToLessor}

// MaxCertificateBytes is the largest certificate of destruction kept.
const MaxCertificateBytes = 10 << 20

// Disposal records kit leaving the school for good: how, when, to whom,
// and the certificate of secure data destruction where there is one. A
// disposed entry stays in the register, read-only, and its PINs are gone.
type Disposal struct {
	AssetID   uuid.UUID
	SchoolID  uuid.UUID
	Method    DisposalMethod
	Date      time.Time // the day it left (midnight UTC)
	Recipient string    // the company or person it went to
	Notes     string
	// Certificate is the uploaded file, its name as uploaded, its media
	// type and the hex SHA-256 of its bytes; empty when none was given.
	Certificate     []byte
	CertificateName string
	CertificateType string
	CertificateSHA  string
	RecordedBy      uuid.UUID
	RecordedAt      time.Time
}

// Validate checks a disposal's fields, naming the first problem.
func (d *Disposal) Validate(now time.Time) error {
	switch {
	case !containsMethod(d.Method):
		return Errorf(EINVALID, "method %q: use %s", d.Method, joinQuoted(DisposalMethods))
	case d.Date.IsZero():
		return Errorf(EINVALID, "date: give the day the kit left")
	case d.Date.After(now):
		return Errorf(EINVALID, "date %s is in the future", d.Date.Format(time.DateOnly))
	case strings.TrimSpace(d.Recipient) == "":
		return Errorf(EINVALID, "recipient: say who took the kit")
	case utf8.RuneCountInString(d.Recipient) > maxAssetText:
		return Errorf(EINVALID, "recipient: at most %d characters", maxAssetText)
	case utf8.RuneCountInString(d.Notes) > maxAssetNotes:
		return Errorf(EINVALID, "notes: at most %d characters", maxAssetNotes)
	case len(d.Certificate) > MaxCertificateBytes:
		return Errorf(EINVALID, "certificate: at most %d MB", MaxCertificateBytes>>20)
	case d.Method == DisposalDestruction && len(d.Certificate) == 0:
		return Errorf(EINVALID, "certificate: a data destruction service gives a certificate of destruction; upload it")
	}
	return nil
}

func containsMethod(m DisposalMethod) bool {
	for _, v := range DisposalMethods {
		if v == m {
			return true
		}
	}
	return false
}

// DisposalStore keeps disposals.
type DisposalStore interface {
	// DisposeAsset records d and, in the same transaction, sets the
	// asset's status to disposed and deletes its PIN records and their
	// history (logging a "purge" in the PIN log). It fills SchoolID and
	// RecordedAt. Returns ENOTFOUND for unknown kit, ECONFLICT when the
	// kit is disposed already, named by an open loan, or signed out, and
	// EINVALID from [Disposal.Validate].
	DisposeAsset(ctx context.Context, d *Disposal) error
	// FindDisposal returns the disposal of an asset, with its certificate,
	// or ENOTFOUND.
	FindDisposal(ctx context.Context, assetID uuid.UUID) (*Disposal, error)
}
