package inventory

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// LoanStatus is where a staff loan stands.
type LoanStatus string

// Loan statuses, in the order a loan moves through them. Declined,
// cancelled and returned loans are closed.
const (
	LoanRequested LoanStatus = "requested" // waiting for approval
	LoanApproved  LoanStatus = "approved"  // waiting for the borrower's signature
	LoanSigned    LoanStatus = "signed"    // waiting for the hand-over
	LoanOnLoan    LoanStatus = "on_loan"
	LoanReturned  LoanStatus = "returned"
	LoanDeclined  LoanStatus = "declined"
	LoanCancelled LoanStatus = "cancelled"
)

// LoanStatuses lists every status.
var LoanStatuses = []LoanStatus{LoanRequested, LoanApproved, LoanSigned, LoanOnLoan, LoanReturned, LoanDeclined, LoanCancelled}

// OpenLoanStatuses are the statuses of a loan that holds its device: a
// device is named by at most one loan in these.
var OpenLoanStatuses = []LoanStatus{LoanRequested, LoanApproved, LoanSigned, LoanOnLoan}

// Open reports whether a loan in this status still holds its device.
func (s LoanStatus) Open() bool {
	switch s {
	case LoanRequested, LoanApproved, LoanSigned, LoanOnLoan:
		return true
	}
	return false
}

// ParseLoanStatus returns the status named s, or EINVALID naming them.
func ParseLoanStatus(s string) (LoanStatus, error) {
	for _, st := range LoanStatuses {
		if string(st) == strings.TrimSpace(s) {
			return st, nil
		}
	}
	return "", Errorf(EINVALID, "loan status %q: use %s", s, joinQuoted(LoanStatuses))
}

// DefaultCheckInterval is how often lent kit comes back to be checked and
// updated when a school sets nothing else: about half a term.
const DefaultCheckInterval = 42 // days

// LoanSettings are a school's rules for loans.
type LoanSettings struct {
	// RequireLeadApproval asks the computing leader to approve each
	// request as well as the headteacher.
	RequireLeadApproval bool
	// CheckIntervalDays is how often lent kit is brought in to be checked
	// and updated; new loans take it. 0 means DefaultCheckInterval.
	CheckIntervalDays int
}

// CheckInterval returns the effective interval in days.
func (s LoanSettings) CheckInterval() int {
	if s.CheckIntervalDays <= 0 {
		return DefaultCheckInterval
	}
	return s.CheckIntervalDays
}

// Validate checks the settings.
func (s LoanSettings) Validate() error {
	if s.CheckIntervalDays < 0 || s.CheckIntervalDays > 366 {
		return Errorf(EINVALID, "check interval: give 1 to 366 days")
	}
	return nil
}

// Loan is one member of staff borrowing one piece of kit: the request,
// its approvals, the signed agreement, the hand-over, the checks and the
// return. Its methods move it from one status to the next and refuse,
// with a reason, a step taken out of order; the store saves each step
// with [LoanStore.UpdateLoan], which refuses a loan that changed since it
// was read.
type Loan struct {
	ID       uuid.UUID
	SchoolID uuid.UUID
	// AssetID is the kit lent; uuid.Nil while a request names only a
	// Kind and the technician has not chosen the device yet.
	AssetID        uuid.UUID
	Kind           AssetKind
	BorrowerID     uuid.UUID
	RequestedBy    uuid.UUID
	Reason         string
	ExpectedReturn time.Time // a date (midnight UTC); zero for no set date
	Status         LoanStatus
	// NeedsLeadApproval is the school's setting when the request was made.
	NeedsLeadApproval bool
	HeadApprovedBy    uuid.UUID
	HeadApprovedAt    time.Time
	LeadApprovedBy    uuid.UUID
	LeadApprovedAt    time.Time
	DeclinedBy        uuid.UUID
	DeclinedAt        time.Time
	DeclineReason     string
	SignedAt          time.Time
	HandedOverBy      uuid.UUID
	HandedOverAt      time.Time
	HandoverCondition string
	Accessories       string
	// CheckIntervalDays is how often the kit comes in to be checked.
	CheckIntervalDays int
	LastCheckAt       time.Time
	// CheckRemindedAt and OverdueRemindedAt are when the due and overdue
	// emails for the current check were sent; a check clears both.
	CheckRemindedAt   time.Time
	OverdueRemindedAt time.Time
	ReturnedAt        time.Time
	ReceivedBy        uuid.UUID
	ReturnCondition   string
	ReturnNotes       string
	CreatedAt         time.Time
	UpdatedAt         time.Time
	// Version counts the changes saved; UpdateLoan saves only over the
	// version that was read.
	Version int
}

