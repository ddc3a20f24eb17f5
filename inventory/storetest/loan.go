package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// RawExecer is a store whose tests may run SQL on its database directly,
// as someone with access to the database rather than to the store would.
// The suite uses it to check what the database itself refuses; a backend
// whose store lacks it fails those tests. The SQL is written to run on
// both SQLite and PostgreSQL.
type RawExecer interface {
	ExecRaw(ctx context.Context, query string) error
}

// staff are the people of a loan test's school.
type staff struct {
	school                     *inventory.School
	head, lead, tech, borrower *inventory.User
}

// staff makes a school with settings s and its people.
func (e *env) staff(slug string, s inventory.LoanSettings) *staff {
	e.t.Helper()
	sc := e.school(slug)
	if err := e.s.SetSchoolLoanSettings(e.ctx, sc.ID, s); err != nil {
		e.t.Fatalf("SetSchoolLoanSettings: %v", err)
	}
	sc.Loans = s
	return &staff{
		school:   sc,
		head:     e.user("head@" + slug + ".example"),
		lead:     e.user("lead@" + slug + ".example"),
		tech:     e.user("tech@" + slug + ".example"),
		borrower: e.user("teacher@" + slug + ".example"),
	}
}

// newLoan stores the borrower's request for a (nil: for kind laptop),
// made at t0.
func (e *env) newLoan(st *staff, a *inventory.Asset) *inventory.Loan {
	e.t.Helper()
	l, err := inventory.NewLoan(st.school, st.borrower.ID, st.borrower.ID, a, inventory.KindLaptop,
		"Marking at home", t0.AddDate(0, 0, 30), t0)
	if err != nil {
		e.t.Fatalf("NewLoan: %v", err)
	}
	ev := &inventory.LoanEvent{Action: "requested", ActorID: st.borrower.ID, At: t0}
	if err := e.s.CreateLoan(e.ctx, l, ev); err != nil {
		e.t.Fatalf("CreateLoan: %v", err)
	}
	return l
}

// save saves a step of l with an event of action by actor at at.
func (e *env) save(l *inventory.Loan, action string, actor uuid.UUID, at time.Time, ag *inventory.SignedAgreement) error {
	return e.s.UpdateLoan(e.ctx, inventory.LoanUpdate{Loan: l,
		Event:     &inventory.LoanEvent{Action: action, ActorID: actor, At: at, Detail: action + " detail"},
		Agreement: ag})
}

// mustSave saves a step of l, failing the test on error.
func (e *env) mustSave(l *inventory.Loan, action string, actor uuid.UUID, at time.Time, ag *inventory.SignedAgreement) {
	e.t.Helper()
	if err := e.save(l, action, actor, at, ag); err != nil {
		e.t.Fatalf("UpdateLoan(%s): %v", action, err)
	}
}

func (e *env) findLoan(id uuid.UUID) *inventory.Loan {
	e.t.Helper()
	l, err := e.s.FindLoanByID(e.ctx, id)
	if err != nil {
		e.t.Fatalf("FindLoanByID: %v", err)
	}
	return l
}

