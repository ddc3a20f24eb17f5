package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// exitRecord returns a check-in's record whose bytes hold every byte a
// store might mangle.
func exitRecord() []byte {
	b := []byte("%PDF-1.7\nexit check-in\n")
	for i := range 256 {
		b = append(b, byte(i))
	}
	return append(b, 0, 0, '\r', '\n')
}

// newExit stores a check-in of the borrower of st, started by the
// technician at t0, leaving on 2025-09-30, with an item per kit from
// src.
func (e *env) newExit(st *staff, src inventory.ExitSource, kit ...*inventory.Asset) *inventory.Exit {
	e.t.Helper()
	x := &inventory.Exit{SchoolID: st.school.ID, PersonID: st.borrower.ID, LeavingDate: date(2025, 9, 30),
		StartedBy: st.tech.ID, StartedAt: t0}
	for _, a := range kit {
		x.Items = append(x.Items, inventory.ExitItem{AssetID: a.ID, Source: src})
	}
	if err := e.s.CreateExit(e.ctx, x); err != nil {
		e.t.Fatalf("CreateExit: %v", err)
	}
	return x
}

func (e *env) findExit(id uuid.UUID) *inventory.Exit {
	e.t.Helper()
	x, err := e.s.FindExitByID(e.ctx, id)
	if err != nil {
		e.t.Fatalf("FindExitByID: %v", err)
	}
	return x
}

func (e *env) findExits(f inventory.ExitFilter) []*inventory.Exit {
	e.t.Helper()
	all, err := e.s.FindExits(e.ctx, f)
	if err != nil {
		e.t.Fatalf("FindExits: %v", err)
	}
	return all
}

// finishExit does every step of every item of x and signs it off, with
// the domain's methods, at at: the leaver confirms, st's technician and
// headteacher (as line manager) sign. x is then completed, not saved.
func finishExit(t *testing.T, st *staff, x *inventory.Exit, at time.Time) {
	t.Helper()
	for _, it := range x.Items {
		for _, step := range inventory.ExitSteps {
			done := inventory.ExitStepDone{At: at, By: st.tech.ID}
			switch step {
			case inventory.StepReturned:
				done.Note = "Good — Zoë’s charger too"
			case inventory.StepFactoryReset:
				done.Note = "Reset from the recovery menu"
			}
			do(t, x.DoStep(it.AssetID, step, done))
		}
	}
	do(t, x.SignOff(inventory.SignLeaver, st.borrower.ID, at))
	do(t, x.SignOff(inventory.SignTech, st.tech.ID, at))
	do(t, x.SignOff(inventory.SignManager, st.head.ID, at))
	if x.Status != inventory.ExitCompleted {
		t.Fatalf("status after every sign-off = %q, still open: %v", x.Status, x.Open())
	}
}

func exitIDs(all []*inventory.Exit) []uuid.UUID {
	out := []uuid.UUID{}
	for _, x := range all {
		out = append(out, x.ID)
	}
	return out
}

