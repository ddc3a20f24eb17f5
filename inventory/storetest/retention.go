package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// day is a day, for the retention tests.
const day = 24 * time.Hour

// retentionCut is the cutoff of every kind in the retention tests: ten
// days after t0.
var retentionCut = t0.Add(10 * day)

// retentionSet is a store's records of two schools, a and b, each with
// records of every kind on both sides of retentionCut.
type retentionSet struct {
	a, b *staff

	// Events of a received before the cutoff, of a received at it, and
	// of b received before it.
	oldEvents, keptEvents, theirEvents []uuid.UUID

	// Devices of a: one with a snapshot after the cutoff, one whose
	// every snapshot is old (the last two received at the same time),
	// and one with only its first; and a device of b.
	recent, stale, single, their *inventory.Device
	// The devices' snapshots, newest first, before any purge.
	snapshots map[uuid.UUID][]uuid.UUID

	// PIN records: of kit of a with two values replaced before the
	// cutoff and one at it, of other kit of a with one, and of kit of b
	// with one.
	pinA, pinA2, pinB *inventory.PINRecord

	// Loans of a: open ones that started long ago, ones that ended long
	// ago, and one that ended after the cutoff; and one of b that ended
	// long ago. As stored before any purge.
	open, ended          []*inventory.Loan
	endedLate, theirLoan *inventory.Loan
}

// wantA and wantB are what a purge of school a, and of school b, at
// retentionCut deletes from a retentionSet.
var (
	wantA = inventory.RetentionCounts{USBEvents: 3, Posture: 4, PINHistory: 3, Loans: 3, Agreements: 2}
	wantB = inventory.RetentionCounts{USBEvents: 1, Posture: 1, PINHistory: 1, Loans: 1, Agreements: 1}
)

// allCut are the cutoffs of every kind at retentionCut.
var allCut = inventory.RetentionCutoffs{USBEvents: retentionCut, Posture: retentionCut, PINHistory: retentionCut, Loans: retentionCut}

// purgeAt is when the retention tests' purges run: the time of the audit
// entry each appends.
var purgeAt = retentionCut.Add(20*day + time.Hour)

func (e *env) retentionSet() *retentionSet {
	e.t.Helper()
	set := &retentionSet{a: e.staff("a", inventory.LoanSettings{}), b: e.staff("b", inventory.LoanSettings{}),
		snapshots: map[uuid.UUID][]uuid.UUID{}}
	e.retentionDevices(set)
	e.retentionPINs(set)
	e.retentionLoans(set)
	return set
}

// retentionDevices enrols the set's devices, each with its first
// snapshot at t0, and gives them events and more snapshots.
func (e *env) retentionDevices(set *retentionSet) {
	e.t.Helper()
	tokA, tokB := e.token(set.a.school.ID, 3), e.token(set.b.school.ID, 1)
	set.recent, _ = e.enroll(tokA, "RECENT")
	set.stale, _ = e.enroll(tokA, "STALE")
	set.single, _ = e.enroll(tokA, "SINGLE")
	set.their, _ = e.enroll(tokB, "THEIRS")

	events := func(d *inventory.Device, at time.Time, types ...string) []uuid.UUID {
		e.t.Helper()
		var (
			all []*inventory.Event
			ids []uuid.UUID
		)
		for i, typ := range types {
			ev := event(typ, time.Duration(i)*time.Second)
			all, ids = append(all, ev), append(ids, ev.ID)
		}
		if _, err := e.s.AppendEvents(e.ctx, d.ID, all, at); err != nil {
			e.t.Fatalf("AppendEvents: %v", err)
		}
		return ids
	}
	// Events of every type go: "USB events" are simply the only ones
	// agents send.
	set.oldEvents = append(events(set.recent, t0, inventory.EventUSBInserted, "agent.started"),
		events(set.stale, retentionCut.Add(-time.Microsecond), inventory.EventUSBRemoved)...)
	set.keptEvents = events(set.recent, retentionCut, inventory.EventUSBInserted) // not strictly before
	set.theirEvents = events(set.their, t0, inventory.EventUSBInserted)

	checkIn := func(d *inventory.Device, at time.Time) {
		e.t.Helper()
		r := report(d.Serial)
		if err := e.s.RecordCheckIn(e.ctx, inventory.CheckIn{DeviceID: d.ID, Hash: hashOf(r), Report: &r, At: at}); err != nil {
			e.t.Fatalf("RecordCheckIn: %v", err)
		}
	}
	checkIn(set.recent, t0.Add(day))
	checkIn(set.recent, retentionCut.Add(10*day))
	checkIn(set.stale, t0.Add(2*day))
	checkIn(set.stale, t0.Add(2*day))
	checkIn(set.their, t0.Add(day))
	for _, d := range []*inventory.Device{set.recent, set.stale, set.single, set.their} {
		set.snapshots[d.ID] = e.snapshotIDs(d.ID)
	}
}

// retentionPINs stores the set's PIN records and their old values.
func (e *env) retentionPINs(set *retentionSet) {
	e.t.Helper()
	a, b := set.a, set.b
	kitA, kitA2, kitB := e.asset(a.school.ID, "PIN-A", ""), e.asset(a.school.ID, "PIN-A2", ""), e.asset(b.school.ID, "PIN-B", "")
	set.pinA = e.pinSet(kitA, inventory.PINDevicePasscode, "a0", a.tech.ID, t0)
	e.pinSet(kitA, inventory.PINDevicePasscode, "a1", a.tech.ID, t0.Add(time.Hour))
	e.pinSet(kitA, inventory.PINDevicePasscode, "a2", a.tech.ID, t0.Add(2*time.Hour))
	e.pinSet(kitA, inventory.PINDevicePasscode, "a3", a.tech.ID, retentionCut) // a2 is replaced at the cutoff: kept
	set.pinA2 = e.pinSet(kitA2, inventory.PINFirmwarePassword, "c0", a.tech.ID, t0)
	e.pinSet(kitA2, inventory.PINFirmwarePassword, "c1", a.tech.ID, t0.Add(time.Hour))
	set.pinB = e.pinSet(kitB, inventory.PINAppleIDNote, "b0", b.tech.ID, t0)
	e.pinSet(kitB, inventory.PINAppleIDNote, "b1", b.tech.ID, t0.Add(time.Hour))
}

