package inventory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Retention is how long a school keeps each kind of record that ages
// out, in days. Zero keeps that kind for ever, where [RetentionKinds]
// allows it. The JSON names are the kinds' names.
type Retention struct {
	// USBEventDays keeps device events (USB insertions and removals),
	// counted from when the server received each.
	USBEventDays int `json:"usb_events"`
	// PostureDays keeps posture history, counted from when each report
	// arrived. Each device's latest posture is always kept.
	PostureDays int `json:"posture_history"`
	// PINHistoryDays keeps old PIN values, counted from when a change
	// replaced each.
	PINHistoryDays int `json:"pin_history"`
	// AuditDays keeps the audit log. The log is one chain for the whole
	// server, so the longest period of any school applies (AuditCutoff).
	AuditDays int `json:"audit_log"`
	// LoanDays keeps loans that ended (returned, declined or cancelled)
	// with their history and signed agreement, counted from the end.
	LoanDays int `json:"loans"`
}

// RetentionKind describes one kind of record with a retention period:
// its name in forms, JSON and the audit log, what people call it, the
// periods allowed and the default.
type RetentionKind struct {
	Name    string // "usb_events"
	Label   string // "USB events"
	Counted string // from when the period is counted, in words
	Default int    // days
	Min     int    // the shortest period, in days, other than for ever
	Max     int    // the longest, in days
	// Forever says whether 0, keep for ever, is allowed.
	Forever bool
	days    func(*Retention) *int
}

// Days returns the period r sets for k.
func (k RetentionKind) Days(r Retention) int { return *k.days(&r) }

// Set changes the period r sets for k.
func (k RetentionKind) Set(r *Retention, days int) { *k.days(r) = days }

// maxRetentionDays is a hundred years, the longest period of any kind.
const maxRetentionDays = 36500

// RetentionKinds are the kinds of record a school sets a period for, in
// the order pages list them.
var RetentionKinds = []RetentionKind{
	{Name: "usb_events", Label: "USB events", Counted: "from when the server received each; these are every event the agents send, USB insertions and removals",
		Default: 365, Min: 30, Max: maxRetentionDays, Forever: true,
		days: func(r *Retention) *int { return &r.USBEventDays }},
	{Name: "posture_history", Label: "Posture history", Counted: "from when each report arrived; each laptop's latest posture is always kept",
		Default: 365, Min: 30, Max: maxRetentionDays, Forever: true,
		days: func(r *Retention) *int { return &r.PostureDays }},
	{Name: "pin_history", Label: "Old PIN values", Counted: "from when a change replaced the value",
		Default: DefaultPINHistoryDays, Min: 1, Max: 3650, Forever: false,
		days: func(r *Retention) *int { return &r.PINHistoryDays }},
	{Name: "audit_log", Label: "Audit log", Counted: "from when each entry was written; the longest period of any school on this server applies",
		Default: 6 * 365, Min: 365, Max: maxRetentionDays, Forever: true,
		days: func(r *Retention) *int { return &r.AuditDays }},
	{Name: "loans", Label: "Ended loans and their signed agreements", Counted: "from when the loan was returned, declined or cancelled",
		Default: 6 * 365, Min: 365, Max: maxRetentionDays, Forever: true,
		days: func(r *Retention) *int { return &r.LoanDays }},
}

// DefaultRetention returns the periods of a school that has set none.
func DefaultRetention() Retention {
	var r Retention
	for _, k := range RetentionKinds {
		k.Set(&r, k.Default)
	}
	return r
}

// DecodeRetention reads a stored retention document; an empty one, or a
// kind it does not name, has the default.
func DecodeRetention(b []byte) (Retention, error) {
	r := DefaultRetention()
	if len(b) == 0 {
		return r, nil
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("stored retention: %w", err)
	}
	return r, nil
}