// Field limits of a loan.
const (
	maxLoanReason = 2000
	maxLoanText   = 2000
)

// NewLoan returns a request: by requester, for borrower, of asset (nil
// when the request names only kind), made at now under the school's
// settings. It checks the fields and that the kit may be lent.
func NewLoan(school *School, requester, borrower uuid.UUID, asset *Asset, kind AssetKind, reason string, expectedReturn, now time.Time) (*Loan, error) {
	l := &Loan{
		SchoolID:          school.ID,
		Kind:              kind,
		BorrowerID:        borrower,
		RequestedBy:       requester,
		Reason:            strings.TrimSpace(reason),
		ExpectedReturn:    expectedReturn,
		Status:            LoanRequested,
		NeedsLeadApproval: school.Loans.RequireLeadApproval,
		CheckIntervalDays: school.Loans.CheckInterval(),
	}
	if asset != nil {
		if err := l.checkAsset(asset); err != nil {
			return nil, err
		}
		l.AssetID, l.Kind = asset.ID, asset.Kind
	}
	switch {
	case borrower == uuid.Nil || requester == uuid.Nil:
		return nil, Errorf(EINVALID, "a loan needs a borrower and a requester")
	case !containsKind(l.Kind):
		return nil, Errorf(EINVALID, "kind %q: use %s", l.Kind, joinQuoted(AssetKinds))
	case l.Reason == "":
		return nil, Errorf(EINVALID, "reason: say what the kit is needed for")
	case utf8.RuneCountInString(l.Reason) > maxLoanReason:
		return nil, Errorf(EINVALID, "reason: at most %d characters", maxLoanReason)
	case !expectedReturn.IsZero() && expectedReturn.Before(now.UTC().Truncate(24*time.Hour)):
		return nil, Errorf(EINVALID, "expected return %s is in the past", expectedReturn.Format(time.DateOnly))
	}
	return l, nil
}

func containsKind(k AssetKind) bool {
	for _, v := range AssetKinds {
		if v == k {
			return true
		}
	}
	return false
}

// checkAsset refuses kit of another school or that may not be lent.
func (l *Loan) checkAsset(a *Asset) error {
	switch {
	case a.SchoolID != l.SchoolID:
		return Errorf(EINVALID, "%s belongs to another school", a.Label())
	case !a.Status.Lendable():
		return Errorf(ECONFLICT, "%s is %s and cannot be lent", a.Label(), strings.ReplaceAll(string(a.Status), "_", " "))
	case a.Shared:
		return Errorf(ECONFLICT, "%s is shared trolley kit: sign it out for the day on the Shared kit page instead of lending it", a.Label())
	}
	return nil
}

// refuse returns a conflict saying the step cannot be taken now.
func (l *Loan) refuse(step string) error {
	return Errorf(ECONFLICT, "cannot %s: the loan is %s", step, l.Status.Phrase())
}

// Phrase describes the status for a sentence: "waiting for approval".
func (s LoanStatus) Phrase() string {
	switch s {
	case LoanRequested:
		return "waiting for approval"
	case LoanApproved:
		return "approved and waiting for the borrower's signature"
	case LoanSigned:
		return "signed and waiting for the hand-over"
	case LoanOnLoan:
		return "on loan"
	case LoanReturned:
		return "returned"
	case LoanDeclined:
		return "declined"
	case LoanCancelled:
		return "cancelled"
	}
	return string(s)
}

