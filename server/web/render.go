package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/rollcall/rollcall/inventory"
)

//go:embed templates/*.html static/rollcall.css
var assets embed.FS

// pages holds each page's template, parsed with the shared layout.
var pages = func() map[string]*template.Template {
	funcs := template.FuncMap{
		"ago":                ago,
		"when":               when,
		"ruleName":           ruleName,
		"roleName":           roleName,
		"doneText":           doneText,
		"statusText":         statusText,
		"day":                day,
		"kindTitle":          kindTitle,
		"kindName":           kindName,
		"assetStatusText":    assetStatusText,
		"loanStatusText":     loanStatusText,
		"stepHelp":           stepHelp,
		"intervalText":       intervalText,
		"eventText":          eventText,
		"pounds":             pounds,
		"assetSortText":      assetSortText,
		"pinKindName":        pinKindName,
		"pinActionText":      pinActionText,
		"disposalMethodText": disposalMethodText,
		"exitSourceText":     exitSourceText,
		"abs":                func(n int) int { return max(n, -n) },
	}
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html"))
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" {
			continue
		}
		out[base] = template.Must(template.Must(layout.Clone()).ParseFS(assets, n))
	}
	return out
}()

// navItem is one link of the menu.
type navItem struct {
	Href, Text string
	Current    bool
}

// pageData is what the layout gets: the page's own data is in Page.
type pageData struct {
	Title string
	User  *inventory.User
	CSRF  string
	Nav   []navItem
	Page  any
	Flash string
	// RefreshAfter and RefreshTo send the browser on after a while
	// without a script: a shown PIN goes away after its minute.
	RefreshAfter int
	RefreshTo    string
}

// nav returns the menu a viewer sees: only what their roles open.
func nav(v viewer, current string) []navItem {
	var items []navItem
	add := func(href, text string, ok bool) {
		if ok {
			items = append(items, navItem{Href: href, Text: text, Current: href == current})
		}
	}
	fleet := v.mayAnywhere(fleetReaders...)
	add("/", "Overview", fleet)
	add("/", "Home", !fleet)
	add("/devices", "Devices", fleet)
	add("/enrolment", "Enrol laptops", v.mayAnywhere(deviceManagers...))
	add("/register", "Register", v.mayAnywhere(registerReaders...))
	add("/loans", "Loans", v.user != nil)
	add("/trolley", "Shared kit", v.user != nil)
	add("/policy", "Policy", fleet)
	add("/people", "People", v.mayAnywhere(peopleManagers...))
	add("/agreements", "Agreement", v.mayAnywhere(agreementEditors...))
	add("/pins", "PIN log", v.mayAnywhere(pinLogReaders...))
	add("/exits", "Leavers", v.mayAnywhere(exitReaders...))
	add("/audit", "Audit log", v.mayAnywhere(auditReaders...))
	add("/retention", "Retention", v.mayAnywhere(retentionReaders...))
	return items
}

// render writes a page inside the layout. Rendering goes to a buffer
// first, so a template error answers 500 instead of half a page.
func (s *server) render(w http.ResponseWriter, r *http.Request, status int, name, title string, data any) {
	t, ok := pages[name]
	if !ok {
		panic("web: no template " + name)
	}
	v := viewerOf(r.Context())
	pd := pageData{Title: title, Page: data}
	if v.user != nil && v.signedIn() {
		pd.User, pd.CSRF, pd.Nav = v.user, csrfToken(v.session), nav(v, r.URL.Path)
	} else if v.session != nil {
		pd.CSRF = csrfToken(v.session) // the second-factor pages
	}
	pd.Flash = r.URL.Query().Get("done")
	if d, ok := data.(interface{ refresh() (int, string) }); ok {
		pd.RefreshAfter, pd.RefreshTo = d.refresh()
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", pd); err != nil {
		s.logger.ErrorContext(r.Context(), "render page", "page", name, "err", err)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// errorPage is the data of the error page.
type errorPage struct {
	Status  int
	Message string
}

// pageError answers a page request with an error page that says what
// went wrong, logging internal errors once.
func (s *server) pageError(w http.ResponseWriter, r *http.Request, err error) {
	st, ok := statusOf[inventory.ErrorCode(err)]
	if !ok {
		st = http.StatusInternalServerError
	}
	if st == http.StatusInternalServerError {
		// The pattern, not the path: an invitation's path holds its token.
		s.logger.ErrorContext(r.Context(), "page failed", "method", r.Method, "route", r.Pattern, "err", err)
	}
	s.render(w, r, st, "error.html", http.StatusText(st), errorPage{Status: st, Message: inventory.ErrorMessage(err)})
}

// requirePage answers 403 unless the viewer holds one of roles in some
// school; handlers then limit what they show to those schools.
func (s *server) requirePage(roles []inventory.Role, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !viewerOf(r.Context()).mayAnywhere(roles...) {
			s.pageError(w, r, inventory.Errorf(inventory.EFORBIDDEN, "Your roles do not include this page. If you need it, ask your technician or headteacher."))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *server) handlePageNotFound() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.pageError(w, r, inventory.Errorf(inventory.ENOTFOUND, "There is no page at %s.", r.URL.Path))
	})
}

