package inventory

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// AuditEntry is one line of the audit log: who did what, to which record,
// in which school, when and from where. The log is append-only and
// hash-chained: each entry holds the hash of the one before it, so an entry
// changed, removed or moved in the database breaks the chain at that point
// (see [VerifyAudit]).
type AuditEntry struct {
	Seq      int64     // 1, 2, 3, ... in the order entries were appended
	At       time.Time // stored truncated to microseconds, UTC
	ActorID  uuid.UUID // the person, or uuid.Nil for the system or an agent
	Actor    string    // the person's email, "system", or "agent"
	SchoolID uuid.UUID // uuid.Nil when the action is not about one school
	Action   string    // e.g. "session.signin", "enrollment.revoke"
	Record   string    // e.g. "device/0190...", "user/0190..."; may be empty
	Addr     string    // the remote address the request came from
	Detail   string    // a few words for people; never a secret
	PrevHash []byte    // Hash of the entry before, or nil for the first
	Hash     []byte    // [AuditEntry.ComputeHash] when appended
}

// The longest text each audit field holds, in bytes.
const (
	maxAuditAction = 100
	maxAuditActor  = 320
	maxAuditRecord = 200
	maxAuditAddr   = 100
	maxAuditDetail = 1000
)

// Fit cuts the entry's text fields to what they may hold, at a UTF-8
// boundary, and drops invalid UTF-8 and NUL characters, so that an entry
// built from outside input is never refused (and so never lost) for its
// size. The detail says where it was cut.
func (e *AuditEntry) Fit() {
	e.Action = fitText(e.Action, maxAuditAction, "")
	e.Actor = fitText(e.Actor, maxAuditActor, "")
	e.Record = fitText(e.Record, maxAuditRecord, "")
	e.Addr = fitText(e.Addr, maxAuditAddr, "")
	e.Detail = fitText(e.Detail, maxAuditDetail, " …(cut)")
}

func fitText(s string, n int, mark string) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, ""), "\x00", "")
	if len(s) <= n {
		return s
	}
	s = s[:n-len(mark)]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + mark
}

// Validate checks the fields a caller fills.
func (e *AuditEntry) Validate() error {
	switch {
	case e.Action == "" || len(e.Action) > maxAuditAction:
		return Errorf(EINVALID, "audit action: give 1-%d bytes", maxAuditAction)
	case e.Actor == "" || len(e.Actor) > maxAuditActor:
		return Errorf(EINVALID, "audit actor: give 1-%d bytes", maxAuditActor)
	case len(e.Record) > maxAuditRecord:
		return Errorf(EINVALID, "audit record: at most %d bytes", maxAuditRecord)
	case len(e.Addr) > maxAuditAddr:
		return Errorf(EINVALID, "audit address: at most %d bytes", maxAuditAddr)
	case len(e.Detail) > maxAuditDetail:
		return Errorf(EINVALID, "audit detail: at most %d bytes", maxAuditDetail)
	case e.At.IsZero():
		return Errorf(EINVALID, "audit time: missing")
	}
	var v validator
	v.strs("audit", map[string]string{"action": e.Action, "actor": e.Actor, "record": e.Record, "addr": e.Addr, "detail": e.Detail})
	return v.err
}

// ComputeHash returns the SHA-256 of the entry's fields and PrevHash in a
// fixed, length-prefixed encoding. The time is taken in UTC at microsecond
// precision, as stores keep it.
func (e *AuditEntry) ComputeHash() []byte {
	h := sha256.New()
	var n [8]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	binary.BigEndian.PutUint64(n[:], uint64(e.Seq))
	h.Write([]byte("rollcall-audit-v1"))
	h.Write(n[:])
	field([]byte(e.At.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano)))
	field(e.ActorID[:])
	field([]byte(e.Actor))
	field(e.SchoolID[:])
	field([]byte(e.Action))
	field([]byte(e.Record))
	field([]byte(e.Addr))
	field([]byte(e.Detail))
	field(e.PrevHash)
	return h.Sum(nil)
}

// AuditFilter selects audit entries, newest first.
type AuditFilter struct {
	// SchoolIDs limits the result to entries of these schools; entries of
	// no school (such as an organisation admin's sign-in) are left out. A
	// nil slice means every entry.
	SchoolIDs []uuid.UUID
	ActorID   uuid.UUID // uuid.Nil means anyone
	Action    string    // prefix, e.g. "session." ; empty means any
	Since     time.Time // at or after; zero means no bound
	Until     time.Time // before; zero means no bound
	Before    int64     // keyset cursor: only Seq < Before; zero means no bound
	Limit     int       // zero or less means DefaultPageSize, capped at MaxPageSize
}