// Approve records the approval of by, acting as the headteacher or the
// computing leader. The loan is approved once every approval it needs is
// in. Nobody approves a request they made or will borrow under.
func (l *Loan) Approve(by uuid.UUID, as Role, now time.Time) error {
	if l.Status != LoanRequested {
		return l.refuse("approve")
	}
	if by == l.BorrowerID || by == l.RequestedBy {
		return Errorf(EFORBIDDEN, "you cannot approve a request you made or will borrow under: another approver must")
	}
	if by == l.HeadApprovedBy || by == l.LeadApprovedBy {
		return Errorf(EFORBIDDEN, "you have already approved this request: the other approval must come from someone else")
	}
	switch as {
	case RoleHeadteacher:
		if !l.HeadApprovedAt.IsZero() {
			return Errorf(ECONFLICT, "the headteacher has already approved this request")
		}
		l.HeadApprovedBy, l.HeadApprovedAt = by, now
	case RoleComputingLead:
		if !l.NeedsLeadApproval {
			return Errorf(ECONFLICT, "this school does not ask the computing leader to approve loans")
		}
		if !l.LeadApprovedAt.IsZero() {
			return Errorf(ECONFLICT, "the computing leader has already approved this request")
		}
		l.LeadApprovedBy, l.LeadApprovedAt = by, now
	default:
		return Errorf(EFORBIDDEN, "only the headteacher or the computing leader approves loans")
	}
	if l.Approved() {
		l.Status = LoanApproved
	}
	return nil
}

// Approved reports whether every approval the loan needs is in.
func (l *Loan) Approved() bool {
	return !l.HeadApprovedAt.IsZero() && (!l.NeedsLeadApproval || !l.LeadApprovedAt.IsZero())
}

// AwaitingApprovalAs reports whether the request waits for an approval
// given as role.
func (l *Loan) AwaitingApprovalAs(role Role) bool {
	if l.Status != LoanRequested {
		return false
	}
	switch role {
	case RoleHeadteacher:
		return l.HeadApprovedAt.IsZero()
	case RoleComputingLead:
		return l.NeedsLeadApproval && l.LeadApprovedAt.IsZero()
	}
	return false
}

// Decline refuses the request with a reason.
func (l *Loan) Decline(by uuid.UUID, reason string, now time.Time) error {
	if l.Status != LoanRequested {
		return l.refuse("decline")
	}
	reason = strings.TrimSpace(reason)
	switch {
	case by == l.BorrowerID || by == l.RequestedBy:
		return Errorf(EFORBIDDEN, "you cannot decline a request you made: cancel it instead")
	case reason == "":
		return Errorf(EINVALID, "reason: tell the borrower why the request is declined")
	case utf8.RuneCountInString(reason) > maxLoanText:
		return Errorf(EINVALID, "reason: at most %d characters", maxLoanText)
	}
	l.Status, l.DeclinedBy, l.DeclinedAt, l.DeclineReason = LoanDeclined, by, now, reason
	return nil
}

// Choose names the kit lent, before the agreement is signed.
func (l *Loan) Choose(a *Asset) error {
	if l.Status != LoanRequested && l.Status != LoanApproved {
		return l.refuse("change the device")
	}
	if err := l.checkAsset(a); err != nil {
		return err
	}
	l.AssetID, l.Kind = a.ID, a.Kind
	return nil
}

// Sign records the borrower's signature of the agreement.
func (l *Loan) Sign(by uuid.UUID, now time.Time) error {
	switch {
	case l.Status == LoanRequested:
		return Errorf(ECONFLICT, "cannot sign yet: the request is waiting for approval")
	case l.Status != LoanApproved:
		return l.refuse("sign")
	case by != l.BorrowerID:
		return Errorf(EFORBIDDEN, "only the borrower signs their loan agreement")
	case l.AssetID == uuid.Nil:
		return Errorf(ECONFLICT, "cannot sign yet: the technician has not chosen the device, so the agreement cannot name it")
	}
	l.Status, l.SignedAt = LoanSigned, now
	return nil
}