func (su suite) testExitStore(t *testing.T) {
	t.Run("CreateExit", func(t *testing.T) {
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{})
		laptop := e.asset(st.school.ID, "SN1", "T-1")
		ipad := e.asset(st.school.ID, "IPAD1", "", shared)

		x := &inventory.Exit{SchoolID: st.school.ID, PersonID: st.borrower.ID,
			LeavingDate: time.Date(2025, 9, 30, 17, 4, 5, 6, time.UTC), StartedBy: st.tech.ID, StartedAt: t0,
			Status: inventory.ExitCompleted, Version: 7, // the store sets both
			Items: []inventory.ExitItem{
				{AssetID: laptop.ID, Source: inventory.ExitFromLoan, LoanID: uuid.New()},
				{AssetID: ipad.ID, Source: inventory.ExitFromSignOut, Steps: map[string]inventory.ExitStepDone{
					inventory.StepReturned: {At: t0, By: st.tech.ID, Note: "Screen cracked\n“as before”"},
				}},
			}}
		do(t, e.s.CreateExit(e.ctx, x))
		wantV7(t, "ID", x.ID)
		want := &inventory.Exit{ID: x.ID, SchoolID: st.school.ID, PersonID: st.borrower.ID, LeavingDate: date(2025, 9, 30),
			StartedBy: st.tech.ID, StartedAt: ts(t0), Status: inventory.ExitOpen, Version: 1,
			Items: []inventory.ExitItem{
				{AssetID: laptop.ID, Source: inventory.ExitFromLoan, LoanID: x.Items[0].LoanID, Steps: map[string]inventory.ExitStepDone{}},
				{AssetID: ipad.ID, Source: inventory.ExitFromSignOut, Steps: map[string]inventory.ExitStepDone{
					inventory.StepReturned: {At: ts(t0), By: st.tech.ID, Note: "Screen cracked\n“as before”"},
				}},
			}}
		equal(t, "filled check-in", x, want)
		equal(t, "stored check-in", e.findExit(x.ID), want)

		// StartedAt is the store's time when zero; no items is none.
		other := e.user("leaver@a.example")
		before := time.Now().Add(-time.Second)
		y := &inventory.Exit{SchoolID: st.school.ID, PersonID: other.ID, LeavingDate: date(2025, 10, 1), StartedBy: st.tech.ID}
		do(t, e.s.CreateExit(e.ctx, y))
		if y.StartedAt.Before(before) || y.StartedAt != ts(y.StartedAt) {
			t.Errorf("StartedAt %v: want the store's time, as stored", y.StartedAt)
		}
		equal(t, "check-in without items", e.findExit(y.ID), y)
		if y.Items != nil {
			t.Errorf("items %v, want none", y.Items)
		}

		_, err := e.s.FindExitByID(e.ctx, uuid.New())
		wantCode(t, err, inventory.ENOTFOUND)
	})

	t.Run("CreateExit/Refused", func(t *testing.T) {
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{})
		other := e.staff("b", inventory.LoanSettings{})
		laptop := e.asset(st.school.ID, "SN1", "")
		theirs := e.asset(other.school.ID, "THEIRS", "")
		for _, tc := range []struct {
			name   string
			change func(x *inventory.Exit)
			code   string
			parts  []string
		}{
			{"UnknownSchool", func(x *inventory.Exit) { x.SchoolID = uuid.New() }, inventory.ENOTFOUND, nil},
			{"UnknownPerson", func(x *inventory.Exit) { x.PersonID = uuid.New() }, inventory.ENOTFOUND, nil},
			{"UnknownStarter", func(x *inventory.Exit) { x.StartedBy = uuid.New() }, inventory.ENOTFOUND, nil},
			{"UnknownKit", func(x *inventory.Exit) {
				x.Items = append(x.Items, inventory.ExitItem{AssetID: uuid.New(), Source: inventory.ExitFromAssigned})
			}, inventory.ENOTFOUND, nil},
			{"OtherSchoolsKit", func(x *inventory.Exit) {
				x.Items = append(x.Items, inventory.ExitItem{AssetID: theirs.ID, Source: inventory.ExitFromAssigned})
			}, inventory.EINVALID, []string{"THEIRS", "another school"}},
			{"KitTwice", func(x *inventory.Exit) {
				x.Items = append(x.Items, inventory.ExitItem{AssetID: laptop.ID, Source: inventory.ExitFromPIN})
			}, inventory.EINVALID, []string{"twice"}},
			{"UnknownSource", func(x *inventory.Exit) { x.Items[0].Source = "found" }, inventory.EINVALID, []string{"found"}},
			{"NoLeavingDate", func(x *inventory.Exit) { x.LeavingDate = time.Time{} }, inventory.EINVALID, []string{"leaving date"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				x := &inventory.Exit{SchoolID: st.school.ID, PersonID: st.borrower.ID, LeavingDate: date(2025, 9, 30),
					StartedBy: st.tech.ID, Items: []inventory.ExitItem{{AssetID: laptop.ID, Source: inventory.ExitFromAssigned}}}
				tc.change(x)
				err := e.s.CreateExit(e.ctx, x)
				wantCode(t, err, tc.code)
				wantMessage(t, err, tc.parts...)
			})
		}
		equal(t, "check-ins stored", len(e.findExits(inventory.ExitFilter{})), 0)
	})

	t.Run("OneOpenPerPerson", func(t *testing.T) {
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{})
		other := e.staff("b", inventory.LoanSettings{})
		laptop := e.asset(st.school.ID, "SN1", "")
		first := e.newExit(st, inventory.ExitFromAssigned, laptop)

		// A second open check-in of the person at the school is refused.
		err := e.s.CreateExit(e.ctx, &inventory.Exit{SchoolID: st.school.ID, PersonID: st.borrower.ID,
			LeavingDate: date(2025, 10, 31), StartedBy: st.head.ID})
		wantCode(t, err, inventory.ECONFLICT)
		wantMessage(t, err, st.borrower.Email, "has an open exit check-in already")

		// At another school (they taught at both), it is allowed.
		at2 := &inventory.Exit{SchoolID: other.school.ID, PersonID: st.borrower.ID, LeavingDate: date(2025, 9, 30),
			StartedBy: other.tech.ID}
		do(t, e.s.CreateExit(e.ctx, at2))

		// Once the first is completed, a new one may start.
		finishExit(t, st, first, t0.Add(time.Hour))
		do(t, e.s.UpdateExit(e.ctx, first, exitRecord()))
		again := &inventory.Exit{SchoolID: st.school.ID, PersonID: st.borrower.ID, LeavingDate: date(2026, 7, 22),
			StartedBy: st.tech.ID}
		do(t, e.s.CreateExit(e.ctx, again))
		err = e.s.CreateExit(e.ctx, &inventory.Exit{SchoolID: st.school.ID, PersonID: st.borrower.ID,
			LeavingDate: date(2026, 7, 22), StartedBy: st.tech.ID})
		wantCode(t, err, inventory.ECONFLICT)
	})

	t.Run("FindExits", func(t *testing.T) {
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{})
		other := e.staff("b", inventory.LoanSettings{})
		people := []*inventory.User{st.borrower, st.lead, e.user("leaver@a.example"), other.borrower}
		var all []*inventory.Exit // oldest first
		for i, p := range people {
			sp := st
			if i == 3 {
				sp = other
			}
			x := &inventory.Exit{SchoolID: sp.school.ID, PersonID: p.ID, LeavingDate: date(2025, 9, 30),
				StartedBy: sp.tech.ID, StartedAt: t0.Add(time.Duration(i) * time.Hour)}
			do(t, e.s.CreateExit(e.ctx, x))
			all = append(all, x)
		}
		// The first is completed.
		finishExit(t, st, all[0], t0.Add(5*time.Hour))
		do(t, e.s.UpdateExit(e.ctx, all[0], exitRecord()))

		ids := func(is ...int) []uuid.UUID {
			out := []uuid.UUID{}
			for _, i := range is {
				out = append(out, all[i].ID)
			}
			return out
		}
		for _, tc := range []struct {
			name string
			f    inventory.ExitFilter
			want []uuid.UUID
		}{
			{"All", inventory.ExitFilter{}, ids(3, 2, 1, 0)},
			{"School", inventory.ExitFilter{SchoolIDs: []uuid.UUID{st.school.ID}}, ids(2, 1, 0)},
			{"Schools", inventory.ExitFilter{SchoolIDs: []uuid.UUID{st.school.ID, other.school.ID}}, ids(3, 2, 1, 0)},
			{"NoSchools", inventory.ExitFilter{SchoolIDs: []uuid.UUID{}}, ids()},
			{"Person", inventory.ExitFilter{PersonID: st.lead.ID}, ids(1)},
			{"Open", inventory.ExitFilter{Status: inventory.ExitOpen}, ids(3, 2, 1)},
			{"Completed", inventory.ExitFilter{Status: inventory.ExitCompleted}, ids(0)},
			{"SchoolOpen", inventory.ExitFilter{SchoolIDs: []uuid.UUID{other.school.ID}, Status: inventory.ExitOpen}, ids(3)},
			{"Limit", inventory.ExitFilter{Limit: 2}, ids(3, 2)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				equal(t, "check-ins", exitIDs(e.findExits(tc.f)), tc.want)
			})
		}
		got := e.findExits(inventory.ExitFilter{PersonID: st.borrower.ID})
		equal(t, "found check-in", got, []*inventory.Exit{all[0]})
	})

	t.Run("UpdateExit", func(t *testing.T) {
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{})
		laptop := e.asset(st.school.ID, "SN1", "")
		phone := e.asset(st.school.ID, "PHONE1", "")
		x := e.newExit(st, inventory.ExitFromAssigned, laptop)

		// Two people read it; the first saves, and the second's save is
		// refused.
		a, b := e.findExit(x.ID), e.findExit(x.ID)
		do(t, a.DoStep(laptop.ID, inventory.StepReturned, inventory.ExitStepDone{At: t0, By: st.tech.ID, Note: "Good"}))
		do(t, e.s.UpdateExit(e.ctx, a, nil))
		equal(t, "version", a.Version, 2)
		equal(t, "saved check-in", e.findExit(x.ID), a)
		do(t, b.SignOff(inventory.SignLeaver, st.borrower.ID, t0))
		err := e.s.UpdateExit(e.ctx, b, nil)
		wantCode(t, err, inventory.ECONFLICT)
		wantMessage(t, err, "changed by someone else meanwhile", "reload")
		equal(t, "check-in after a stale save", e.findExit(x.ID), a)

		// Kit may be added, and the leaving date changed.
		a.Items = append(a.Items, inventory.ExitItem{AssetID: phone.ID, Source: inventory.ExitFromPIN})
		a.LeavingDate = time.Date(2025, 10, 3, 12, 0, 0, 0, time.UTC)
		do(t, e.s.UpdateExit(e.ctx, a, nil))
		equal(t, "leaving date", a.LeavingDate, date(2025, 10, 3))
		equal(t, "check-in with more kit", e.findExit(x.ID), a)

		// What never changes, and what is not there.
		for _, tc := range []struct {
			name   string
			change func(x *inventory.Exit)
			code   string
		}{
			{"School", func(x *inventory.Exit) { x.SchoolID = e.school("c").ID }, inventory.EINVALID},
			{"Person", func(x *inventory.Exit) { x.PersonID = st.lead.ID }, inventory.EINVALID},
			{"Starter", func(x *inventory.Exit) { x.StartedBy = st.head.ID }, inventory.EINVALID},
			{"Start", func(x *inventory.Exit) { x.StartedAt = x.StartedAt.Add(time.Minute) }, inventory.EINVALID},
			{"UnknownKit", func(x *inventory.Exit) {
				x.Items = append(x.Items, inventory.ExitItem{AssetID: uuid.New(), Source: inventory.ExitFromPIN})
			}, inventory.ENOTFOUND},
			{"UnknownCheckIn", func(x *inventory.Exit) { x.ID = uuid.New() }, inventory.ENOTFOUND},
			{"Status", func(x *inventory.Exit) { x.Status = "paused" }, inventory.EINVALID},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c := e.findExit(x.ID)
				tc.change(c)
				wantCode(t, e.s.UpdateExit(e.ctx, c, nil), tc.code)
			})
		}
		equal(t, "check-in after refusals", e.findExit(x.ID), a)

		// Completed without its steps, or without a record, is refused.
		c := e.findExit(x.ID)
		c.Status, c.CompletedAt = inventory.ExitCompleted, t0
		err = e.s.UpdateExit(e.ctx, c, exitRecord())
		wantCode(t, err, inventory.ECONFLICT)
		wantMessage(t, err, "still open", "sign-off")
		c = e.findExit(x.ID)
		finishExit(t, st, c, t0.Add(time.Hour))
		err = e.s.UpdateExit(e.ctx, c, nil)
		wantCode(t, err, inventory.EINVALID)
		wantMessage(t, err, "record")
		equal(t, "check-in after refused completions", e.findExit(x.ID), a)
		_, err = e.s.FindExitRecord(e.ctx, x.ID)
		wantCode(t, err, inventory.ENOTFOUND)

		// Completed, it is never saved again.
		do(t, e.s.UpdateExit(e.ctx, c, exitRecord()))
		equal(t, "completed check-in", e.findExit(x.ID), c)
		d := e.findExit(x.ID)
		d.LeavingDate = date(2025, 12, 19)
		err = e.s.UpdateExit(e.ctx, d, nil)
		wantCode(t, err, inventory.ECONFLICT)
		wantMessage(t, err, "completed")
		d.Status = inventory.ExitOpen
		wantCode(t, e.s.UpdateExit(e.ctx, d, exitRecord()), inventory.ECONFLICT)
		equal(t, "check-in after saves of a completed one", e.findExit(x.ID), c)
	})

	t.Run("Complete", func(t *testing.T) {
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{})
		lent := e.asset(st.school.ID, "LENT", "")
		loan := e.lend(st, lent, t0)
		assigned := e.asset(st.school.ID, "ASSIGNED", "", func(a *inventory.Asset) {
			a.Status, a.AssignedTo = inventory.AssetAssigned, "Teacher@A.example"
		})
		ipad := e.asset(st.school.ID, "IPAD1", "", shared)
		out := &inventory.SignOut{AssetID: ipad.ID, UserID: st.borrower.ID, OutBy: st.tech.ID, OutAt: t0}
		do(t, e.s.CreateSignOut(e.ctx, out))
		// Kit they know the PINs of, on loan to someone else, stays on loan
		// and assigned as it is; only its PINs are retired.
		known := e.asset(st.school.ID, "KNOWN", "", func(a *inventory.Asset) { a.AssignedTo = "Someone else" })
		otherLoan := e.lend(&staff{school: st.school, head: st.head, lead: st.lead, tech: st.tech, borrower: st.lead}, known, t0)
		gone := e.asset(st.school.ID, "GONE", "")
		for _, a := range []*inventory.Asset{lent, assigned, known, gone} {
			e.pinSet(a, inventory.PINDevicePasscode, "sealed-"+a.Serial, st.tech.ID, t0.Add(-time.Hour))
		}
		e.pinSet(lent, inventory.PINFirmwarePassword, "sealed-fw", st.tech.ID, t0.Add(-time.Hour))
		untouched := e.asset(st.school.ID, "UNTOUCHED", "", func(a *inventory.Asset) { a.AssignedTo = "teacher@a.example" })
		kept := e.pinSet(untouched, inventory.PINDevicePasscode, "sealed-u", st.tech.ID, t0.Add(-time.Hour))

		x := &inventory.Exit{SchoolID: st.school.ID, PersonID: st.borrower.ID, LeavingDate: date(2025, 9, 30),
			StartedBy: st.tech.ID, StartedAt: t0, Items: []inventory.ExitItem{
				{AssetID: lent.ID, Source: inventory.ExitFromLoan, LoanID: loan.ID},
				{AssetID: assigned.ID, Source: inventory.ExitFromAssigned},
				{AssetID: ipad.ID, Source: inventory.ExitFromSignOut},
				{AssetID: known.ID, Source: inventory.ExitFromPIN},
				{AssetID: gone.ID, Source: inventory.ExitFromAssigned},
			}}
		do(t, e.s.CreateExit(e.ctx, x))
		// One piece is disposed of while the check-in is open.
		do(t, e.s.DisposeAsset(e.ctx, disposal(gone, st.tech.ID)))
		goneBefore := e.findAsset(gone.ID)
		logBefore := e.pinLog(inventory.PINLogFilter{Limit: inventory.MaxPageSize})

		done := t0.Add(48 * time.Hour)
		finishExit(t, st, x, done)
		version := x.Version
		before := time.Now().Add(-time.Second)
		do(t, e.s.UpdateExit(e.ctx, x, exitRecord()))
		equal(t, "version", x.Version, version+1)
		equal(t, "completed at", x.CompletedAt, ts(done))
		equal(t, "stored check-in", e.findExit(x.ID), x)
		rec, err := e.s.FindExitRecord(e.ctx, x.ID)
		do(t, err)
		if string(rec) != string(exitRecord()) {
			t.Errorf("record: %d bytes read back, not the %d stored exactly", len(rec), len(exitRecord()))
		}

		// The loan is returned by the technician who signed, with an
		// event, and the kit is in stock.
		got := e.findLoan(loan.ID)
		want := *loan
		want.Status, want.ReturnedAt, want.ReceivedBy = inventory.LoanReturned, ts(done), st.tech.ID
		want.ReturnNotes, want.Version = "returned at the leaver's exit check-in", loan.Version+1
		if got.UpdatedAt.Before(ts(before)) {
			t.Errorf("loan UpdatedAt %v: want the store's time of the completion", got.UpdatedAt)
		}
		want.UpdatedAt = got.UpdatedAt
		equal(t, "returned loan", got, &want)
		evs, err := e.s.FindLoanEvents(e.ctx, loan.ID, uuid.Nil)
		do(t, err)
		last := evs[len(evs)-1]
		wantV7(t, "event ID", last.ID)
		equal(t, "return event", last, &inventory.LoanEvent{ID: last.ID, LoanID: loan.ID, SchoolID: st.school.ID,
			AssetID: lent.ID, Action: "returned", ActorID: st.tech.ID, At: ts(done), Detail: "returned at the leaver's exit check-in"})
		gotLent := e.findAsset(lent.ID)
		equal(t, "lent kit's status", gotLent.Status, inventory.AssetInStock)
		if gotLent.UpdatedAt.Before(ts(before)) {
			t.Errorf("kit UpdatedAt %v: want the store's time of the completion", gotLent.UpdatedAt)
		}

		// Assigned kit is in stock and assigned to no one.
		gotAssigned := e.findAsset(assigned.ID)
		wantAssigned := *assigned
		wantAssigned.Status, wantAssigned.AssignedTo, wantAssigned.UpdatedAt = inventory.AssetInStock, "", gotAssigned.UpdatedAt
		equal(t, "assigned kit", gotAssigned, &wantAssigned)
		// and the register's search no longer finds it by the leaver.
		found, err := e.s.FindAssets(e.ctx, inventory.AssetFilter{SchoolIDs: []uuid.UUID{st.school.ID}, Search: "teacher@a"})
		do(t, err)
		equal(t, "kit found by the leaver's address", assetIDs(found), []uuid.UUID{untouched.ID})

		// The sign-out is closed by the technician.
		gotOut, err := e.s.FindSignOutByID(e.ctx, out.ID)
		do(t, err)
		wantOut := *out
		wantOut.BackAt, wantOut.BackBy = ts(done), st.tech.ID
		equal(t, "sign-out", gotOut, &wantOut)
		equal(t, "signed-out kit's status", e.findAsset(ipad.ID).Status, inventory.AssetInStock)

		// Kit on loan to someone else stays on loan, as it was.
		equal(t, "other loan", e.findLoan(otherLoan.ID), otherLoan)
		gotKnown := e.findAsset(known.ID)
		equal(t, "kit lent to someone else: status", gotKnown.Status, inventory.AssetOnLoan)
		equal(t, "kit lent to someone else: assigned to", gotKnown.AssignedTo, "Someone else")

		// Disposed kit stays disposed.
		equal(t, "disposed kit", e.findAsset(gone.ID), goneBefore)

		// The PIN records of the kit are retired, each logged by the
		// technician; other kit's are not.
		for _, a := range []*inventory.Asset{lent, assigned, known} {
			for _, r := range e.pinRecords(a.ID) {
				equal(t, "retired at of "+a.Serial+" "+string(r.Kind), r.RetiredAt, ts(done))
			}
		}
		equal(t, "records of kit on no check-in", e.pinRecords(untouched.ID), []*inventory.PINRecord{kept})
		log := e.pinLog(inventory.PINLogFilter{Limit: inventory.MaxPageSize})
		added := log[:len(log)-len(logBefore)]
		equal(t, "old log", log[len(added):], logBefore)
		equal(t, "log lines added", len(added), 4)
		for _, le := range added {
			wantV7(t, "log entry ID", le.ID)
			equal(t, "log entry", le, &inventory.PINLogEntry{ID: le.ID, SchoolID: st.school.ID, AssetID: le.AssetID,
				Kind: le.Kind, Action: inventory.PINActionRetire, ActorID: st.tech.ID, At: ts(done),
				Reason: "retired at the leaver's exit check-in"})
		}
		lines := map[uuid.UUID]int{}
		for _, le := range added {
			lines[le.AssetID]++
		}
		equal(t, "log lines per kit", lines, map[uuid.UUID]int{lent.ID: 2, assigned.ID: 1, known.ID: 1})
	})

	t.Run("Record", func(t *testing.T) {
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{})
		x := e.newExit(st, inventory.ExitFromAssigned, e.asset(st.school.ID, "SN1", ""))
		_, err := e.s.FindExitRecord(e.ctx, x.ID)
		wantCode(t, err, inventory.ENOTFOUND)
		_, err = e.s.FindExitRecord(e.ctx, uuid.New())
		wantCode(t, err, inventory.ENOTFOUND)
		finishExit(t, st, x, t0.Add(time.Hour))
		do(t, e.s.UpdateExit(e.ctx, x, exitRecord()))

		raw, ok := e.s.(RawExecer)
		if !ok {
			t.Fatalf("%T does not implement storetest.RawExecer, so the suite cannot check that the database refuses to change records", e.s)
		}
		id := "'" + x.ID.String() + "'"
		do(t, raw.ExecRaw(e.ctx, `UPDATE exits SET version = version WHERE id = `+id)) // the hook works
		for _, q := range []string{
			`UPDATE exit_records SET pdf = pdf WHERE exit_id = ` + id,
			`UPDATE exit_records SET created_at = created_at`,
			`DELETE FROM exit_records WHERE exit_id = ` + id,
			`DELETE FROM exit_records`,
		} {
			err := raw.ExecRaw(e.ctx, q)
			if err == nil || !strings.Contains(err.Error(), "exit check-in records never change") {
				t.Errorf("%s: error %v, want the trigger's refusal", q, err)
			}
		}
		rec, err := e.s.FindExitRecord(e.ctx, x.ID)
		do(t, err)
		equal(t, "record after tampering", rec, exitRecord())
	})
}
