package inventory_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

var (
	borrower  = uuid.MustParse("01890000-0000-7000-8000-000000000001")
	head      = uuid.MustParse("01890000-0000-7000-8000-000000000002")
	lead      = uuid.MustParse("01890000-0000-7000-8000-000000000003")
	tech      = uuid.MustParse("01890000-0000-7000-8000-000000000004")
	schoolID  = uuid.MustParse("01890000-0000-7000-8000-0000000000aa")
	loanStart = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
)

func newSchool(lead bool) *inventory.School {
	return &inventory.School{ID: schoolID, Slug: "st-marys", Name: "St Mary's", Loans: inventory.LoanSettings{RequireLeadApproval: lead, CheckIntervalDays: 28}}
}

func laptop(status inventory.AssetStatus) *inventory.Asset {
	return &inventory.Asset{ID: uuid.New(), SchoolID: schoolID, Kind: inventory.KindLaptop, Make: "Dell", Model: "Latitude", Serial: "SN1", Status: status}
}

// TestLoanSteps takes each step from each status: a step out of order is
// refused with a reason, and a step in order moves the loan on.
func TestLoanSteps(t *testing.T) {
	steps := map[string]func(l *inventory.Loan) error{
		"approve":  func(l *inventory.Loan) error { return l.Approve(head, inventory.RoleHeadteacher, loanStart) },
		"decline":  func(l *inventory.Loan) error { return l.Decline(head, "not this term", loanStart) },
		"sign":     func(l *inventory.Loan) error { return l.Sign(borrower, loanStart) },
		"handover": func(l *inventory.Loan) error { return l.HandOver(tech, "good", "charger", loanStart) },
		"check":    func(l *inventory.Loan) error { return l.Check(loanStart.AddDate(0, 0, 10)) },
		"return":   func(l *inventory.Loan) error { return l.Return(tech, "good", "", loanStart.AddDate(0, 1, 0)) },
		"cancel":   func(l *inventory.Loan) error { return l.Cancel() },
	}
	// next is the status each step leads to from each status; a missing
	// entry is refused.
	next := map[inventory.LoanStatus]map[string]inventory.LoanStatus{
		inventory.LoanRequested: {"approve": inventory.LoanApproved, "decline": inventory.LoanDeclined, "cancel": inventory.LoanCancelled},
		inventory.LoanApproved:  {"sign": inventory.LoanSigned, "cancel": inventory.LoanCancelled},
		inventory.LoanSigned:    {"handover": inventory.LoanOnLoan, "cancel": inventory.LoanCancelled},
		inventory.LoanOnLoan:    {"check": inventory.LoanOnLoan, "return": inventory.LoanReturned},
		inventory.LoanReturned:  {},
		inventory.LoanDeclined:  {},
		inventory.LoanCancelled: {},
	}
	for from, allowed := range next {
		for name, step := range steps {
			t.Run(string(from)+"/"+name, func(t *testing.T) {
				l := loanIn(t, from)
				err := step(l)
				want, ok := allowed[name]
				switch {
				case ok && err != nil:
					t.Fatalf("refused: %v", err)
				case ok && l.Status != want:
					t.Fatalf("status %s, want %s", l.Status, want)
				case !ok && err == nil:
					t.Fatalf("allowed, moving the loan to %s", l.Status)
				case !ok && inventory.ErrorMessage(err) == "":
					t.Fatal("refused without a reason")
				case !ok && l.Status != from:
					t.Fatalf("refused, but the status moved to %s", l.Status)
				}
			})
		}
	}
}