// retentionLoans stores the set's loans, one in every status, and sets
// when they last changed by hand: a store sets it to its own time.
func (e *env) retentionLoans(set *retentionSet) {
	e.t.Helper()
	a := set.a
	kit := func(st *staff, serial string) *inventory.Asset { return e.asset(st.school.ID, serial, "") }
	returned := func(st *staff, serial string) *inventory.Loan {
		l := e.lend(st, kit(st, serial), t0) // signed an agreement
		do(e.t, l.Return(st.tech.ID, "fine", "", t0.Add(time.Hour)))
		e.mustSave(l, "returned", st.tech.ID, t0.Add(time.Hour), nil)
		return l
	}

	requested := e.newLoan(a, kit(a, "LOAN-REQUESTED"))
	approved := e.newLoan(a, kit(a, "LOAN-APPROVED"))
	do(e.t, approved.Approve(a.head.ID, inventory.RoleHeadteacher, t0))
	e.mustSave(approved, "approved", a.head.ID, t0, nil)
	signed := e.ready(a, kit(a, "LOAN-SIGNED"))
	onLoan := e.lend(a, kit(a, "LOAN-ON-LOAN"), t0)

	declined := e.newLoan(a, kit(a, "LOAN-DECLINED"))
	do(e.t, declined.Decline(a.head.ID, "No spare laptops", t0))
	e.mustSave(declined, "declined", a.head.ID, t0, nil)
	cancelled := e.ready(a, kit(a, "LOAN-CANCELLED")) // signed an agreement
	do(e.t, cancelled.Cancel())
	e.mustSave(cancelled, "cancelled", a.borrower.ID, t0, nil)

	open := []*inventory.Loan{requested, approved, signed, onLoan}
	ended := []*inventory.Loan{returned(a, "LOAN-RETURNED"), declined, cancelled}
	endedLate := returned(a, "LOAN-RETURNED-LATE")
	theirs := returned(set.b, "LOAN-THEIRS")

	// Every loan changed last at t0, long ago, but the one that ended
	// after the cutoff.
	var ids []string
	for _, l := range slices.Concat(open, ended, []*inventory.Loan{theirs}) {
		ids = append(ids, "'"+l.ID.String()+"'")
	}
	e.setLoansUpdated(t0, ids...)
	e.setLoansUpdated(retentionCut.Add(day), "'"+endedLate.ID.String()+"'")

	for _, l := range open {
		set.open = append(set.open, e.findLoan(l.ID))
	}
	for _, l := range ended {
		set.ended = append(set.ended, e.findLoan(l.ID))
	}
	set.endedLate, set.theirLoan = e.findLoan(endedLate.ID), e.findLoan(theirs.ID)
}

// setLoansUpdated sets by hand when the loans of quoted IDs last changed.
func (e *env) setLoansUpdated(at time.Time, quotedIDs ...string) {
	e.t.Helper()
	raw, ok := e.s.(RawExecer)
	if !ok {
		e.t.Fatalf("%T does not implement storetest.RawExecer, so the suite cannot age loans", e.s)
	}
	// Both databases read this form of a time.
	if err := raw.ExecRaw(e.ctx, `UPDATE loans SET updated_at = '`+ts(at).Format("2006-01-02T15:04:05.000000Z")+
		`' WHERE id IN (`+strings.Join(quotedIDs, ", ")+`)`); err != nil {
		e.t.Fatalf("set when loans changed: %v", err)
	}
}

// snapshotIDs returns the IDs of a device's posture snapshots, newest
// first.
func (e *env) snapshotIDs(deviceID uuid.UUID) []uuid.UUID {
	e.t.Helper()
	all, err := e.s.FindPostureSnapshots(e.ctx, deviceID, inventory.MaxPageSize)
	if err != nil {
		e.t.Fatalf("FindPostureSnapshots: %v", err)
	}
	ids := []uuid.UUID{}
	for _, p := range all {
		ids = append(ids, p.ID)
	}
	return ids
}

// eventIDs returns the IDs of a school's events, sorted.
func (e *env) eventIDs(schoolID uuid.UUID) []uuid.UUID {
	e.t.Helper()
	all, err := e.s.FindEvents(e.ctx, inventory.EventFilter{SchoolIDs: []uuid.UUID{schoolID}, Limit: inventory.MaxPageSize})
	if err != nil {
		e.t.Fatalf("FindEvents: %v", err)
	}
	ids := []uuid.UUID{}
	for _, ev := range all {
		ids = append(ids, ev.ID)
	}
	return sortIDs(ids)
}

// sortIDs sorts ids in place and returns them.
func sortIDs(ids []uuid.UUID) []uuid.UUID {
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	return ids
}

// countExpired and purgeExpired call the store, failing the test on
// error.
func (e *env) countExpired(schoolID uuid.UUID, c inventory.RetentionCutoffs) inventory.RetentionCounts {
	e.t.Helper()
	n, err := e.s.CountExpired(e.ctx, schoolID, c)
	if err != nil {
		e.t.Fatalf("CountExpired: %v", err)
	}
	return n
}

// purgeExpired purges at purgeAt.
func (e *env) purgeExpired(schoolID uuid.UUID, c inventory.RetentionCutoffs) inventory.RetentionCounts {
	e.t.Helper()
	n, err := e.s.PurgeExpired(e.ctx, schoolID, c, purgeAt)
	if err != nil {
		e.t.Fatalf("PurgeExpired: %v", err)
	}
	return n
}

// minus returns a less b, kind by kind.
func minus(a, b inventory.RetentionCounts) inventory.RetentionCounts {
	return inventory.RetentionCounts{USBEvents: a.USBEvents - b.USBEvents, Posture: a.Posture - b.Posture,
		PINHistory: a.PINHistory - b.PINHistory, Loans: a.Loans - b.Loans, Agreements: a.Agreements - b.Agreements}
}

// plus returns a and b added, kind by kind.
func plus(a, b inventory.RetentionCounts) inventory.RetentionCounts {
	return minus(a, minus(inventory.RetentionCounts{}, b))
}

// purgeAudit calls the store, failing the test on error.
func (e *env) purgeAudit(before, at time.Time) inventory.AuditAnchor {
	e.t.Helper()
	a, err := e.s.PurgeAudit(e.ctx, before, at)
	if err != nil {
		e.t.Fatalf("PurgeAudit: %v", err)
	}
	return a
}

func (e *env) countAuditBefore(before time.Time) int64 {
	e.t.Helper()
	n, err := e.s.CountAuditBefore(e.ctx, before)
	if err != nil {
		e.t.Fatalf("CountAuditBefore: %v", err)
	}
	return n
}

func (e *env) auditAnchor() inventory.AuditAnchor {
	e.t.Helper()
	a, err := e.s.FindAuditAnchor(e.ctx)
	if err != nil {
		e.t.Fatalf("FindAuditAnchor: %v", err)
	}
	return a
}

// purgeEntry returns the entry a purge from first to anchor a at
// cutoff before appends after prev.
func purgeEntry(first int64, a inventory.AuditAnchor, before time.Time, prev *inventory.AuditEntry) *inventory.AuditEntry {
	p := inventory.AuditPurgeEntry(first, a, before)
	p.Seq, p.At, p.PrevHash = prev.Seq+1, ts(p.At), prev.Hash
	p.Hash = p.ComputeHash()
	return p
}

