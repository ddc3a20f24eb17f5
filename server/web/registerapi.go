package web

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
	"github.com/rollcall/rollcall/inventory/registercsv"
	"github.com/rollcall/rollcall/server/agreement"
)

// The REST API of the register and of loans. Each handler does what its
// page does, through the same functions, so both are checked alike.

// assetJSON is a register entry as the REST API shows it. Dates are
// yyyy-mm-dd or null; the cost is pounds as text ("499.99") or null.
type assetJSON struct {
	ID             string  `json:"id"`
	SchoolID       string  `json:"school_id"`
	Kind           string  `json:"kind"`
	Make           string  `json:"make"`
	Model          string  `json:"model"`
	Serial         string  `json:"serial"`
	AssetTag       string  `json:"asset_tag"`
	Status         string  `json:"status"`
	Location       string  `json:"location"`
	PurchaseDate   *string `json:"purchase_date"`
	PurchaseCost   *string `json:"purchase_cost"`
	Supplier       string  `json:"supplier"`
	WarrantyEnd    *string `json:"warranty_end"`
	OSEndOfSupport *string `json:"os_end_of_support"`
	Notes          string  `json:"notes"`
	AssignedTo     string  `json:"assigned_to"`
	Shared         bool    `json:"shared"`
	DeviceID       *string `json:"device_id"`
	CreatedAt      string  `json:"created_at"`
	UpdatedAt      string  `json:"updated_at"`
}

func optDate(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.Format(time.DateOnly)
	return &s
}

func optID(id uuid.UUID) *string {
	if id == uuid.Nil {
		return nil
	}
	s := id.String()
	return &s
}

func toAssetJSON(a *inventory.Asset) assetJSON {
	out := assetJSON{ID: a.ID.String(), SchoolID: a.SchoolID.String(), Kind: string(a.Kind), Make: a.Make, Model: a.Model, Serial: a.Serial,
		AssetTag: a.AssetTag, Status: string(a.Status), Location: a.Location, PurchaseDate: optDate(a.PurchaseDate), Supplier: a.Supplier,
		WarrantyEnd: optDate(a.WarrantyEnd), OSEndOfSupport: optDate(a.OSEndOfSupport), Notes: a.Notes, AssignedTo: a.AssignedTo,
		Shared: a.Shared, DeviceID: optID(a.DeviceID), CreatedAt: a.CreatedAt.UTC().Format(time.RFC3339), UpdatedAt: a.UpdatedAt.UTC().Format(time.RFC3339)}
	if a.PurchaseCost != 0 {
		c := strings.NewReplacer("£", "", ",", "").Replace(pounds(a.PurchaseCost))
		out.PurchaseCost = &c
	}
	return out
}

// textOrNumber takes a JSON string or number as text, so a cost may be
// sent as 499.99 or "499.99".
type textOrNumber string

// UnmarshalJSON implements json.Unmarshaler.
func (t *textOrNumber) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err == nil {
		*t = textOrNumber(n)
		return nil
	}
	var s *string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if s != nil {
		*t = textOrNumber(*s)
	}
	return nil
}

// assetBody is a register entry as the API takes it.
type assetBody struct {
	School         string       `json:"school"`
	Kind           string       `json:"kind"`
	Make           string       `json:"make"`
	Model          string       `json:"model"`
	Serial         string       `json:"serial"`
	AssetTag       string       `json:"asset_tag"`
	Status         string       `json:"status"`
	Location       string       `json:"location"`
	PurchaseDate   string       `json:"purchase_date"`
	PurchaseCost   textOrNumber `json:"purchase_cost"`
	Supplier       string       `json:"supplier"`
	WarrantyEnd    string       `json:"warranty_end"`
	OSEndOfSupport string       `json:"os_end_of_support"`
	Notes          string       `json:"notes"`
	AssignedTo     string       `json:"assigned_to"`
	Shared         bool         `json:"shared"`
}

