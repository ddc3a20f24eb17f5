package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
	"github.com/rollcall/rollcall/server/agreement"
)

// agreementsPage is the data of the agreement editor: one school's
// template and loan settings.
type agreementsPage struct {
	Schools      []*inventory.School
	School       *inventory.School
	Current      agreement.Template
	Version      int // 0: Rollcall's default
	Versions     []*inventory.AgreementTemplate
	Placeholders []agreement.Placeholder
	Preview      agreement.Template
	Previewing   bool // Preview is of the posted, unsaved text
	Title        string
	Body         string
	Declarations string // one per line
	Error        string
}

func (s *server) agreementsPage(r *http.Request, msg string) (*agreementsPage, error) {
	ctx := r.Context()
	schools, err := s.schoolsFor(r, agreementEditors)
	if err != nil {
		return nil, err
	}
	if len(schools) == 0 {
		return nil, inventory.Errorf(inventory.EFORBIDDEN, "Only a headteacher edits the loan agreement.")
	}
	page := &agreementsPage{Schools: schools, School: schools[0], Placeholders: agreement.Placeholders(), Error: msg}
	if slug := r.FormValue("school"); slug != "" {
		for _, sc := range schools {
			if sc.Slug == slug {
				page.School = sc
			}
		}
	}
	if page.Current, page.Version, err = s.agreementFor(ctx, page.School.ID); err != nil {
		return nil, err
	}
	if page.Versions, err = s.store.FindAgreementTemplates(ctx, page.School.ID); err != nil {
		return nil, err
	}
	page.Title, page.Body, page.Declarations = page.Current.Title, page.Current.Body, strings.Join(page.Current.Declarations, "\n")
	page.Preview = page.Current.Fill(sampleFields(page.School))
	return page, nil
}

// sampleFields fill the editor's preview: a made-up loan at sc.
func sampleFields(sc *inventory.School) agreement.Fields {
	return agreement.Fields{School: sc.Name, Borrower: "Sam Example", BorrowerEmail: "sam@example.org",
		Kind: "laptop", Make: "Dell", Model: "Latitude 5440", Serial: "ABC1234", AssetTag: "KIT-0001", Accessories: "charger",
		Reason: "Planning and marking at home", ExpectedReturn: "24 July 2027", CheckInterval: intervalText(sc.Loans.CheckInterval())}
}

func (s *server) handleAgreementsPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page, err := s.agreementsPage(r, "")
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		s.render(w, r, http.StatusOK, "agreements.html", "Loan agreement", page)
	})
}

// splitLines returns the non-empty lines of text, trimmed.
func splitLines(text string) []string {
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// saveTemplate stores a new version of a school's agreement.
func (s *server) saveTemplate(r *http.Request, school uuid.UUID, t agreement.Template) (*inventory.AgreementTemplate, error) {
	if err := t.Check(); err != nil {
		return nil, inventory.Errorf(inventory.EINVALID, "%s", err.Error())
	}
	at := &inventory.AgreementTemplate{SchoolID: school, Title: t.Title, Body: t.Body, Declarations: t.Declarations, CreatedBy: viewerOf(r.Context()).user.ID}
	if err := s.store.CreateAgreementTemplate(r.Context(), at); err != nil {
		return nil, err
	}
	s.audit(r, inventory.AuditEntry{SchoolID: school, Action: "agreement.save", Record: "agreement/" + at.ID.String(), Detail: "saved version " + strconv.Itoa(at.Version) + " of the loan agreement"})
	return at, nil
}

// handleAgreementSave saves the posted agreement as the next version, or,
// with action=preview, shows how it would read without saving it.
func (s *server) handleAgreementSave() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sc, err := s.managedSchool(r, r.PostFormValue("school"), agreementEditors, "write the loan agreement")
		t := agreement.Template{Title: strings.TrimSpace(r.PostFormValue("title")),
			Body: strings.TrimSpace(strings.ReplaceAll(r.PostFormValue("body"), "\r\n", "\n")), Declarations: splitLines(r.PostFormValue("declarations"))}
		if err == nil && r.PostFormValue("action") == "preview" {
			if err = t.Check(); err == nil {
				page, perr := s.agreementsPage(r, "")
				if perr != nil {
					s.pageError(w, r, perr)
					return
				}
				page.Title, page.Body, page.Declarations = r.PostFormValue("title"), r.PostFormValue("body"), r.PostFormValue("declarations")
				page.Preview, page.Previewing = t.Fill(sampleFields(page.School)), true
				s.render(w, r, http.StatusOK, "agreements.html", "Loan agreement", page)
				return
			}
			err = inventory.Errorf(inventory.EINVALID, "%s", err.Error())
		}
		if err == nil {
			_, err = s.saveTemplate(r, sc.ID, t)
		}
		if err != nil {
			s.formFailed(w, r, err, func() (any, string, string, error) {
				page, perr := s.agreementsPage(r, inventory.ErrorMessage(err))
				if perr == nil {
					page.Title, page.Body, page.Declarations = r.PostFormValue("title"), r.PostFormValue("body"), r.PostFormValue("declarations")
				}
				return page, "agreements.html", "Loan agreement", perr
			})
			return
		}
		http.Redirect(w, r, "/agreements?school="+sc.Slug+"&done=template-saved", http.StatusSeeOther)
	})
}

func (s *server) handleLoanSettingsSave() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sc, err := s.managedSchool(r, r.PostFormValue("school"), agreementEditors, "set the loan rules")
		var set inventory.LoanSettings
		if err == nil {
			set.RequireLeadApproval = r.PostFormValue("require_lead_approval") != ""
			if set.CheckIntervalDays, err = strconv.Atoi(strings.TrimSpace(r.PostFormValue("check_interval_days"))); err != nil || set.CheckIntervalDays < 1 {
				err = inventory.Errorf(inventory.EINVALID, "Check interval: give a number of days from 1 to 366.")
			}
		}
		if err == nil {
			err = s.store.SetSchoolLoanSettings(r.Context(), sc.ID, set)
		}
		if err != nil {
			s.formFailed(w, r, err, func() (any, string, string, error) {
				page, perr := s.agreementsPage(r, inventory.ErrorMessage(err))
				return page, "agreements.html", "Loan agreement", perr
			})
			return
		}
		lead := "off"
		if set.RequireLeadApproval {
			lead = "on"
		}
		s.audit(r, inventory.AuditEntry{SchoolID: sc.ID, Action: "loan.settings", Record: "school/" + sc.Slug, Detail: "computing leader approval " + lead + "; checks " + intervalText(set.CheckIntervalDays)})
		http.Redirect(w, r, "/agreements?school="+sc.Slug+"&done=settings-saved", http.StatusSeeOther)
	})
}