// HandOver records that by gave the kit to the borrower: only now is it
// on loan.
func (l *Loan) HandOver(by uuid.UUID, condition, accessories string, now time.Time) error {
	switch {
	case l.Status == LoanRequested || l.Status == LoanApproved:
		return Errorf(ECONFLICT, "cannot hand over yet: the borrower has not signed the agreement")
	case l.Status != LoanSigned:
		return l.refuse("hand over")
	}
	if err := checkText("condition", condition); err != nil {
		return err
	}
	if err := checkText("accessories", accessories); err != nil {
		return err
	}
	l.Status, l.HandedOverBy, l.HandedOverAt = LoanOnLoan, by, now
	l.HandoverCondition, l.Accessories = strings.TrimSpace(condition), strings.TrimSpace(accessories)
	return nil
}

// Check records that the kit came in to be checked and updated; the next
// check falls due one interval later.
func (l *Loan) Check(now time.Time) error {
	if l.Status != LoanOnLoan {
		return l.refuse("record a check")
	}
	l.LastCheckAt = now
	l.CheckRemindedAt, l.OverdueRemindedAt = time.Time{}, time.Time{}
	return nil
}

// CheckDue returns when the kit next comes in to be checked: one interval
// after the hand-over or the last check. Zero unless the loan is on loan.
func (l *Loan) CheckDue() time.Time {
	if l.Status != LoanOnLoan {
		return time.Time{}
	}
	from := l.HandedOverAt
	if l.LastCheckAt.After(from) {
		from = l.LastCheckAt
	}
	days := l.CheckIntervalDays
	if days <= 0 {
		days = DefaultCheckInterval
	}
	return from.AddDate(0, 0, days)
}

// Return records the kit received back by by.
func (l *Loan) Return(by uuid.UUID, condition, notes string, now time.Time) error {
	switch {
	case l.Status == LoanReturned:
		return Errorf(ECONFLICT, "cannot return: the kit was already received back on %s", l.ReturnedAt.Format("2 January 2006"))
	case l.Status != LoanOnLoan:
		return l.refuse("return")
	}
	if err := checkText("condition", condition); err != nil {
		return err
	}
	if err := checkText("notes", notes); err != nil {
		return err
	}
	l.Status, l.ReturnedAt, l.ReceivedBy = LoanReturned, now, by
	l.ReturnCondition, l.ReturnNotes = strings.TrimSpace(condition), strings.TrimSpace(notes)
	return nil
}

// Cancel withdraws a loan before the hand-over.
func (l *Loan) Cancel() error {
	switch l.Status {
	case LoanRequested, LoanApproved, LoanSigned:
		l.Status = LoanCancelled
		return nil
	}
	return l.refuse("cancel")
}

func checkText(name, v string) error {
	if utf8.RuneCountInString(v) > maxLoanText {
		return Errorf(EINVALID, "%s: at most %d characters", name, maxLoanText)
	}
	return nil
}

// CheckLoanUpdate refuses a change from old to l that would part a loan
// from what it was made for, or the register from the loans: a new
// school, borrower, requester or CreatedAt; new kit once the agreement is
// signed; a loan on loan that moves other than to its return; or a closed
// loan that opens again. Stores call it in [LoanStore.UpdateLoan].
func CheckLoanUpdate(old, l *Loan) error {
	switch {
	case l.SchoolID != old.SchoolID || l.BorrowerID != old.BorrowerID || l.RequestedBy != old.RequestedBy ||
		!l.CreatedAt.Equal(old.CreatedAt):
		return Errorf(EINVALID, "a loan's school, borrower, requester and creation time never change")
	case l.AssetID != old.AssetID && old.Status != LoanRequested && old.Status != LoanApproved:
		return Errorf(ECONFLICT, "cannot change the device: the loan is %s", old.Status.Phrase())
	case old.Status == LoanOnLoan && l.Status != LoanOnLoan && l.Status != LoanReturned:
		return Errorf(ECONFLICT, "a loan on loan ends only with the kit's return")
	case !old.Status.Open() && l.Status != old.Status:
		return Errorf(ECONFLICT, "the loan is %s: it does not open again", old.Status.Phrase())
	}
	return nil
}

