package web

import (
	"context"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
	"github.com/rollcall/rollcall/server/agreement"
	"github.com/rollcall/rollcall/server/notify"
)

// Who may do what with loans and the register. Anyone with a role in a
// school may ask to borrow kit for themselves.
var (
	// loanReaders see every loan of their school.
	loanReaders = []inventory.Role{inventory.RoleTechnician, inventory.RoleHeadteacher, inventory.RoleComputingLead, inventory.RoleAuditor}
	// approvers approve and decline requests.
	approvers = []inventory.Role{inventory.RoleHeadteacher, inventory.RoleComputingLead}
	// agreementEditors write the school's agreement and loan settings.
	agreementEditors = []inventory.Role{inventory.RoleHeadteacher}
	// registerReaders see the hardware register.
	registerReaders = fleetReaders
	// kitManagers change the register, and hand over, check and receive
	// back lent kit.
	kitManagers = []inventory.Role{inventory.RoleTechnician}
)

// Mailer sends email without waiting for the relay; a *notify.Outbox.
type Mailer interface {
	Send(m notify.Message)
}

// discardMail is the Mailer when mail is off.
type discardMail struct{}

func (discardMail) Send(notify.Message) {}

// stepInput is what a person gives with a step of a loan, from a form or
// a JSON body.
type stepInput struct {
	Reason      string    // decline
	Condition   string    // hand-over, return
	Accessories string    // hand-over
	Notes       string    // check, return
	FullName    string    // sign
	Accept      bool      // sign: the borrower accepts the agreement
	Ticked      int       // sign: how many declarations the form ticked; -1 when not from the form
	Digest      string    // sign: the SHA-256 of the agreement the borrower read, when known
	AssetID     uuid.UUID // choose
}

// Loan steps, as the URLs and the audit log name them.
const (
	stepApprove  = "approve"
	stepDecline  = "decline"
	stepChoose   = "choose"
	stepSign     = "sign"
	stepHandover = "handover"
	stepCheck    = "check"
	stepReturn   = "return"
	stepCancel   = "cancel"
)

// loanSteps lists every step.
var loanSteps = []string{stepApprove, stepDecline, stepChoose, stepSign, stepHandover, stepCheck, stepReturn, stepCancel}

// eventActions name each step's history entry.
var eventActions = map[string]string{
	stepApprove: "approved", stepDecline: "declined", stepChoose: "device_chosen", stepSign: "signed",
	stepHandover: "handed_over", stepCheck: "checked", stepReturn: "returned", stepCancel: "cancelled",
}

// visibleLoan returns the loan in the path if the viewer may see it: its
// borrower, its requester, or a loan reader of its school.
func (s *server) visibleLoan(ctx context.Context, idText string) (*inventory.Loan, error) {
	notFound := inventory.Errorf(inventory.ENOTFOUND, "There is no loan %s that you can see.", idText)
	id, err := uuid.Parse(idText)
	if err != nil {
		return nil, notFound
	}
	l, err := s.store.FindLoanByID(ctx, id)
	if inventory.ErrorCode(err) == inventory.ENOTFOUND {
		return nil, notFound
	} else if err != nil {
		return nil, err
	}
	if !mayReadLoan(viewerOf(ctx), l) {
		return nil, notFound
	}
	return l, nil
}

func mayReadLoan(v viewer, l *inventory.Loan) bool {
	// A requester (a technician asking for someone) sees the loan while
	// they still hold a role at its school; the borrower always does.
	return v.user.ID == l.BorrowerID || v.user.ID == l.RequestedBy && v.canSee(l.SchoolID) || v.holds(l.SchoolID, loanReaders...)
}

// approveAs returns the role the viewer approves l as: the headteacher's
// approval first, then the computing leader's. An organisation admin
// stands in for either.
func approveAs(v viewer, l *inventory.Loan) (inventory.Role, bool) {
	if v.user.ID == l.HeadApprovedBy || v.user.ID == l.LeadApprovedBy {
		return "", false // one person gives one approval
	}
	for _, role := range approvers {
		if l.AwaitingApprovalAs(role) && v.holds(l.SchoolID, role) {
			return role, true
		}
	}
	return "", false
}