func (b assetBody) input() assetInput {
	return assetInput{School: b.School, Kind: b.Kind, Make: b.Make, Model: b.Model, Serial: b.Serial, AssetTag: b.AssetTag,
		Status: b.Status, Location: b.Location, PurchaseDate: b.PurchaseDate, PurchaseCost: string(b.PurchaseCost),
		Supplier: b.Supplier, WarrantyEnd: b.WarrantyEnd, OSEndOfSupport: b.OSEndOfSupport, Notes: b.Notes, AssignedTo: b.AssignedTo, Shared: b.Shared}
}

// decodeBody reads a JSON object into v, refusing unknown fields by name.
// An empty body is an empty object when empty is true.
func decodeBody(r *http.Request, v any, what string, empty bool) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == io.EOF && empty {
		return nil
	}
	if err != nil {
		return inventory.Errorf(inventory.EINVALID, "%s: %s", what, describeJSONError(err))
	}
	return nil
}

// apiFail answers an API error.
func (s *server) apiFail(w http.ResponseWriter, r *http.Request, err error) {
	writeError(w, r, s.logger, err)
}

func (s *server) handleRegisterListAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := s.registerFilter(r.Context(), r.URL.Query())
		f.Sort, f.AfterKey = inventory.AssetsByID, "" // the API pages in the order entries were added
		if err == nil && !viewerOf(r.Context()).mayAnywhere(registerReaders...) {
			err = inventory.Errorf(inventory.EFORBIDDEN, "reading the register needs the technician, headteacher, computing leader or auditor role")
		}
		var list []*inventory.Asset
		if err == nil {
			list, err = s.store.FindAssets(r.Context(), f)
		}
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		out := listJSON[assetJSON]{Items: make([]assetJSON, 0, len(list))}
		for _, a := range list {
			out.Items = append(out.Items, toAssetJSON(a))
		}
		if n := len(list); n == f.PageLimit() {
			out.Next = list[n-1].ID.String()
		}
		writeJSON(w, http.StatusOK, out)
	})
}

func (s *server) handleAssetGetAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := s.visibleAsset(r.Context(), r.PathValue("id"))
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, toAssetJSON(a))
	})
}

func (s *server) handleAssetCreateAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b assetBody
		err := decodeBody(r, &b, "register entry", false)
		var a *inventory.Asset
		if err == nil {
			a, err = s.createAsset(r, b.input())
		}
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		writeJSON(w, http.StatusCreated, toAssetJSON(a))
	})
}

// importJSON is what an import found and did.
type importJSON struct {
	DryRun         bool                  `json:"dry_run"`
	Lines          int                   `json:"lines"`
	Valid          int                   `json:"valid"`
	Imported       int                   `json:"imported"`
	Problems       []registercsv.Problem `json:"problems"`
	IgnoredColumns []string              `json:"ignored_columns"`
}

// handleImportAPI imports a CSV register: ?school=slug, ?dry_run=1 to
// check only, ?valid_only=1 to import the lines without problems, and
// ?default_kind= for lines that name none.
func (s *server) handleImportAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		mode := importAll
		switch {
		case q.Get("dry_run") == "1" || q.Get("dry_run") == "true":
			mode = importDryRun
		case q.Get("valid_only") == "1" || q.Get("valid_only") == "true":
			mode = importValidOnly
		}
		sc, err := s.managedSchool(r, q.Get("school"), kitManagers, "import into the register")
		var kind inventory.AssetKind
		if err == nil && q.Get("default_kind") != "" {
			kind, err = inventory.ParseAssetKind(q.Get("default_kind"))
		}
		var data []byte
		if err == nil {
			data, err = importBody(r)
		}
		var out *importOutcome
		if err == nil {
			out, err = s.importRegister(r, sc, data, kind, mode)
		}
		if out == nil {
			s.apiFail(w, r, err)
			return
		}
		body := importJSON{DryRun: out.DryRun, Lines: out.Lines, Valid: out.Valid, Imported: out.Imported, Problems: out.Problems, IgnoredColumns: out.Ignored}
		if body.Problems == nil {
			body.Problems = []registercsv.Problem{}
		}
		if body.IgnoredColumns == nil {
			body.IgnoredColumns = []string{}
		}
		if err != nil {
			st := statusOf[inventory.ErrorCode(err)]
			if st == 0 {
				st = http.StatusInternalServerError
			}
			writeJSON(w, st, map[string]any{"error": map[string]string{"code": inventory.ErrorCode(err), "message": inventory.ErrorMessage(err)}, "result": body})
			return
		}
		status := http.StatusOK
		if out.Imported > 0 {
			status = http.StatusCreated
		}
		writeJSON(w, status, body)
	})
}

