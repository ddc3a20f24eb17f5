package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
	"github.com/rollcall/rollcall/server/agreement"
)

// requestInput is a loan request, from a form or a JSON body.
type requestInput struct {
	School         string // slug; needed only when no device is named
	AssetID        string // the kit asked for, or ""
	Kind           string // the kind asked for when no device is named
	BorrowerID     string // "" for the viewer
	Reason         string
	ExpectedReturn string // yyyy-mm-dd or dd/mm/yyyy, or ""
}

// createLoan makes a request for the viewer: for themselves, or, for a
// technician, for someone at their school.
func (s *server) createLoan(r *http.Request, in requestInput) (*inventory.Loan, error) {
	ctx := r.Context()
	v := viewerOf(ctx)
	var asset *inventory.Asset
	var sc *inventory.School
	var err error
	if in.AssetID != "" {
		id, perr := uuid.Parse(in.AssetID)
		if perr == nil {
			asset, err = s.store.FindAssetByID(ctx, id)
		}
		if perr != nil || inventory.ErrorCode(err) == inventory.ENOTFOUND || err == nil && !v.canSee(asset.SchoolID) {
			return nil, inventory.Errorf(inventory.EINVALID, "Device: there is no kit %s in your school's register.", in.AssetID)
		} else if err != nil {
			return nil, err
		}
		if sc, err = s.store.FindSchoolByID(ctx, asset.SchoolID); err != nil {
			return nil, err
		}
	} else {
		if sc, err = s.schoolFromForm(r, in.School); err != nil {
			return nil, err
		}
	}
	var kind inventory.AssetKind
	if asset == nil {
		if kind, err = inventory.ParseAssetKind(in.Kind); err != nil {
			return nil, inventory.Errorf(inventory.EINVALID, "Choose a device, or the kind of device you need: %s", inventory.ErrorMessage(err))
		}
	}
	borrower := v.user.ID
	if in.BorrowerID != "" && in.BorrowerID != v.user.ID.String() {
		if !v.holds(sc.ID, kitManagers...) {
			return nil, inventory.Errorf(inventory.EFORBIDDEN, "Only a technician asks for kit on someone else's behalf.")
		}
		id, err := uuid.Parse(in.BorrowerID)
		if err != nil || !s.holdsRoleAt(ctx, id, sc.ID) {
			return nil, inventory.Errorf(inventory.EINVALID, "Borrower: choose a member of staff at %s.", sc.Name)
		}
		borrower = id
	} else if !v.canSee(sc.ID) {
		return nil, inventory.Errorf(inventory.EFORBIDDEN, "You can ask for kit only at your own school.")
	}
	due, err := parseDate(in.ExpectedReturn)
	if err != nil {
		return nil, inventory.Errorf(inventory.EINVALID, "Expected return: %s", inventory.ErrorMessage(err))
	}
	now := s.now()
	l, err := inventory.NewLoan(sc, v.user.ID, borrower, asset, kind, in.Reason, due, now)
	if err != nil {
		return nil, err
	}
	ev := &inventory.LoanEvent{SchoolID: sc.ID, AssetID: l.AssetID, Action: "requested", ActorID: v.user.ID, At: now, Detail: l.Reason}
	if err := s.store.CreateLoan(ctx, l, ev); err != nil {
		return nil, err
	}
	s.audit(r, inventory.AuditEntry{SchoolID: sc.ID, Action: "loan.request", Record: "loan/" + l.ID.String(), Detail: "requested a " + string(l.Kind) + " for " + s.names(ctx).of(borrower)})
	s.mailStep(r, l, "request")
	return l, nil
}

// holdsRoleAt reports whether person has an enabled account and holds a
// role at school.
func (s *server) holdsRoleAt(ctx context.Context, person, school uuid.UUID) bool {
	if u, err := s.store.FindUserByID(ctx, person); err != nil || u.Disabled() {
		return false
	}
	grants, err := s.store.FindRoleGrants(ctx, person)
	return err == nil && slices.ContainsFunc(grants, func(g inventory.RoleGrant) bool { return g.SchoolID == school })
}