// loanStepAllowed reports whether the viewer's roles let them take step
// on l; the loan's own rules are checked by its methods.
func loanStepAllowed(v viewer, l *inventory.Loan, step string) bool {
	switch step {
	case stepApprove, stepDecline:
		return v.holds(l.SchoolID, approvers...)
	case stepChoose, stepHandover, stepCheck, stepReturn:
		// A technician borrowing kit has another hand it over.
		return v.holds(l.SchoolID, kitManagers...) && v.user.ID != l.BorrowerID
	case stepSign:
		return v.user.ID == l.BorrowerID
	case stepCancel:
		return v.user.ID == l.BorrowerID || v.user.ID == l.RequestedBy || v.holds(l.SchoolID, kitManagers...)
	}
	return false
}

// loanStep takes one step of a loan for the request's viewer and saves
// it, with its history entry, its audit entry and its emails.
func (s *server) loanStep(r *http.Request, idText, step string, in stepInput) (*inventory.Loan, error) {
	ctx := r.Context()
	v := viewerOf(ctx)
	l, err := s.visibleLoan(ctx, idText)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(loanSteps, step) {
		return nil, inventory.Errorf(inventory.ENOTFOUND, "There is no loan step %q: use %s.", step, strings.Join(loanSteps, ", "))
	}
	if !loanStepAllowed(v, l, step) {
		return nil, inventory.Errorf(inventory.EFORBIDDEN, "Your roles do not let you %s this loan.", stepVerb(step))
	}
	now := s.now()
	ev := &inventory.LoanEvent{LoanID: l.ID, SchoolID: l.SchoolID, Action: eventActions[step], ActorID: v.user.ID, At: now}
	var signed *inventory.SignedAgreement
	switch step {
	case stepApprove:
		role, ok := approveAs(v, l)
		if !ok {
			role = inventory.RoleHeadteacher // let the loan say why not
			if l.Status == inventory.LoanRequested && !v.holds(l.SchoolID, inventory.RoleHeadteacher) {
				role = inventory.RoleComputingLead
			}
		}
		err = l.Approve(v.user.ID, role, now)
		ev.Detail = "as " + roleName(role)
	case stepDecline:
		if _, ok := approveAs(v, l); !ok && l.Status == inventory.LoanRequested {
			return nil, inventory.Errorf(inventory.EFORBIDDEN, "This request is not waiting for your approval, so you cannot decline it.")
		}
		err = l.Decline(v.user.ID, in.Reason, now)
		ev.Detail = strings.TrimSpace(in.Reason)
	case stepChoose:
		var a *inventory.Asset
		if a, err = s.store.FindAssetByID(ctx, in.AssetID); inventory.ErrorCode(err) == inventory.ENOTFOUND || a != nil && a.SchoolID != l.SchoolID {
			err = inventory.Errorf(inventory.EINVALID, "Device: choose kit from this school's register.")
		}
		if err == nil {
			err = l.Choose(a)
			ev.Detail = a.Label()
		}
	case stepSign:
		signed, err = s.signLoan(r, l, in)
	case stepHandover:
		err = l.HandOver(v.user.ID, in.Condition, in.Accessories, now)
		ev.Detail = joinDetail("condition", in.Condition, "accessories", in.Accessories)
	case stepCheck:
		err = l.Check(now)
		ev.Detail = strings.TrimSpace(in.Notes)
	case stepReturn:
		err = l.Return(v.user.ID, in.Condition, in.Notes, now)
		ev.Detail = joinDetail("condition", in.Condition, "notes", in.Notes)
	case stepCancel:
		err = l.Cancel()
	}
	if err != nil {
		return nil, err
	}
	ev.AssetID = l.AssetID
	if err := s.store.UpdateLoan(ctx, inventory.LoanUpdate{Loan: l, Event: ev, Agreement: signed}); err != nil {
		return nil, err
	}
	detail := ev.Action
	if ev.Detail != "" && step != stepSign {
		detail += ": " + ev.Detail
	}
	if signed != nil {
		detail += " agreement sha256 " + signed.SHA256
	}
	s.audit(r, inventory.AuditEntry{SchoolID: l.SchoolID, Action: "loan." + step, Record: "loan/" + l.ID.String(), Detail: detail})
	s.mailStep(r, l, step)
	return l, nil
}

