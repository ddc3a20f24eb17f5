package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
	"github.com/rollcall/rollcall/inventory/registercsv"
)

// maxExport caps one CSV export of the register.
const maxExport = 100_000

// registerFilter reads the register's filters from a query, limited to
// the schools where the viewer may read the register: school (slug),
// kind, status, location, q (search), sort, and the cursor (after, key).
func (s *server) registerFilter(ctx context.Context, q url.Values) (inventory.AssetFilter, error) {
	v := viewerOf(ctx)
	f := inventory.AssetFilter{SchoolIDs: v.schoolsWith(registerReaders...), Kind: inventory.AssetKind(q.Get("kind")),
		Status: inventory.AssetStatus(q.Get("status")), Location: strings.TrimSpace(q.Get("location")),
		Search: strings.TrimSpace(q.Get("q")), Sort: inventory.AssetSort(q.Get("sort")), AfterKey: q.Get("key")}
	if slug := q.Get("school"); slug != "" {
		sc, err := s.store.FindSchoolBySlug(ctx, slug)
		if err != nil || !v.holds(sc.ID, registerReaders...) {
			return f, inventory.Errorf(inventory.EINVALID, "school: there is no school %q whose register you can see", slug)
		}
		f.SchoolIDs = []uuid.UUID{sc.ID}
	}
	if a := q.Get("after"); a != "" {
		id, err := uuid.Parse(a)
		if err != nil {
			return f, inventory.Errorf(inventory.EINVALID, "after: %q is not a cursor from a previous page's \"next\"", a)
		}
		f.After = id
	}
	var err error
	if f.Limit, err = parseLimit(q); err != nil {
		return f, err
	}
	return f, f.Validate()
}

// registerPage is the data of the register page.
type registerPage struct {
	Assets   []*inventory.Asset
	Counts   inventory.AssetCounts
	Schools  []*inventory.School
	SchoolOf map[uuid.UUID]string
	Kinds    []inventory.AssetKind
	Statuses []inventory.AssetStatus
	Sorts    []inventory.AssetSort
	Query    url.Values
	CSV      string // the export link for this view
	Next     string // the next page's query, or ""
	CanEdit  bool
}

func (s *server) handleRegisterPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		q := r.URL.Query()
		f, err := s.registerFilter(ctx, q)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		page := registerPage{Kinds: inventory.AssetKinds, Statuses: inventory.AssetStatuses, Sorts: inventory.AssetSorts, Query: q,
			SchoolOf: map[uuid.UUID]string{}, CanEdit: viewerOf(ctx).mayAnywhere(kitManagers...)}
		if page.Schools, err = s.schoolsFor(r, registerReaders); err != nil {
			s.pageError(w, r, err)
			return
		}
		for _, sc := range page.Schools {
			page.SchoolOf[sc.ID] = sc.Name
		}
		if page.Assets, err = s.store.FindAssets(ctx, f); err != nil {
			s.pageError(w, r, err)
			return
		}
		if page.Counts, err = s.store.CountAssets(ctx, f); err != nil {
			s.pageError(w, r, err)
			return
		}
		export := cloneValues(q, "after", "key", "limit")
		page.CSV = "/register.csv?" + export.Encode()
		if n := len(page.Assets); n == f.PageLimit() {
			next := cloneValues(q)
			last := page.Assets[n-1]
			next.Set("after", last.ID.String())
			next.Set("key", last.SortKey(f.Sort))
			page.Next = next.Encode()
		}
		s.render(w, r, http.StatusOK, "register.html", "Register", page)
	})
}

// exportAssets returns every entry f selects, page by page, up to
// maxExport.
func (s *server) exportAssets(ctx context.Context, f inventory.AssetFilter) ([]*inventory.Asset, error) {
	f.Limit, f.After, f.AfterKey = inventory.MaxPageSize, uuid.Nil, ""
	var all []*inventory.Asset
	for {
		page, err := s.store.FindAssets(ctx, f)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) < f.Limit || len(all) >= maxExport {
			return all, nil
		}
		last := page[len(page)-1]
		f.After, f.AfterKey = last.ID, last.SortKey(f.Sort)
	}
}