// AuditStore keeps the audit log.
type AuditStore interface {
	// AppendAudit appends e: in one transaction, and serialised with every
	// other append (on PostgreSQL across replicas too), it sets e.Seq to
	// one more than the last entry's, e.PrevHash to the last entry's Hash,
	// and e.Hash to e.ComputeHash(). Returns EINVALID when e fails
	// [AuditEntry.Validate].
	AppendAudit(ctx context.Context, e *AuditEntry) error
	// FindAudit returns the entries f selects, newest first.
	FindAudit(ctx context.Context, f AuditFilter) ([]*AuditEntry, error)
	// WalkAudit calls fn with every entry in Seq order, stopping at the
	// first error fn returns and returning it.
	WalkAudit(ctx context.Context, fn func(*AuditEntry) error) error
	// FindAuditAnchor returns where the chain starts: the last entry a
	// purge at the end of retention deleted, or the zero anchor.
	FindAuditAnchor(ctx context.Context) (AuditAnchor, error)
}

// AuditBreak is what [VerifyAudit] found wrong with the chain.
type AuditBreak struct {
	Seq    int64  // the first entry that does not fit the chain
	Reason string // changed, removed or reordered, in words
}

// Error implements error.
func (b *AuditBreak) Error() string {
	return fmt.Sprintf("audit entry %d: %s", b.Seq, b.Reason)
}

// VerifyAudit walks the log and checks the chain: sequence numbers without
// gaps, each entry's hash over its own fields, and each entry's PrevHash
// equal to the hash of the one before. The chain starts at 1, or after
// the anchor when the oldest entries were deleted at the end of their
// retention; then the log must hold the purge entry that records it, so
// entries removed by hand are not taken for a purge. It returns how many
// entries it checked and, at the first one that does not fit, an
// *AuditBreak. A purge that moves the anchor while it walks makes it walk
// again from the new one, so a verify never mistakes a purge for
// tampering.
func VerifyAudit(ctx context.Context, s AuditStore) (int64, error) {
	for {
		anchor, err := s.FindAuditAnchor(ctx)
		if err != nil {
			return 0, err
		}
		n, err := verifyFrom(ctx, s, anchor)
		var brk *AuditBreak
		if !errors.As(err, &brk) {
			return n, err
		}
		now, aerr := s.FindAuditAnchor(ctx)
		if aerr != nil {
			return n, aerr
		}
		if now.Seq == anchor.Seq {
			return n, err
		}
	}
}

// verifyFrom checks the chain from anchor; see VerifyAudit.
func verifyFrom(ctx context.Context, s AuditStore, anchor AuditAnchor) (int64, error) {
	var (
		n       = anchor.Seq
		prev    = anchor.Hash
		purged  = anchor.Seq == 0
		checked int64
	)
	err := s.WalkAudit(ctx, func(e *AuditEntry) error {
		want := n + 1
		switch {
		case e.Seq > want:
			return &AuditBreak{Seq: want, Reason: fmt.Sprintf("missing: entries %d to %d were removed", want, e.Seq-1)}
		case e.Seq < want:
			return &AuditBreak{Seq: e.Seq, Reason: "appears twice or out of order"}
		case !bytes.Equal(e.Hash, e.ComputeHash()):
			return &AuditBreak{Seq: e.Seq, Reason: "was changed after it was written: its contents no longer match its hash"}
		case !bytes.Equal(e.PrevHash, prev):
			return &AuditBreak{Seq: e.Seq, Reason: fmt.Sprintf("does not follow entry %d: the entry before it was changed, removed or reordered (expected previous hash %s)", n, short(prev))}
		}
		if e.Action == AuditActionPurge && e.Record == auditPurgeRecord(anchor.Seq) {
			purged = true
		}
		n, prev = e.Seq, e.Hash
		checked++
		return nil
	})
	if err == nil && !purged {
		err = &AuditBreak{Seq: anchor.Seq + 1, Reason: fmt.Sprintf("follows entries 1 to %d, which are gone, and no purge entry in the log records deleting them", anchor.Seq)}
	}
	return checked, err
}

func short(b []byte) string {
	if len(b) == 0 {
		return "none"
	}
	s := hex.EncodeToString(b)
	if len(s) > 12 {
		s = s[:12]
	}
	return s
}

// PageLimit returns the effective limit of f.
func (f AuditFilter) PageLimit() int { return DeviceFilter{Limit: f.Limit}.PageLimit() }