func joinDetail(pairs ...string) string {
	var parts []string
	for i := 0; i+1 < len(pairs); i += 2 {
		if v := strings.TrimSpace(pairs[i+1]); v != "" {
			parts = append(parts, pairs[i]+" "+v)
		}
	}
	return strings.Join(parts, "; ")
}

// stepVerb is a step as a verb for sentences.
func stepVerb(step string) string {
	switch step {
	case stepChoose:
		return "choose the device for"
	case stepHandover:
		return "hand over"
	case stepCheck:
		return "record a check of"
	case stepReturn:
		return "receive back"
	}
	return step
}

// agreementFor returns the school's current agreement template and its
// version, or Rollcall's default as version 0.
func (s *server) agreementFor(ctx context.Context, schoolID uuid.UUID) (agreement.Template, int, error) {
	t, err := s.store.FindAgreementTemplate(ctx, schoolID)
	switch inventory.ErrorCode(err) {
	case "":
		return agreement.Template{Title: t.Title, Body: t.Body, Declarations: t.Declarations}, t.Version, nil
	case inventory.ENOTFOUND:
		return agreement.Default(), 0, nil
	}
	return agreement.Template{}, 0, err
}

// agreementText returns the agreement a loan's borrower signs, filled in
// for the loan, and its template version.
func (s *server) agreementText(ctx context.Context, l *inventory.Loan) (agreement.Template, int, error) {
	tpl, version, err := s.agreementFor(ctx, l.SchoolID)
	if err != nil {
		return tpl, 0, err
	}
	f, err := s.agreementFields(ctx, l)
	if err != nil {
		return tpl, 0, err
	}
	return tpl.Fill(f), version, nil
}

// agreementFields are the values a loan's agreement is filled with.
func (s *server) agreementFields(ctx context.Context, l *inventory.Loan) (agreement.Fields, error) {
	sc, err := s.store.FindSchoolByID(ctx, l.SchoolID)
	if err != nil {
		return agreement.Fields{}, err
	}
	b, err := s.store.FindUserByID(ctx, l.BorrowerID)
	if err != nil {
		return agreement.Fields{}, err
	}
	f := agreement.Fields{School: sc.Name, Borrower: b.Name, BorrowerEmail: b.Email, Kind: kindName(l.Kind), Reason: l.Reason,
		Accessories: l.Accessories, CheckInterval: intervalText(l.CheckIntervalDays)}
	if !l.ExpectedReturn.IsZero() {
		f.ExpectedReturn = l.ExpectedReturn.Format("2 January 2006")
	}
	if l.AssetID != uuid.Nil {
		a, err := s.store.FindAssetByID(ctx, l.AssetID)
		if err != nil {
			return f, err
		}
		f.Make, f.Model, f.Serial, f.AssetTag = a.Make, a.Model, a.Serial, a.AssetTag
	}
	return f, nil
}

// intervalText says how often kit is checked: "every 6 weeks".
func intervalText(days int) string {
	if days <= 0 {
		days = inventory.DefaultCheckInterval
	}
	if days%7 == 0 {
		return "every " + plural(days/7, "week")
	}
	return "every " + plural(days, "day")
}