// LoanEvent is one step in a loan's history, and in its kit's history.
type LoanEvent struct {
	ID       uuid.UUID
	LoanID   uuid.UUID
	SchoolID uuid.UUID
	AssetID  uuid.UUID // uuid.Nil before a device is chosen
	Action   string    // requested, approved, declined, device_chosen, signed, handed_over, checked, returned, cancelled
	ActorID  uuid.UUID
	At       time.Time
	Detail   string // what people wrote: condition, notes, reasons
}

// SignedAgreement is the agreement a borrower signed, kept exactly as
// signed: the stores insert it once and never change it.
type SignedAgreement struct {
	LoanID uuid.UUID
	// TemplateVersion is the school's template version; 0 is Rollcall's
	// default agreement.
	TemplateVersion int
	Text            string // the exact text signed
	SHA256          string // lower-case hex SHA-256 of Text
	FullName        string // as the borrower typed it
	SignedAt        time.Time
	Address         string // the borrower's address when signing
	PDF             []byte // rendered when signed
}

// LoanUpdate is one saved step of a loan.
type LoanUpdate struct {
	// Loan is the changed loan; its Version is the one read.
	Loan *Loan
	// Event is the history entry of the step, or nil (a reminder sent).
	Event *LoanEvent
	// Agreement is stored with the step that signs the loan.
	Agreement *SignedAgreement
}

// LoanFilter selects loans, newest first.
type LoanFilter struct {
	SchoolIDs  []uuid.UUID  // nil: every school; empty non-nil: none
	Statuses   []LoanStatus // empty keeps all
	BorrowerID uuid.UUID    // uuid.Nil keeps all
	AssetID    uuid.UUID    // uuid.Nil keeps all
	// CheckDueBy, when not zero, keeps loans on loan whose next check is
	// due at or before it.
	CheckDueBy time.Time
	// After is the ID of the last loan of the previous page.
	After uuid.UUID
	Limit int // zero or less: DefaultPageSize; at most MaxPageSize
}

// PageLimit returns the effective limit of f.
func (f LoanFilter) PageLimit() int {
	switch {
	case f.Limit <= 0:
		return DefaultPageSize
	case f.Limit > MaxPageSize:
		return MaxPageSize
	}
	return f.Limit
}

// LoanStore keeps loans, their history and signed agreements.
type LoanStore interface {
	// CreateLoan stores a new request with its "requested" event,
	// filling IDs, CreatedAt, UpdatedAt and Version 1. Returns ECONFLICT
	// when the kit is already named by an open loan or may not be lent,
	// and ENOTFOUND for an unknown school, person or asset.
	CreateLoan(ctx context.Context, l *Loan, ev *LoanEvent) error
	// FindLoanByID returns ENOTFOUND if there is no such loan.
	FindLoanByID(ctx context.Context, id uuid.UUID) (*Loan, error)
	// FindLoans returns a page of loans matching f.
	FindLoans(ctx context.Context, f LoanFilter) ([]*Loan, error)
	// UpdateLoan saves a step in one transaction: the loan (only if its
	// stored Version is u.Loan.Version, else ECONFLICT saying it changed
	// meanwhile; on success Version goes up by one), its event, the signed
	// agreement, and the kit's status: on loan at the hand-over (ECONFLICT
	// if the kit is no longer lendable), in stock at the return. Returns
	// ECONFLICT too when the loan names kit another open loan holds, and
	// ENOTFOUND.
	UpdateLoan(ctx context.Context, u LoanUpdate) error
	// FindAgreement returns the agreement signed for a loan, or ENOTFOUND.
	FindAgreement(ctx context.Context, loanID uuid.UUID) (*SignedAgreement, error)
	// FindLoanEvents returns the history of a loan (loanID set) or of a
	// piece of kit (assetID set), oldest first.
	FindLoanEvents(ctx context.Context, loanID, assetID uuid.UUID) ([]*LoanEvent, error)
}