// Validate returns an EINVALID error naming the first period out of
// range.
func (r Retention) Validate() error {
	for _, k := range RetentionKinds {
		d := k.Days(r)
		switch {
		case d == 0 && k.Forever:
		case d == 0:
			return Errorf(EINVALID, "%s: give a number of days from %d to %d; these are never kept for ever", k.Label, k.Min, k.Max)
		case d < k.Min || d > k.Max:
			forever := ""
			if k.Forever {
				forever = ", or 0 to keep them for ever"
			}
			return Errorf(EINVALID, "%s: %d days is outside %d to %d%s", k.Label, d, k.Min, k.Max, forever)
		}
	}
	return nil
}

// Changes describes in words how next differs from r, kind by kind
// ("USB events 365 → 180 days"), or "" when it does not.
func (r Retention) Changes(next Retention) string {
	var parts []string
	for _, k := range RetentionKinds {
		if a, b := k.Days(r), k.Days(next); a != b {
			parts = append(parts, fmt.Sprintf("%s %s → %s", k.Label, periodText(a), periodText(b)))
		}
	}
	return strings.Join(parts, "; ")
}

// String lists r's periods in words: "USB events 365 days; ...".
func (r Retention) String() string {
	parts := make([]string, len(RetentionKinds))
	for i, k := range RetentionKinds {
		parts[i] = k.Label + " " + periodText(k.Days(r))
	}
	return strings.Join(parts, "; ")
}

// periodText is a period in words: "365 days" or "for ever".
func periodText(days int) string {
	if days == 0 {
		return "for ever"
	}
	return fmt.Sprintf("%d days", days)
}

// RetentionCutoffs are the times before which a school's records are
// deleted, kind by kind; a zero time keeps every record of its kind.
type RetentionCutoffs struct {
	USBEvents  time.Time
	Posture    time.Time
	PINHistory time.Time
	Loans      time.Time
	// Today is the start of the day the cutoffs were made for. An old
	// posture snapshot goes only when the device has a newer one received
	// before Today, so what a day's purges delete is fixed when the day
	// starts. Zero: any newer snapshot will do.
	Today time.Time
}

// Cutoffs returns the cutoffs of r at now. Each period is counted back
// from the start of now's day (UTC), so every sweep of one day deletes
// up to the same time and only the first of them finds anything.
func (r Retention) Cutoffs(now time.Time) RetentionCutoffs {
	return RetentionCutoffs{
		USBEvents:  cutoff(r.USBEventDays, now),
		Posture:    cutoff(r.PostureDays, now),
		PINHistory: cutoff(r.PINHistoryDays, now),
		Loans:      cutoff(r.LoanDays, now),
		Today:      startOfDay(now),
	}
}

// RetentionCutoffs returns the cutoffs the purge uses for the school at
// now. Until someone saves the school's periods (RetentionSet), nothing
// is deleted for its age but old PIN values, as before periods could be
// set.
func (sc *School) RetentionCutoffs(now time.Time) RetentionCutoffs {
	c := sc.Retention.Cutoffs(now)
	if !sc.RetentionSet {
		c = RetentionCutoffs{PINHistory: c.PINHistory, Today: c.Today}
	}
	return c
}

// cutoff counts days back from the start of now's UTC day, or returns
// the zero time for 0 days (keep for ever).
func cutoff(days int, now time.Time) time.Time {
	if days <= 0 {
		return time.Time{}
	}
	return startOfDay(now).AddDate(0, 0, -days)
}

// startOfDay returns the start of t's UTC day.
func startOfDay(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }

// AuditDaysApplied returns the audit period that applies given every
// school's: the audit log is one hash chain for the whole server, cut
// only from its oldest end, so the longest period applies. It is 0 (keep
// every entry) when a school keeps the log for ever or has not saved its
// periods yet, or there are no schools.
func AuditDaysApplied(schools []*School) int {
	longest := 0
	for _, sc := range schools {
		d := sc.Retention.AuditDays
		if d == 0 || !sc.RetentionSet {
			return 0
		}
		longest = max(longest, d)
	}
	return longest
}

// AuditCutoff returns the time before which audit entries are deleted,
// given every school's periods (see [AuditDaysApplied]), or the zero
// time to keep them all.
func AuditCutoff(schools []*School, now time.Time) time.Time {
	return cutoff(AuditDaysApplied(schools), now)
}