// signLoan checks the borrower's signature, signs l and renders the
// agreement as it stands now: text, digest and PDF.
func (s *server) signLoan(r *http.Request, l *inventory.Loan, in stepInput) (*inventory.SignedAgreement, error) {
	ctx := r.Context()
	v := viewerOf(ctx)
	if l.Status != inventory.LoanApproved || v.user.ID != l.BorrowerID || l.AssetID == uuid.Nil {
		return nil, l.Sign(v.user.ID, s.now()) // says why not
	}
	tpl, version, err := s.agreementText(ctx, l)
	if err != nil {
		return nil, err
	}
	if in.Digest != "" && in.Digest != (agreement.Signed{Template: tpl, TemplateVersion: version}).Digest() {
		return nil, inventory.Errorf(inventory.ECONFLICT, "The agreement changed after you opened it. Read it again before you sign.")
	}
	if !in.Accept || in.Ticked >= 0 && in.Ticked != len(tpl.Declarations) {
		return nil, inventory.Errorf(inventory.EINVALID, "Tick each statement of the agreement to show you accept it.")
	}
	if err := agreement.CheckSignature(in.FullName, v.user.Name); err != nil {
		return nil, inventory.Errorf(inventory.EINVALID, "%s", err.Error())
	}
	now := s.now()
	if err := l.Sign(v.user.ID, now); err != nil {
		return nil, err
	}
	sc, err := s.store.FindSchoolByID(ctx, l.SchoolID)
	if err != nil {
		return nil, err
	}
	sa := agreement.Signed{School: sc.Name, Template: tpl, TemplateVersion: version, Signature: agreement.Signature{FullName: strings.TrimSpace(in.FullName), SignedAt: now, Address: s.remoteAddr(r)}}
	pdf, err := sa.PDF()
	if err != nil {
		return nil, err
	}
	return &inventory.SignedAgreement{LoanID: l.ID, TemplateVersion: version, Text: sa.Text(), SHA256: sa.Digest(),
		FullName: sa.Signature.FullName, SignedAt: now, Address: sa.Signature.Address, PDF: pdf}, nil
}

// peopleWith returns the enabled people who hold one of roles in school.
func (s *server) peopleWith(ctx context.Context, school uuid.UUID, roles ...inventory.Role) ([]*inventory.User, error) {
	users, err := s.store.FindUsers(ctx, inventory.UserFilter{SchoolIDs: []uuid.UUID{school}})
	if err != nil {
		return nil, err
	}
	var out []*inventory.User
	for _, u := range users {
		if u.Disabled() {
			continue
		}
		grants, err := s.store.FindRoleGrants(ctx, u.ID)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(grants, func(g inventory.RoleGrant) bool { return g.SchoolID == school && slices.Contains(roles, g.Role) }) {
			out = append(out, u)
		}
	}
	return out, nil
}

func emails(users []*inventory.User) []string {
	out := make([]string, 0, len(users))
	for _, u := range users {
		out = append(out, u.Email)
	}
	return out
}

// loanMail is what the emails about l say, with links under base.
func (s *server) loanMail(ctx context.Context, l *inventory.Loan, base string) (notify.Loan, *inventory.User, error) {
	sc, err := s.store.FindSchoolByID(ctx, l.SchoolID)
	if err != nil {
		return notify.Loan{}, nil, err
	}
	b, err := s.store.FindUserByID(ctx, l.BorrowerID)
	if err != nil {
		return notify.Loan{}, nil, err
	}
	m := notify.Loan{School: sc.Name, Borrower: b.Name, Reason: l.Reason, ExpectedReturn: l.ExpectedReturn,
		DeclineReason: l.DeclineReason, CheckDue: l.CheckDue(), Link: base + "/loans/" + l.ID.String()}
	m.Device = "a " + kindName(l.Kind) + " (not yet chosen)"
	if l.AssetID != uuid.Nil {
		a, err := s.store.FindAssetByID(ctx, l.AssetID)
		if err != nil {
			return m, nil, err
		}
		m.Device = kindTitle(a.Kind) + ": " + a.Label()
	}
	return m, b, nil
}