// do fails the test if a step of a loan fails.
func do(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// agreement returns an agreement for l whose text and PDF hold every
// byte a store might mangle.
func agreement(l *inventory.Loan, at time.Time) *inventory.SignedAgreement {
	text := "Loan agreement\r\nI, the borrower — “Zoë” —, agree ✓\n\ttabbed\n"
	sum := sha256.Sum256([]byte(text))
	pdf := []byte("%PDF-1.7\n")
	for i := range 256 {
		pdf = append(pdf, byte(i))
	}
	return &inventory.SignedAgreement{LoanID: l.ID, TemplateVersion: 2, Text: text, SHA256: hex.EncodeToString(sum[:]),
		FullName: "Zoë O'Brien", SignedAt: at, Address: "192.0.2.7", PDF: pdf}
}

// ready moves a new loan on a to signed, ready for the hand-over.
func (e *env) ready(st *staff, a *inventory.Asset) *inventory.Loan {
	e.t.Helper()
	l := e.newLoan(st, a)
	do(e.t, l.Approve(st.head.ID, inventory.RoleHeadteacher, t0))
	e.mustSave(l, "approved", st.head.ID, t0, nil)
	if st.school.Loans.RequireLeadApproval {
		do(e.t, l.Approve(st.lead.ID, inventory.RoleComputingLead, t0))
		e.mustSave(l, "approved", st.lead.ID, t0, nil)
	}
	do(e.t, l.Sign(st.borrower.ID, t0))
	e.mustSave(l, "signed", st.borrower.ID, t0, agreement(l, t0))
	return l
}

// lend moves a new loan on a to on loan, handed over at at.
func (e *env) lend(st *staff, a *inventory.Asset, at time.Time) *inventory.Loan {
	e.t.Helper()
	l := e.ready(st, a)
	do(e.t, l.HandOver(st.tech.ID, "good", "charger", at))
	e.mustSave(l, "handed_over", st.tech.ID, at, nil)
	return l
}

func (su suite) testLoanStore(t *testing.T) {
	t.Run("Flow", func(t *testing.T) {
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{RequireLeadApproval: true, CheckIntervalDays: 30})
		a := e.asset(st.school.ID, "SN1", "ST-1")

		l, err := inventory.NewLoan(st.school, st.borrower.ID, st.borrower.ID, a, inventory.KindLaptop,
			"Marking at home", t0.AddDate(0, 0, 30), t0)
		do(t, err)
		ev := &inventory.LoanEvent{Action: "requested", ActorID: st.borrower.ID, At: t0, Detail: "please"}
		do(t, e.s.CreateLoan(e.ctx, l, ev))
		wantV7(t, "loan ID", l.ID)
		wantV7(t, "event ID", ev.ID)
		if l.Version != 1 || l.CreatedAt.IsZero() || !l.UpdatedAt.Equal(l.CreatedAt) {
			t.Fatalf("created loan: Version %d, CreatedAt %v, UpdatedAt %v", l.Version, l.CreatedAt, l.UpdatedAt)
		}
		equal(t, "ExpectedReturn", l.ExpectedReturn, date(2025, 10, 1))
		equal(t, "NeedsLeadApproval", l.NeedsLeadApproval, true)
		equal(t, "CheckIntervalDays", l.CheckIntervalDays, 30)
		equal(t, "event", ev, &inventory.LoanEvent{ID: ev.ID, LoanID: l.ID, SchoolID: st.school.ID, AssetID: a.ID,
			Action: "requested", ActorID: st.borrower.ID, At: ts(t0), Detail: "please"})
		equal(t, "stored loan", e.findLoan(l.ID), l)

		steps := []struct {
			action  string
			actor   uuid.UUID
			move    func(at time.Time) error
			agree   bool
			status  inventory.LoanStatus
			kitWant inventory.AssetStatus
		}{
			{"approved", st.head.ID, func(at time.Time) error { return l.Approve(st.head.ID, inventory.RoleHeadteacher, at) },
				false, inventory.LoanRequested, inventory.AssetInStock},
			{"approved", st.lead.ID, func(at time.Time) error { return l.Approve(st.lead.ID, inventory.RoleComputingLead, at) },
				false, inventory.LoanApproved, inventory.AssetInStock},
			{"signed", st.borrower.ID, func(at time.Time) error { return l.Sign(st.borrower.ID, at) },
				true, inventory.LoanSigned, inventory.AssetInStock},
			{"handed_over", st.tech.ID, func(at time.Time) error { return l.HandOver(st.tech.ID, "scratched lid", "charger, bag", at) },
				false, inventory.LoanOnLoan, inventory.AssetOnLoan},
			{"checked", st.tech.ID, func(at time.Time) error { return l.Check(at) },
				false, inventory.LoanOnLoan, inventory.AssetOnLoan},
			{"returned", st.tech.ID, func(at time.Time) error { return l.Return(st.tech.ID, "fine", "wiped", at) },
				false, inventory.LoanReturned, inventory.AssetInStock},
		}
		var ag *inventory.SignedAgreement
		for i, s := range steps {
			at := t0.Add(time.Duration(i+1) * 24 * time.Hour).In(time.FixedZone("UTC+5", 5*3600))
			do(t, s.move(at))
			var sa *inventory.SignedAgreement
			if s.agree {
				sa = agreement(l, at)
				ag = sa
			}
			before := l.UpdatedAt
			e.mustSave(l, s.action, s.actor, at, sa)
			equal(t, fmt.Sprintf("step %d version", i+1), l.Version, i+2)
			if l.UpdatedAt.Before(before) {
				t.Errorf("step %d: UpdatedAt went back from %v to %v", i+1, before, l.UpdatedAt)
			}
			equal(t, fmt.Sprintf("step %d status", i+1), l.Status, s.status)
			equal(t, fmt.Sprintf("step %d stored loan", i+1), e.findLoan(l.ID), l)
			equal(t, fmt.Sprintf("step %d kit status", i+1), e.findAsset(a.ID).Status, s.kitWant)
		}
		equal(t, "stored HandedOverAt", l.HandedOverAt, ts(t0.Add(4*24*time.Hour)))
		equal(t, "stored LeadApprovedBy", l.LeadApprovedBy, st.lead.ID)

		got, err := e.s.FindAgreement(e.ctx, l.ID)
		do(t, err)
		equal(t, "agreement", got, ag)
		if string(got.PDF) != string(agreement(l, t0).PDF) || got.Text != agreement(l, t0).Text {
			t.Error("agreement text or PDF did not come back byte for byte")
		}

		evs, err := e.s.FindLoanEvents(e.ctx, l.ID, uuid.Nil)
		do(t, err)
		var actions []string
		for _, ev := range evs {
			actions = append(actions, ev.Action)
			if ev.LoanID != l.ID || ev.SchoolID != st.school.ID || ev.AssetID != a.ID {
				t.Errorf("event %s names loan %s, school %s, kit %s", ev.Action, ev.LoanID, ev.SchoolID, ev.AssetID)
			}
		}
		equal(t, "loan's history", actions, []string{"requested", "approved", "approved", "signed", "handed_over", "checked", "returned"})
		equal(t, "last event", evs[len(evs)-1].At, ts(t0.Add(6*24*time.Hour)))

		// The kit is lent again; its history holds both loans, the loan's
		// only its own.
		l2 := e.lend(st, e.findAsset(a.ID), t0.Add(10*24*time.Hour))
		byKit, err := e.s.FindLoanEvents(e.ctx, uuid.Nil, a.ID)
		do(t, err)
		equal(t, "kit's history", len(byKit), 7+5)
		if byKit[len(byKit)-1].LoanID != l2.ID {
			t.Errorf("kit's last event is of loan %s, want %s", byKit[len(byKit)-1].LoanID, l2.ID)
		}
		evs, err = e.s.FindLoanEvents(e.ctx, l.ID, uuid.Nil)
		do(t, err)
		equal(t, "loan's history after another loan", len(evs), 7)
		_, err = e.s.FindLoanEvents(e.ctx, uuid.Nil, uuid.Nil)
		wantCode(t, err, inventory.EINVALID)
	})

	t.Run("Flow/KindOnly", func(t *testing.T) {
		// A request names a kind; the technician chooses the kit later.
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{})
		l := e.newLoan(st, nil)
		equal(t, "loan's kit", l.AssetID, uuid.Nil)
		a := e.asset(st.school.ID, "SN1", "")
		do(t, l.Approve(st.head.ID, inventory.RoleHeadteacher, t0))
		e.mustSave(l, "approved", st.head.ID, t0, nil)
		do(t, l.Choose(a))
		e.mustSave(l, "device_chosen", st.tech.ID, t0, nil)
		equal(t, "stored loan", e.findLoan(l.ID), l)
		evs, err := e.s.FindLoanEvents(e.ctx, l.ID, uuid.Nil)
		do(t, err)
		equal(t, "events", len(evs), 3)
		equal(t, "request's kit", evs[0].AssetID, uuid.Nil)
		equal(t, "choice's kit", evs[2].AssetID, a.ID)
	})

	t.Run("UpdateLoan/ErrChanged", func(t *testing.T) {
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{})
		l := e.newLoan(st, e.asset(st.school.ID, "SN1", ""))
		first, second := e.findLoan(l.ID), e.findLoan(l.ID)
		do(t, first.Approve(st.head.ID, inventory.RoleHeadteacher, t0))
		do(t, second.Approve(st.head.ID, inventory.RoleHeadteacher, t0))
		e.mustSave(first, "approved", st.head.ID, t0, nil)
		err := e.save(second, "approved", st.head.ID, t0, nil)
		wantCode(t, err, inventory.ECONFLICT)
		wantMessage(t, err, "changed by someone else meanwhile")
		equal(t, "refused copy's version", second.Version, 1)
		equal(t, "stored loan", e.findLoan(l.ID), first)
		evs, err := e.s.FindLoanEvents(e.ctx, l.ID, uuid.Nil)
		do(t, err)
		equal(t, "events", len(evs), 2)

		// A reminder saved without an event is versioned too.
		stale := e.findLoan(l.ID)
		cur := e.findLoan(l.ID)
		cur.CheckRemindedAt = t0
		do(t, e.s.UpdateLoan(e.ctx, inventory.LoanUpdate{Loan: cur}))
		stale.OverdueRemindedAt = t0
		wantCode(t, e.s.UpdateLoan(e.ctx, inventory.LoanUpdate{Loan: stale}), inventory.ECONFLICT)

		missing := *cur
		missing.ID = uuid.New()
		wantCode(t, e.s.UpdateLoan(e.ctx, inventory.LoanUpdate{Loan: &missing}), inventory.ENOTFOUND)
		_, err = e.s.FindLoanByID(e.ctx, uuid.New())
		wantCode(t, err, inventory.ENOTFOUND)
	})

	t.Run("UpdateLoan/Concurrent", func(t *testing.T) {
		// Of many saves over the same version at once, exactly one wins.
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{})
		l := e.newLoan(st, e.asset(st.school.ID, "SN1", ""))
		const n = 8
		copies := make([]*inventory.Loan, n)
		for i := range copies {
			copies[i] = e.findLoan(l.ID)
			do(t, copies[i].Approve(st.head.ID, inventory.RoleHeadteacher, t0.Add(time.Duration(i)*time.Second)))
		}
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range copies {
			wg.Go(func() { errs[i] = e.save(copies[i], "approved", st.head.ID, t0, nil) })
		}
		wg.Wait()
		won := -1
		for i, err := range errs {
			switch inventory.ErrorCode(err) {
			case "":
				if won >= 0 {
					t.Fatalf("saves %d and %d both won", won, i)
				}
				won = i
			case inventory.ECONFLICT:
			default:
				t.Fatalf("save %d: %v", i, err)
			}
		}
		if won < 0 {
			t.Fatal("no save won")
		}
		equal(t, "stored loan", e.findLoan(l.ID), copies[won])
		evs, err := e.s.FindLoanEvents(e.ctx, l.ID, uuid.Nil)
		do(t, err)
		equal(t, "events", len(evs), 2)
	})

	t.Run("CreateLoan/ErrKitHeld", func(t *testing.T) {
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{})
		a := e.asset(st.school.ID, "SN1", "ST-1")
		first := e.newLoan(st, a)
		l, err := inventory.NewLoan(st.school, st.borrower.ID, st.borrower.ID, a, inventory.KindLaptop, "Trip", time.Time{}, t0)
		do(t, err)
		err = e.s.CreateLoan(e.ctx, l, &inventory.LoanEvent{Action: "requested", ActorID: st.borrower.ID})
		wantCode(t, err, inventory.ECONFLICT)
		wantMessage(t, err, "SN1", "already on another open loan")

		// Choosing held kit for another request is refused too.
		other := e.newLoan(st, nil)
		do(t, other.Choose(a))
		err = e.save(other, "device_chosen", st.tech.ID, t0, nil)
		wantCode(t, err, inventory.ECONFLICT)
		wantMessage(t, err, "already on another open loan")

		// Once the first loan is closed, the kit may be lent again.
		do(t, first.Cancel())
		e.mustSave(first, "cancelled", st.borrower.ID, t0, nil)
		other = e.findLoan(other.ID)
		do(t, other.Choose(a))
		e.mustSave(other, "device_chosen", st.tech.ID, t0, nil)
		loans, err := e.s.FindLoans(e.ctx, inventory.LoanFilter{AssetID: a.ID})
		do(t, err)
		equal(t, "loans of the kit", len(loans), 2)
	})

	t.Run("CreateLoan/Refused", func(t *testing.T) {
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{})
		other := e.staff("b", inventory.LoanSettings{})
		a := e.asset(st.school.ID, "SN1", "")
		theirs := e.asset(other.school.ID, "SN2", "")
		for _, tc := range []struct {
			name   string
			change func(l *inventory.Loan)
			code   string
		}{
			{"UnknownSchool", func(l *inventory.Loan) { l.SchoolID = uuid.New() }, inventory.ENOTFOUND},
			{"UnknownBorrower", func(l *inventory.Loan) { l.BorrowerID = uuid.New() }, inventory.ENOTFOUND},
			{"UnknownRequester", func(l *inventory.Loan) { l.RequestedBy = uuid.New() }, inventory.ENOTFOUND},
			{"UnknownKit", func(l *inventory.Loan) { l.AssetID = uuid.New() }, inventory.ENOTFOUND},
			{"OtherSchoolsKit", func(l *inventory.Loan) { l.AssetID = theirs.ID }, inventory.EINVALID},
			{"BadStatus", func(l *inventory.Loan) { l.Status = "lent" }, inventory.EINVALID},
		} {
			t.Run(tc.name, func(t *testing.T) {
				l, err := inventory.NewLoan(st.school, st.borrower.ID, st.borrower.ID, a, inventory.KindLaptop, "Trip", time.Time{}, t0)
				do(t, err)
				tc.change(l)
				wantCode(t, e.s.CreateLoan(e.ctx, l, nil), tc.code)
			})
		}
		loans, err := e.s.FindLoans(e.ctx, inventory.LoanFilter{})
		do(t, err)
		equal(t, "loans stored", len(loans), 0)
	})

	t.Run("KitNotLendable", func(t *testing.T) {
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{})
		setStatus := func(a *inventory.Asset, s inventory.AssetStatus) {
			t.Helper()
			a.Status = s
			do(t, e.s.UpdateAsset(e.ctx, a))
		}

		// Kit lost after NewLoan checked it is refused by the store.
		lost := e.asset(st.school.ID, "LOST", "")
		l, err := inventory.NewLoan(st.school, st.borrower.ID, st.borrower.ID, lost, inventory.KindLaptop, "Trip", time.Time{}, t0)
		do(t, err)
		setStatus(lost, inventory.AssetLost)
		err = e.s.CreateLoan(e.ctx, l, nil)
		wantCode(t, err, inventory.ECONFLICT)
		wantMessage(t, err, "LOST", "cannot be lent")

		// Kit retired while a loan waits is refused at the next step,
		// the hand-over included, and keeps its status.
		for i, step := range []string{"approve", "sign", "hand over"} {
			a := e.asset(st.school.ID, fmt.Sprintf("RET%d", i), "")
			l := e.newLoan(st, a)
			if step != "approve" {
				do(t, l.Approve(st.head.ID, inventory.RoleHeadteacher, t0))
				e.mustSave(l, "approved", st.head.ID, t0, nil)
			}
			if step == "hand over" {
				do(t, l.Sign(st.borrower.ID, t0))
				e.mustSave(l, "signed", st.borrower.ID, t0, nil)
			}
			setStatus(e.findAsset(a.ID), inventory.AssetRetired)
			var ag *inventory.SignedAgreement
			switch step {
			case "approve":
				do(t, l.Approve(st.head.ID, inventory.RoleHeadteacher, t0))
			case "sign":
				do(t, l.Sign(st.borrower.ID, t0))
				ag = agreement(l, t0)
			case "hand over":
				do(t, l.HandOver(st.tech.ID, "", "", t0))
			}
			err := e.save(l, step, st.tech.ID, t0, ag)
			wantCode(t, err, inventory.ECONFLICT)
			wantMessage(t, err, "retired")
			equal(t, step+": kit status", e.findAsset(a.ID).Status, inventory.AssetRetired)
			_, err = e.s.FindAgreement(e.ctx, l.ID)
			wantCode(t, err, inventory.ENOTFOUND)

			// The waiting loan can still be cancelled.
			l = e.findLoan(l.ID)
			do(t, l.Cancel())
			e.mustSave(l, "cancelled", st.borrower.ID, t0, nil)
		}
	})

	t.Run("UpdateAsset/OnLoan", func(t *testing.T) {
		// Only the loan moves the status of kit on loan; its other fields
		// may change.
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{})
		a := e.asset(st.school.ID, "SN1", "")
		e.lend(st, a, t0)
		kit := e.findAsset(a.ID)
		equal(t, "kit status", kit.Status, inventory.AssetOnLoan)
		kit.Status = inventory.AssetLost
		err := e.s.UpdateAsset(e.ctx, kit)
		wantCode(t, err, inventory.ECONFLICT)
		wantMessage(t, err, "SN1")
		kit.Status, kit.Notes = inventory.AssetOnLoan, "new charger"
		do(t, e.s.UpdateAsset(e.ctx, kit))
		equal(t, "kit", e.findAsset(a.ID), kit)
	})

	t.Run("Agreement", func(t *testing.T) {
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{})
		l := e.ready(st, e.asset(st.school.ID, "SN1", ""))
		got, err := e.s.FindAgreement(e.ctx, l.ID)
		do(t, err)
		equal(t, "agreement", got, agreement(l, ts(t0)))
		_, err = e.s.FindAgreement(e.ctx, uuid.New())
		wantCode(t, err, inventory.ENOTFOUND)

		// It is signed once.
		do(t, l.HandOver(st.tech.ID, "", "", t0))
		err = e.save(l, "handed_over", st.tech.ID, t0, agreement(l, t0.Add(time.Hour)))
		wantCode(t, err, inventory.ECONFLICT)

		// Not even the database changes it.
		raw, ok := e.s.(RawExecer)
		if !ok {
			t.Fatalf("%T does not implement storetest.RawExecer, so the suite cannot check that the database refuses to change agreements", e.s)
		}
		id := "'" + l.ID.String() + "'"
		do(t, raw.ExecRaw(e.ctx, `UPDATE loans SET reason = reason WHERE id = `+id)) // the hook works
		for _, q := range []string{
			`UPDATE loan_agreements SET full_name = 'Someone Else' WHERE loan_id = ` + id,
			`UPDATE loan_agreements SET pdf = pdf WHERE loan_id = ` + id,
			`DELETE FROM loan_agreements WHERE loan_id = ` + id,
			`DELETE FROM loan_agreements`,
		} {
			err := raw.ExecRaw(e.ctx, q)
			if err == nil || !strings.Contains(err.Error(), "signed agreements never change") {
				t.Errorf("%s: error %v, want the trigger's refusal", q, err)
			}
		}
		got, err = e.s.FindAgreement(e.ctx, l.ID)
		do(t, err)
		equal(t, "agreement after tampering", got, agreement(l, ts(t0)))
	})

	t.Run("FindLoans", func(t *testing.T) {
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{})
		other := e.staff("b", inventory.LoanSettings{})
		second := e.user("second@a.example")
		var all []*inventory.Loan // oldest first
		for i := range 7 {
			a := e.asset(st.school.ID, fmt.Sprintf("SN%d", i), "")
			var l *inventory.Loan
			switch i % 3 {
			case 0:
				l = e.newLoan(st, a)
			case 1:
				l = e.lend(st, a, t0)
			case 2:
				l, _ = inventory.NewLoan(st.school, st.borrower.ID, second.ID, a, inventory.KindTablet, "Trip", time.Time{}, t0)
				do(t, e.s.CreateLoan(e.ctx, l, nil))
			}
			all = append(all, e.findLoan(l.ID))
		}
		theirs := e.newLoan(other, e.asset(other.school.ID, "SN0", ""))
		all = append(all, e.findLoan(theirs.ID))
		newest := slices.Clone(all)
		slices.Reverse(newest)
		keep := func(f func(l *inventory.Loan) bool) []uuid.UUID {
			out := []uuid.UUID{}
			for _, l := range newest {
				if f(l) {
					out = append(out, l.ID)
				}
			}
			return out
		}
		for _, tc := range []struct {
			name string
			f    inventory.LoanFilter
			want []uuid.UUID
		}{
			{"All", inventory.LoanFilter{}, keep(func(*inventory.Loan) bool { return true })},
			{"School", inventory.LoanFilter{SchoolIDs: []uuid.UUID{other.school.ID}}, []uuid.UUID{theirs.ID}},
			{"NoSchool", inventory.LoanFilter{SchoolIDs: []uuid.UUID{}}, []uuid.UUID{}},
			{"Statuses", inventory.LoanFilter{Statuses: []inventory.LoanStatus{inventory.LoanOnLoan, inventory.LoanRequested}, SchoolIDs: []uuid.UUID{st.school.ID}},
				keep(func(l *inventory.Loan) bool { return l.SchoolID == st.school.ID })},
			{"OnLoan", inventory.LoanFilter{Statuses: []inventory.LoanStatus{inventory.LoanOnLoan}},
				keep(func(l *inventory.Loan) bool { return l.Status == inventory.LoanOnLoan })},
			{"Borrower", inventory.LoanFilter{BorrowerID: second.ID}, keep(func(l *inventory.Loan) bool { return l.BorrowerID == second.ID })},
			{"Asset", inventory.LoanFilter{AssetID: all[3].AssetID}, []uuid.UUID{all[3].ID}},
			{"After", inventory.LoanFilter{After: all[4].ID}, []uuid.UUID{all[3].ID, all[2].ID, all[1].ID, all[0].ID}},
			{"Limit", inventory.LoanFilter{Limit: 2}, []uuid.UUID{theirs.ID, all[6].ID}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := e.s.FindLoans(e.ctx, tc.f)
				do(t, err)
				gotIDs := []uuid.UUID{}
				for _, l := range got {
					gotIDs = append(gotIDs, l.ID)
				}
				equal(t, "loans", gotIDs, tc.want)
			})
		}
		got, err := e.s.FindLoans(e.ctx, inventory.LoanFilter{AssetID: all[1].AssetID})
		do(t, err)
		equal(t, "loan as found", got[0], all[1])
		_, err = e.s.FindLoans(e.ctx, inventory.LoanFilter{Statuses: []inventory.LoanStatus{"lent"}})
		wantCode(t, err, inventory.EINVALID)
	})

	t.Run("FindLoans/CheckDueBy", func(t *testing.T) {
		e := su.fresh(t)
		st := e.staff("a", inventory.LoanSettings{CheckIntervalDays: 10})
		kit := func(serial string) *inventory.Asset { return e.asset(st.school.ID, serial, "") }
		day := func(n int) time.Time { return t0.AddDate(0, 0, n) }

		due10 := e.lend(st, kit("A"), t0)
		due15 := e.lend(st, kit("B"), t0) // checked on day 5
		do(t, due15.Check(day(5)))
		e.mustSave(due15, "checked", st.tech.ID, day(5), nil)
		due12 := e.lend(st, kit("C"), day(2))
		e.ready(st, kit("D")) // not handed over: never due
		back := e.lend(st, kit("E"), t0)
		do(t, back.Return(st.tech.ID, "", "", day(1)))
		e.mustSave(back, "returned", st.tech.ID, day(1), nil)
		other := e.staff("b", inventory.LoanSettings{CheckIntervalDays: 1})
		due1 := e.lend(other, e.asset(other.school.ID, "F", ""), t0)

		equal(t, "CheckDue of a loan read back", e.findLoan(due12.ID).CheckDue(), ts(day(12)))
		for _, tc := range []struct {
			by   time.Time
			f    inventory.LoanFilter
			want []uuid.UUID
		}{
			{day(1).Add(-time.Second), inventory.LoanFilter{}, []uuid.UUID{}},
			{day(1), inventory.LoanFilter{}, []uuid.UUID{due1.ID}},
			{day(11), inventory.LoanFilter{}, []uuid.UUID{due1.ID, due10.ID}},
			{day(12), inventory.LoanFilter{}, []uuid.UUID{due1.ID, due12.ID, due10.ID}},
			{day(12), inventory.LoanFilter{SchoolIDs: []uuid.UUID{st.school.ID}}, []uuid.UUID{due12.ID, due10.ID}},
			{day(100), inventory.LoanFilter{Statuses: []inventory.LoanStatus{inventory.LoanOnLoan}, SchoolIDs: []uuid.UUID{st.school.ID}},
				[]uuid.UUID{due12.ID, due15.ID, due10.ID}},
		} {
			f := tc.f
			f.CheckDueBy = tc.by
			got, err := e.s.FindLoans(e.ctx, f)
			do(t, err)
			gotIDs := []uuid.UUID{}
			for _, l := range got {
				gotIDs = append(gotIDs, l.ID)
			}
			equal(t, fmt.Sprintf("due by %v", tc.by), gotIDs, tc.want)
		}
	})
}