func (su suite) testRetentionStore(t *testing.T) {
	t.Run("SetSchoolRetention", func(t *testing.T) {
		e := su.fresh(t)
		sc := e.school("a")
		other := e.school("b")
		// Until someone saves them, a school has the default periods,
		// not set.
		type stored struct {
			Retention inventory.Retention
			Set       bool
		}
		storedOf := func(sc *inventory.School) stored { return stored{sc.Retention, sc.RetentionSet} }
		defaults := stored{inventory.DefaultRetention(), false}
		equal(t, "periods of a new school", storedOf(sc), defaults)
		got, err := e.s.FindSchoolByID(e.ctx, sc.ID)
		do(t, err)
		equal(t, "stored periods of a new school", storedOf(got), defaults)

		r := inventory.Retention{USBEventDays: 30, PostureDays: 0, PINHistoryDays: 7, AuditDays: 365, LoanDays: 0}
		do(t, e.s.SetSchoolRetention(e.ctx, sc.ID, r))
		got, err = e.s.FindSchoolByID(e.ctx, sc.ID)
		do(t, err)
		equal(t, "FindSchoolByID", storedOf(got), stored{r, true})
		got, err = e.s.FindSchoolBySlug(e.ctx, "a")
		do(t, err)
		equal(t, "FindSchoolBySlug", storedOf(got), stored{r, true})
		schools, err := e.s.FindSchools(e.ctx)
		do(t, err)
		equal(t, "FindSchools", []stored{storedOf(schools[0]), storedOf(schools[1])}, []stored{{r, true}, defaults})

		// Saving the defaults sets them: the school has chosen them.
		do(t, e.s.SetSchoolRetention(e.ctx, other.ID, inventory.DefaultRetention()))
		got, err = e.s.FindSchoolByID(e.ctx, other.ID)
		do(t, err)
		equal(t, "defaults saved", storedOf(got), stored{inventory.DefaultRetention(), true})

		for _, tc := range []struct {
			name   string
			change func(r *inventory.Retention)
			msg    string
		}{
			{"PINHistoryForever", func(r *inventory.Retention) { r.PINHistoryDays = 0 }, "Old PIN values"},
			{"EventsTooShort", func(r *inventory.Retention) { r.USBEventDays = 29 }, "USB events"},
			{"AuditTooLong", func(r *inventory.Retention) { r.AuditDays = 36501 }, "Audit log"},
			{"LoansNegative", func(r *inventory.Retention) { r.LoanDays = -1 }, "Ended loans"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				bad := r
				tc.change(&bad)
				err := e.s.SetSchoolRetention(e.ctx, sc.ID, bad)
				wantCode(t, err, inventory.EINVALID)
				wantMessage(t, err, tc.msg)
				got, err := e.s.FindSchoolByID(e.ctx, sc.ID)
				do(t, err)
				equal(t, "periods after a refusal", storedOf(got), stored{r, true})
			})
		}
		wantCode(t, e.s.SetSchoolRetention(e.ctx, uuid.New(), r), inventory.ENOTFOUND)

		// A new school has the defaults, not set, whatever it is given.
		c := &inventory.School{Slug: "c", Name: "School c", Retention: r, RetentionSet: true}
		do(t, e.s.CreateSchool(e.ctx, c))
		equal(t, "periods of a new school given some", storedOf(c), defaults)
		got, err = e.s.FindSchoolByID(e.ctx, c.ID)
		do(t, err)
		equal(t, "stored periods of a new school given some", storedOf(got), defaults)

		// A stored document that names some kinds only has the defaults
		// for the others.
		raw, ok := e.s.(RawExecer)
		if !ok {
			t.Fatalf("%T does not implement storetest.RawExecer", e.s)
		}
		do(t, raw.ExecRaw(e.ctx, `UPDATE schools SET retention = '{"usb_events": 90}' WHERE id = '`+other.ID.String()+`'`))
		got, err = e.s.FindSchoolByID(e.ctx, other.ID)
		do(t, err)
		want := inventory.DefaultRetention()
		want.USBEventDays = 90
		equal(t, "periods of a partial document", storedOf(got), stored{want, true})
	})

	t.Run("PurgeExpired", func(t *testing.T) {
		e := su.fresh(t)
		set := e.retentionSet()
		a, b := set.a.school.ID, set.b.school.ID
		equal(t, "CountExpired", e.countExpired(a, allCut), wantA)
		equal(t, "CountExpired of the other school", e.countExpired(b, allCut), wantB)
		logged := e.pinLog(inventory.PINLogFilter{})
		equal(t, "PurgeExpired", e.purgeExpired(a, allCut), wantA)

		// Events received before the cutoff go, of every type.
		equal(t, "events kept", e.eventIDs(a), sortIDs(slices.Clone(set.keptEvents)))
		equal(t, "events of the other school", e.eventIDs(b), set.theirEvents)

		// Old snapshots go when the device has a newer one: each device
		// keeps its latest, however old.
		for _, tc := range []struct {
			name string
			d    *inventory.Device
			want []uuid.UUID
		}{
			{"Recent", set.recent, set.snapshots[set.recent.ID][:1]},
			{"Stale", set.stale, set.snapshots[set.stale.ID][:1]},
			{"Single", set.single, set.snapshots[set.single.ID]},
			{"OtherSchool", set.their, set.snapshots[set.their.ID]},
		} {
			equal(t, tc.name+" device's snapshots", e.snapshotIDs(tc.d.ID), tc.want)
		}
		equal(t, "snapshots the stale device had", len(set.snapshots[set.stale.ID]), 3)
		latest, err := e.s.FindLatestPosture(e.ctx, set.stale.ID)
		do(t, err)
		equal(t, "stale device's latest posture", latest.ID, set.snapshots[set.stale.ID][0])

		// Old PIN values go, each piece of kit's logged as one purge.
		h := e.pinHistory(set.pinA.ID)
		if len(h) != 1 || string(h[0].Sealed) != "a2" || !h[0].ReplacedAt.Equal(ts(retentionCut)) {
			t.Errorf("history of kit a after the purge: %s", dump(h))
		}
		equal(t, "history of other kit", e.pinHistory(set.pinA2.ID), []*inventory.PINHistory{})
		equal(t, "history of the other school's kit", len(e.pinHistory(set.pinB.ID)), 1)
		log := e.pinLog(inventory.PINLogFilter{})
		equal(t, "PIN log entries added", len(log)-len(logged), 2)
		for _, tc := range []struct {
			asset  uuid.UUID
			reason string
		}{
			{set.pinA.AssetID, "2 old values deleted at the end of their retention"},
			{set.pinA2.AssetID, "1 old value deleted at the end of its retention"},
		} {
			l := e.pinLog(inventory.PINLogFilter{AssetID: tc.asset})[0]
			wantV7(t, "entry ID", l.ID)
			equal(t, "purge entry", l, &inventory.PINLogEntry{ID: l.ID, SchoolID: a, AssetID: tc.asset,
				Action: inventory.PINActionPurge, At: l.At, Reason: tc.reason})
		}

		// Loans that ended before the cutoff go with their history and
		// agreement; open loans stay, however old.
		for _, l := range set.ended {
			_, err := e.s.FindLoanByID(e.ctx, l.ID)
			wantCode(t, err, inventory.ENOTFOUND)
			_, err = e.s.FindAgreement(e.ctx, l.ID)
			wantCode(t, err, inventory.ENOTFOUND)
			evs, err := e.s.FindLoanEvents(e.ctx, l.ID, uuid.Nil)
			do(t, err)
			equal(t, "history of a loan purged", len(evs), 0)
			e.findAsset(l.AssetID) // the kit stays
		}
		for _, l := range slices.Concat(set.open, []*inventory.Loan{set.endedLate, set.theirLoan}) {
			equal(t, "loan "+string(l.Status)+" kept", e.findLoan(l.ID), l)
			evs, err := e.s.FindLoanEvents(e.ctx, l.ID, uuid.Nil)
			do(t, err)
			if len(evs) == 0 {
				t.Errorf("loan %s kept without its history", l.Status)
			}
			if !l.SignedAt.IsZero() {
				_, err := e.s.FindAgreement(e.ctx, l.ID)
				do(t, err)
			}
		}

		// What is left is newer than the cutoff.
		equal(t, "CountExpired after the purge", e.countExpired(a, allCut), inventory.RetentionCounts{})
		equal(t, "PurgeExpired again", e.purgeExpired(a, allCut), inventory.RetentionCounts{})
		equal(t, "PIN log entries after purging nothing", len(e.pinLog(inventory.PINLogFilter{})), len(log))

		// The other school's old records go only with its own purge.
		equal(t, "CountExpired of the other school after the purge", e.countExpired(b, allCut), wantB)
		equal(t, "PurgeExpired of the other school", e.purgeExpired(b, allCut), wantB)
		equal(t, "events of the other school purged", e.eventIDs(b), []uuid.UUID{})
		equal(t, "snapshots of the other school's device", e.snapshotIDs(set.their.ID), set.snapshots[set.their.ID][:1])
		_, err = e.s.FindLoanByID(e.ctx, set.theirLoan.ID)
		wantCode(t, err, inventory.ENOTFOUND)
		equal(t, "CountExpired of both", []inventory.RetentionCounts{e.countExpired(a, allCut), e.countExpired(b, allCut)},
			[]inventory.RetentionCounts{{}, {}})
		equal(t, "PurgeExpired of an unknown school", e.purgeExpired(uuid.New(), allCut), inventory.RetentionCounts{})
	})

	t.Run("PurgeExpired/Cutoffs", func(t *testing.T) {
		early := t0.Add(90 * time.Minute)
		for _, tc := range []struct {
			name string
			c    inventory.RetentionCutoffs
			want inventory.RetentionCounts
		}{
			{"None", inventory.RetentionCutoffs{}, inventory.RetentionCounts{}},
			{"USBEvents", inventory.RetentionCutoffs{USBEvents: retentionCut}, inventory.RetentionCounts{USBEvents: 3}},
			{"Posture", inventory.RetentionCutoffs{Posture: retentionCut}, inventory.RetentionCounts{Posture: 4}},
			{"PINHistory", inventory.RetentionCutoffs{PINHistory: retentionCut}, inventory.RetentionCounts{PINHistory: 3}},
			{"Loans", inventory.RetentionCutoffs{Loans: retentionCut}, inventory.RetentionCounts{Loans: 3, Agreements: 2}},
			{"All", allCut, wantA},
			// Events received at t0, the first snapshots, and values
			// replaced an hour after t0 are older than early.
			{"Early", inventory.RetentionCutoffs{USBEvents: early, Posture: early, PINHistory: early, Loans: early},
				inventory.RetentionCounts{USBEvents: 2, Posture: 2, PINHistory: 2, Loans: 3, Agreements: 2}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := su.fresh(t)
				set := e.retentionSet()
				a, b := set.a.school.ID, set.b.school.ID
				equal(t, "CountExpired", e.countExpired(a, tc.c), tc.want)
				equal(t, "PurgeExpired", e.purgeExpired(a, tc.c), tc.want)
				equal(t, "CountExpired after the purge", e.countExpired(a, tc.c), inventory.RetentionCounts{})
				equal(t, "PurgeExpired again", e.purgeExpired(a, tc.c), inventory.RetentionCounts{})
				// Nothing else went.
				equal(t, "CountExpired of every kind", e.countExpired(a, allCut), minus(wantA, tc.want))
				equal(t, "CountExpired of the other school", e.countExpired(b, allCut), wantB)
			})
		}
	})

	t.Run("PurgeExpired/PINHistory", func(t *testing.T) {
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{})
		other := e.staff("b", inventory.LoanSettings{})
		a := e.asset(st.school.ID, "SN1", "")
		b := e.asset(other.school.ID, "SN2", "")
		// a: two values replaced on the first day, one on the tenth; b:
		// one replaced on the first day.
		ra := e.pinSet(a, inventory.PINDevicePasscode, "a0", st.tech.ID, t0)
		e.pinSet(a, inventory.PINDevicePasscode, "a1", st.tech.ID, t0.Add(time.Hour))
		e.pinSet(a, inventory.PINDevicePasscode, "a2", st.tech.ID, t0.Add(2*time.Hour))
		e.pinSet(a, inventory.PINDevicePasscode, "a3", st.tech.ID, t0.Add(10*day))
		rb := e.pinSet(b, inventory.PINAppleIDNote, "b0", other.tech.ID, t0)
		e.pinSet(b, inventory.PINAppleIDNote, "b1", other.tech.ID, t0.Add(time.Hour))
		logged := len(e.pinLog(inventory.PINLogFilter{}))
		c := inventory.RetentionCutoffs{PINHistory: t0.Add(10 * day)} // strictly before

		// Each school's values go with its own purge.
		equal(t, "purged", e.purgeExpired(st.school.ID, c), inventory.RetentionCounts{PINHistory: 2})
		h := e.pinHistory(ra.ID)
		if len(h) != 1 || string(h[0].Sealed) != "a2" || !h[0].ReplacedAt.Equal(ts(t0.Add(10*day))) {
			t.Errorf("history of a after the purge: %s", dump(h))
		}
		equal(t, "history of b, of another school", len(e.pinHistory(rb.ID)), 1)
		equal(t, "entries added", len(e.pinLog(inventory.PINLogFilter{}))-logged, 1)
		equal(t, "purged in the other school", e.purgeExpired(other.school.ID, c), inventory.RetentionCounts{PINHistory: 1})
		equal(t, "history of b", e.pinHistory(rb.ID), []*inventory.PINHistory{})
		got, err := e.s.FindPINRecord(e.ctx, a.ID, inventory.PINDevicePasscode)
		do(t, err)
		equal(t, "current value kept", string(got.Sealed), "a3")

		log := e.pinLog(inventory.PINLogFilter{})
		equal(t, "entries added", len(log)-logged, 2)
		for _, tc := range []struct {
			school, asset uuid.UUID
			reason        string
		}{
			{st.school.ID, a.ID, "2 old values deleted at the end of their retention"},
			{other.school.ID, b.ID, "1 old value deleted at the end of its retention"},
		} {
			l := e.pinLog(inventory.PINLogFilter{AssetID: tc.asset})[0]
			wantV7(t, "entry ID", l.ID)
			if l.At.IsZero() {
				t.Error("purge entry has no time")
			}
			equal(t, "purge entry", l, &inventory.PINLogEntry{ID: l.ID, SchoolID: tc.school, AssetID: tc.asset,
				Action: inventory.PINActionPurge, At: l.At, Reason: tc.reason})
		}

		for _, sc := range []uuid.UUID{st.school.ID, other.school.ID} {
			equal(t, "purged again", e.purgeExpired(sc, c), inventory.RetentionCounts{})
		}
		equal(t, "entries after purging nothing", len(e.pinLog(inventory.PINLogFilter{})), len(log))
	})

	t.Run("PurgeExpired/Agreements", func(t *testing.T) {
		// A signed agreement still never changes, and leaves the
		// database only with its loan, in a purge.
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{})
		ended := e.lend(st, e.asset(st.school.ID, "SN1", ""), t0)
		do(t, ended.Return(st.tech.ID, "", "", t0))
		e.mustSave(ended, "returned", st.tech.ID, t0, nil)
		open := e.ready(st, e.asset(st.school.ID, "SN2", ""))
		e.setLoansUpdated(t0, "'"+ended.ID.String()+"'", "'"+open.ID.String()+"'")

		raw, ok := e.s.(RawExecer)
		if !ok {
			t.Fatalf("%T does not implement storetest.RawExecer, so the suite cannot check that the database refuses to change agreements", e.s)
		}
		refused := func(when string, loans ...*inventory.Loan) {
			t.Helper()
			for _, l := range loans {
				id := l.ID
				q := "'" + id.String() + "'"
				for _, sql := range []string{
					`UPDATE loan_agreements SET full_name = 'Someone Else' WHERE loan_id = ` + q,
					`UPDATE loan_agreements SET pdf = pdf WHERE loan_id = ` + q,
					`DELETE FROM loan_agreements WHERE loan_id = ` + q,
					`DELETE FROM loan_agreements`,
				} {
					err := raw.ExecRaw(e.ctx, sql)
					if err == nil || !strings.Contains(err.Error(), "signed agreements never change") {
						t.Errorf("%s: %s: error %v, want the trigger's refusal", when, sql, err)
					}
				}
			}
		}
		refused("before a purge", ended, open)
		equal(t, "purged", e.purgeExpired(st.school.ID, inventory.RetentionCutoffs{Loans: retentionCut}),
			inventory.RetentionCounts{Loans: 1, Agreements: 1})
		_, err := e.s.FindAgreement(e.ctx, ended.ID)
		wantCode(t, err, inventory.ENOTFOUND)
		// The purge leaves nothing behind that lets a removal through.
		refused("after a purge", open, e.ready(st, e.asset(st.school.ID, "SN3", "")))
		got, err := e.s.FindAgreement(e.ctx, open.ID)
		do(t, err)
		equal(t, "agreement after tampering", got, agreement(open, ts(t0)))
	})

	t.Run("PurgeExpired/Audited", su.testPurgeAudited)
	t.Run("PurgeExpired/RollsBack", su.testPurgeRollsBack)
	t.Run("PurgeExpired/Concurrent", su.testPurgeConcurrent)
	t.Run("PurgeExpired/PostureToday", su.testPurgePostureToday)

	t.Run("PurgeAudit", func(t *testing.T) {
		e := su.fresh(t)
		var in []*inventory.AuditEntry
		for i := range 10 {
			at := t0.Add(time.Duration(i) * time.Minute)
			if i == 5 {
				at = t0.Add(-time.Hour) // written with an early time after entries kept: kept
			}
			in = append(in, e.audit(inventory.AuditEntry{At: at, Actor: "system", Action: "test.purge", Detail: fmt.Sprintf("entry %d", i+1)}))
		}
		// Entries 1 to 4 were written before t0+4m, entry 5 at it.
		before, at := t0.Add(4*time.Minute), t0.Add(day)
		equal(t, "CountAuditBefore", e.countAuditBefore(before), int64(4))
		anchor := e.purgeAudit(before, at)
		want := inventory.AuditAnchor{Seq: 4, Hash: in[3].Hash, PurgedAt: ts(at)}
		equal(t, "anchor", anchor, want)
		equal(t, "stored anchor", e.auditAnchor(), want)
		purge := purgeEntry(1, want, before, in[9])
		equal(t, "purge entry's record", purge.Record, "audit/4")
		all := e.walkAudit()
		equal(t, "entries after the purge", all, append(slices.Clone(in[4:]), purge))
		e.verifyAudit(7)
		equal(t, "CountAuditBefore after the purge", e.countAuditBefore(before), int64(0))

		// Again with the same cutoff, there is nothing to delete and
		// nothing is appended.
		equal(t, "anchor of a second purge", e.purgeAudit(before, at.Add(time.Hour)), inventory.AuditAnchor{})
		equal(t, "entries after a second purge", e.walkAudit(), all)
		equal(t, "stored anchor after a second purge", e.auditAnchor(), want)

		// Appends go on from the purge entry.
		next := e.audit(inventory.AuditEntry{At: at, Actor: "system", Action: "test.after"})
		equal(t, "Seq after a purge", next.Seq, int64(12))
		equal(t, "PrevHash after a purge", next.PrevHash, purge.Hash)
		e.verifyAudit(8)

		// A later purge moves the anchor on, past the entry written with
		// an early time, and keeps the first purge entry, written later.
		before2 := t0.Add(9 * time.Minute)
		equal(t, "CountAuditBefore, later", e.countAuditBefore(before2), int64(5))
		want2 := inventory.AuditAnchor{Seq: 9, Hash: in[8].Hash, PurgedAt: ts(at.Add(2 * time.Hour))}
		equal(t, "anchor of a later purge", e.purgeAudit(before2, at.Add(2*time.Hour)), want2)
		equal(t, "entries after a later purge", e.walkAudit(),
			[]*inventory.AuditEntry{in[9], purge, next, purgeEntry(5, want2, before2, next)})
		e.verifyAudit(4)

		// A removal by hand is not taken for a purge.
		raw, ok := e.s.(RawExecer)
		if !ok {
			t.Fatalf("%T does not implement storetest.RawExecer", e.s)
		}
		do(t, raw.ExecRaw(e.ctx, `DELETE FROM audit_log WHERE seq = 10`))
		_, err := inventory.VerifyAudit(e.ctx, e.s)
		var brk *inventory.AuditBreak
		if !errors.As(err, &brk) || brk.Seq != 10 {
			t.Fatalf("VerifyAudit after the first entry kept was removed: %v, want a break at 10", err)
		}
	})

	t.Run("PurgeAudit/Cutoffs", func(t *testing.T) {
		// Three entries, written at t0, t0+1m and t0+2m.
		for _, tc := range []struct {
			name   string
			before time.Time
			n      int64 // entries deleted
		}{
			{"Zero", time.Time{}, 0}, // keeps every entry
			{"BeforeAll", t0.Add(-time.Hour), 0},
			{"AtFirst", ts(t0), 0},
			{"JustAfterFirst", ts(t0).Add(time.Microsecond), 1},
			{"AtSecond", ts(t0).Add(time.Minute), 1},
			{"AfterAll", t0.Add(time.Hour), 3},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := su.fresh(t)
				var in []*inventory.AuditEntry
				for i := range 3 {
					in = append(in, e.audit(inventory.AuditEntry{At: t0.Add(time.Duration(i) * time.Minute), Actor: "system", Action: "test.cutoff"}))
				}
				at := t0.Add(day)
				equal(t, "CountAuditBefore", e.countAuditBefore(tc.before), tc.n)
				got := e.purgeAudit(tc.before, at)
				if tc.n == 0 {
					equal(t, "anchor", got, inventory.AuditAnchor{})
					equal(t, "entries", e.walkAudit(), in)
					e.verifyAudit(3)
					return
				}
				want := inventory.AuditAnchor{Seq: tc.n, Hash: in[tc.n-1].Hash, PurgedAt: ts(at)}
				equal(t, "anchor", got, want)
				equal(t, "entries", e.walkAudit(), append(slices.Clone(in[tc.n:]), purgeEntry(1, want, tc.before, in[2])))
				e.verifyAudit(3 - tc.n + 1)
			})
		}
	})

	t.Run("PurgeAudit/Everything", func(t *testing.T) {
		e := su.fresh(t)
		equal(t, "anchor of a purge of no entry", e.purgeAudit(t0, t0), inventory.AuditAnchor{})
		equal(t, "anchor of an empty log", e.auditAnchor(), inventory.AuditAnchor{})
		equal(t, "entries of an empty log", len(e.walkAudit()), 0)

		var in []*inventory.AuditEntry
		for i := range 3 {
			in = append(in, e.audit(inventory.AuditEntry{At: t0.Add(time.Duration(i) * time.Minute), Actor: "system", Action: "test.all"}))
		}
		// The purge entry follows the anchor, as no entry is left.
		before, at := t0.Add(time.Hour), t0.Add(2*time.Hour)
		want := inventory.AuditAnchor{Seq: 3, Hash: in[2].Hash, PurgedAt: ts(at)}
		equal(t, "anchor", e.purgeAudit(before, at), want)
		purge := purgeEntry(1, want, before, in[2])
		equal(t, "entries", e.walkAudit(), []*inventory.AuditEntry{purge})
		e.verifyAudit(1)
		equal(t, "CountAuditBefore after the purge", e.countAuditBefore(before), int64(0))
		next := e.audit(inventory.AuditEntry{At: at, Actor: "system", Action: "test.after"})
		equal(t, "Seq after the purge", next.Seq, int64(5))
		e.verifyAudit(2)

		// With no entry at all, an entry follows the anchor still; but
		// the log then lacks the purge entry, and VerifyAudit says so.
		raw, ok := e.s.(RawExecer)
		if !ok {
			t.Fatalf("%T does not implement storetest.RawExecer", e.s)
		}
		do(t, raw.ExecRaw(e.ctx, `DELETE FROM audit_log`))
		after := e.audit(inventory.AuditEntry{At: at, Actor: "system", Action: "test.after"})
		equal(t, "Seq of an entry after the anchor", after.Seq, want.Seq+1)
		equal(t, "PrevHash of an entry after the anchor", after.PrevHash, want.Hash)
		_, err := inventory.VerifyAudit(e.ctx, e.s)
		var brk *inventory.AuditBreak
		if !errors.As(err, &brk) || !strings.Contains(brk.Reason, "no purge entry") {
			t.Fatalf("VerifyAudit of a log without its purge entry: %v, want a break", err)
		}
	})

	t.Run("PurgeAudit/Concurrent", func(t *testing.T) {
		// Purges and appends from many goroutines (on PostgreSQL, many
		// connections, as from several replicas) take turns: the chain
		// they leave holds.
		e := su.fresh(t)
		const appenders, each, purgers, purges = 4, 25, 3, 10
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			purged int64
		)
		for w := range appenders {
			wg.Go(func() {
				for i := range each {
					a := inventory.AuditEntry{At: t0.Add(time.Duration(i) * time.Second), Actor: "system",
						Action: "test.concurrent", Detail: fmt.Sprintf("worker %d entry %d", w, i)}
					if err := e.s.AppendAudit(e.ctx, &a); err != nil {
						t.Errorf("AppendAudit: %v", err)
						return
					}
				}
			})
		}
		for p := range purgers {
			wg.Go(func() {
				for i := range purges {
					a, err := e.s.PurgeAudit(e.ctx, t0.Add(time.Duration(p*purges+i)*time.Second), t0.Add(time.Hour))
					if err != nil {
						t.Errorf("PurgeAudit: %v", err)
						return
					}
					if a.Seq != 0 {
						mu.Lock()
						purged++
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		all := e.walkAudit()
		anchor := e.auditAnchor()
		e.verifyAudit(int64(len(all)))
		equal(t, "last Seq", all[len(all)-1].Seq, appenders*each+purged)
		equal(t, "entries kept", int64(len(all)), all[len(all)-1].Seq-anchor.Seq)
	})
}

// chained returns e as a store appends it after prev (nil for the first
// entry): with the next Seq, prev's hash and its own.
func chained(e *inventory.AuditEntry, prev *inventory.AuditEntry) *inventory.AuditEntry {
	e.Seq, e.PrevHash, e.At = 1, nil, ts(e.At)
	if prev != nil {
		e.Seq, e.PrevHash = prev.Seq+1, prev.Hash
	}
	e.Hash = e.ComputeHash()
	return e
}

// last returns the last of all, or nil.
func last[T any](all []*T) *T {
	if len(all) == 0 {
		return nil
	}
	return all[len(all)-1]
}

// wantRetentionPurge fails the test unless got is the entry a purge of
// sc that deleted n appends, after prev.
func wantRetentionPurge(t *testing.T, got *inventory.AuditEntry, sc *inventory.School, n inventory.RetentionCounts, at time.Time, prev *inventory.AuditEntry) {
	t.Helper()
	if got.Action != inventory.AuditActionRetentionPurge || got.Actor != "system" || got.ActorID != uuid.Nil ||
		got.SchoolID != sc.ID || got.Record != "school/"+sc.Slug || !strings.HasSuffix(got.Detail, ": "+n.String()) {
		t.Errorf("purge entry %s, want a %s by system of %s naming %q", dump(got), inventory.AuditActionRetentionPurge, sc.Slug, n.String())
	}
	equal(t, "purge entry", got, chained(inventory.RetentionPurgeEntry(sc, n, at), prev))
}

// testPurgeAudited checks that a purge that deletes anything appends one
// retention.purge entry, chained as any other, and that one that
// deletes nothing appends none.
func (su suite) testPurgeAudited(t *testing.T) {
	schoolA := func(set *retentionSet) *inventory.School { return set.a.school }
	schoolB := func(set *retentionSet) *inventory.School { return set.b.school }
	early := t0.Add(-day)
	for _, tc := range []struct {
		name   string
		school func(set *retentionSet) *inventory.School // nil: a school not in the store
		c      inventory.RetentionCutoffs
		want   inventory.RetentionCounts
	}{
		{"All", schoolA, allCut, wantA},
		{"PINHistory", schoolA, inventory.RetentionCutoffs{PINHistory: retentionCut}, inventory.RetentionCounts{PINHistory: 3}},
		{"Loans", schoolA, inventory.RetentionCutoffs{Loans: retentionCut}, inventory.RetentionCounts{Loans: 3, Agreements: 2}},
		{"OtherSchool", schoolB, allCut, wantB},
		{"NoCutoff", schoolA, inventory.RetentionCutoffs{}, inventory.RetentionCounts{}},
		{"NothingOld", schoolA, inventory.RetentionCutoffs{USBEvents: early, Posture: early, PINHistory: early, Loans: early},
			inventory.RetentionCounts{}},
		{"UnknownSchool", nil, allCut, inventory.RetentionCounts{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := su.fresh(t)
			set := e.retentionSet()
			id := uuid.New()
			var sc *inventory.School
			if tc.school != nil {
				sc = tc.school(set)
				id = sc.ID
			}
			before := e.walkAudit()
			equal(t, "PurgeExpired", e.purgeExpired(id, tc.c), tc.want)
			all := e.walkAudit()
			if tc.want.Total() == 0 {
				equal(t, "entries after purging nothing", all, before)
				return
			}
			equal(t, "entries appended", len(all)-len(before), 1)
			wantRetentionPurge(t, last(all), sc, tc.want, purgeAt, last(before))
			e.verifyAudit(int64(len(all)))

			// A second purge finds nothing and appends nothing.
			equal(t, "PurgeExpired again", e.purgeExpired(id, tc.c), inventory.RetentionCounts{})
			equal(t, "entries after a second purge", e.walkAudit(), all)
		})
	}

	t.Run("StoreTime", func(t *testing.T) {
		// A zero time is the store's current time.
		e := su.fresh(t)
		set := e.retentionSet()
		from := time.Now().Add(-time.Second)
		n, err := e.s.PurgeExpired(e.ctx, set.a.school.ID, allCut, time.Time{})
		do(t, err)
		equal(t, "PurgeExpired", n, wantA)
		all := e.walkAudit()
		got := last(all)
		if got == nil || got.At.Before(from) || got.At.After(time.Now()) {
			t.Fatalf("purge entry %s, want one written at the store's time, after %v", dump(got), from)
		}
		wantRetentionPurge(t, got, set.a.school, wantA, got.At, last(all[:len(all)-1]))
		e.verifyAudit(int64(len(all)))
	})
}

// retentionState is what a purge of a retentionSet may change, as the
// store holds it.
type retentionState struct {
	Expired    []inventory.RetentionCounts // of a and b at allCut
	Events     [][]uuid.UUID               // of a and b
	Snapshots  map[uuid.UUID][]uuid.UUID
	PINHistory map[uuid.UUID][]*inventory.PINHistory
	PINLog     []*inventory.PINLogEntry
	Loans      []*inventory.Loan
	LoanEvents map[uuid.UUID][]*inventory.LoanEvent
	Agreements map[uuid.UUID]*inventory.SignedAgreement
	Audit      []*inventory.AuditEntry
}

// retentionState reads what a purge of set may change.
func (e *env) retentionState(set *retentionSet) *retentionState {
	e.t.Helper()
	a, b := set.a.school.ID, set.b.school.ID
	st := &retentionState{
		Expired:    []inventory.RetentionCounts{e.countExpired(a, allCut), e.countExpired(b, allCut)},
		Events:     [][]uuid.UUID{e.eventIDs(a), e.eventIDs(b)},
		Snapshots:  map[uuid.UUID][]uuid.UUID{},
		PINHistory: map[uuid.UUID][]*inventory.PINHistory{},
		PINLog:     e.pinLog(inventory.PINLogFilter{}),
		LoanEvents: map[uuid.UUID][]*inventory.LoanEvent{},
		Agreements: map[uuid.UUID]*inventory.SignedAgreement{},
		Audit:      e.walkAudit(),
	}
	for id := range set.snapshots {
		st.Snapshots[id] = e.snapshotIDs(id)
	}
	for _, r := range []*inventory.PINRecord{set.pinA, set.pinA2, set.pinB} {
		st.PINHistory[r.ID] = e.pinHistory(r.ID)
	}
	for _, l := range slices.Concat(set.open, set.ended, []*inventory.Loan{set.endedLate, set.theirLoan}) {
		st.Loans = append(st.Loans, e.findLoan(l.ID))
		evs, err := e.s.FindLoanEvents(e.ctx, l.ID, uuid.Nil)
		if err != nil {
			e.t.Fatalf("FindLoanEvents: %v", err)
		}
		st.LoanEvents[l.ID] = evs
		if !l.SignedAt.IsZero() {
			ag, err := e.s.FindAgreement(e.ctx, l.ID)
			if err != nil {
				e.t.Fatalf("FindAgreement: %v", err)
			}
			st.Agreements[l.ID] = ag
		}
	}
	return st
}

// raw returns the store as a RawExecer, failing the test if it is not one.
func (e *env) raw(why string) RawExecer {
	e.t.Helper()
	raw, ok := e.s.(RawExecer)
	if !ok {
		e.t.Fatalf("%T does not implement storetest.RawExecer, so the suite cannot %s", e.s, why)
	}
	return raw
}

// dialect returns the SQL dialect of the store's database, "sqlite" or
// "postgres", for the few tests whose SQL cannot be written for both. It
// asks the database: only SQLite has sqlite_version(), and only
// PostgreSQL pg_backend_pid().
func (e *env) dialect(raw RawExecer) string {
	e.t.Helper()
	switch {
	case raw.ExecRaw(e.ctx, `SELECT sqlite_version()`) == nil:
		return "sqlite"
	case raw.ExecRaw(e.ctx, `SELECT pg_backend_pid()`) == nil:
		return "postgres"
	}
	e.t.Fatalf("%T: the database is neither SQLite nor PostgreSQL", e.s)
	return ""
}

// failMessage is the error of the trigger failingTrigger makes.
const failMessage = "rollcall test: this statement fails"

// failingTrigger returns SQL, in the dialect of the store's database,
// that makes every event (INSERT, DELETE) of a row of table fail with
// failMessage, and SQL that undoes it.
func (e *env) failingTrigger(raw RawExecer, table, event string) (create, drop string) {
	e.t.Helper()
	if e.dialect(raw) == "sqlite" {
		return `CREATE TRIGGER rollcall_test_fail BEFORE ` + event + ` ON ` + table +
				` BEGIN SELECT RAISE(ABORT, '` + failMessage + `'); END`,
			`DROP TRIGGER rollcall_test_fail`
	}
	return `CREATE FUNCTION rollcall_test_fail() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN RAISE EXCEPTION '` + failMessage + `'; END;
		$$;
		CREATE TRIGGER rollcall_test_fail BEFORE ` + event + ` ON ` + table + ` FOR EACH ROW EXECUTE FUNCTION rollcall_test_fail()`,
		`DROP TRIGGER rollcall_test_fail ON ` + table + `; DROP FUNCTION rollcall_test_fail()`
}

// testPurgeRollsBack checks that a purge that fails part way deletes
// nothing, appends nothing, and leaves nothing behind that lets a
// signed agreement be deleted.
func (su suite) testPurgeRollsBack(t *testing.T) {
	for _, tc := range []struct {
		name         string
		table, event string // what fails
	}{
		// After the loans' history and agreements are deleted.
		{"DeletingLoans", "loans", "DELETE"},
		// After everything is deleted.
		{"AppendingAudit", "audit_log", "INSERT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := su.fresh(t)
			set := e.retentionSet()
			raw := e.raw("make a purge fail")
			create, drop := e.failingTrigger(raw, tc.table, tc.event)
			kept := e.retentionState(set)
			equal(t, "CountExpired before", kept.Expired, []inventory.RetentionCounts{wantA, wantB})

			do(t, raw.ExecRaw(e.ctx, create))
			n, err := e.s.PurgeExpired(e.ctx, set.a.school.ID, allCut, purgeAt)
			if err == nil || !strings.Contains(err.Error(), failMessage) {
				t.Fatalf("PurgeExpired with %s %s failing = %+v, %v; want the trigger's error", tc.event, tc.table, n, err)
			}
			equal(t, "counts of a failed purge", n, inventory.RetentionCounts{})
			equal(t, "records after a failed purge", e.retentionState(set), kept)

			// The mark that let the purge delete agreements went with it.
			for _, l := range set.ended {
				if l.SignedAt.IsZero() {
					continue
				}
				q := `DELETE FROM loan_agreements WHERE loan_id = '` + l.ID.String() + `'`
				if err := raw.ExecRaw(e.ctx, q); err == nil || !strings.Contains(err.Error(), "signed agreements never change") {
					t.Errorf("after a failed purge: %s: error %v, want the trigger's refusal", q, err)
				}
			}

			// Once nothing fails, the same purge goes through.
			do(t, raw.ExecRaw(e.ctx, drop))
			equal(t, "PurgeExpired once nothing fails", e.purgeExpired(set.a.school.ID, allCut), wantA)
			all := e.walkAudit()
			equal(t, "entries appended", len(all)-len(kept.Audit), 1)
			wantRetentionPurge(t, last(all), set.a.school, wantA, purgeAt, last(kept.Audit))
			e.verifyAudit(int64(len(all)))
		})
	}
}

// testPurgeConcurrent checks that purges of one school from many
// goroutines (on PostgreSQL, many connections, as from several
// replicas) take turns: between them they delete what one purge
// deletes, and one of them appends an entry.
func (su suite) testPurgeConcurrent(t *testing.T) {
	e := su.fresh(t)
	set := e.retentionSet()
	schools := []*inventory.School{set.a.school, set.b.school}
	want := []inventory.RetentionCounts{wantA, wantB}
	pinLogged := len(e.pinLog(inventory.PINLogFilter{}))
	const each = 4
	got := make([][each]inventory.RetentionCounts, len(schools))
	var wg sync.WaitGroup
	for i, sc := range schools {
		for j := range each {
			wg.Go(func() {
				n, err := e.s.PurgeExpired(e.ctx, sc.ID, allCut, purgeAt)
				if err != nil {
					t.Errorf("PurgeExpired(%s): %v", sc.Slug, err)
					return
				}
				got[i][j] = n
			})
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for i, sc := range schools {
		var total inventory.RetentionCounts
		deleted := 0
		for _, n := range got[i] {
			total = plus(total, n)
			if n.Total() > 0 {
				deleted++
			}
		}
		equal(t, "deleted from "+sc.Slug, total, want[i])
		equal(t, "purges of "+sc.Slug+" that deleted anything", deleted, 1)
		entries, err := e.s.FindAudit(e.ctx, inventory.AuditFilter{SchoolIDs: []uuid.UUID{sc.ID}, Action: inventory.AuditActionRetentionPurge})
		do(t, err)
		equal(t, "purge entries of "+sc.Slug, len(entries), 1)
		equal(t, "purge entry's detail", entries[0].Detail, inventory.RetentionPurgeEntry(sc, want[i], purgeAt).Detail)
		equal(t, "CountExpired of "+sc.Slug+" after", e.countExpired(sc.ID, allCut), inventory.RetentionCounts{})
	}
	// One PIN log entry for each piece of kit whose values went: a's two,
	// b's one.
	equal(t, "PIN log entries added", len(e.pinLog(inventory.PINLogFilter{}))-pinLogged, 3)
	e.verifyAudit(int64(len(e.walkAudit())))
}

// testPurgePostureToday checks that an old snapshot goes only once its
// device has a newer one received before the start of the purge's day:
// what a day's purges delete is fixed when the day starts, and a
// snapshot received during the day changes nothing until the next.
func (su suite) testPurgePostureToday(t *testing.T) {
	today := time.Date(2025, 9, 21, 0, 0, 0, 0, time.UTC) // twenty days after t0
	periods := inventory.Retention{PostureDays: 10}
	for _, tc := range []struct {
		name string
		at   time.Time // when the device's second snapshot arrives
		// The old snapshots that go with today's cutoffs, and with
		// tomorrow's.
		today, tomorrow int
	}{
		{"Yesterday", today.Add(-time.Hour), 1, 0},
		{"AtStartOfToday", today, 0, 1},
		{"Today", today.Add(15 * time.Hour), 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := su.fresh(t)
			sc := e.school("a")
			d, _ := e.enroll(e.token(sc.ID, 1), "SN1") // its first snapshot, at t0
			equal(t, "snapshots at enrolment", len(e.snapshotIDs(d.ID)), 1)
			r := report(d.Serial)
			do(t, e.s.RecordCheckIn(e.ctx, inventory.CheckIn{DeviceID: d.ID, Hash: hashOf(r), Report: &r, At: tc.at}))
			all := e.snapshotIDs(d.ID) // newest first
			equal(t, "snapshots after the check-in", len(all), 2)

			c := periods.Cutoffs(today.Add(9 * time.Hour))
			equal(t, "today's cutoffs", c, inventory.RetentionCutoffs{Posture: today.AddDate(0, 0, -10), Today: today})
			// Without a day, any newer snapshot will do.
			equal(t, "CountExpired with no day", e.countExpired(sc.ID, inventory.RetentionCutoffs{Posture: c.Posture}),
				inventory.RetentionCounts{Posture: 1})
			equal(t, "CountExpired today", e.countExpired(sc.ID, c), inventory.RetentionCounts{Posture: tc.today})
			equal(t, "PurgeExpired today", e.purgeExpired(sc.ID, c), inventory.RetentionCounts{Posture: tc.today})
			equal(t, "snapshots after today's purge", e.snapshotIDs(d.ID), all[:len(all)-tc.today])

			next := periods.Cutoffs(today.Add(day + 9*time.Hour))
			equal(t, "CountExpired tomorrow", e.countExpired(sc.ID, next), inventory.RetentionCounts{Posture: tc.tomorrow})
			equal(t, "PurgeExpired tomorrow", e.purgeExpired(sc.ID, next), inventory.RetentionCounts{Posture: tc.tomorrow})
			equal(t, "snapshots after tomorrow's purge", e.snapshotIDs(d.ID), all[:1])
			latest, err := e.s.FindLatestPosture(e.ctx, d.ID)
			do(t, err)
			equal(t, "latest posture", latest.ID, all[0])
		})
	}
}
