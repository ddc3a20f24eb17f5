package storetest

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// pinSet stores a record of kind for kit a, with a value sealed, set by
// by at at, and returns it.
func (e *env) pinSet(a *inventory.Asset, kind inventory.PINKind, sealed string, by uuid.UUID, at time.Time) *inventory.PINRecord {
	e.t.Helper()
	r := &inventory.PINRecord{AssetID: a.ID, Kind: kind, Sealed: []byte(sealed), SetBy: by, SetAt: at}
	if err := e.s.SetPIN(e.ctx, r, &inventory.PINLogEntry{Addr: "192.0.2.1"}); err != nil {
		e.t.Fatalf("SetPIN(%s): %v", kind, err)
	}
	return r
}

func (e *env) pinLog(f inventory.PINLogFilter) []*inventory.PINLogEntry {
	e.t.Helper()
	all, err := e.s.FindPINLog(e.ctx, f)
	if err != nil {
		e.t.Fatalf("FindPINLog: %v", err)
	}
	return all
}

func (e *env) pinHistory(recordID uuid.UUID) []*inventory.PINHistory {
	e.t.Helper()
	all, err := e.s.FindPINHistory(e.ctx, recordID)
	if err != nil {
		e.t.Fatalf("FindPINHistory: %v", err)
	}
	return all
}

// pinActionsOf returns each entry's action and kind, "set device_passcode".
func pinActionsOf(all []*inventory.PINLogEntry) []string {
	out := []string{}
	for _, e := range all {
		out = append(out, strings.TrimSpace(e.Action+" "+string(e.Kind)))
	}
	return out
}

func pinIDsOf(all []*inventory.PINLogEntry) []uuid.UUID {
	out := []uuid.UUID{}
	for _, e := range all {
		out = append(out, e.ID)
	}
	return out
}