func (su suite) testAgreementStore(t *testing.T) {
	t.Run("SetSchoolLoanSettings", func(t *testing.T) {
		e := su.fresh(t)
		a, b := e.school("a"), e.school("b")
		equal(t, "new school's settings", a.Loans, inventory.LoanSettings{})
		s := inventory.LoanSettings{RequireLeadApproval: true, CheckIntervalDays: 28}
		do(t, e.s.SetSchoolLoanSettings(e.ctx, a.ID, s))
		got, err := e.s.FindSchoolByID(e.ctx, a.ID)
		do(t, err)
		equal(t, "stored settings", got.Loans, s)
		bySlug, err := e.s.FindSchoolBySlug(e.ctx, "a")
		do(t, err)
		equal(t, "settings by slug", bySlug.Loans, s)
		schools, err := e.s.FindSchools(e.ctx)
		do(t, err)
		equal(t, "settings in the list", []inventory.LoanSettings{schools[0].Loans, schools[1].Loans}, []inventory.LoanSettings{s, {}})
		equal(t, "other school's settings", e.mustSchool(b.ID).Loans, inventory.LoanSettings{})

		wantCode(t, e.s.SetSchoolLoanSettings(e.ctx, a.ID, inventory.LoanSettings{CheckIntervalDays: 367}), inventory.EINVALID)
		wantCode(t, e.s.SetSchoolLoanSettings(e.ctx, a.ID, inventory.LoanSettings{CheckIntervalDays: -1}), inventory.EINVALID)
		equal(t, "settings after a refused change", e.mustSchool(a.ID).Loans, s)
		wantCode(t, e.s.SetSchoolLoanSettings(e.ctx, uuid.New(), s), inventory.ENOTFOUND)

		// A new school starts with the defaults, whatever it is given.
		c := &inventory.School{Slug: "c", Name: "C", Loans: s}
		do(t, e.s.CreateSchool(e.ctx, c))
		equal(t, "created school's settings", c.Loans, inventory.LoanSettings{})
		equal(t, "stored new school's settings", e.mustSchool(c.ID).Loans, inventory.LoanSettings{})
	})

	t.Run("Templates", func(t *testing.T) {
		e := su.fresh(t)
		a, b := e.school("a"), e.school("b")
		author := e.user("head@a.example")
		_, err := e.s.FindAgreementTemplate(e.ctx, a.ID)
		wantCode(t, err, inventory.ENOTFOUND)
		none, err := e.s.FindAgreementTemplates(e.ctx, a.ID)
		do(t, err)
		equal(t, "templates of a new school", none, []*inventory.AgreementTemplate{})

		var made []*inventory.AgreementTemplate
		for i, sc := range []uuid.UUID{a.ID, a.ID, b.ID, a.ID} {
			tpl := &inventory.AgreementTemplate{SchoolID: sc, Title: fmt.Sprintf("Agreement %d", i),
				Body: "Look after it.\r\nReturn it — ✓", Declarations: []string{"I will keep it safe", "I will return it"},
				CreatedBy: author.ID}
			if i == 1 {
				tpl.Declarations, tpl.CreatedBy = nil, uuid.Nil
			}
			do(t, e.s.CreateAgreementTemplate(e.ctx, tpl))
			wantV7(t, "ID", tpl.ID)
			if tpl.CreatedAt.IsZero() {
				t.Error("CreatedAt was not filled")
			}
			made = append(made, tpl)
		}
		equal(t, "versions", []int{made[0].Version, made[1].Version, made[2].Version, made[3].Version}, []int{1, 2, 1, 3})
		newest, err := e.s.FindAgreementTemplate(e.ctx, a.ID)
		do(t, err)
		equal(t, "newest of a", newest, made[3])
		list, err := e.s.FindAgreementTemplates(e.ctx, a.ID)
		do(t, err)
		equal(t, "templates of a", list, []*inventory.AgreementTemplate{made[3], made[1], made[0]})
		list, err = e.s.FindAgreementTemplates(e.ctx, b.ID)
		do(t, err)
		equal(t, "templates of b", list, []*inventory.AgreementTemplate{made[2]})

		wantCode(t, e.s.CreateAgreementTemplate(e.ctx, &inventory.AgreementTemplate{SchoolID: uuid.New(), Title: "x", Body: "y"}),
			inventory.ENOTFOUND)
	})

	t.Run("Templates/Concurrent", func(t *testing.T) {
		// Versions made at once are numbered 1 to n without a gap or
		// a clash.
		e := su.fresh(t)
		sc := e.school("a")
		const n = 6
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				errs[i] = e.s.CreateAgreementTemplate(e.ctx, &inventory.AgreementTemplate{SchoolID: sc.ID, Title: "T", Body: "B"})
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("CreateAgreementTemplate %d: %v", i, err)
			}
		}
		list, err := e.s.FindAgreementTemplates(e.ctx, sc.ID)
		do(t, err)
		var versions []int
		for _, tpl := range list {
			versions = append(versions, tpl.Version)
		}
		equal(t, "versions", versions, []int{6, 5, 4, 3, 2, 1})
	})
}

func (e *env) mustSchool(id uuid.UUID) *inventory.School {
	e.t.Helper()
	s, err := e.s.FindSchoolByID(e.ctx, id)
	if err != nil {
		e.t.Fatalf("FindSchoolByID: %v", err)
	}
	return s
}