// enabled returns the people whose accounts are not disabled.
func enabled(users []*inventory.User) []*inventory.User {
	return slices.DeleteFunc(users, (*inventory.User).Disabled)
}

// schoolFromForm returns the school named by slug, which the viewer must
// hold a role in; with no slug, the viewer's only school.
func (s *server) schoolFromForm(r *http.Request, slug string) (*inventory.School, error) {
	v := viewerOf(r.Context())
	if slug == "" {
		id := s.onlySchool(r, v.user)
		if id == uuid.Nil {
			return nil, inventory.Errorf(inventory.EINVALID, "School: choose the school.")
		}
		return s.store.FindSchoolByID(r.Context(), id)
	}
	sc, err := s.store.FindSchoolBySlug(r.Context(), slug)
	if inventory.ErrorCode(err) == inventory.ENOTFOUND || err == nil && !v.canSee(sc.ID) {
		return nil, inventory.Errorf(inventory.EINVALID, "School: there is no school %q of yours.", slug)
	}
	return sc, err
}

// parseDate reads a date as yyyy-mm-dd (what date inputs send) or
// dd/mm/yyyy; "" is the zero time.
func parseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.DateOnly, "02/01/2006", "2/1/2006"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, inventory.Errorf(inventory.EINVALID, "%q is not a date: use yyyy-mm-dd or dd/mm/yyyy", s)
}

// loanRow is a loan in a list, with the names it shows.
type loanRow struct {
	Loan     *inventory.Loan
	Borrower string
	Device   string
	School   string
	CheckDue time.Time
	Overdue  bool
}

// loansPage is the data of the loans page.
type loansPage struct {
	ToApprove []loanRow
	Mine      []loanRow
	Checks    []loanRow // due within a week or overdue
	All       []loanRow
	Status    string
	Statuses  []inventory.LoanStatus
	CanSeeAll bool
	Next      string
}

// names resolves people's names for a page, each once.
type names struct {
	s     *server
	ctx   context.Context
	users map[uuid.UUID]string
}

func (s *server) names(ctx context.Context) *names {
	return &names{s: s, ctx: ctx, users: map[uuid.UUID]string{}}
}

// of returns the person's name, or "someone" for no one.
func (n *names) of(id uuid.UUID) string {
	if id == uuid.Nil {
		return ""
	}
	if name, ok := n.users[id]; ok {
		return name
	}
	name := "a former member of staff"
	if u, err := n.s.store.FindUserByID(n.ctx, id); err == nil {
		name = u.Name
	}
	n.users[id] = name
	return name
}

func (s *server) loanRows(ctx context.Context, n *names, loans []*inventory.Loan) ([]loanRow, error) {
	now := s.now()
	schools := map[uuid.UUID]string{}
	rows := make([]loanRow, 0, len(loans))
	for _, l := range loans {
		row := loanRow{Loan: l, Borrower: n.of(l.BorrowerID), Device: "a " + kindName(l.Kind) + " (not chosen yet)", CheckDue: l.CheckDue()}
		row.Overdue = !row.CheckDue.IsZero() && row.CheckDue.Before(now)
		if l.AssetID != uuid.Nil {
			a, err := s.store.FindAssetByID(ctx, l.AssetID)
			if err != nil {
				return nil, err
			}
			row.Device = a.Label()
		}
		if _, ok := schools[l.SchoolID]; !ok {
			sc, err := s.store.FindSchoolByID(ctx, l.SchoolID)
			if err != nil {
				return nil, err
			}
			schools[l.SchoolID] = sc.Name
		}
		row.School = schools[l.SchoolID]
		rows = append(rows, row)
	}
	return rows, nil
}