func (su suite) testPINStore(t *testing.T) {
	t.Run("SetPIN", func(t *testing.T) {
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{})
		a := e.asset(st.school.ID, "SN1", "T-1")

		r := &inventory.PINRecord{AssetID: a.ID, Kind: inventory.PINDevicePasscode, Sealed: []byte("sealed-1"),
			SetBy: st.tech.ID, SetAt: t0}
		log := &inventory.PINLogEntry{Addr: "192.0.2.1"}
		do(t, e.s.SetPIN(e.ctx, r, log))
		wantV7(t, "record ID", r.ID)
		equal(t, "filled record", r, &inventory.PINRecord{ID: r.ID, SchoolID: st.school.ID, AssetID: a.ID,
			Kind: inventory.PINDevicePasscode, Sealed: []byte("sealed-1"), SetBy: st.tech.ID, SetAt: ts(t0)})
		got, err := e.s.FindPINRecord(e.ctx, a.ID, inventory.PINDevicePasscode)
		do(t, err)
		equal(t, "stored record", got, r)
		wantV7(t, "log entry ID", log.ID)
		wantLog := &inventory.PINLogEntry{ID: log.ID, SchoolID: st.school.ID, AssetID: a.ID, Kind: inventory.PINDevicePasscode,
			Action: inventory.PINActionSet, ActorID: st.tech.ID, At: ts(t0), Addr: "192.0.2.1"}
		equal(t, "filled log entry", log, wantLog)
		equal(t, "log", e.pinLog(inventory.PINLogFilter{}), []*inventory.PINLogEntry{wantLog})
		equal(t, "history of a new record", e.pinHistory(r.ID), []*inventory.PINHistory{})

		// A change keeps the record's ID and puts the old value in the
		// history, replaced at the time of the change; without a log
		// entry given, the store logs the setter.
		r2 := &inventory.PINRecord{AssetID: a.ID, Kind: inventory.PINDevicePasscode, Sealed: []byte("sealed-2"),
			SetBy: st.head.ID, SetAt: t0.Add(time.Hour)}
		do(t, e.s.SetPIN(e.ctx, r2, nil))
		equal(t, "ID after a change", r2.ID, r.ID)
		equal(t, "school after a change", r2.SchoolID, st.school.ID)
		got, err = e.s.FindPINRecord(e.ctx, a.ID, inventory.PINDevicePasscode)
		do(t, err)
		equal(t, "changed record", got, r2)
		h1 := &inventory.PINHistory{RecordID: r.ID, Sealed: []byte("sealed-1"), SetBy: st.tech.ID, SetAt: ts(t0),
			ReplacedAt: ts(t0.Add(time.Hour))}
		equal(t, "history", e.pinHistory(r.ID), []*inventory.PINHistory{h1})

		r3 := e.pinSet(a, inventory.PINDevicePasscode, "sealed-3", st.tech.ID, t0.Add(2*time.Hour))
		equal(t, "ID after a second change", r3.ID, r.ID)
		h2 := &inventory.PINHistory{RecordID: r.ID, Sealed: []byte("sealed-2"), SetBy: st.head.ID, SetAt: ts(t0.Add(time.Hour)),
			ReplacedAt: ts(t0.Add(2 * time.Hour))}
		equal(t, "history, newest first", e.pinHistory(r.ID), []*inventory.PINHistory{h2, h1})
		all := e.pinLog(inventory.PINLogFilter{})
		equal(t, "log after changes", pinActionsOf(all), []string{"set device_passcode", "set device_passcode", "set device_passcode"})
		equal(t, "actor of the change logged by the store", all[1].ActorID, st.head.ID)
		equal(t, "time of the change logged by the store", all[1].At, ts(t0.Add(time.Hour)))

		// A second change at the same time would lose a value's key in
		// the history: it is refused, and nothing changes.
		err = e.s.SetPIN(e.ctx, &inventory.PINRecord{AssetID: a.ID, Kind: inventory.PINDevicePasscode, Sealed: []byte("sealed-4"),
			SetBy: st.tech.ID, SetAt: t0.Add(2 * time.Hour)}, nil)
		wantCode(t, err, inventory.ECONFLICT)
		got, err = e.s.FindPINRecord(e.ctx, a.ID, inventory.PINDevicePasscode)
		do(t, err)
		equal(t, "record after a refused change", got, r3)
		equal(t, "log after a refused change", len(e.pinLog(inventory.PINLogFilter{})), 3)

		// A change with no time is at the store's.
		before := time.Now().Add(-time.Second)
		r5 := &inventory.PINRecord{AssetID: a.ID, Kind: inventory.PINDevicePasscode, Sealed: []byte("sealed-5"), SetBy: st.tech.ID}
		do(t, e.s.SetPIN(e.ctx, r5, nil))
		if r5.SetAt.Before(before) || r5.SetAt != ts(r5.SetAt) {
			t.Errorf("SetAt %v: want the store's time, as stored", r5.SetAt)
		}

		_, err = e.s.FindPINRecord(e.ctx, a.ID, inventory.PINFirmwarePassword)
		wantCode(t, err, inventory.ENOTFOUND)
		_, err = e.s.FindPINRecord(e.ctx, uuid.New(), inventory.PINDevicePasscode)
		wantCode(t, err, inventory.ENOTFOUND)
		equal(t, "history of an unknown record", e.pinHistory(uuid.New()), []*inventory.PINHistory{})
	})

	t.Run("FindPINRecords", func(t *testing.T) {
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{})
		a := e.asset(st.school.ID, "SN1", "")
		b := e.asset(st.school.ID, "SN2", "")
		// Stored in the reverse of the pages' order.
		for i, k := range slices.Backward(inventory.PINKinds) {
			e.pinSet(a, k, "sealed-"+string(k), st.tech.ID, t0.Add(time.Duration(i)*time.Minute))
		}
		e.pinSet(b, inventory.PINFirmwarePassword, "sealed-b", st.tech.ID, t0)

		all, err := e.s.FindPINRecords(e.ctx, a.ID)
		do(t, err)
		var kinds []inventory.PINKind
		for _, r := range all {
			kinds = append(kinds, r.Kind)
			if r.AssetID != a.ID || string(r.Sealed) != "sealed-"+string(r.Kind) {
				t.Errorf("record %s: asset %s, sealed %q", r.Kind, r.AssetID, r.Sealed)
			}
			one, err := e.s.FindPINRecord(e.ctx, a.ID, r.Kind)
			do(t, err)
			equal(t, "FindPINRecord", one, r)
		}
		equal(t, "kinds", kinds, inventory.PINKinds)

		all, err = e.s.FindPINRecords(e.ctx, b.ID)
		do(t, err)
		equal(t, "records of other kit", len(all), 1)
		all, err = e.s.FindPINRecords(e.ctx, uuid.New())
		do(t, err)
		equal(t, "records of unknown kit", all, []*inventory.PINRecord{})
	})

	t.Run("SetPIN/Refused", func(t *testing.T) {
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{})
		other := e.staff("b", inventory.LoanSettings{})
		a := e.asset(st.school.ID, "SN1", "")
		disposed := e.asset(st.school.ID, "GONE", "", func(a *inventory.Asset) { a.Status = inventory.AssetDisposed })
		ok := func() inventory.PINRecord {
			return inventory.PINRecord{AssetID: a.ID, Kind: inventory.PINDevicePasscode, Sealed: []byte("sealed"), SetBy: st.tech.ID, SetAt: t0}
		}
		for _, tc := range []struct {
			name   string
			change func(r *inventory.PINRecord, l *inventory.PINLogEntry)
			code   string
			parts  []string
		}{
			{"Disposed", func(r *inventory.PINRecord, l *inventory.PINLogEntry) { r.AssetID = disposed.ID }, inventory.ECONFLICT, []string{"GONE", "disposed"}},
			{"UnknownKit", func(r *inventory.PINRecord, l *inventory.PINLogEntry) { r.AssetID = uuid.New() }, inventory.ENOTFOUND, nil},
			{"UnknownPerson", func(r *inventory.PINRecord, l *inventory.PINLogEntry) { r.SetBy = uuid.New() }, inventory.ENOTFOUND, nil},
			{"UnknownActor", func(r *inventory.PINRecord, l *inventory.PINLogEntry) { l.ActorID = uuid.New() }, inventory.ENOTFOUND, nil},
			{"NoPerson", func(r *inventory.PINRecord, l *inventory.PINLogEntry) { r.SetBy = uuid.Nil }, inventory.EINVALID, nil},
			{"BadKind", func(r *inventory.PINRecord, l *inventory.PINLogEntry) { r.Kind = "wifi_password" }, inventory.EINVALID, []string{"wifi_password"}},
			{"NoValue", func(r *inventory.PINRecord, l *inventory.PINLogEntry) { r.Sealed = nil }, inventory.EINVALID, nil},
			{"OtherSchool", func(r *inventory.PINRecord, l *inventory.PINLogEntry) { r.SchoolID = other.school.ID }, inventory.EINVALID, nil},
			{"EntryOtherSchool", func(r *inventory.PINRecord, l *inventory.PINLogEntry) { l.SchoolID = other.school.ID }, inventory.EINVALID, nil},
			{"EntryOtherKit", func(r *inventory.PINRecord, l *inventory.PINLogEntry) { l.AssetID = disposed.ID }, inventory.EINVALID, nil},
			{"EntryOtherKind", func(r *inventory.PINRecord, l *inventory.PINLogEntry) { l.Kind = inventory.PINFirmwarePassword }, inventory.EINVALID, nil},
			{"EntryOtherAction", func(r *inventory.PINRecord, l *inventory.PINLogEntry) { l.Action = inventory.PINActionView }, inventory.EINVALID, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r, l := ok(), inventory.PINLogEntry{}
				tc.change(&r, &l)
				err := e.s.SetPIN(e.ctx, &r, &l)
				wantCode(t, err, tc.code)
				wantMessage(t, err, tc.parts...)
			})
		}
		for _, id := range []uuid.UUID{a.ID, disposed.ID} {
			all, err := e.s.FindPINRecords(e.ctx, id)
			do(t, err)
			equal(t, "records stored", len(all), 0)
		}
		equal(t, "log", len(e.pinLog(inventory.PINLogFilter{})), 0)

		// Kit disposed of after its PINs were recorded takes no more: its
		// records went with the disposal.
		e.pinSet(a, inventory.PINDevicePasscode, "sealed", st.tech.ID, t0)
		do(t, e.s.DisposeAsset(e.ctx, &inventory.Disposal{AssetID: a.ID, Method: inventory.DisposalWEEE,
			Date: date(2025, 8, 1), Recipient: "Borough WEEE Recycling", RecordedBy: st.tech.ID}))
		err := e.s.SetPIN(e.ctx, &inventory.PINRecord{AssetID: a.ID, Kind: inventory.PINDevicePasscode, Sealed: []byte("new"),
			SetBy: st.tech.ID, SetAt: t0.Add(time.Hour)}, nil)
		wantCode(t, err, inventory.ECONFLICT)
		wantMessage(t, err, "SN1", "disposed")
		_, err = e.s.FindPINRecord(e.ctx, a.ID, inventory.PINDevicePasscode)
		wantCode(t, err, inventory.ENOTFOUND)
	})

	t.Run("RetirePINRecords", func(t *testing.T) {
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{})
		a := e.asset(st.school.ID, "SN1", "")
		b := e.asset(st.school.ID, "SN2", "")
		pass := e.pinSet(a, inventory.PINDevicePasscode, "sealed-pass", st.tech.ID, t0)
		fw := e.pinSet(a, inventory.PINFirmwarePassword, "sealed-fw", st.tech.ID, t0)
		other := e.pinSet(b, inventory.PINDevicePasscode, "sealed-b", st.tech.ID, t0)

		at := t0.Add(24 * time.Hour)
		n, err := e.s.RetirePINRecords(e.ctx, a.ID, st.head.ID, at)
		do(t, err)
		equal(t, "retired", n, 2)
		for _, r := range []*inventory.PINRecord{pass, fw} {
			got, err := e.s.FindPINRecord(e.ctx, a.ID, r.Kind)
			do(t, err)
			want := *r
			want.RetiredAt = ts(at)
			equal(t, "retired record", got, &want)
		}
		got, err := e.s.FindPINRecord(e.ctx, b.ID, inventory.PINDevicePasscode)
		do(t, err)
		equal(t, "record of other kit", got, other)

		log := e.pinLog(inventory.PINLogFilter{AssetID: a.ID})
		equal(t, "log", pinActionsOf(log), []string{"retire firmware_password", "retire device_passcode",
			"set firmware_password", "set device_passcode"})
		for _, l := range log[:2] {
			wantV7(t, "entry ID", l.ID)
			equal(t, "retire entry", l, &inventory.PINLogEntry{ID: l.ID, SchoolID: st.school.ID, AssetID: a.ID, Kind: l.Kind,
				Action: inventory.PINActionRetire, ActorID: st.head.ID, At: ts(at)})
		}

		// Retired records are not retired again.
		n, err = e.s.RetirePINRecords(e.ctx, a.ID, st.head.ID, at.Add(time.Hour))
		do(t, err)
		equal(t, "retired again", n, 0)
		equal(t, "log entries", len(e.pinLog(inventory.PINLogFilter{AssetID: a.ID})), 4)

		// A record set again applies again, keeping its history.
		again := e.pinSet(a, inventory.PINDevicePasscode, "sealed-pass-2", st.tech.ID, at.Add(2*time.Hour))
		equal(t, "record set again", again.ID, pass.ID)
		got, err = e.s.FindPINRecord(e.ctx, a.ID, inventory.PINDevicePasscode)
		do(t, err)
		equal(t, "record set again", got, again)
		equal(t, "history", len(e.pinHistory(pass.ID)), 1)

		// Rollcall itself retires with no actor.
		n, err = e.s.RetirePINRecords(e.ctx, b.ID, uuid.Nil, at)
		do(t, err)
		equal(t, "retired by Rollcall", n, 1)
		equal(t, "actor", e.pinLog(inventory.PINLogFilter{AssetID: b.ID})[0].ActorID, uuid.Nil)

		_, err = e.s.RetirePINRecords(e.ctx, uuid.New(), st.head.ID, at)
		wantCode(t, err, inventory.ENOTFOUND)
		_, err = e.s.RetirePINRecords(e.ctx, a.ID, uuid.New(), at)
		wantCode(t, err, inventory.ENOTFOUND)
		got, err = e.s.FindPINRecord(e.ctx, a.ID, inventory.PINDevicePasscode)
		do(t, err)
		equal(t, "record after a refused retirement", got, again)
	})

	t.Run("AppendPINLog", func(t *testing.T) {
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{})
		other := e.staff("b", inventory.LoanSettings{})
		a := e.asset(st.school.ID, "SN1", "")

		l := &inventory.PINLogEntry{AssetID: a.ID, Kind: inventory.PINDevicePasscode, Action: inventory.PINActionView,
			ActorID: st.tech.ID, At: t0, Reason: "Pupil locked out of the iPad\nin Year 4", Addr: "2001:db8::1"}
		do(t, e.s.AppendPINLog(e.ctx, l))
		wantV7(t, "ID", l.ID)
		want := &inventory.PINLogEntry{ID: l.ID, SchoolID: st.school.ID, AssetID: a.ID, Kind: inventory.PINDevicePasscode,
			Action: inventory.PINActionView, ActorID: st.tech.ID, At: ts(t0), Reason: "Pupil locked out of the iPad\nin Year 4",
			Addr: "2001:db8::1"}
		equal(t, "filled entry", l, want)
		equal(t, "log", e.pinLog(inventory.PINLogFilter{}), []*inventory.PINLogEntry{want})

		// The time is the store's when zero, the reason cut to fit, and
		// an entry may be about no one kind.
		long := &inventory.PINLogEntry{SchoolID: st.school.ID, AssetID: a.ID, Action: inventory.PINActionRefused,
			ActorID: st.borrower.ID, Reason: strings.Repeat("é", 5000)}
		before := time.Now().Add(-time.Second)
		do(t, e.s.AppendPINLog(e.ctx, long))
		if long.At.Before(before) || long.At != ts(long.At) {
			t.Errorf("At %v: want the store's time, as stored", long.At)
		}
		fit := inventory.PINLogEntry{Reason: strings.Repeat("é", 5000)}
		fit.Fit()
		equal(t, "reason", long.Reason, fit.Reason)
		equal(t, "stored entry", e.pinLog(inventory.PINLogFilter{})[0], long)

		for _, tc := range []struct {
			name   string
			change func(l *inventory.PINLogEntry)
			code   string
		}{
			{"BadAction", func(l *inventory.PINLogEntry) { l.Action = "peek" }, inventory.EINVALID},
			{"NoAction", func(l *inventory.PINLogEntry) { l.Action = "" }, inventory.EINVALID},
			{"BadKind", func(l *inventory.PINLogEntry) { l.Kind = "wifi_password" }, inventory.EINVALID},
			{"NoKit", func(l *inventory.PINLogEntry) { l.AssetID = uuid.Nil }, inventory.EINVALID},
			{"OtherSchool", func(l *inventory.PINLogEntry) { l.SchoolID = other.school.ID }, inventory.EINVALID},
			{"UnknownSchool", func(l *inventory.PINLogEntry) { l.SchoolID = uuid.New() }, inventory.ENOTFOUND},
			{"UnknownKit", func(l *inventory.PINLogEntry) { l.AssetID = uuid.New() }, inventory.ENOTFOUND},
			{"UnknownActor", func(l *inventory.PINLogEntry) { l.ActorID = uuid.New() }, inventory.ENOTFOUND},
			{"TakenID", func(l *inventory.PINLogEntry) { l.ID = want.ID }, inventory.ECONFLICT},
		} {
			t.Run(tc.name, func(t *testing.T) {
				l := &inventory.PINLogEntry{AssetID: a.ID, Kind: inventory.PINDevicePasscode, Action: inventory.PINActionUse,
					ActorID: st.tech.ID, At: t0}
				tc.change(l)
				wantCode(t, e.s.AppendPINLog(e.ctx, l), tc.code)
			})
		}
		equal(t, "entries", len(e.pinLog(inventory.PINLogFilter{})), 2)
	})

	t.Run("FindPINLog", func(t *testing.T) {
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{})
		other := e.staff("b", inventory.LoanSettings{})
		a1 := e.asset(st.school.ID, "A1", "")
		a2 := e.asset(st.school.ID, "A2", "")
		b1 := e.asset(other.school.ID, "B1", "")
		var all []*inventory.PINLogEntry // oldest first
		for i, sp := range []struct {
			asset *inventory.Asset
			actor uuid.UUID
		}{
			{a1, st.tech.ID}, {a2, st.head.ID}, {b1, other.tech.ID}, {a1, st.head.ID},
			{a1, st.tech.ID}, {b1, uuid.Nil}, {a2, st.tech.ID},
		} {
			l := &inventory.PINLogEntry{AssetID: sp.asset.ID, Kind: inventory.PINDevicePasscode, Action: inventory.PINActionView,
				ActorID: sp.actor, At: t0.Add(time.Duration(i) * time.Hour), Reason: "reason", Addr: "192.0.2.1"}
			do(t, e.s.AppendPINLog(e.ctx, l))
			all = append(all, l)
		}
		pick := func(is ...int) []*inventory.PINLogEntry {
			out := []*inventory.PINLogEntry{}
			for _, i := range is {
				out = append(out, all[i])
			}
			return out
		}
		for _, tc := range []struct {
			name string
			f    inventory.PINLogFilter
			want []*inventory.PINLogEntry
		}{
			{"All", inventory.PINLogFilter{}, pick(6, 5, 4, 3, 2, 1, 0)},
			{"School", inventory.PINLogFilter{SchoolIDs: []uuid.UUID{st.school.ID}}, pick(6, 4, 3, 1, 0)},
			{"Schools", inventory.PINLogFilter{SchoolIDs: []uuid.UUID{st.school.ID, other.school.ID}}, pick(6, 5, 4, 3, 2, 1, 0)},
			{"NoSchool", inventory.PINLogFilter{SchoolIDs: []uuid.UUID{}}, nil},
			{"Asset", inventory.PINLogFilter{AssetID: a1.ID}, pick(4, 3, 0)},
			{"Actor", inventory.PINLogFilter{ActorID: st.tech.ID}, pick(6, 4, 0)},
			{"AssetAndActor", inventory.PINLogFilter{AssetID: a1.ID, ActorID: st.head.ID}, pick(3)},
			{"Since", inventory.PINLogFilter{Since: t0.Add(4 * time.Hour)}, pick(6, 5, 4)},
			{"Before", inventory.PINLogFilter{Before: all[3].ID}, pick(2, 1, 0)},
			{"BeforeInSchool", inventory.PINLogFilter{SchoolIDs: []uuid.UUID{other.school.ID}, Before: all[5].ID}, pick(2)},
			{"Limit", inventory.PINLogFilter{Limit: 2}, pick(6, 5)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got := e.pinLog(tc.f)
				equal(t, "entries", pinIDsOf(got), pinIDsOf(tc.want))
				equal(t, "entries", got, append([]*inventory.PINLogEntry{}, tc.want...))
			})
		}

		// Paging from each page's last entry walks the whole log once.
		var paged []*inventory.PINLogEntry
		f := inventory.PINLogFilter{SchoolIDs: []uuid.UUID{st.school.ID}, Limit: 2}
		for range 10 {
			page := e.pinLog(f)
			if len(page) == 0 {
				break
			}
			paged = append(paged, page...)
			f.Before = page[len(page)-1].ID
		}
		equal(t, "pages", pinIDsOf(paged), pinIDsOf(pick(6, 4, 3, 1, 0)))
	})

	t.Run("AppendOnly", func(t *testing.T) {
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{})
		a := e.asset(st.school.ID, "SN1", "")
		r := e.pinSet(a, inventory.PINDevicePasscode, "sealed", st.tech.ID, t0)
		want := e.pinLog(inventory.PINLogFilter{})

		raw, ok := e.s.(RawExecer)
		if !ok {
			t.Fatalf("%T does not implement storetest.RawExecer, so the suite cannot check that the database refuses to change the PIN log", e.s)
		}
		do(t, raw.ExecRaw(e.ctx, `UPDATE pin_records SET kind = kind WHERE id = '`+r.ID.String()+`'`)) // the hook works
		id := "'" + want[0].ID.String() + "'"
		for _, q := range []string{
			`UPDATE pin_log SET reason = 'nothing to see' WHERE id = ` + id,
			`UPDATE pin_log SET actor_id = NULL`,
			`DELETE FROM pin_log WHERE id = ` + id,
			`DELETE FROM pin_log`,
		} {
			err := raw.ExecRaw(e.ctx, q)
			if err == nil || !strings.Contains(err.Error(), "the PIN log is append-only") {
				t.Errorf("%s: error %v, want the trigger's refusal", q, err)
			}
		}
		equal(t, "log after tampering", e.pinLog(inventory.PINLogFilter{}), want)
	})

	t.Run("SetSchoolPINSettings", func(t *testing.T) {
		e := su.fresh(t)
		sc := e.school("a")
		other := e.school("b")
		equal(t, "settings of a new school", sc.PINs, inventory.PINSettings{})

		s := inventory.PINSettings{HeadteacherMayReveal: true, NetworkManager: "Network.Manager@Trust.Example", DigestSentAt: t0}
		do(t, e.s.SetSchoolPINSettings(e.ctx, sc.ID, s))
		want := inventory.PINSettings{HeadteacherMayReveal: true, NetworkManager: "network.manager@trust.example", DigestSentAt: ts(t0)}
		got, err := e.s.FindSchoolByID(e.ctx, sc.ID)
		do(t, err)
		equal(t, "FindSchoolByID", got.PINs, want)
		got, err = e.s.FindSchoolBySlug(e.ctx, "a")
		do(t, err)
		equal(t, "FindSchoolBySlug", got.PINs, want)
		schools, err := e.s.FindSchools(e.ctx)
		do(t, err)
		equal(t, "FindSchools", []inventory.PINSettings{schools[0].PINs, schools[1].PINs}, []inventory.PINSettings{want, {}})
		got, err = e.s.FindSchoolByID(e.ctx, other.ID)
		do(t, err)
		equal(t, "other school", got.PINs, inventory.PINSettings{})

		for _, bad := range []string{"not an address", "Jo <jo@trust.example>", "jo@", "jo@trust.example, al@trust.example"} {
			err := e.s.SetSchoolPINSettings(e.ctx, sc.ID, inventory.PINSettings{NetworkManager: bad})
			wantCode(t, err, inventory.EINVALID)
			wantMessage(t, err, "network manager")
		}
		got, err = e.s.FindSchoolByID(e.ctx, sc.ID)
		do(t, err)
		equal(t, "settings after refusals", got.PINs, want)

		// A new school starts with none, whatever it is given.
		c := &inventory.School{Slug: "c", Name: "School c", PINs: want}
		do(t, e.s.CreateSchool(e.ctx, c))
		equal(t, "new school's settings", c.PINs, inventory.PINSettings{})

		do(t, e.s.SetSchoolPINSettings(e.ctx, sc.ID, inventory.PINSettings{}))
		got, err = e.s.FindSchoolByID(e.ctx, sc.ID)
		do(t, err)
		equal(t, "settings cleared", got.PINs, inventory.PINSettings{})
		wantCode(t, e.s.SetSchoolPINSettings(e.ctx, uuid.New(), inventory.PINSettings{}), inventory.ENOTFOUND)
	})

	t.Run("ResealAll", func(t *testing.T) {
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{})
		// A recovery key escrowed at enrolment.
		tok := e.token(st.school.ID, 1)
		req := enrollRequest(tok, "LAPTOP1")
		req.RecoveryKeys = []inventory.EscrowedKey{{ProtectorID: "{A}", Volume: "C:", Sealed: []byte("rk")}}
		d, err := e.s.EnrollDevice(e.ctx, req)
		do(t, err)
		// A TOTP secret, and people without one.
		do(t, e.s.SetTOTP(e.ctx, st.head.ID, []byte("totp"), t0))
		// A PIN record with an old value.
		a := e.asset(st.school.ID, "SN1", "")
		e.pinSet(a, inventory.PINFirmwarePassword, "pin-old", st.tech.ID, t0)
		rec := e.pinSet(a, inventory.PINFirmwarePassword, "pin", st.tech.ID, t0.Add(90*time.Minute))

		type state struct {
			Key     *inventory.EscrowedKey
			Head    *inventory.User
			Record  *inventory.PINRecord
			History []*inventory.PINHistory
		}
		read := func() state {
			t.Helper()
			keys, err := e.s.FindRecoveryKeys(e.ctx, d.ID)
			do(t, err)
			head, err := e.s.FindUserByID(e.ctx, st.head.ID)
			do(t, err)
			r, err := e.s.FindPINRecord(e.ctx, a.ID, inventory.PINFirmwarePassword)
			do(t, err)
			if len(keys) != 1 {
				t.Fatalf("recovery keys: %s", dump(keys))
			}
			return state{keys[0], head, r, e.pinHistory(rec.ID)}
		}
		before := read()

		var seen []string
		n, err := e.s.ResealAll(e.ctx, func(s inventory.Sealed) ([]byte, error) {
			seen = append(seen, s.Table+" "+strings.Join(s.IDs, " ")+" = "+string(s.Value))
			return append([]byte("new:"), s.Value...), nil
		})
		do(t, err)
		equal(t, "resealed", n, 4)
		equal(t, "values seen", seen, []string{
			"recovery_keys " + d.ID.String() + " {A} = rk",
			"users " + st.head.ID.String() + " = totp",
			"pin_records " + rec.ID.String() + " " + a.ID.String() + " firmware_password = pin",
			"pin_history " + rec.ID.String() + " " + ts(t0.Add(90*time.Minute)).Format(time.RFC3339Nano) + " " +
				a.ID.String() + " firmware_password = pin-old",
		})
		if !strings.Contains(seen[3], ".123456Z") {
			t.Errorf("replaced-at time %q: want RFC 3339 with the stored microseconds in UTC", seen[3])
		}

		after := read()
		for _, v := range []struct {
			what     string
			old, new []byte
		}{
			{"recovery key", before.Key.Sealed, after.Key.Sealed},
			{"TOTP secret", before.Head.TOTPSealed, after.Head.TOTPSealed},
			{"PIN record", before.Record.Sealed, after.Record.Sealed},
			{"PIN history", before.History[0].Sealed, after.History[0].Sealed},
		} {
			if want := append([]byte("new:"), v.old...); !bytes.Equal(v.new, want) {
				t.Errorf("%s after resealing: %q, want %q", v.what, v.new, want)
			}
		}
		// Nothing else changes.
		after.Key.Sealed, after.Head.TOTPSealed, after.Record.Sealed, after.History[0].Sealed =
			before.Key.Sealed, before.Head.TOTPSealed, before.Record.Sealed, before.History[0].Sealed
		equal(t, "the rest of the rows", after, before)
		u, err := e.s.FindUserByID(e.ctx, st.tech.ID)
		do(t, err)
		equal(t, "TOTP of a person without one", u.TOTPSealed, []byte(nil))

		// A failure part way changes nothing.
		resealed := read()
		errBoom := errors.New("boom")
		calls := 0
		n, err = e.s.ResealAll(e.ctx, func(s inventory.Sealed) ([]byte, error) {
			calls++
			if calls == 3 {
				return nil, errBoom
			}
			return append([]byte("bad:"), s.Value...), nil
		})
		if !errors.Is(err, errBoom) {
			t.Fatalf("ResealAll with a failing fn: %v, want its error", err)
		}
		equal(t, "resealed by a failing run", n, 0)
		equal(t, "values after a failing run", read(), resealed)

		// So does an empty value.
		_, err = e.s.ResealAll(e.ctx, func(s inventory.Sealed) ([]byte, error) { return nil, nil })
		if err == nil {
			t.Error("ResealAll stored empty values")
		}
		equal(t, "values after an empty value", read(), resealed)
	})
}