// loanIn returns a loan moved to status through the steps before it.
func loanIn(t *testing.T, status inventory.LoanStatus) *inventory.Loan {
	t.Helper()
	l, err := inventory.NewLoan(newSchool(false), borrower, borrower, laptop(inventory.AssetInStock), "", "Marking at home", time.Time{}, loanStart)
	if err != nil {
		t.Fatal(err)
	}
	path := map[inventory.LoanStatus][]func() error{
		inventory.LoanRequested: nil,
		inventory.LoanApproved:  {func() error { return l.Approve(head, inventory.RoleHeadteacher, loanStart) }},
		inventory.LoanSigned:    {func() error { return l.Approve(head, inventory.RoleHeadteacher, loanStart) }, func() error { return l.Sign(borrower, loanStart) }},
		inventory.LoanOnLoan: {func() error { return l.Approve(head, inventory.RoleHeadteacher, loanStart) }, func() error { return l.Sign(borrower, loanStart) },
			func() error { return l.HandOver(tech, "", "", loanStart) }},
		inventory.LoanReturned: {func() error { return l.Approve(head, inventory.RoleHeadteacher, loanStart) }, func() error { return l.Sign(borrower, loanStart) },
			func() error { return l.HandOver(tech, "", "", loanStart) }, func() error { return l.Return(tech, "", "", loanStart) }},
		inventory.LoanDeclined:  {func() error { return l.Decline(head, "no", loanStart) }},
		inventory.LoanCancelled: {l.Cancel},
	}
	for _, step := range path[status] {
		if err := step(); err != nil {
			t.Fatalf("moving to %s: %v", status, err)
		}
	}
	return l
}

func TestLoanRules(t *testing.T) {
	tests := []struct {
		name string
		do   func() error
		want string // part of the refusal; "" means allowed
	}{
		{"a lost laptop cannot be lent", func() error {
			_, err := inventory.NewLoan(newSchool(false), borrower, borrower, laptop(inventory.AssetLost), "", "x", time.Time{}, loanStart)
			return err
		}, "is lost and cannot be lent"},
		{"a disposed laptop cannot be lent", func() error {
			_, err := inventory.NewLoan(newSchool(false), borrower, borrower, laptop(inventory.AssetDisposed), "", "x", time.Time{}, loanStart)
			return err
		}, "cannot be lent"},
		{"kit of another school", func() error {
			a := laptop(inventory.AssetInStock)
			a.SchoolID = uuid.New()
			_, err := inventory.NewLoan(newSchool(false), borrower, borrower, a, "", "x", time.Time{}, loanStart)
			return err
		}, "another school"},
		{"a reason is needed", func() error {
			_, err := inventory.NewLoan(newSchool(false), borrower, borrower, nil, inventory.KindTablet, "  ", time.Time{}, loanStart)
			return err
		}, "reason"},
		{"a return date in the past", func() error {
			_, err := inventory.NewLoan(newSchool(false), borrower, borrower, nil, inventory.KindTablet, "x", loanStart.AddDate(0, 0, -2), loanStart)
			return err
		}, "in the past"},
		{"an unknown kind", func() error {
			_, err := inventory.NewLoan(newSchool(false), borrower, borrower, nil, "hoverboard", "x", time.Time{}, loanStart)
			return err
		}, "kind"},
		{"the borrower cannot approve", func() error {
			return loanIn(t, inventory.LoanRequested).Approve(borrower, inventory.RoleHeadteacher, loanStart)
		}, "request you made"},
		{"a technician cannot approve", func() error {
			return loanIn(t, inventory.LoanRequested).Approve(tech, inventory.RoleTechnician, loanStart)
		}, "only the headteacher"},
		{"the leader is not asked here", func() error {
			return loanIn(t, inventory.LoanRequested).Approve(lead, inventory.RoleComputingLead, loanStart)
		}, "does not ask"},
		{"decline needs a reason", func() error { return loanIn(t, inventory.LoanRequested).Decline(head, " ", loanStart) }, "reason"},
		{"only the borrower signs", func() error { return loanIn(t, inventory.LoanApproved).Sign(head, loanStart) }, "only the borrower"},
		{"no device, no signature", func() error {
			l, _ := inventory.NewLoan(newSchool(false), borrower, borrower, nil, inventory.KindLaptop, "x", time.Time{}, loanStart)
			_ = l.Approve(head, inventory.RoleHeadteacher, loanStart)
			return l.Sign(borrower, loanStart)
		}, "not chosen the device"},
		{"choose a lost laptop", func() error { return loanIn(t, inventory.LoanApproved).Choose(laptop(inventory.AssetLost)) }, "cannot be lent"},
		{"choose after signing", func() error { return loanIn(t, inventory.LoanSigned).Choose(laptop(inventory.AssetInStock)) }, "cannot change the device"},
		{"choose before signing", func() error { return loanIn(t, inventory.LoanApproved).Choose(laptop(inventory.AssetInStock)) }, ""},
		{"return twice", func() error { return loanIn(t, inventory.LoanReturned).Return(tech, "", "", loanStart) }, "already received back"},
		{"kit in repair cannot be lent", func() error {
			_, err := inventory.NewLoan(newSchool(false), borrower, borrower, laptop(inventory.AssetInRepair), "", "x", time.Time{}, loanStart)
			return err
		}, "in repair and cannot be lent"},
		{"trolley kit is signed out, not lent", func() error {
			a := laptop(inventory.AssetInStock)
			a.Shared = true
			_, err := inventory.NewLoan(newSchool(false), borrower, borrower, a, "", "x", time.Time{}, loanStart)
			return err
		}, "shared trolley kit"},
		{"one person gives both approvals", func() error {
			l, _ := inventory.NewLoan(newSchool(true), borrower, borrower, laptop(inventory.AssetInStock), "", "x", time.Time{}, loanStart)
			if err := l.Approve(head, inventory.RoleHeadteacher, loanStart); err != nil {
				return err
			}
			return l.Approve(head, inventory.RoleComputingLead, loanStart)
		}, "already approved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("allowed, want refusal with %q", tt.want)
			case tt.want != "" && !strings.Contains(inventory.ErrorMessage(err), tt.want):
				t.Fatalf("refused with %q, want %q", inventory.ErrorMessage(err), tt.want)
			}
		})
	}
}