// loanJSON is a loan as the REST API shows it.
type loanJSON struct {
	ID                string  `json:"id"`
	SchoolID          string  `json:"school_id"`
	DeviceID          *string `json:"device_id"`
	Kind              string  `json:"kind"`
	BorrowerID        string  `json:"borrower_id"`
	RequestedBy       string  `json:"requested_by"`
	Reason            string  `json:"reason"`
	ExpectedReturn    *string `json:"expected_return"`
	Status            string  `json:"status"`
	NeedsLeadApproval bool    `json:"needs_lead_approval"`
	HeadApprovedAt    *string `json:"head_approved_at"`
	LeadApprovedAt    *string `json:"lead_approved_at"`
	DeclineReason     string  `json:"decline_reason"`
	SignedAt          *string `json:"signed_at"`
	HandedOverAt      *string `json:"handed_over_at"`
	Condition         string  `json:"handover_condition"`
	Accessories       string  `json:"accessories"`
	CheckIntervalDays int     `json:"check_interval_days"`
	LastCheckAt       *string `json:"last_check_at"`
	CheckDue          *string `json:"check_due"`
	ReturnedAt        *string `json:"returned_at"`
	ReturnCondition   string  `json:"return_condition"`
	ReturnNotes       string  `json:"return_notes"`
	CreatedAt         string  `json:"created_at"`
	Version           int     `json:"version"`
	// AgreementToSign is the agreement as it would be signed now, while
	// the loan waits for the borrower's signature.
	AgreementToSign *agreementJSON `json:"agreement_to_sign,omitempty"`
}

// agreementJSON is an agreement to sign and its digest.
type agreementJSON struct {
	Title        string   `json:"title"`
	Body         string   `json:"body"`
	Declarations []string `json:"declarations"`
	SHA256       string   `json:"sha256"`
}

func optTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339)
	return &s
}

func toLoanJSON(l *inventory.Loan) loanJSON {
	return loanJSON{ID: l.ID.String(), SchoolID: l.SchoolID.String(), DeviceID: optID(l.AssetID), Kind: string(l.Kind), BorrowerID: l.BorrowerID.String(),
		RequestedBy: l.RequestedBy.String(), Reason: l.Reason, ExpectedReturn: optDate(l.ExpectedReturn), Status: string(l.Status),
		NeedsLeadApproval: l.NeedsLeadApproval, HeadApprovedAt: optTime(l.HeadApprovedAt), LeadApprovedAt: optTime(l.LeadApprovedAt),
		DeclineReason: l.DeclineReason, SignedAt: optTime(l.SignedAt), HandedOverAt: optTime(l.HandedOverAt), Condition: l.HandoverCondition,
		Accessories: l.Accessories, CheckIntervalDays: l.CheckIntervalDays, LastCheckAt: optTime(l.LastCheckAt), CheckDue: optTime(l.CheckDue()),
		ReturnedAt: optTime(l.ReturnedAt), ReturnCondition: l.ReturnCondition, ReturnNotes: l.ReturnNotes, CreatedAt: l.CreatedAt.UTC().Format(time.RFC3339), Version: l.Version}
}

// loanRequestBody is a loan request as the API takes it.
type loanRequestBody struct {
	School         string `json:"school"`
	DeviceID       string `json:"device_id"`
	Kind           string `json:"kind"`
	BorrowerID     string `json:"borrower_id"`
	Reason         string `json:"reason"`
	ExpectedReturn string `json:"expected_return"`
}