func (s *server) handleLoansPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		v := viewerOf(ctx)
		n := s.names(ctx)
		page := loansPage{Statuses: inventory.LoanStatuses, Status: r.URL.Query().Get("status"), CanSeeAll: v.mayAnywhere(loanReaders...)}
		fail := func(err error) { s.pageError(w, r, err) }
		mine, err := s.store.FindLoans(ctx, inventory.LoanFilter{BorrowerID: v.user.ID, Limit: 50})
		if err != nil {
			fail(err)
			return
		}
		if page.Mine, err = s.loanRows(ctx, n, mine); err != nil {
			fail(err)
			return
		}
		if ids := v.schoolsWith(approvers...); ids == nil || len(ids) > 0 {
			waiting, err := s.store.FindLoans(ctx, inventory.LoanFilter{SchoolIDs: ids, Statuses: []inventory.LoanStatus{inventory.LoanRequested}, Limit: inventory.MaxPageSize})
			if err != nil {
				fail(err)
				return
			}
			waiting = slices.DeleteFunc(waiting, func(l *inventory.Loan) bool {
				_, ok := approveAs(v, l)
				return !ok || l.BorrowerID == v.user.ID || l.RequestedBy == v.user.ID
			})
			if page.ToApprove, err = s.loanRows(ctx, n, waiting); err != nil {
				fail(err)
				return
			}
		}
		if ids := v.schoolsWith(kitManagers...); ids == nil || len(ids) > 0 {
			due, err := s.store.FindLoans(ctx, inventory.LoanFilter{SchoolIDs: ids, CheckDueBy: s.now().AddDate(0, 0, 7), Limit: inventory.MaxPageSize})
			if err != nil {
				fail(err)
				return
			}
			if page.Checks, err = s.loanRows(ctx, n, due); err != nil {
				fail(err)
				return
			}
		}
		if page.CanSeeAll {
			f := inventory.LoanFilter{SchoolIDs: v.schoolsWith(loanReaders...), Limit: 100}
			if page.Status != "" {
				st, err := inventory.ParseLoanStatus(page.Status)
				if err != nil {
					fail(err)
					return
				}
				f.Statuses = []inventory.LoanStatus{st}
			}
			if after := r.URL.Query().Get("after"); after != "" {
				if f.After, err = uuid.Parse(after); err != nil {
					fail(inventory.Errorf(inventory.EINVALID, "after: %q is not a page cursor", after))
					return
				}
			}
			all, err := s.store.FindLoans(ctx, f)
			if err != nil {
				fail(err)
				return
			}
			if len(all) == f.PageLimit() {
				page.Next = all[len(all)-1].ID.String()
			}
			if page.All, err = s.loanRows(ctx, n, all); err != nil {
				fail(err)
				return
			}
		}
		s.render(w, r, http.StatusOK, "loans.html", "Loans", page)
	})
}

// newLoanPage is the data of the request form.
type newLoanPage struct {
	Schools   []*inventory.School
	Kinds     []inventory.AssetKind
	Available []*inventory.Asset // lendable kit the viewer may name
	Staff     []*inventory.User  // for a technician asking for someone
	Form      url.Values
	Error     string
}

func (s *server) newLoanPage(r *http.Request, form url.Values, msg string) (newLoanPage, error) {
	ctx := r.Context()
	v := viewerOf(ctx)
	page := newLoanPage{Kinds: inventory.AssetKinds, Form: form, Error: msg}
	all, err := s.store.FindSchools(ctx)
	if err != nil {
		return page, err
	}
	for _, sc := range all {
		if v.canSee(sc.ID) {
			page.Schools = append(page.Schools, sc)
		}
	}
	ids := make([]uuid.UUID, 0, len(page.Schools))
	for _, sc := range page.Schools {
		ids = append(ids, sc.ID)
	}
	shared := false
	kit, err := s.store.FindAssets(ctx, inventory.AssetFilter{SchoolIDs: ids, Status: inventory.AssetInStock, Shared: &shared, Sort: inventory.AssetsByModel, Limit: 500})
	if err != nil {
		return page, err
	}
	page.Available = kit
	if managed := v.schoolsWith(kitManagers...); managed == nil || len(managed) > 0 {
		if page.Staff, err = s.store.FindUsers(ctx, inventory.UserFilter{SchoolIDs: managed}); err != nil {
			return page, err
		}
		page.Staff = enabled(page.Staff)
	}
	return page, nil
}