// TestLeadApproval: with the school's setting on, a loan waits for both
// approvals, in either order.
func TestLeadApproval(t *testing.T) {
	for _, order := range [][]inventory.Role{{inventory.RoleHeadteacher, inventory.RoleComputingLead}, {inventory.RoleComputingLead, inventory.RoleHeadteacher}} {
		l, err := inventory.NewLoan(newSchool(true), borrower, borrower, laptop(inventory.AssetInStock), "", "x", time.Time{}, loanStart)
		if err != nil {
			t.Fatal(err)
		}
		who := map[inventory.Role]uuid.UUID{inventory.RoleHeadteacher: head, inventory.RoleComputingLead: lead}
		if err := l.Approve(who[order[0]], order[0], loanStart); err != nil || l.Status != inventory.LoanRequested {
			t.Fatalf("after %s: %v, %s", order[0], err, l.Status)
		}
		if !l.AwaitingApprovalAs(order[1]) || l.AwaitingApprovalAs(order[0]) {
			t.Errorf("after %s the loan awaits the wrong approval", order[0])
		}
		if err := l.Approve(who[order[0]], order[0], loanStart); err == nil {
			t.Errorf("%s approved twice", order[0])
		}
		if err := l.Approve(who[order[1]], order[1], loanStart); err != nil || l.Status != inventory.LoanApproved {
			t.Fatalf("after both: %v, %s", err, l.Status)
		}
	}
}