func (s *server) handleLoanCreateAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b loanRequestBody
		err := decodeBody(r, &b, "loan request", false)
		var l *inventory.Loan
		if err == nil {
			l, err = s.createLoan(r, requestInput{School: b.School, AssetID: b.DeviceID, Kind: b.Kind, BorrowerID: b.BorrowerID, Reason: b.Reason, ExpectedReturn: b.ExpectedReturn})
		}
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		writeJSON(w, http.StatusCreated, toLoanJSON(l))
	})
}

// stepBody is a step's body: only the fields the step uses matter.
type stepBody struct {
	Reason      string `json:"reason"`
	Condition   string `json:"condition"`
	Accessories string `json:"accessories"`
	Notes       string `json:"notes"`
	FullName    string `json:"full_name"`
	Accept      bool   `json:"accept"`
	// Digest is agreement_to_sign.sha256 from GET /api/v1/loans/{id}:
	// given, the signature is refused if the agreement changed since.
	Digest   string `json:"agreement_sha256"`
	DeviceID string `json:"device_id"`
}

func (s *server) handleLoanStepAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b stepBody
		err := decodeBody(r, &b, "loan step", true)
		var l *inventory.Loan
		if err == nil {
			in := stepInput{Reason: b.Reason, Condition: b.Condition, Accessories: b.Accessories, Notes: b.Notes, FullName: b.FullName,
				Accept: b.Accept, Ticked: -1, Digest: b.Digest}
			if b.DeviceID != "" {
				if in.AssetID, err = uuid.Parse(b.DeviceID); err != nil {
					err = inventory.Errorf(inventory.EINVALID, "device_id: %q is not a register entry's id", b.DeviceID)
				}
			}
			if err == nil {
				l, err = s.loanStep(r, r.PathValue("id"), r.PathValue("step"), in)
			}
		}
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, toLoanJSON(l))
	})
}

func (s *server) handleLoanGetAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l, err := s.visibleLoan(r.Context(), r.PathValue("id"))
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		out := toLoanJSON(l)
		if l.Status == inventory.LoanApproved && l.AssetID != uuid.Nil {
			tpl, version, err := s.agreementText(r.Context(), l)
			if err != nil {
				s.apiFail(w, r, err)
				return
			}
			out.AgreementToSign = &agreementJSON{Title: tpl.Title, Body: tpl.Body, Declarations: tpl.Declarations,
				SHA256: agreement.Signed{Template: tpl, TemplateVersion: version}.Digest()}
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// handleLoanListAPI lists loans: the viewer's own, and every loan of the
// schools where they read loans. ?status= (comma-separated), ?borrower=me,
// ?check_due=1 (checks due within a week or overdue), ?after, ?limit.
func (s *server) handleLoanListAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := viewerOf(r.Context())
		q := r.URL.Query()
		f := inventory.LoanFilter{SchoolIDs: v.schoolsWith(loanReaders...)}
		var err error
		if q.Get("borrower") == "me" || f.SchoolIDs != nil && len(f.SchoolIDs) == 0 {
			f.SchoolIDs, f.BorrowerID = nil, v.user.ID
		}
		for _, st := range strings.Split(q.Get("status"), ",") {
			if st = strings.TrimSpace(st); st != "" && err == nil {
				var ls inventory.LoanStatus
				ls, err = inventory.ParseLoanStatus(st)
				f.Statuses = append(f.Statuses, ls)
			}
		}
		if q.Get("check_due") == "1" {
			f.CheckDueBy = s.now().AddDate(0, 0, 7)
		}
		if a := q.Get("after"); a != "" && err == nil {
			if f.After, err = uuid.Parse(a); err != nil {
				err = inventory.Errorf(inventory.EINVALID, "after: %q is not a cursor from a previous page's \"next\"", a)
			}
		}
		if err == nil {
			f.Limit, err = parseLimit(q)
		}
		var list []*inventory.Loan
		if err == nil {
			list, err = s.store.FindLoans(r.Context(), f)
		}
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		out := listJSON[loanJSON]{Items: make([]loanJSON, 0, len(list))}
		for _, l := range list {
			out.Items = append(out.Items, toLoanJSON(l))
		}
		if n := len(list); n == f.PageLimit() {
			out.Next = list[n-1].ID.String()
		}
		writeJSON(w, http.StatusOK, out)
	})
}