func (s *server) handleNewLoanPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		form := url.Values{"asset": {r.URL.Query().Get("asset")}}
		page, err := s.newLoanPage(r, form, "")
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		s.render(w, r, http.StatusOK, "loan_new.html", "Ask to borrow kit", page)
	})
}

func (s *server) handleLoanCreate() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in := requestInput{School: r.PostFormValue("school"), AssetID: r.PostFormValue("asset"), Kind: r.PostFormValue("kind"),
			BorrowerID: r.PostFormValue("borrower"), Reason: r.PostFormValue("reason"), ExpectedReturn: r.PostFormValue("expected_return")}
		l, err := s.createLoan(r, in)
		if err != nil {
			if st := statusOf[inventory.ErrorCode(err)]; st == 0 || st == http.StatusInternalServerError {
				s.pageError(w, r, err)
				return
			}
			page, perr := s.newLoanPage(r, r.PostForm, inventory.ErrorMessage(err))
			if perr != nil {
				s.pageError(w, r, perr)
				return
			}
			s.render(w, r, statusOf[inventory.ErrorCode(err)], "loan_new.html", "Ask to borrow kit", page)
			return
		}
		http.Redirect(w, r, "/loans/"+l.ID.String()+"?done=loan-requested", http.StatusSeeOther)
	})
}

// eventRow is one step of a history.
type eventRow struct {
	Event *inventory.LoanEvent
	Actor string
	Loan  string // the loan's link, on a device's history
}

// loanPage is the data of a loan's page.
type loanPage struct {
	Loan      *inventory.Loan
	Row       loanRow
	Asset     *inventory.Asset
	Requester string
	Approvals []string // "Headteacher: Jo Bloggs, 2 Dec 2026"
	Waiting   []string // approvals still needed
	Events    []eventRow
	Can       map[string]bool // step -> the viewer may take it now
	Available []*inventory.Asset
	// Agreement is the text to sign (approved loans, for the borrower).
	Agreement *agreement.Template
	Digest    string
	Signed    *inventory.SignedAgreement // without its PDF bytes
	Error     string
	Form      url.Values
}