// TestCheckDue: the next check is one interval after the hand-over, then
// one after each check.
func TestCheckDue(t *testing.T) {
	l := loanIn(t, inventory.LoanOnLoan)
	if got, want := l.CheckDue(), loanStart.AddDate(0, 0, 28); !got.Equal(want) {
		t.Errorf("first check due %s, want %s", got, want)
	}
	checked := loanStart.AddDate(0, 0, 30)
	l.CheckRemindedAt, l.OverdueRemindedAt = checked, checked
	if err := l.Check(checked); err != nil {
		t.Fatal(err)
	}
	if got, want := l.CheckDue(), checked.AddDate(0, 0, 28); !got.Equal(want) {
		t.Errorf("after a check, due %s, want %s", got, want)
	}
	if !l.CheckRemindedAt.IsZero() || !l.OverdueRemindedAt.IsZero() {
		t.Error("a check leaves the reminders marked as sent")
	}
	if err := l.Return(tech, "", "", checked); err != nil || !l.CheckDue().IsZero() {
		t.Errorf("a returned loan has a check due: %s (%v)", l.CheckDue(), err)
	}
}

func TestAssetValidate(t *testing.T) {
	ok := inventory.Asset{Kind: inventory.KindTablet, Status: inventory.AssetInStock, AssetTag: "IPAD-01"}
	tests := []struct {
		name   string
		change func(a *inventory.Asset)
		want   string
	}{
		{"valid", func(a *inventory.Asset) {}, ""},
		{"no serial or tag", func(a *inventory.Asset) { a.AssetTag = "" }, "serial number or an asset tag"},
		{"unknown kind", func(a *inventory.Asset) { a.Kind = "ipod" }, "kind"},
		{"unknown status", func(a *inventory.Asset) { a.Status = "borrowed" }, "status"},
		{"padded serial", func(a *inventory.Asset) { a.Serial = " SN1" }, "spaces"},
		{"negative cost", func(a *inventory.Asset) { a.PurchaseCost = -1 }, "purchase cost"},
		{"long model", func(a *inventory.Asset) { a.Model = strings.Repeat("x", 201) }, "model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := ok
			tt.change(&a)
			err := a.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(inventory.ErrorMessage(err), tt.want)) {
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
	for in, want := range map[string]inventory.AssetStatus{"In Stock": inventory.AssetInStock, "in_repair": inventory.AssetInRepair, " lost ": inventory.AssetLost} {
		if got, err := inventory.ParseAssetStatus(in); err != nil || got != want {
			t.Errorf("ParseAssetStatus(%q) = %q, %v", in, got, err)
		}
	}
	if k, err := inventory.ParseAssetKind("iPad"); err != nil || k != inventory.KindTablet {
		t.Errorf("ParseAssetKind(iPad) = %q, %v", k, err)
	}
}

func TestCheckLoanUpdate(t *testing.T) {
	tests := []struct {
		name   string
		from   inventory.LoanStatus
		change func(l *inventory.Loan)
		want   string // "" allowed
	}{
		{"a step forward", inventory.LoanSigned, func(l *inventory.Loan) { l.Status = inventory.LoanOnLoan }, ""},
		{"a new borrower", inventory.LoanRequested, func(l *inventory.Loan) { l.BorrowerID = tech }, "never change"},
		{"new kit after signing", inventory.LoanSigned, func(l *inventory.Loan) { l.AssetID = uuid.New() }, "cannot change the device"},
		{"on loan back to signed", inventory.LoanOnLoan, func(l *inventory.Loan) { l.Status = inventory.LoanSigned }, "ends only with the kit's return"},
		{"returned kit lent again", inventory.LoanReturned, func(l *inventory.Loan) { l.Status = inventory.LoanOnLoan }, "does not open again"},
		{"a declined request approved", inventory.LoanDeclined, func(l *inventory.Loan) { l.Status = inventory.LoanApproved }, "does not open again"},
		{"a reminder noted on a returned loan", inventory.LoanReturned, func(l *inventory.Loan) { l.CheckRemindedAt = loanStart }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := loanIn(t, tt.from)
			l := *old
			tt.change(&l)
			err := inventory.CheckLoanUpdate(old, &l)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(inventory.ErrorMessage(err), tt.want)) {
				t.Errorf("CheckLoanUpdate = %v, want %q", err, tt.want)
			}
		})
	}
}