func handleStylesheet() http.Handler {
	css, err := assets.ReadFile("static/rollcall.css")
	if err != nil {
		panic(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Write(css)
	})
}

// day writes a date for people: "Friday 24 July 2027".
func day(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("Monday 2 January 2006")
}

// pounds writes an amount in pence as pounds: "£1,299.00"; "" for none.
func pounds(pence int64) string {
	if pence == 0 {
		return ""
	}
	whole := strconv.FormatInt(pence/100, 10)
	for i := len(whole) - 3; i > 0; i -= 3 {
		whole = whole[:i] + "," + whole[i:]
	}
	return fmt.Sprintf("£%s.%02d", whole, pence%100)
}

// when writes a time for people, in UTC.
func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2 Jan 2006 15:04 UTC")
}

// ruleNames are the compliance rules as people read them.
var ruleNames = map[string]string{
	inventory.RuleEncryption:   "Disk encrypted",
	inventory.RuleAntivirus:    "Antivirus on and up to date",
	inventory.RuleScreenLock:   "Screen locks when idle",
	inventory.RuleSeenRecently: "Seen recently",
}

// roleNames are the roles as people read them.
var roleNames = map[string]string{
	string(inventory.RoleOrgAdmin):      "Organisation admin",
	string(inventory.RoleTechnician):    "Technician",
	string(inventory.RoleHeadteacher):   "Headteacher",
	string(inventory.RoleComputingLead): "Computing leader",
	string(inventory.RoleStaff):         "Staff",
	string(inventory.RoleLineManager):   "Line manager",
	string(inventory.RoleAuditor):       "Auditor (governor, DSL)",
}

func roleName(role any) string {
	r := fmt.Sprint(role)
	if n, ok := roleNames[r]; ok {
		return n
	}
	return r
}

// doneTexts are the confirmations a page shows after a change, keyed by
// the ?done= the change redirects with; anything else shows nothing.
var doneTexts = map[string]string{
	"disabled":        "The account is disabled: its sessions and API tokens stop working now.",
	"enabled":         "The account is enabled again.",
	"role-granted":    "The role is given.",
	"role-revoked":    "The role is removed.",
	"token-revoked":   "The token is revoked. Laptops that already enrolled with it keep working.",
	"revoked":         "The certificate is revoked.",
	"saved":           "Saved.",
	"invited":         "Your account is ready.",
	"loan-requested":  "Your request is sent to the headteacher to approve.",
	"loan-approve":    "Approved. The borrower can sign once every approval is in and the device is chosen.",
	"loan-decline":    "Declined. The borrower sees the reason on this page.",
	"loan-choose":     "The device is chosen.",
	"loan-sign":       "Signed. Download your agreement below at any time; the technician can now hand the kit over.",
	"loan-handover":   "Handed over: the kit is now on loan.",
	"loan-check":      "The check is recorded; the next one is due one interval from today.",
	"loan-return":     "Received back: the kit is in stock again.",
	"loan-cancel":     "The loan is cancelled.",
	"asset-saved":     "Saved to the register.",
	"imported":        "Imported into the register.",
	"template-saved":  "The new version of the agreement is saved. Loans signed from now on use it; agreements already signed keep their own text.",
	"settings-saved":  "The loan settings are saved.",
	"signed-out":      "Signed out for the day.",
	"signed-in":       "Signed back in.",
	"pin-saved":       "Recorded. The value is sealed; the one it replaces is kept sealed for 90 days, then deleted.",
	"pin-used":        "Noted in the PIN log. Thank you.",
	"pin-rules-saved": "The PIN rules are saved.",
	"disposed":        "The disposal is recorded. The entry is now read-only, and its PINs are deleted.",
	"exit-started":    "The check-in is started. It lists what Rollcall knows the leaver holds.",
	"exit-step":       "The step is recorded.",
	"exit-signed":     "Signed off.",
	"exit-completed":  "The check-in is complete: the kit is back in stock, its PINs are retired, and the record below is ready for the personnel file.",
}

func doneText(code string) string { return doneTexts[code] }

func ruleName(rule string) string {
	if n, ok := ruleNames[rule]; ok {
		return n
	}
	return rule
}

func statusText(status string) string {
	switch status {
	case inventory.StatusCompliant:
		return "Compliant"
	case inventory.StatusNoncompliant:
		return "Not compliant"
	case inventory.StatusUnknown:
		return "Unknown"
	case inventory.StatusNotRequired:
		return "Not required"
	}
	return "Not yet checked"
}

// csvCell returns s as a CSV cell that spreadsheets show as text: a cell
// starting with =, +, -, @, a tab or a carriage return would be read as a
// formula, so it gets a leading quote.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