// AgreementTemplate is one version of a school's loan agreement. Versions
// are never changed: editing makes the next version.
type AgreementTemplate struct {
	ID           uuid.UUID
	SchoolID     uuid.UUID
	Version      int // 1, 2, ... per school
	Title        string
	Body         string
	Declarations []string
	CreatedBy    uuid.UUID
	CreatedAt    time.Time
}

// AgreementStore keeps agreement templates.
type AgreementStore interface {
	// CreateAgreementTemplate stores t as the school's next version,
	// filling ID, Version and CreatedAt. Returns ENOTFOUND for an
	// unknown school.
	CreateAgreementTemplate(ctx context.Context, t *AgreementTemplate) error
	// FindAgreementTemplate returns the school's newest version, or
	// ENOTFOUND when the school has none (it uses Rollcall's default).
	FindAgreementTemplate(ctx context.Context, schoolID uuid.UUID) (*AgreementTemplate, error)
	// FindAgreementTemplates returns every version, newest first.
	FindAgreementTemplates(ctx context.Context, schoolID uuid.UUID) ([]*AgreementTemplate, error)
	// SetSchoolLoanSettings replaces a school's loan settings. Returns
	// EINVALID and ENOTFOUND.
	SetSchoolLoanSettings(ctx context.Context, schoolID uuid.UUID, s LoanSettings) error
}

// SignOut is shared kit (a trolley iPad) signed out to a member of staff
// for the day.
type SignOut struct {
	ID       uuid.UUID
	SchoolID uuid.UUID
	AssetID  uuid.UUID
	UserID   uuid.UUID // who has it
	OutBy    uuid.UUID // who recorded the sign-out
	OutAt    time.Time
	DueBack  time.Time // the end of the day it went out
	BackAt   time.Time // zero while it is out
	BackBy   uuid.UUID
}

// Out reports whether the kit has not come back yet.
func (s *SignOut) Out() bool { return s.BackAt.IsZero() }

// SignOutFilter selects sign-outs, newest first.
type SignOutFilter struct {
	SchoolIDs []uuid.UUID // nil: every school; empty non-nil: none
	OnlyOut   bool        // keep those not back yet
	AssetID   uuid.UUID
	UserID    uuid.UUID
	Limit     int // zero or less: DefaultPageSize; at most MaxPageSize
}

// PageLimit returns the effective limit of f.
func (f SignOutFilter) PageLimit() int {
	switch {
	case f.Limit <= 0:
		return DefaultPageSize
	case f.Limit > MaxPageSize:
		return MaxPageSize
	}
	return f.Limit
}

// SignOutStore keeps day sign-outs of shared kit.
type SignOutStore interface {
	// CreateSignOut stores s, filling ID. Returns ECONFLICT when the kit
	// is out already, is not shared, or may not be lent; ENOTFOUND for
	// unknown kit or person.
	CreateSignOut(ctx context.Context, s *SignOut) error
	// ReturnSignOut records the kit back. Returns ECONFLICT if it is back
	// already and ENOTFOUND.
	ReturnSignOut(ctx context.Context, id, by uuid.UUID, at time.Time) error
	// FindSignOutByID returns ENOTFOUND if there is no such sign-out.
	FindSignOutByID(ctx context.Context, id uuid.UUID) (*SignOut, error)
	// FindSignOuts returns sign-outs matching f.
	FindSignOuts(ctx context.Context, f SignOutFilter) ([]*SignOut, error)
}