// handleRegisterCSV exports the filtered register; fail answers errors
// as a page or as JSON.
func (s *server) handleRegisterCSV(fail func(http.ResponseWriter, *http.Request, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		f, err := s.registerFilter(ctx, r.URL.Query())
		if err == nil && !viewerOf(ctx).mayAnywhere(registerReaders...) {
			err = inventory.Errorf(inventory.EFORBIDDEN, "Exporting the register needs the technician, headteacher, computing leader or auditor role.")
		}
		if err != nil {
			fail(w, r, err)
			return
		}
		assets, err := s.exportAssets(ctx, f)
		if err != nil {
			fail(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="register-`+s.now().UTC().Format("2006-01-02")+`.csv"`)
		if err := registercsv.Write(w, assets); err != nil {
			s.logger.ErrorContext(ctx, "write register CSV", "err", err)
			return
		}
		s.audit(r, inventory.AuditEntry{Action: "register.export", Record: "register", Detail: "exported " + plural(len(assets), "entry") + " as CSV"})
	})
}

// assetInput is a register entry as a form or JSON body gives it: text
// fields, dates as yyyy-mm-dd or dd/mm/yyyy, the cost in pounds.
type assetInput struct {
	School, Kind, Make, Model, Serial, AssetTag, Status, Location     string
	PurchaseDate, PurchaseCost, Supplier, WarrantyEnd, OSEndOfSupport string
	Notes, AssignedTo                                                 string
	Shared                                                            bool
}

func assetInputFromForm(f url.Values) assetInput {
	return assetInput{School: f.Get("school"), Kind: f.Get("kind"), Make: f.Get("make"), Model: f.Get("model"), Serial: f.Get("serial"),
		AssetTag: f.Get("asset_tag"), Status: f.Get("status"), Location: f.Get("location"), PurchaseDate: f.Get("purchase_date"),
		PurchaseCost: f.Get("purchase_cost"), Supplier: f.Get("supplier"), WarrantyEnd: f.Get("warranty_end"),
		OSEndOfSupport: f.Get("os_end_of_support"), Notes: f.Get("notes"), AssignedTo: f.Get("assigned_to"), Shared: f.Get("shared") != ""}
}

// apply sets a's fields from in, naming the first field that is wrong.
func (in assetInput) apply(a *inventory.Asset) error {
	var err error
	if a.Kind, err = inventory.ParseAssetKind(in.Kind); err != nil {
		return err
	}
	status := in.Status
	if status == "" {
		status = string(inventory.AssetInStock)
	}
	if a.Status, err = inventory.ParseAssetStatus(status); err != nil {
		return err
	}
	t := strings.TrimSpace
	a.Make, a.Model, a.Serial, a.AssetTag, a.Location = t(in.Make), t(in.Model), t(in.Serial), t(in.AssetTag), t(in.Location)
	a.Supplier, a.Notes, a.AssignedTo, a.Shared = t(in.Supplier), t(in.Notes), t(in.AssignedTo), in.Shared
	for _, d := range []struct {
		name string
		text string
		to   *time.Time
	}{{"purchase date", in.PurchaseDate, &a.PurchaseDate}, {"warranty end", in.WarrantyEnd, &a.WarrantyEnd}, {"OS end of support", in.OSEndOfSupport, &a.OSEndOfSupport}} {
		if *d.to, err = parseDate(d.text); err != nil {
			return inventory.Errorf(inventory.EINVALID, "%s: %s", d.name, inventory.ErrorMessage(err))
		}
	}
	if a.PurchaseCost, err = parsePounds(in.PurchaseCost); err != nil {
		return err
	}
	return a.Validate()
}

// parsePounds reads an amount such as "£1,299.50" into pence.
func parsePounds(s string) (int64, error) {
	clean := strings.NewReplacer("£", "", ",", "", " ", "").Replace(strings.TrimSpace(s))
	if clean == "" {
		return 0, nil
	}
	whole, frac, _ := strings.Cut(clean, ".")
	if len(frac) > 2 {
		return 0, inventory.Errorf(inventory.EINVALID, "purchase cost %q: give pounds and pence, like 499.99", s)
	}
	for len(frac) < 2 {
		frac += "0"
	}
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || n < 0 {
		return 0, inventory.Errorf(inventory.EINVALID, "purchase cost %q: give pounds and pence, like 499.99", s)
	}
	return n, nil
}

// createAsset adds an entry to a school's register for the viewer.
func (s *server) createAsset(r *http.Request, in assetInput) (*inventory.Asset, error) {
	sc, err := s.managedSchool(r, in.School, kitManagers, "add kit to the register")
	if err != nil {
		return nil, err
	}
	a := &inventory.Asset{SchoolID: sc.ID}
	if err := in.apply(a); err != nil {
		return nil, err
	}
	if a.Status == inventory.AssetOnLoan {
		return nil, inventory.Errorf(inventory.EINVALID, "status: kit goes on loan through a loan, not by its status")
	}
	if err := s.store.CreateAsset(r.Context(), a); err != nil {
		return nil, err
	}
	s.audit(r, inventory.AuditEntry{SchoolID: sc.ID, Action: "register.create", Record: "asset/" + a.ID.String(), Detail: "added " + a.Label()})
	return a, nil
}

// managedSchool returns the school named by slug (or the viewer's only
// school) if the viewer holds one of roles there; what ("add kit to the
// register") says what the roles are needed for.
func (s *server) managedSchool(r *http.Request, slug string, roles []inventory.Role, what string) (*inventory.School, error) {
	sc, err := s.schoolFromForm(r, slug)
	if err != nil {
		return nil, err
	}
	if !viewerOf(r.Context()).holds(sc.ID, roles...) {
		return nil, inventory.Errorf(inventory.EFORBIDDEN, "Your roles at %s do not let you %s.", sc.Name, what)
	}
	return sc, nil
}

// visibleAsset returns the entry in the path if the viewer may read its
// school's register.
func (s *server) visibleAsset(ctx context.Context, idText string) (*inventory.Asset, error) {
	notFound := inventory.Errorf(inventory.ENOTFOUND, "There is no kit %s in a register you can see.", idText)
	id, err := uuid.Parse(idText)
	if err != nil {
		return nil, notFound
	}
	a, err := s.store.FindAssetByID(ctx, id)
	if inventory.ErrorCode(err) == inventory.ENOTFOUND || err == nil && !viewerOf(ctx).holds(a.SchoolID, registerReaders...) {
		return nil, notFound
	}
	return a, err
}

// assetPage is the data of one entry's page, and of the form for a new one.
type assetPage struct {
	Asset    *inventory.Asset // nil on the new-entry form
	School   string
	Schools  []*inventory.School
	Loans    []loanRow
	History  []eventRow
	SignOuts []signOutRow
	PINs     *pinCard
	// Disposal is how the kit left, once it has; DisposeForm refills the
	// disposal form after a problem.
	Disposal    *inventory.Disposal
	DisposeForm url.Values
	Methods     []inventory.DisposalMethod
	Kinds       []inventory.AssetKind
	Statuses    []inventory.AssetStatus
	CanEdit     bool
	Form        url.Values
	Error       string
}

func (s *server) assetPage(r *http.Request, a *inventory.Asset, form url.Values, msg string) (*assetPage, error) {
	ctx := r.Context()
	v := viewerOf(ctx)
	page := &assetPage{Asset: a, Kinds: inventory.AssetKinds, Statuses: inventory.AssetStatuses, Form: form, Error: msg, Methods: inventory.DisposalMethods, DisposeForm: url.Values{}}
	var err error
	if page.Schools, err = s.schoolsFor(r, kitManagers); err != nil {
		return nil, err
	}
	if a == nil {
		page.CanEdit = len(page.Schools) > 0
		return page, nil
	}
	page.CanEdit = v.holds(a.SchoolID, kitManagers...) && a.Status != inventory.AssetDisposed
	if a.Status == inventory.AssetDisposed {
		d, err := s.store.FindDisposal(ctx, a.ID)
		if err != nil && inventory.ErrorCode(err) != inventory.ENOTFOUND { // imported as disposed: no record
			return nil, err
		}
		if d != nil {
			d.Certificate = nil
		}
		page.Disposal = d
	}
	if len(form) == 0 {
		page.Form = assetForm(a)
	}
	sc, err := s.store.FindSchoolByID(ctx, a.SchoolID)
	if err != nil {
		return nil, err
	}
	page.School = sc.Name
	n := s.names(ctx)
	loans, err := s.store.FindLoans(ctx, inventory.LoanFilter{AssetID: a.ID, Limit: 100})
	if err != nil {
		return nil, err
	}
	if page.Loans, err = s.loanRows(ctx, n, loans); err != nil {
		return nil, err
	}
	events, err := s.store.FindLoanEvents(ctx, uuid.Nil, a.ID)
	if err != nil {
		return nil, err
	}
	for _, e := range events {
		page.History = append(page.History, eventRow{Event: e, Actor: n.of(e.ActorID), Loan: "/loans/" + e.LoanID.String()})
	}
	outs, err := s.store.FindSignOuts(ctx, inventory.SignOutFilter{AssetID: a.ID, Limit: 20})
	if err != nil {
		return nil, err
	}
	page.SignOuts = s.signOutRows(n, outs, map[uuid.UUID]*inventory.Asset{a.ID: a})
	if a.Status != inventory.AssetDisposed { // its PINs went with it
		if page.PINs, err = s.pinCard(ctx, n, a); err != nil {
			return nil, err
		}
	}
	return page, nil
}

// assetForm is a stored entry as its edit form shows it.
func assetForm(a *inventory.Asset) url.Values {
	date := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Format(time.DateOnly)
	}
	f := url.Values{"kind": {string(a.Kind)}, "make": {a.Make}, "model": {a.Model}, "serial": {a.Serial}, "asset_tag": {a.AssetTag},
		"status": {string(a.Status)}, "location": {a.Location}, "purchase_date": {date(a.PurchaseDate)}, "supplier": {a.Supplier},
		"warranty_end": {date(a.WarrantyEnd)}, "os_end_of_support": {date(a.OSEndOfSupport)}, "notes": {a.Notes}, "assigned_to": {a.AssignedTo}}
	if a.PurchaseCost != 0 {
		f.Set("purchase_cost", strings.NewReplacer("£", "", ",", "").Replace(pounds(a.PurchaseCost)))
	}
	if a.Shared {
		f.Set("shared", "on")
	}
	return f
}

func (s *server) handleAssetPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := s.visibleAsset(r.Context(), r.PathValue("id"))
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		page, err := s.assetPage(r, a, nil, "")
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		s.render(w, r, http.StatusOK, "asset.html", a.Label(), page)
	})
}

func (s *server) handleNewAssetPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page, err := s.assetPage(r, nil, url.Values{"kind": {r.URL.Query().Get("kind")}}, "")
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		s.render(w, r, http.StatusOK, "asset.html", "Add kit", page)
	})
}

// formFailed re-renders a form with the error, or answers an error page
// for what the form cannot fix.
func (s *server) formFailed(w http.ResponseWriter, r *http.Request, err error, again func() (any, string, string, error)) {
	if st := statusOf[inventory.ErrorCode(err)]; st == 0 || st == http.StatusInternalServerError || st == http.StatusNotFound {
		s.pageError(w, r, err)
		return
	}
	page, name, title, perr := again()
	if perr != nil {
		s.pageError(w, r, perr)
		return
	}
	s.render(w, r, statusOf[inventory.ErrorCode(err)], name, title, page)
}

func (s *server) handleAssetCreate() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := s.createAsset(r, assetInputFromForm(r.PostForm))
		if err != nil {
			s.formFailed(w, r, err, func() (any, string, string, error) {
				page, err := s.assetPage(r, nil, r.PostForm, inventory.ErrorMessage(err))
				return page, "asset.html", "Add kit", err
			})
			return
		}
		http.Redirect(w, r, "/register/"+a.ID.String()+"?done=asset-saved", http.StatusSeeOther)
	})
}

// updateAsset changes an entry's fields for the viewer.
func (s *server) updateAsset(r *http.Request, idText string, in assetInput) (*inventory.Asset, error) {
	a, err := s.visibleAsset(r.Context(), idText)
	if err != nil {
		return nil, err
	}
	if !viewerOf(r.Context()).holds(a.SchoolID, kitManagers...) {
		return nil, inventory.Errorf(inventory.EFORBIDDEN, "Your roles do not let you change the register.")
	}
	before := a.Label()
	if a.Status == inventory.AssetOnLoan {
		in.Status = string(a.Status) // only the loan's return changes it
	}
	if err := in.apply(a); err != nil {
		return nil, err
	}
	if err := s.store.UpdateAsset(r.Context(), a); err != nil {
		return nil, err
	}
	s.audit(r, inventory.AuditEntry{SchoolID: a.SchoolID, Action: "register.update", Record: "asset/" + a.ID.String(), Detail: "changed " + before + "; status " + string(a.Status)})
	return a, nil
}

func (s *server) handleAssetUpdate() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := s.updateAsset(r, r.PathValue("id"), assetInputFromForm(r.PostForm))
		if err != nil {
			s.formFailed(w, r, err, func() (any, string, string, error) {
				a, ferr := s.visibleAsset(r.Context(), r.PathValue("id"))
				if ferr != nil {
					return nil, "", "", ferr
				}
				page, ferr := s.assetPage(r, a, r.PostForm, inventory.ErrorMessage(err))
				return page, "asset.html", a.Label(), ferr
			})
			return
		}
		http.Redirect(w, r, "/register/"+a.ID.String()+"?done=asset-saved", http.StatusSeeOther)
	})
}

// assetSortText names a register order.
func assetSortText(s inventory.AssetSort) string {
	switch s {
	case inventory.AssetsByAssetTag:
		return "Asset tag"
	case inventory.AssetsBySerial:
		return "Serial number"
	case inventory.AssetsByModel:
		return "Make and model"
	}
	return "Date added"
}