func (s *server) loanPage(r *http.Request, l *inventory.Loan, form url.Values, msg string) (*loanPage, error) {
	ctx := r.Context()
	v := viewerOf(ctx)
	n := s.names(ctx)
	rows, err := s.loanRows(ctx, n, []*inventory.Loan{l})
	if err != nil {
		return nil, err
	}
	page := &loanPage{Loan: l, Row: rows[0], Requester: n.of(l.RequestedBy), Can: map[string]bool{}, Error: msg, Form: form}
	if l.AssetID != uuid.Nil {
		if page.Asset, err = s.store.FindAssetByID(ctx, l.AssetID); err != nil {
			return nil, err
		}
	}
	if !l.HeadApprovedAt.IsZero() {
		page.Approvals = append(page.Approvals, "Headteacher: "+n.of(l.HeadApprovedBy)+", "+when(l.HeadApprovedAt))
	} else if l.Status == inventory.LoanRequested {
		page.Waiting = append(page.Waiting, "the headteacher")
	}
	if !l.LeadApprovedAt.IsZero() {
		page.Approvals = append(page.Approvals, "Computing leader: "+n.of(l.LeadApprovedBy)+", "+when(l.LeadApprovedAt))
	} else if l.NeedsLeadApproval && l.Status == inventory.LoanRequested {
		page.Waiting = append(page.Waiting, "the computing leader")
	}
	events, err := s.store.FindLoanEvents(ctx, l.ID, uuid.Nil)
	if err != nil {
		return nil, err
	}
	for _, e := range events {
		page.Events = append(page.Events, eventRow{Event: e, Actor: n.of(e.ActorID)})
	}
	for _, step := range loanSteps {
		page.Can[step] = loanStepAllowed(v, l, step) && stepOpen(l, step, v)
	}
	if page.Can[stepChoose] {
		shared := false
		if page.Available, err = s.store.FindAssets(ctx, inventory.AssetFilter{SchoolIDs: []uuid.UUID{l.SchoolID}, Status: inventory.AssetInStock, Shared: &shared, Sort: inventory.AssetsByModel, Limit: 500}); err != nil {
			return nil, err
		}
	}
	if page.Can[stepSign] {
		tpl, version, err := s.agreementText(ctx, l)
		if err != nil {
			return nil, err
		}
		page.Agreement, page.Digest = &tpl, (agreement.Signed{Template: tpl, TemplateVersion: version}).Digest()
	}
	if !l.SignedAt.IsZero() {
		sa, err := s.store.FindAgreement(ctx, l.ID)
		if err != nil {
			return nil, err
		}
		sa.PDF = nil
		page.Signed = sa
	}
	return page, nil
}

// stepOpen reports whether step makes sense for l now, so that the page
// offers only the buttons that would work.
func stepOpen(l *inventory.Loan, step string, v viewer) bool {
	switch step {
	case stepApprove, stepDecline:
		_, ok := approveAs(v, l)
		return ok && l.BorrowerID != v.user.ID && l.RequestedBy != v.user.ID
	case stepChoose:
		return l.Status == inventory.LoanRequested || l.Status == inventory.LoanApproved
	case stepSign:
		return l.Status == inventory.LoanApproved && l.AssetID != uuid.Nil
	case stepHandover:
		return l.Status == inventory.LoanSigned
	case stepCheck, stepReturn:
		return l.Status == inventory.LoanOnLoan
	case stepCancel:
		return l.Status == inventory.LoanRequested || l.Status == inventory.LoanApproved || l.Status == inventory.LoanSigned
	}
	return false
}

func (s *server) handleLoanPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l, err := s.visibleLoan(r.Context(), r.PathValue("id"))
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		page, err := s.loanPage(r, l, url.Values{}, "")
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		s.render(w, r, http.StatusOK, "loan.html", "Loan", page)
	})
}

// handleLoanStep takes the step in the path from a form.
func (s *server) handleLoanStep() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		step := r.PathValue("step")
		in := stepInput{Reason: r.PostFormValue("reason"), Condition: r.PostFormValue("condition"), Accessories: r.PostFormValue("accessories"),
			Notes: r.PostFormValue("notes"), FullName: r.PostFormValue("full_name"), Digest: r.PostFormValue("digest")}
		if step == stepSign {
			in.Accept, in.Ticked = true, tickedCount(r.PostForm["declaration"])
		}
		if id := r.PostFormValue("asset"); id != "" {
			in.AssetID, _ = uuid.Parse(id)
		}
		l, err := s.loanStep(r, r.PathValue("id"), step, in)
		if err == nil {
			http.Redirect(w, r, "/loans/"+l.ID.String()+"?done=loan-"+step, http.StatusSeeOther)
			return
		}
		if st := statusOf[inventory.ErrorCode(err)]; st == 0 || st == http.StatusInternalServerError || st == http.StatusNotFound {
			s.pageError(w, r, err)
			return
		}
		l, lerr := s.visibleLoan(r.Context(), r.PathValue("id"))
		if lerr != nil {
			s.pageError(w, r, lerr)
			return
		}
		page, perr := s.loanPage(r, l, r.PostForm, inventory.ErrorMessage(err))
		if perr != nil {
			s.pageError(w, r, perr)
			return
		}
		s.render(w, r, statusOf[inventory.ErrorCode(err)], "loan.html", "Loan", page)
	})
}