// mailBase is where the links in emails start: the configured public
// address, else the address the request came in on (not its Host
// header, which the sender chooses).
func (s *server) mailBase(r *http.Request) string {
	if s.publicURL != "" {
		return s.publicURL
	}
	if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		return "http://" + addr.String()
	}
	return "http://localhost"
}

// mailStep sends the emails a step calls for. A failure to work out who
// to tell is logged: the step itself is saved.
func (s *server) mailStep(r *http.Request, l *inventory.Loan, step string) {
	if err := s.sendStepMail(r.Context(), l, step, s.mailBase(r)); err != nil {
		s.logger.ErrorContext(r.Context(), "loan email", "loan", l.ID, "step", step, "err", err)
	}
}

func (s *server) sendStepMail(ctx context.Context, l *inventory.Loan, step, base string) error {
	m, borrower, err := s.loanMail(ctx, l, base)
	if err != nil {
		return err
	}
	to := []string{borrower.Email}
	switch {
	case step == "request":
		roles := []inventory.Role{inventory.RoleHeadteacher}
		if l.NeedsLeadApproval {
			roles = approvers
		}
		people, err := s.peopleWith(ctx, l.SchoolID, roles...)
		if err != nil {
			return err
		}
		s.mail.Send(notify.ApprovalNeeded(emails(people), m))
	case (step == stepApprove || step == stepChoose) && l.Status == inventory.LoanApproved && l.AssetID != uuid.Nil:
		// The borrower can sign once it is approved and names the kit.
		s.mail.Send(notify.Approved(to, m))
	case step == stepDecline:
		s.mail.Send(notify.Declined(to, m))
	case step == stepSign:
		techs, err := s.peopleWith(ctx, l.SchoolID, kitManagers...)
		if err != nil {
			return err
		}
		s.mail.Send(notify.Signed(emails(techs), m))
	case step == stepHandover:
		s.mail.Send(notify.HandedOver(to, m))
	case step == stepReturn:
		s.mail.Send(notify.Returned(to, m))
	}
	return nil
}

// RemindChecks emails the borrower and the technicians of every loan
// whose check falls due within a week (once) or is overdue (once more),
// and returns how many emails it sent. base is the server's public
// address, for the links.
func RemindChecks(ctx context.Context, store inventory.Store, mail Mailer, base string, now time.Time) (int, error) {
	s := &server{store: store, mail: mail, now: func() time.Time { return now }}
	f := inventory.LoanFilter{Statuses: []inventory.LoanStatus{inventory.LoanOnLoan}, CheckDueBy: now.AddDate(0, 0, 7), Limit: inventory.MaxPageSize}
	var loans []*inventory.Loan
	for {
		page, err := store.FindLoans(ctx, f)
		if err != nil {
			return 0, err
		}
		loans = append(loans, page...)
		if len(page) < f.Limit {
			break
		}
		f.After = page[len(page)-1].ID
	}
	sent := 0
	for _, l := range loans {
		overdue := !l.CheckDue().After(now)
		switch {
		case overdue && l.OverdueRemindedAt.IsZero():
			l.OverdueRemindedAt = now
		case !overdue && l.CheckRemindedAt.IsZero():
			l.CheckRemindedAt = now
		default:
			continue
		}
		m, borrower, err := s.loanMail(ctx, l, base)
		if err != nil {
			return sent, err
		}
		techs, err := s.peopleWith(ctx, l.SchoolID, kitManagers...)
		if err != nil {
			return sent, err
		}
		// Saved first: a reminder is sent at most once even when two
		// replicas sweep at the same moment.
		if err := store.UpdateLoan(ctx, inventory.LoanUpdate{Loan: l}); inventory.ErrorCode(err) == inventory.ECONFLICT {
			continue
		} else if err != nil {
			return sent, err
		}
		to := append([]string{borrower.Email}, emails(techs)...)
		if overdue {
			mail.Send(notify.CheckOverdue(to, m))
		} else {
			mail.Send(notify.CheckDue(to, m))
		}
		sent++
	}
	return sent, nil
}
