package web

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/rollcall/rollcall/inventory"
)

// A subject access export: everything Rollcall holds about one person,
// as one JSON file, for a request under data protection law. It holds
// no secret: no password hash, no TOTP secret, no PIN value.

// subjectJSON is the export.
type subjectJSON struct {
	Exported string `json:"exported_at"`
	Person   struct {
		ID         string  `json:"id"`
		Email      string  `json:"email"`
		Name       string  `json:"name"`
		CreatedAt  string  `json:"created_at"`
		DisabledAt *string `json:"disabled_at"`
		TwoStep    bool    `json:"two_step_sign_in"`
	} `json:"person"`
	Roles      []map[string]string `json:"roles"`
	Loans      []subjectLoan       `json:"loans"`
	SignOuts   []map[string]any    `json:"sign_outs"`
	Assigned   []assetJSON         `json:"kit_assigned"`
	PINLog     []pinLogJSON        `json:"pin_log"`
	ExitChecks []exitJSON          `json:"exit_check_ins"`
	Audit      []auditJSON         `json:"audit_log"`
	Notes      []string            `json:"notes"`
}

// subjectLoan is a loan with the agreement the person signed.
type subjectLoan struct {
	loanJSON
	AgreementText   string `json:"agreement_text,omitempty"`
	AgreementSHA256 string `json:"agreement_sha256,omitempty"`
}

// subjectExport gathers what is held about u.
func (s *server) subjectExport(ctx context.Context, u *inventory.User) (*subjectJSON, error) {
	out := &subjectJSON{Exported: s.now().UTC().Format(time.RFC3339)}
	out.Person.ID, out.Person.Email, out.Person.Name = u.ID.String(), u.Email, u.Name
	out.Person.CreatedAt, out.Person.DisabledAt, out.Person.TwoStep = u.CreatedAt.UTC().Format(time.RFC3339), optTime(u.DisabledAt), !u.TOTPConfirmedAt.IsZero()
	grants, err := s.store.FindRoleGrants(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	for _, g := range grants {
		school := "every school"
		if sc, err := s.store.FindSchoolByID(ctx, g.SchoolID); err == nil {
			school = sc.Slug
		}
		out.Roles = append(out.Roles, map[string]string{"role": string(g.Role), "school": school})
	}
	for f := (inventory.LoanFilter{BorrowerID: u.ID, Limit: inventory.MaxPageSize}); ; {
		page, err := s.store.FindLoans(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, l := range page {
			sl := subjectLoan{loanJSON: toLoanJSON(l)}
			if sa, err := s.store.FindAgreement(ctx, l.ID); err == nil {
				sl.AgreementText, sl.AgreementSHA256 = sa.Text, sa.SHA256
			}
			out.Loans = append(out.Loans, sl)
		}
		if len(page) < f.Limit {
			break
		}
		f.After = page[len(page)-1].ID
	}
	outs, err := s.store.FindSignOuts(ctx, inventory.SignOutFilter{UserID: u.ID, Limit: inventory.MaxPageSize})
	if err != nil {
		return nil, err
	}
	for _, o := range outs {
		out.SignOuts = append(out.SignOuts, map[string]any{"asset_id": o.AssetID.String(), "out_at": optTime(o.OutAt), "back_at": optTime(o.BackAt)})
	}
	kit, err := s.store.FindAssets(ctx, inventory.AssetFilter{Search: u.Email, Limit: inventory.MaxPageSize})
	if err != nil {
		return nil, err
	}
	for _, a := range kit {
		if strings.EqualFold(a.AssignedTo, u.Email) {
			out.Assigned = append(out.Assigned, toAssetJSON(a))
		}
	}
	for f := (inventory.PINLogFilter{ActorID: u.ID, Limit: inventory.MaxPageSize}); ; {
		page, err := s.store.FindPINLog(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, e := range page {
			out.PINLog = append(out.PINLog, pinLogJSON{ID: e.ID.String(), SchoolID: e.SchoolID.String(), AssetID: e.AssetID.String(), Kind: string(e.Kind),
				Action: e.Action, ActorID: u.ID.String(), At: e.At.UTC().Format(time.RFC3339), Reason: e.Reason, Addr: e.Addr})
		}
		if len(page) < f.Limit {
			break
		}
		f.Before = page[len(page)-1].ID
	}
	exits, err := s.store.FindExits(ctx, inventory.ExitFilter{PersonID: u.ID, Limit: inventory.MaxPageSize})
	if err != nil {
		return nil, err
	}
	for _, e := range exits {
		out.ExitChecks = append(out.ExitChecks, toExitJSON(e))
	}
	for f := (inventory.AuditFilter{ActorID: u.ID, Limit: inventory.MaxPageSize}); ; {
		page, err := s.store.FindAudit(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, e := range page {
			out.Audit = append(out.Audit, toAuditJSON(e))
		}
		if len(page) < f.Limit {
			break
		}
		f.Before = page[len(page)-1].Seq
	}
	out.Notes = []string{
		"Secrets are not exported: the password is kept only as a hash, the two-step sign-in secret and every PIN are sealed, and none is shown here.",
		"Loan requests others made for this person are in loans; exit check-ins list kit by its register ID.",
		"Audit entries are those this person made; entries others made about them are in the audit log of their school.",
	}
	return out, nil
}

// handleSubjectExport sends a person's export: their own (/account), or,
// for a manager of every school they hold a role at, anyone's.
func (s *server) handleSubjectExport(self bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := viewerOf(r.Context())
		u := v.user
		if !self {
			var err error
			if u, err = s.managedPerson(r, true); err != nil {
				s.pageError(w, r, err)
				return
			}
		}
		out, err := s.subjectExport(r.Context(), u)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		s.audit(r, inventory.AuditEntry{SchoolID: s.onlySchool(r, u), Action: "user.export", Record: "user/" + u.ID.String(), Detail: "exported what Rollcall holds about " + u.Email})
		w.Header().Set("Content-Disposition", `attachment; filename="rollcall-`+safeFileName(u.Email)+`.json"`)
		w.Header().Set("Cache-Control", "private, no-store")
		writeJSON(w, http.StatusOK, out)
	})
}

// safeFileName keeps letters, digits, dots, hyphens and at signs.
func safeFileName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".-@", r) {
			return r
		}
		return '_'
	}, s)
}