// handleAgreementPDF sends the signed agreement as it was signed.
func (s *server) handleAgreementPDF(fail func(http.ResponseWriter, *http.Request, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l, err := s.visibleLoan(r.Context(), r.PathValue("id"))
		if err != nil {
			fail(w, r, err)
			return
		}
		sa, err := s.store.FindAgreement(r.Context(), l.ID)
		if inventory.ErrorCode(err) == inventory.ENOTFOUND {
			err = inventory.Errorf(inventory.ENOTFOUND, "This loan's agreement is not signed yet: it is %s.", l.Status.Phrase())
		}
		if err != nil {
			fail(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/pdf")
		w.Header().Set("Content-Disposition", `attachment; filename="loan-agreement-`+l.ID.String()[:8]+`.pdf"`)
		w.Header().Set("Cache-Control", "private, no-store")
		w.Write(sa.PDF)
	})
}

// kindName is a kind for sentences: "laptop", "tablet (iPad)".
func kindName(k inventory.AssetKind) string {
	if k == inventory.KindTablet {
		return "tablet (iPad)"
	}
	return string(k)
}

// kindTitle is a kind for headings: "Laptop".
func kindTitle(k inventory.AssetKind) string {
	n := kindName(k)
	if n == "" {
		return ""
	}
	return strings.ToUpper(n[:1]) + n[1:]
}

// assetStatusText is a status as people read it: "In stock".
func assetStatusText(st inventory.AssetStatus) string {
	t := strings.ReplaceAll(string(st), "_", " ")
	if t == "" {
		return ""
	}
	return strings.ToUpper(t[:1]) + t[1:]
}

// loanStatusText is a loan status as people read it.
func loanStatusText(st inventory.LoanStatus) string {
	switch st {
	case inventory.LoanRequested:
		return "Waiting for approval"
	case inventory.LoanApproved:
		return "Waiting for signature"
	case inventory.LoanSigned:
		return "Ready to hand over"
	case inventory.LoanOnLoan:
		return "On loan"
	}
	return assetStatusText(inventory.AssetStatus(st))
}

// stepHelp says what happens next on a loan.
func stepHelp(l *inventory.Loan) string {
	switch l.Status {
	case inventory.LoanRequested:
		if l.AssetID == uuid.Nil {
			return "The request waits for approval; the technician chooses the device."
		}
		return "The request waits for approval."
	case inventory.LoanApproved:
		if l.AssetID == uuid.Nil {
			return "The technician chooses the device; then the borrower signs the agreement."
		}
		return "The borrower now reads and signs the agreement."
	case inventory.LoanSigned:
		return "The technician hands the kit over next."
	case inventory.LoanOnLoan:
		return "Bring it in to be checked when asked, and return it on request or when you leave."
	case inventory.LoanReturned:
		return "The kit has been received back."
	case inventory.LoanDeclined:
		return "The request was declined."
	case inventory.LoanCancelled:
		return "The loan was cancelled before the hand-over."
	}
	return ""
}

// eventTexts are history entries as people read them.
var eventTexts = map[string]string{
	"requested": "Requested", "approved": "Approved", "declined": "Declined", "device_chosen": "Device chosen",
	"signed": "Agreement signed", "handed_over": "Handed over", "checked": "Checked", "returned": "Returned", "cancelled": "Cancelled",
}

func eventText(action string) string {
	if t, ok := eventTexts[action]; ok {
		return t
	}
	return action
}

// tickedCount counts the distinct declarations a form ticked.
func tickedCount(values []string) int {
	seen := map[int]bool{}
	for _, v := range values {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			seen[n] = true
		}
	}
	return len(seen)
}