// RetentionCounts counts records, kind by kind, that a purge deletes or
// would delete.
type RetentionCounts struct {
	USBEvents  int `json:"usb_events"`
	Posture    int `json:"posture_history"`
	PINHistory int `json:"pin_history"`
	Loans      int `json:"loans"`
	// Agreements counts the signed agreements of those loans.
	Agreements int `json:"agreements"`
}

// Total returns how many records c counts, agreements among their loans.
func (c RetentionCounts) Total() int { return c.USBEvents + c.Posture + c.PINHistory + c.Loans }

// String says what c counts, in words for people and the audit log:
// "12 USB events, 3 posture reports", or "nothing".
func (c RetentionCounts) String() string {
	var parts []string
	add := func(n int, one, many string) {
		switch {
		case n == 1:
			parts = append(parts, "1 "+one)
		case n > 1:
			parts = append(parts, fmt.Sprintf("%d %s", n, many))
		}
	}
	add(c.USBEvents, "USB event", "USB events")
	add(c.Posture, "posture report", "posture reports")
	add(c.PINHistory, "old PIN value", "old PIN values")
	add(c.Loans, "ended loan", "ended loans")
	add(c.Agreements, "signed agreement", "signed agreements")
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// AuditAnchor is where the audit chain starts after the oldest entries
// were deleted at the end of their retention: the sequence number and
// hash of the last entry deleted. The first entry kept follows it. The
// zero AuditAnchor means no entry was ever deleted.
type AuditAnchor struct {
	Seq      int64
	Hash     []byte
	PurgedAt time.Time // when the entries were deleted
}

// Extra returns what c counts beyond base, kind by kind, never below
// zero: what a change of periods adds to what the next purge deletes.
// Each kind's cutoffs nest, so when c and base are the counts of one
// school under two periods, Extra counts exactly the records only the
// shorter one deletes.
func (c RetentionCounts) Extra(base RetentionCounts) RetentionCounts {
	d := func(a, b int) int { return max(0, a-b) }
	return RetentionCounts{USBEvents: d(c.USBEvents, base.USBEvents), Posture: d(c.Posture, base.Posture),
		PINHistory: d(c.PINHistory, base.PINHistory), Loans: d(c.Loans, base.Loans), Agreements: d(c.Agreements, base.Agreements)}
}

// AuditActionPurge is the action of the entry a purge of the audit log
// appends (see [AuditPurgeEntry]).
const AuditActionPurge = "audit.purge"

// AuditPurgeEntry returns the entry a store appends, in the transaction
// that deletes audit entries first to a.Seq, to record that it did. Its
// record names a.Seq, so [VerifyAudit] can tell a purge from a removal.
func AuditPurgeEntry(first int64, a AuditAnchor, before time.Time) *AuditEntry {
	return &AuditEntry{
		At: a.PurgedAt, Actor: "system", Action: AuditActionPurge, Record: auditPurgeRecord(a.Seq),
		Detail: fmt.Sprintf("deleted audit entries %d to %d, all written before %s, at the end of the longest retention period of any school; entry %d had hash %x",
			first, a.Seq, before.UTC().Format(time.DateOnly), a.Seq, a.Hash),
	}
}

// auditPurgeRecord is the record of the purge entry for entries up to
// seq.
func auditPurgeRecord(seq int64) string { return fmt.Sprintf("audit/%d", seq) }

// RetentionPurgeEntry returns the audit entry that records what a purge
// of the school's records deleted, at time at.
func RetentionPurgeEntry(sc *School, n RetentionCounts, at time.Time) *AuditEntry {
	e := &AuditEntry{At: at, Actor: "system", SchoolID: sc.ID, Action: AuditActionRetentionPurge,
		Record: "school/" + sc.Slug, Detail: "deleted at the end of their retention periods: " + n.String()}
	e.Fit()
	return e
}

// RetentionStore deletes records at the end of their school's retention
// periods. Deleting is the only way records of these kinds leave the
// store, and each delete is one transaction.
type RetentionStore interface {
	// SetSchoolRetention replaces a school's periods. Returns EINVALID
	// for periods that fail [Retention.Validate], and ENOTFOUND.
	SetSchoolRetention(ctx context.Context, schoolID uuid.UUID, r Retention) error
	// CountExpired counts the school's records that PurgeExpired with the
	// same cutoffs would delete.
	CountExpired(ctx context.Context, schoolID uuid.UUID, c RetentionCutoffs) (RetentionCounts, error)
	// PurgeExpired deletes, in one transaction, the school's records
	// older than their kind's cutoff: device events received before
	// c.USBEvents; posture snapshots received before c.Posture that have
	// a newer one of the same device received before c.Today (any newer
	// one when c.Today is zero); old PIN values replaced before
	// c.PINHistory, with a "purge" entry per asset in the PIN log; and
	// loans returned, declined or cancelled before c.Loans, with their
	// history and signed agreement. A zero cutoff deletes nothing of its
	// kind. When it deletes anything it appends [RetentionPurgeEntry] at
	// time at in the same transaction, so no deletion goes unaudited.
	// Purges of one school are serialised (on PostgreSQL across replicas
	// too), so of two at once the second finds nothing. Returns what it
	// deleted; an unknown school has nothing.
	PurgeExpired(ctx context.Context, schoolID uuid.UUID, c RetentionCutoffs, at time.Time) (RetentionCounts, error)
	// CountAuditBefore counts the audit entries PurgeAudit(before) would
	// delete: none for a zero before.
	CountAuditBefore(ctx context.Context, before time.Time) (int64, error)
	// PurgeAudit deletes the oldest part of the audit log, every entry
	// before the first one written at or after before, and in the same
	// transaction keeps the last deleted entry as the anchor (see
	// [AuditStore.FindAuditAnchor]) and appends [AuditPurgeEntry] at
	// time at (the store's current time when at is zero). A zero before
	// deletes nothing. Returns the new anchor, or the zero anchor when
	// there was nothing to delete (and nothing was appended).
	PurgeAudit(ctx context.Context, before, at time.Time) (AuditAnchor, error)
}

// AuditActionRetentionPurge is the action of the audit entry that records
// what a school's purge deleted.
const AuditActionRetentionPurge = "retention.purge"

// PurgeStore is what [PurgeExpiredRecords] works on.
type PurgeStore interface {
	RetentionStore
	AuditStore
}

// PurgeResult is what one run of [PurgeExpiredRecords] deleted.
type PurgeResult struct {
	Schools map[uuid.UUID]RetentionCounts // schools it deleted something of
	Audit   int64                         // audit entries deleted
}

// PurgeExpiredRecords deletes, at now, every record of schools (every
// school of the store) past the end of its school's retention period
// (see [School.RetentionCutoffs]). For each school that had anything to
// delete the store appends a "retention.purge" audit entry saying what
// went; then it cuts the audit log at [AuditCutoff], which the store
// records with its own entry. Cutoffs fall at the start of a day, so
// every run after the first of a day deletes nothing and writes nothing,
// and several replicas may run it. A school whose purge fails does not
// stop the others; the errors are joined.
func PurgeExpiredRecords(ctx context.Context, s PurgeStore, schools []*School, now time.Time) (PurgeResult, error) {
	res := PurgeResult{Schools: map[uuid.UUID]RetentionCounts{}}
	var errs []error
	for _, sc := range schools {
		n, err := s.PurgeExpired(ctx, sc.ID, sc.RetentionCutoffs(now), now)
		if err != nil {
			errs = append(errs, fmt.Errorf("purge %s: %w", sc.Slug, err))
			continue
		}
		if n.Total() > 0 {
			res.Schools[sc.ID] = n
		}
	}
	if before := AuditCutoff(schools, now); !before.IsZero() {
		prev, err := s.FindAuditAnchor(ctx)
		if err != nil {
			errs = append(errs, err)
		} else if a, err := s.PurgeAudit(ctx, before, now); err != nil {
			errs = append(errs, fmt.Errorf("purge the audit log: %w", err))
		} else if a.Seq > 0 {
			res.Audit = a.Seq - prev.Seq
		}
	}
	return res, errors.Join(errs...)
}
