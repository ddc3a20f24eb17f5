package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
	"github.com/rollcall/rollcall/server/admin"
	"github.com/rollcall/rollcall/server/secret"
)

// browser is a plain HTTP client with cookies, for the pages.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string // the token of the last page that had a form
	// totp is the person's TOTP secret once set up.
	totp string
}

func newBrowser(t *testing.T, h *harness) *browser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: "http://" + h.app.HTTPAddr.String(), c: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// do sends a request and returns the status, the Location header and the
// body, remembering the page's CSRF token.
func (b *browser) do(method, path string, form url.Values) (int, string, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if m := csrfField.FindSubmatch(raw); m != nil {
		b.csrf = string(m[1])
	}
	return resp.StatusCode, resp.Header.Get("Location"), string(raw)
}

// post sends a form with the current CSRF token.
func (b *browser) post(path string, form url.Values) (int, string, string) {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", b.csrf)
	return b.do("POST", path, form)
}

var totpSecretText = regexp.MustCompile(`data-testid="totp-secret">([A-Z2-7 ]+)<`)

// signIn signs in with email and password, setting up or passing the
// second factor when asked, and fails the test unless it ends signed in.
func (b *browser) signIn(email, password string) {
	b.t.Helper()
	code, loc, body := b.do("POST", "/signin", url.Values{"email": {email}, "password": {password}})
	if code != http.StatusSeeOther {
		b.t.Fatalf("sign in as %s = %d:\n%.400s", email, code, body)
	}
	switch loc {
	case "/account/totp":
		_, _, page := b.do("GET", "/account/totp", nil)
		m := totpSecretText.FindStringSubmatch(page)
		if m == nil {
			b.t.Fatalf("set-up page shows no secret:\n%.600s", page)
		}
		b.totp = strings.ReplaceAll(m[1], " ", "")
		st, _, page := b.post("/account/totp", url.Values{"code": {b.code(time.Now())}})
		if st != http.StatusOK || !strings.Contains(page, "recovery codes") {
			b.t.Fatalf("TOTP set-up = %d:\n%.600s", st, page)
		}
	case "/signin/totp?next=%2F":
		b.do("GET", "/signin/totp", nil)
		// A code from the step after the set-up one: the same code twice is refused.
		st, _, page := b.post("/signin/totp", url.Values{"code": {b.code(time.Now().Add(30 * time.Second))}})
		if st != http.StatusSeeOther {
			b.t.Fatalf("second factor = %d:\n%.600s", st, page)
		}
	case "/":
	default:
		b.t.Fatalf("sign in sent to %q", loc)
	}
	if st, _, page := b.do("GET", "/", nil); st != http.StatusOK {
		b.t.Fatalf("GET / after sign-in = %d:\n%.400s", st, page)
	}
}

func (b *browser) code(at time.Time) string {
	b.t.Helper()
	c, err := secret.TOTPCode(b.totp, at)
	if err != nil {
		b.t.Fatal(err)
	}
	return c
}

// person adds someone with role in school (slug; "" for org_admin) and
// returns their password.
func person(t *testing.T, h *harness, email string, role inventory.Role, school string) string {
	t.Helper()
	_, pw, err := admin.AddUser(context.Background(), h.app.Store, email, "Person "+email, string(role), school)
	if err != nil {
		t.Fatal(err)
	}
	return pw
}

func TestSignIn(t *testing.T) {
	backends(t, func(t *testing.T, h *harness) {
		techPW := person(t, h, "it@school.example", inventory.RoleTechnician, "")
		staffPW := person(t, h, "teacher@school.example", inventory.RoleStaff, "")

		t.Run("PagesNeedSignIn", func(t *testing.T) {
			b := newBrowser(t, h)
			for _, path := range []string{"/", "/devices", "/audit"} {
				code, loc, _ := b.do("GET", path, nil)
				if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/signin") {
					t.Errorf("GET %s signed out = %d to %q, want 303 to /signin", path, code, loc)
				}
			}
		})

		t.Run("StaffWithoutTOTP", func(t *testing.T) {
			b := newBrowser(t, h)
			b.signIn("teacher@school.example", staffPW)
			_, _, home := b.do("GET", "/", nil)
			if !strings.Contains(home, "Welcome to Rollcall") || strings.Contains(home, "Fleet overview") {
				t.Errorf("staff home page:\n%.500s", home)
			}
			if code, _, _ := b.do("GET", "/devices", nil); code != http.StatusForbidden {
				t.Errorf("staff GET /devices = %d, want 403", code)
			}
		})

		t.Run("TechnicianMustSetUpTOTP", func(t *testing.T) {
			b := newBrowser(t, h)
			b.signIn("it@school.example", techPW) // sets up TOTP
			if code, _, page := b.do("GET", "/devices", nil); code != http.StatusOK || !strings.Contains(page, "Devices") {
				t.Errorf("GET /devices = %d", code)
			}
			// Signing out ends the session for good.
			if code, loc, _ := b.post("/signout", nil); code != http.StatusSeeOther || loc != "/signin" {
				t.Errorf("sign out = %d to %q", code, loc)
			}
			if code, _, _ := b.do("GET", "/devices", nil); code != http.StatusSeeOther {
				t.Errorf("GET /devices after sign-out = %d, want 303", code)
			}
			// Next time the password alone is not enough.
			code, loc, _ := b.do("POST", "/signin", url.Values{"email": {"it@school.example"}, "password": {techPW}})
			if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/signin/totp") {
				t.Fatalf("second sign-in = %d to %q, want the TOTP step", code, loc)
			}
			if code, loc, _ := b.do("GET", "/devices", nil); code != http.StatusSeeOther || loc != "/signin/totp" {
				t.Errorf("GET /devices with the password only = %d to %q", code, loc)
			}
			b.do("GET", "/signin/totp", nil)
			if code, _, page := b.post("/signin/totp", url.Values{"code": {"000000"}}); code != http.StatusUnauthorized || !strings.Contains(page, "not right") {
				t.Errorf("wrong code = %d", code)
			}
			if code, _, _ := b.post("/signin/totp", url.Values{"code": {b.code(time.Now().Add(30 * time.Second))}}); code != http.StatusSeeOther {
				t.Errorf("right code = %d", code)
			}
			// Opening the set-up page again never replaces the confirmed secret.
			if code, loc, _ := b.do("GET", "/account/totp", nil); code != http.StatusSeeOther || loc != "/" {
				t.Errorf("GET /account/totp when set up = %d to %q, want 303 to /", code, loc)
			}
			if u, err := h.app.Store.FindUserByEmail(context.Background(), "it@school.example"); err != nil || u.TOTPConfirmedAt.IsZero() {
				t.Errorf("TOTP after revisiting the set-up page: %v, confirmed %v", err, u.TOTPConfirmedAt)
			}
		})

		t.Run("WrongPasswordThenLockout", func(t *testing.T) {
			person(t, h, "locked@school.example", inventory.RoleStaff, "")
			b := newBrowser(t, h)
			for i := range 5 {
				code, _, page := b.do("POST", "/signin", url.Values{"email": {"locked@school.example"}, "password": {"guess"}})
				if code != http.StatusUnauthorized || !strings.Contains(page, "do not match") {
					t.Fatalf("try %d = %d:\n%.300s", i, code, page)
				}
			}
			code, _, page := b.do("POST", "/signin", url.Values{"email": {"locked@school.example"}, "password": {"guess"}})
			if code != http.StatusTooManyRequests || !strings.Contains(page, "locked until") {
				t.Errorf("sixth try = %d:\n%.300s", code, page)
			}
		})

		t.Run("GuessesAllAtOnce", func(t *testing.T) {
			person(t, h, "rushed@school.example", inventory.RoleStaff, "")
			codes := make([]int, 20)
			var wg sync.WaitGroup
			for i := range codes {
				wg.Go(func() {
					b := newBrowser(t, h)
					codes[i], _, _ = b.do("POST", "/signin", url.Values{"email": {"rushed@school.example"}, "password": {fmt.Sprintf("guess-%d", i)}})
				})
			}
			wg.Wait()
			checked := 0
			for _, c := range codes {
				switch c {
				case http.StatusUnauthorized:
					checked++
				case http.StatusTooManyRequests:
				default:
					t.Errorf("a guess answered %d", c)
				}
			}
			if checked > 5 {
				t.Errorf("%d of 20 simultaneous guesses had their password checked, want at most 5", checked)
			}
		})

		t.Run("UnknownEmail", func(t *testing.T) {
			b := newBrowser(t, h)
			code, _, page := b.do("POST", "/signin", url.Values{"email": {"nobody@school.example"}, "password": {"x"}})
			if code != http.StatusUnauthorized || !strings.Contains(page, "do not match") {
				t.Errorf("unknown email = %d", code)
			}
		})

		t.Run("FormsNeedTheirToken", func(t *testing.T) {
			b := newBrowser(t, h)
			b.signIn("teacher@school.example", staffPW)
			code, _, page := b.do("POST", "/signout", url.Values{"csrf": {"forged"}})
			if code != http.StatusForbidden || !strings.Contains(page, "expired") {
				t.Errorf("sign-out without the form's token = %d", code)
			}
			// A cross-site post is refused before any handler runs.
			req, _ := http.NewRequest("POST", b.base+"/signin", strings.NewReader("email=a%40b.c&password=x"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			resp, err := b.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("cross-site sign-in post = %d, want 403", resp.StatusCode)
			}
		})

		t.Run("CookieAndHeaders", func(t *testing.T) {
			req, _ := http.NewRequest("POST", "http://"+h.app.HTTPAddr.String()+"/signin", strings.NewReader(url.Values{"email": {"teacher@school.example"}, "password": {staffPW}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			cookie := resp.Header.Get("Set-Cookie")
			for _, want := range []string{"rollcall_session=", "HttpOnly", "Secure", "SameSite=Lax"} {
				if !strings.Contains(cookie, want) {
					t.Errorf("Set-Cookie %q lacks %s", cookie, want)
				}
			}
			csp := resp.Header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "script-src") {
				t.Errorf("Content-Security-Policy = %q, want no scripts and no inline styles", csp)
			}
		})

		t.Run("DisabledAccount", func(t *testing.T) {
			pw := person(t, h, "gone@school.example", inventory.RoleStaff, "")
			b := newBrowser(t, h)
			b.signIn("gone@school.example", pw)
			u, err := h.app.Store.FindUserByEmail(context.Background(), "gone@school.example")
			if err != nil {
				t.Fatal(err)
			}
			if err := h.app.Store.SetUserDisabled(context.Background(), u.ID, time.Now()); err != nil {
				t.Fatal(err)
			}
			if code, _, _ := b.do("GET", "/", nil); code != http.StatusSeeOther {
				t.Errorf("GET / after being disabled = %d, want 303 to sign-in", code)
			}
			code, _, page := b.do("POST", "/signin", url.Values{"email": {"gone@school.example"}, "password": {pw}})
			if code != http.StatusUnauthorized || !strings.Contains(page, "disabled") {
				t.Errorf("disabled sign-in = %d", code)
			}
		})

		t.Run("Audited", func(t *testing.T) {
			entries, err := h.app.Store.FindAudit(context.Background(), inventory.AuditFilter{Action: "session.", Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]int{}
			for _, e := range entries {
				seen[e.Action]++
				if strings.Contains(e.Detail, techPW) || strings.Contains(e.Detail, staffPW) {
					t.Errorf("audit entry %d holds a password", e.Seq)
				}
			}
			for _, a := range []string{"session.signin", "session.signin_failed", "session.signout", "session.second_factor"} {
				if seen[a] == 0 {
					t.Errorf("no %s entry in the audit log (have %v)", a, seen)
				}
			}
			if strings.Contains(h.logs.String(), techPW) {
				t.Error("the server log holds a password")
			}
		})
	})
}

// TestRoleMatrix asks for every route as every role, in two schools. A
// person sees a school's devices only with a fleet role there; a route
// they may not use answers 403 (or 404 for another school's record), with
// nothing of the record in the answer.
func TestRoleMatrix(t *testing.T) {
	h := start(t, "")
	ctx := context.Background()
	for _, slug := range []string{"school-a", "school-b"} {
		if err := h.app.Store.CreateSchool(ctx, &inventory.School{Slug: slug, Name: "School " + slug}); err != nil {
			t.Fatal(err)
		}
	}
	tokenFor := func(school string) string {
		tok, err := admin.CreateEnrollToken(ctx, h.app.Store, h.app.CA, admin.EnrollTokenRequest{School: school, Uses: 1, TTL: time.Hour, Advertise: h.app.AgentAddr.String(), Now: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	enroll(t, tokenFor("school-a"), "SN-A")
	enroll(t, tokenFor("school-b"), "SN-B")
	devA := deviceBySerial(t, h, "SN-A")
	devB := deviceBySerial(t, h, "SN-B")
	enrA, err := h.app.Store.FindEnrollmentsByDevice(ctx, devB.ID)
	if err != nil || len(enrA) == 0 {
		t.Fatalf("enrolments of B: %v", err)
	}

	type who struct {
		role   inventory.Role
		school string
	}
	people := []who{
		{inventory.RoleOrgAdmin, ""},
		{inventory.RoleTechnician, "school-a"},
		{inventory.RoleHeadteacher, "school-a"},
		{inventory.RoleComputingLead, "school-a"},
		{inventory.RoleStaff, "school-a"},
		{inventory.RoleLineManager, "school-a"},
		{inventory.RoleAuditor, "school-a"},
	}
	fleet := map[inventory.Role]bool{inventory.RoleOrgAdmin: true, inventory.RoleTechnician: true, inventory.RoleHeadteacher: true, inventory.RoleComputingLead: true, inventory.RoleAuditor: true}
	audits := map[inventory.Role]bool{inventory.RoleOrgAdmin: true, inventory.RoleTechnician: true, inventory.RoleHeadteacher: true, inventory.RoleAuditor: true}
	policyEdit := map[inventory.Role]bool{inventory.RoleOrgAdmin: true, inventory.RoleTechnician: true, inventory.RoleHeadteacher: true}
	revoke := map[inventory.Role]bool{inventory.RoleOrgAdmin: true, inventory.RoleTechnician: true}
	managers := map[inventory.Role]bool{inventory.RoleOrgAdmin: true, inventory.RoleTechnician: true, inventory.RoleHeadteacher: true}
	totp := managers // the roles that must use two-step sign-in are the same three
	tokens, err := h.app.Store.FindEnrollTokens(ctx, []uuid.UUID{devB.SchoolID}, 1)
	if err != nil || len(tokens) != 1 {
		t.Fatalf("school-b's token: %v", err)
	}
	tokenB := tokens[0]
	person(t, h, "staffb@school.example", inventory.RoleStaff, "school-b")
	staffB, err := h.app.Store.FindUserByEmail(ctx, "staffb@school.example")
	if err != nil {
		t.Fatal(err)
	}

	// The register and loans: school B's laptop, a request there, and
	// two shared iPads, one signed out.
	assetA, err := h.app.Store.FindAssetByDevice(ctx, devA.ID)
	if err != nil {
		t.Fatal(err)
	}
	assetB, err := h.app.Store.FindAssetByDevice(ctx, devB.ID)
	if err != nil {
		t.Fatal(err)
	}
	schoolB, err := h.app.Store.FindSchoolBySlug(ctx, "school-b")
	if err != nil {
		t.Fatal(err)
	}
	loanB, err := inventory.NewLoan(schoolB, staffB.ID, staffB.ID, assetB, "", "Marking", time.Time{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := h.app.Store.CreateLoan(ctx, loanB, &inventory.LoanEvent{SchoolID: schoolB.ID, AssetID: assetB.ID, Action: "requested", ActorID: staffB.ID, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	var ipads []*inventory.Asset
	for _, tag := range []string{"IPAD-B1", "IPAD-B2"} {
		a := &inventory.Asset{SchoolID: schoolB.ID, Kind: inventory.KindTablet, AssetTag: tag, Status: inventory.AssetInStock, Shared: true}
		if err := h.app.Store.CreateAsset(ctx, a); err != nil {
			t.Fatal(err)
		}
		ipads = append(ipads, a)
	}
	outB := &inventory.SignOut{SchoolID: schoolB.ID, AssetID: ipads[1].ID, UserID: staffB.ID, OutBy: staffB.ID, OutAt: time.Now(), DueBack: time.Now().Add(time.Hour)}
	if err := h.app.Store.CreateSignOut(ctx, outB); err != nil {
		t.Fatal(err)
	}
	var spares []*inventory.Asset // school B's kit to dispose of
	for _, tag := range []string{"OLD-B1", "OLD-B2"} {
		a := &inventory.Asset{SchoolID: schoolB.ID, Kind: inventory.KindProjector, AssetTag: tag, Status: inventory.AssetInStock}
		if err := h.app.Store.CreateAsset(ctx, a); err != nil {
			t.Fatal(err)
		}
		spares = append(spares, a)
	}
	today := time.Now().Format("2006-01-02")
	exitB := &inventory.Exit{SchoolID: schoolB.ID, PersonID: staffB.ID, LeavingDate: time.Now().UTC().Truncate(24 * time.Hour), StartedBy: staffB.ID}
	if err := h.app.Store.CreateExit(ctx, exitB); err != nil {
		t.Fatal(err)
	}
	starters := map[inventory.Role]bool{inventory.RoleOrgAdmin: true, inventory.RoleTechnician: true, inventory.RoleHeadteacher: true, inventory.RoleLineManager: true}
	kit := revoke // technicians change the register and hand kit over
	editors := map[inventory.Role]bool{inventory.RoleOrgAdmin: true, inventory.RoleHeadteacher: true}
	retentionForm := url.Values{"usb_events": {"365"}, "posture_history": {"365"}, "pin_history": {"90"}, "audit_log": {"2190"}, "loans": {"2190"}}
	_ = assetA

	pick := func(ok bool, yes, no int) int {
		if ok {
			return yes
		}
		return no
	}
	type route struct {
		method, path string
		api          bool
		body         string
		want         func(w who) int
		secretText   string     // never in a refused answer
		form         url.Values // for a page's POST
	}
	isOrg := func(w who) bool { return w.role == inventory.RoleOrgAdmin }
	routes := []route{
		{"GET", "/", false, "", func(w who) int { return 200 }, "", nil},
		{"GET", "/devices", false, "", func(w who) int { return pick(fleet[w.role], 200, 403) }, "", nil},
		{"GET", "/devices.csv", false, "", func(w who) int { return pick(fleet[w.role], 200, 403) }, "", nil},
		{"GET", "/devices/" + devA.ID.String(), false, "", func(w who) int { return pick(fleet[w.role], 200, 403) }, "", nil},
		{"GET", "/devices/" + devB.ID.String(), false, "", func(w who) int { return pick(isOrg(w), 200, pick(fleet[w.role], 404, 403)) }, "SN-B", nil},
		{"POST", "/devices/" + devB.ID.String() + "/enrollments/" + enrA[0].ID.String() + "/revoke", false, "", func(w who) int { return pick(isOrg(w), 303, pick(revoke[w.role], 404, 403)) }, "SN-B", nil},
		{"GET", "/audit", false, "", func(w who) int { return pick(audits[w.role], 200, 403) }, "", nil},
		{"GET", "/enrolment", false, "", func(w who) int { return pick(revoke[w.role], 200, 403) }, "", nil},
		{"POST", "/enrolment", false, "", func(w who) int { return pick(revoke[w.role], 200, 403) }, "", url.Values{"school": {"school-a"}, "uses": {"1"}, "ttl": {"24h"}}},
		{"POST", "/enrolment", false, "", func(w who) int { return pick(isOrg(w), 200, pick(revoke[w.role], 400, 403)) }, "", url.Values{"school": {"school-b"}, "uses": {"1"}, "ttl": {"24h"}}},
		{"GET", "/policy?school=school-a", false, "", func(w who) int { return pick(fleet[w.role], 200, 403) }, "", nil},
		{"GET", "/policy?school=school-b", false, "", func(w who) int { return pick(isOrg(w), 200, pick(fleet[w.role], 404, 403)) }, "", nil},
		{"POST", "/policy/school-a", false, "", func(w who) int { return pick(policyEdit[w.role], 303, 403) }, "", url.Values{"max_signature_age_days": {"3"}, "max_idle_lock_minutes": {"10"}, "max_days_unseen": {"7"}, "require_encryption": {"on"}}},
		{"POST", "/policy/school-b", false, "", func(w who) int { return pick(isOrg(w), 303, pick(policyEdit[w.role], 404, 403)) }, "", url.Values{"max_signature_age_days": {"3"}, "max_idle_lock_minutes": {"10"}, "max_days_unseen": {"7"}}},
		{"GET", "/people", false, "", func(w who) int { return pick(managers[w.role], 200, 403) }, "", nil},
		{"POST", "/people/invite", false, "", func(w who) int { return pick(managers[w.role], 200, 403) }, "", url.Values{"name": {"New Person"}, "email": {"new-" + "x@school.example"}, "role": {"staff"}, "school": {"school-a"}}},
		{"POST", "/people/" + staffB.ID.String() + "/disable", false, "", func(w who) int { return pick(isOrg(w), 303, pick(managers[w.role], 404, 403)) }, "staffb@", nil},
		{"GET", "/invite/not-a-real-token", false, "", func(w who) int { return 404 }, "", nil},
		{"POST", "/invite/not-a-real-token", false, "", func(w who) int { return 404 }, "", url.Values{"password": {"long enough password"}, "confirm": {"long enough password"}}},
		{"POST", "/enrolment/tokens/" + tokenB.ID.String() + "/revoke", false, "", func(w who) int { return pick(isOrg(w), 303, pick(revoke[w.role], 404, 403)) }, "", nil},
		{"POST", "/people/" + staffB.ID.String() + "/enable", false, "", func(w who) int { return pick(isOrg(w), 303, pick(managers[w.role], 404, 403)) }, "staffb@", nil},
		{"POST", "/people/" + staffB.ID.String() + "/reset", false, "", func(w who) int { return pick(isOrg(w), 200, pick(managers[w.role], 404, 403)) }, "staffb@", nil},
		{"POST", "/people/" + staffB.ID.String() + "/roles", false, "", func(w who) int { return pick(isOrg(w), 303, pick(managers[w.role], 404, 403)) }, "staffb@", url.Values{"role": {"auditor"}, "school": {"school-b"}}},
		{"POST", "/people/" + staffB.ID.String() + "/roles/revoke", false, "", func(w who) int { return pick(isOrg(w), 303, pick(managers[w.role], 404, 403)) }, "staffb@", url.Values{"role": {"auditor"}, "school": {"school-b"}}},
		{"GET", "/healthz", false, "", func(w who) int { return 200 }, "", nil},
		{"GET", "/metrics", false, "", func(w who) int { return 200 }, "", nil},
		{"GET", "/static/rollcall.css", false, "", func(w who) int { return 200 }, "", nil},
		{"GET", "/signin", false, "", func(w who) int { return 303 }, "", nil},
		{"GET", "/signin/totp", false, "", func(w who) int { return pick(totp[w.role], 200, 303) }, "", nil},
		{"POST", "/signin/totp", false, "", func(w who) int { return pick(totp[w.role], 401, 303) }, "", url.Values{"code": {"000000"}}},
		{"GET", "/account/totp", false, "", func(w who) int { return pick(totp[w.role], 303, 200) }, "", nil},
		{"POST", "/account/totp", false, "", func(w who) int { return pick(totp[w.role], 303, 400) }, "", url.Values{"code": {"000000"}}},
		{"GET", "/no-such-page", false, "", func(w who) int { return 404 }, "", nil},
		{"GET", "/api/v1/no-such-route", true, "", func(w who) int { return 404 }, "", nil},
		{"GET", "/api/v1/devices", true, "", func(w who) int { return 200 }, "", nil},
		{"GET", "/api/v1/devices/" + devA.ID.String(), true, "", func(w who) int { return pick(fleet[w.role], 200, 404) }, "SN-A", nil},
		{"GET", "/api/v1/devices/" + devB.ID.String(), true, "", func(w who) int { return pick(isOrg(w), 200, 404) }, "SN-B", nil},
		{"GET", "/api/v1/devices/" + devB.ID.String() + "/events", true, "", func(w who) int { return pick(isOrg(w), 200, 404) }, "SN-B", nil},
		{"GET", "/api/v1/devices/" + devB.ID.String() + "/posture-history", true, "", func(w who) int { return pick(isOrg(w), 200, 404) }, "SN-B", nil},
		{"GET", "/api/v1/usb-events", true, "", func(w who) int { return 200 }, "", nil},
		{"GET", "/api/v1/compliance", true, "", func(w who) int { return 200 }, "", nil},
		{"GET", "/api/v1/schools/school-a/retention", true, "", func(w who) int { return pick(audits[w.role], 200, 404) }, "", nil},
		{"GET", "/api/v1/schools/school-b/retention", true, "", func(w who) int { return pick(isOrg(w), 200, 404) }, "", nil},
		{"PUT", "/api/v1/schools/school-a/retention", true, `{"usb_events": 365}`, func(w who) int { return pick(editors[w.role], 200, pick(audits[w.role], 403, 404)) }, "", nil},
		{"PUT", "/api/v1/schools/school-b/retention", true, `{"usb_events": 365}`, func(w who) int { return pick(isOrg(w), 200, 404) }, "", nil},
		{"GET", "/api/v1/schools/school-a/policy", true, "", func(w who) int { return 200 }, "", nil},
		{"GET", "/api/v1/schools/school-b/policy", true, "", func(w who) int { return pick(isOrg(w), 200, 404) }, "", nil},
		{"PUT", "/api/v1/schools/school-a/policy", true, `{"max_idle_lock_minutes": 10}`, func(w who) int { return pick(policyEdit[w.role], 200, 403) }, "", nil},
		{"PUT", "/api/v1/schools/school-b/policy", true, `{"max_idle_lock_minutes": 10}`, func(w who) int { return pick(isOrg(w), 200, 404) }, "", nil},
		{"GET", "/api/v1/audit", true, "", func(w who) int { return pick(audits[w.role], 200, 403) }, "", nil},

		{"GET", "/register", false, "", func(w who) int { return pick(fleet[w.role], 200, 403) }, "", nil},
		{"GET", "/register.csv", false, "", func(w who) int { return pick(fleet[w.role], 200, 403) }, "", nil},
		{"GET", "/register/new", false, "", func(w who) int { return pick(kit[w.role], 200, 403) }, "", nil},
		{"POST", "/register", false, "", func(w who) int { return pick(kit[w.role], 303, 403) }, "", url.Values{"school": {"school-a"}, "kind": {"camera"}, "serial": {"CAM"}}},
		{"GET", "/register/import", false, "", func(w who) int { return pick(kit[w.role], 200, 403) }, "", nil},
		{"POST", "/register/import", false, "", func(w who) int { return pick(kit[w.role], 400, 403) }, "", url.Values{"school": {"school-a"}, "action": {"preview"}}},
		{"GET", "/register/" + assetB.ID.String(), false, "", func(w who) int { return pick(isOrg(w), 200, pick(fleet[w.role], 404, 403)) }, "SN-B", nil},
		{"POST", "/register/" + assetB.ID.String(), false, "", func(w who) int { return pick(isOrg(w), 303, pick(kit[w.role], 404, 403)) }, "SN-B", url.Values{"kind": {"laptop"}, "status": {"in_stock"}, "serial": {"SN-B"}}},
		{"GET", "/loans", false, "", func(w who) int { return 200 }, "", nil},
		{"GET", "/loans/new", false, "", func(w who) int { return 200 }, "", nil},
		{"POST", "/loans", false, "", func(w who) int { return 303 }, "", url.Values{"school": {"school-a"}, "kind": {"laptop"}, "reason": {"Reports"}}},
		{"GET", "/loans/" + loanB.ID.String(), false, "", func(w who) int { return pick(isOrg(w), 200, 404) }, "SN-B", nil},
		{"POST", "/loans/" + loanB.ID.String() + "/approve", false, "", func(w who) int { return pick(isOrg(w), 303, 404) }, "SN-B", nil},
		{"GET", "/loans/" + loanB.ID.String() + "/agreement.pdf", false, "", func(w who) int { return 404 }, "SN-B", nil},
		{"GET", "/agreements", false, "", func(w who) int { return pick(editors[w.role], 200, 403) }, "", nil},
		{"POST", "/agreements", false, "", func(w who) int { return pick(editors[w.role], 303, 403) }, "", url.Values{"school": {"school-a"}, "title": {"Loan"}, "body": {"This is for {borrower}."}, "declarations": {"I agree."}}},
		{"POST", "/agreements", false, "", func(w who) int { return pick(isOrg(w), 303, pick(editors[w.role], 400, 403)) }, "", url.Values{"school": {"school-b"}, "title": {"Loan"}, "body": {"This is for {borrower}."}, "declarations": {"I agree."}}},
		{"POST", "/agreements/settings", false, "", func(w who) int { return pick(editors[w.role], 303, 403) }, "", url.Values{"school": {"school-a"}, "check_interval_days": {"30"}}},
		{"GET", "/trolley", false, "", func(w who) int { return 200 }, "", nil},
		{"POST", "/trolley/out", false, "", func(w who) int { return pick(isOrg(w), 303, 404) }, "IPAD-B1", url.Values{"asset": {ipads[0].ID.String()}}},
		{"POST", "/trolley/" + outB.ID.String() + "/in", false, "", func(w who) int { return pick(isOrg(w), 303, 404) }, "IPAD-B2", nil},
		{"GET", "/api/v1/register", true, "", func(w who) int { return pick(fleet[w.role], 200, 403) }, "", nil},
		{"POST", "/api/v1/register", true, `{"school": "school-a", "kind": "tablet", "asset_tag": "API-{role}"}`, func(w who) int { return pick(kit[w.role], 201, 403) }, "", nil},
		{"GET", "/api/v1/register/export.csv", true, "", func(w who) int { return pick(fleet[w.role], 200, 403) }, "", nil},
		{"POST", "/api/v1/register/import?school=school-a&dry_run=1", true, "Asset Tag,Serial,Category\r\nK1,S1,Laptops\r\n", func(w who) int { return pick(kit[w.role], 200, 403) }, "", nil},
		{"GET", "/api/v1/register/" + assetB.ID.String(), true, "", func(w who) int { return pick(isOrg(w), 200, 404) }, "SN-B", nil},
		{"GET", "/api/v1/loans", true, "", func(w who) int { return 200 }, "", nil},
		{"POST", "/api/v1/loans", true, `{"school": "school-a", "kind": "camera", "reason": "Sports day"}`, func(w who) int { return 201 }, "", nil},
		{"GET", "/api/v1/loans/" + loanB.ID.String(), true, "", func(w who) int { return pick(isOrg(w), 200, 404) }, "", nil},
		{"POST", "/api/v1/loans/" + loanB.ID.String() + "/cancel", true, "", func(w who) int { return pick(isOrg(w), 200, 404) }, "", nil},
		{"GET", "/api/v1/loans/" + loanB.ID.String() + "/agreement.pdf", true, "", func(w who) int { return 404 }, "", nil},
		{"GET", "/api/v1/openapi.json", true, "", func(w who) int { return 200 }, "", nil},

		{"POST", "/register/" + assetB.ID.String() + "/pins/device_passcode", false, "", func(w who) int { return pick(isOrg(w), 303, pick(kit[w.role], 404, 403)) }, "IPAD", url.Values{"value": {"8642"}}},
		{"GET", "/register/" + assetB.ID.String() + "/pins/device_passcode/reveal", false, "", func(w who) int { return pick(isOrg(w), 200, 404) }, "SN-B", nil},
		{"POST", "/register/" + assetB.ID.String() + "/pins/device_passcode/reveal", false, "", func(w who) int { return pick(isOrg(w), 401, 404) }, "8642", url.Values{"reason": {"Checking it"}, "password": {"wrong"}}},
		{"POST", "/register/" + assetB.ID.String() + "/pins/device_passcode/use", false, "", func(w who) int { return pick(isOrg(w), 303, 404) }, "", nil},
		{"GET", "/pins", false, "", func(w who) int { return pick(audits[w.role], 200, 403) }, "8642", nil},
		{"GET", "/retention?school=school-a", false, "", func(w who) int { return pick(audits[w.role], 200, 403) }, "", nil},
		{"GET", "/retention?school=school-b", false, "", func(w who) int { return pick(isOrg(w), 200, pick(audits[w.role], 404, 403)) }, "", nil},
		{"POST", "/retention/school-a", false, "", func(w who) int { return pick(editors[w.role], 303, 403) }, "", retentionForm},
		{"POST", "/retention/school-b", false, "", func(w who) int { return pick(isOrg(w), 303, pick(audits[w.role], 404, 403)) }, "", retentionForm},
		{"POST", "/pins/settings", false, "", func(w who) int { return pick(editors[w.role], 303, 403) }, "", url.Values{"school": {"school-a"}, "network_manager": {""}}},
		{"PUT", "/api/v1/devices/" + assetB.ID.String() + "/pins/firmware_password", true, `{"value": "9753"}`, func(w who) int { return pick(isOrg(w), 200, 404) }, "", nil},
		{"POST", "/api/v1/devices/" + assetB.ID.String() + "/pins/firmware_password/reveal", true, `{"reason": "Checking it", "password": "wrong"}`, func(w who) int { return pick(isOrg(w), 401, 404) }, "9753", nil},
		{"POST", "/api/v1/devices/" + assetB.ID.String() + "/pins/firmware_password/use", true, "", func(w who) int { return pick(isOrg(w), 200, 404) }, "", nil},
		{"GET", "/api/v1/pin-log", true, "", func(w who) int { return pick(audits[w.role], 200, 403) }, "9753", nil},
		{"POST", "/register/" + spares[0].ID.String() + "/dispose", false, "", func(w who) int { return pick(isOrg(w), 303, pick(kit[w.role], 404, 403)) }, "OLD-B1", url.Values{"method": {"weee_recycler"}, "date": {today}, "recipient": {"Green Recycling Ltd"}}},
		{"GET", "/register/" + spares[0].ID.String() + "/certificate", false, "", func(w who) int { return pick(fleet[w.role], 404, 403) }, "OLD-B1", nil},
		{"GET", "/exits", false, "", func(w who) int { return 200 }, "", nil},
		{"GET", "/account/export.json", false, "", func(w who) int { return 200 }, "", nil},
		{"GET", "/people/" + staffB.ID.String() + "/export.json", false, "", func(w who) int { return pick(isOrg(w), 200, pick(managers[w.role], 404, 403)) }, "staffb@", nil},
		{"POST", "/exits", false, "", func(w who) int { return pick(starters[w.role], 303, 403) }, "", url.Values{"school": {"school-a"}, "person": {"{leaver}"}, "leaving_date": {today}}},
		{"GET", "/exits/" + exitB.ID.String(), false, "", func(w who) int { return pick(isOrg(w), 200, 404) }, "staffb", nil},
		{"POST", "/exits/" + exitB.ID.String() + "/steps", false, "", func(w who) int { return pick(isOrg(w), 400, 404) }, "", url.Values{"asset": {spares[0].ID.String()}, "step": {"returned"}}},
		{"POST", "/exits/" + exitB.ID.String() + "/signoff", false, "", func(w who) int { return pick(isOrg(w), 403, 404) }, "", url.Values{"as": {"leaver"}}},
		{"GET", "/exits/" + exitB.ID.String() + "/record.pdf", false, "", func(w who) int { return 404 }, "", nil},
		{"POST", "/api/v1/exits", true, `{"school": "school-a", "person_id": "{leaver2}", "leaving_date": "` + today + `"}`, func(w who) int { return pick(starters[w.role], 201, 403) }, "", nil},
		{"GET", "/api/v1/exits/" + exitB.ID.String(), true, "", func(w who) int { return pick(isOrg(w), 200, 404) }, "", nil},
		{"POST", "/api/v1/exits/" + exitB.ID.String() + "/steps", true, `{"device_id": "` + spares[0].ID.String() + `", "step": "returned"}`, func(w who) int { return pick(isOrg(w), 400, 404) }, "", nil},
		{"POST", "/api/v1/exits/" + exitB.ID.String() + "/signoff", true, `{"as": "leaver"}`, func(w who) int { return pick(isOrg(w), 403, 404) }, "", nil},
		{"POST", "/api/v1/devices/" + spares[1].ID.String() + "/dispose", true, `{"method": "resale", "date": "` + today + `", "recipient": "A buyer"}`, func(w who) int { return pick(isOrg(w), 201, 404) }, "OLD-B2", nil},
	}
	// Every route the server has is in the matrix, but the two that sign
	// in and out, which TestSignIn drives.
	covered := routePatterns(t)
	for _, rt := range routes {
		req := httptest.NewRequest(rt.method, rt.path, nil)
		_, pattern := covered.mux.Handler(req)
		covered.seen[pattern] = true
	}
	for _, pattern := range covered.all {
		if !covered.seen[pattern] && pattern != "POST /signin" && pattern != "POST /signout" {
			t.Errorf("route %q is not in the role matrix", pattern)
		}
	}

	for i, p := range people {
		email := fmt.Sprintf("%s-%d@school.example", p.role, i)
		pw := person(t, h, email, p.role, p.school)
		apiToken, err := admin.CreateAPIToken(ctx, h.app.Store, email)
		if err != nil {
			t.Fatal(err)
		}
		b := newBrowser(t, h)
		b.signIn(email, pw)
		// Two members of staff at school A for this person to start check-ins for.
		var leavers [2]string
		for j := range leavers {
			le := fmt.Sprintf("leaver-%d-%d@school.example", i, j)
			person(t, h, le, inventory.RoleStaff, "school-a")
			u, err := h.app.Store.FindUserByEmail(ctx, le)
			if err != nil {
				t.Fatal(err)
			}
			leavers[j] = u.ID.String()
		}
		for _, rt := range routes {
			t.Run(fmt.Sprintf("%s/%s_%s", p.role, rt.method, rt.path), func(t *testing.T) {
				var code int
				var body string
				if rt.api {
					body := strings.NewReplacer("{role}", string(p.role), "{leaver2}", leavers[1]).Replace(rt.body)
					req, _ := http.NewRequest(rt.method, b.base+rt.path, strings.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+apiToken)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					raw, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					code, body = resp.StatusCode, string(raw)
				} else if rt.method == "POST" {
					form := url.Values{}
					for k, v := range rt.form {
						form[k] = v
					}
					if e := form.Get("email"); e != "" {
						form.Set("email", string(p.role)+"-"+e) // one invitation each
					}
					if form.Get("person") == "{leaver}" {
						form.Set("person", leavers[0])
					}
					if sn := form.Get("serial"); sn != "" && rt.path == "/register" {
						form.Set("serial", string(p.role)+"-"+sn) // one camera each
					}
					code, _, body = b.post(rt.path, form)
				} else {
					code, _, body = b.do(rt.method, rt.path, nil)
				}
				if want := rt.want(p); code != want {
					if code == 500 {
						t.Log(h.logs.String()[max(0, len(h.logs.String())-1500):])
					}
					t.Errorf("%s %s as %s = %d, want %d:\n%.300s", rt.method, rt.path, p.role, code, want, body)
				}
				if code >= 400 && rt.secretText != "" && strings.Contains(body, rt.secretText) {
					t.Errorf("refused answer leaks %q", rt.secretText)
				}
			})
		}
		// The audit log of school A shows nothing of school B.
		if audits[p.role] && !isOrg(p) {
			req, _ := http.NewRequest("GET", b.base+"/api/v1/audit?limit=1000", nil)
			req.Header.Set("Authorization", "Bearer "+apiToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || strings.Contains(string(raw), "staffb@") || strings.Contains(string(raw), "school-b") || !strings.Contains(string(raw), "school/school-a") {
				t.Errorf("%s: audit log of school A = %d, shows school B's entries or lacks its own:\n%.600s", p.role, resp.StatusCode, raw)
			}
		}
		// Lists hold only what the person may see.
		var devices deviceList
		h.get(t, "/api/v1/devices", apiToken, &devices)
		serials := map[string]bool{}
		for _, d := range devices.Items {
			serials[d.Serial] = true
		}
		if want := fleet[p.role]; serials["SN-A"] != want {
			t.Errorf("%s: device list shows SN-A = %v, want %v", p.role, serials["SN-A"], want)
		}
		if serials["SN-B"] != isOrg(p) {
			t.Errorf("%s: device list shows SN-B = %v", p.role, serials["SN-B"])
		}
	}
}

func deviceBySerial(t *testing.T, h *harness, serial string) *inventory.Device {
	t.Helper()
	all, err := h.app.Store.FindDevices(context.Background(), inventory.DeviceFilter{Search: serial})
	if err != nil || len(all) != 1 {
		t.Fatalf("device %s: %v (%d found)", serial, err, len(all))
	}
	return all[0]
}

var (
	resetPasswordText = regexp.MustCompile(`data-testid="reset-password">([^<]+)<`)
	newTokenText      = regexp.MustCompile(`data-testid="new-token">([^<]+)<`)
	inviteURLText     = regexp.MustCompile(`data-testid="invite-url">([^<]+)<`)
)

// TestPageFlows walks the technician's pages on both stores: enrol a
// laptop with a token made on the enrolment page, preview and save a
// policy, invite a member of staff who then signs in, disable them, export
// the device list and read it all back in the audit log.
func TestPageFlows(t *testing.T) {
	backends(t, func(t *testing.T, h *harness) {
		pw := person(t, h, "flow@school.example", inventory.RoleTechnician, "")
		b := newBrowser(t, h)
		b.signIn("flow@school.example", pw)

		// Enrolment: a token made on the page enrols a real agent.
		b.do("GET", "/enrolment", nil)
		code, _, page := b.post("/enrolment", url.Values{"school": {inventory.DefaultSchoolSlug}, "uses": {"2"}, "ttl": {"24h"}})
		m := newTokenText.FindStringSubmatch(page)
		if code != http.StatusOK || m == nil || !strings.Contains(page, "rollcall-agent enroll --token") {
			t.Fatalf("make token = %d:\n%.500s", code, page)
		}
		enroll(t, m[1], "SN-FLOW")
		dev := deviceBySerial(t, h, "SN-FLOW")
		if code, _, page := b.post("/enrolment", url.Values{"school": {inventory.DefaultSchoolSlug}, "uses": {"0"}, "ttl": {"24h"}}); code != http.StatusBadRequest || !strings.Contains(page, "from 1 to 100000") {
			t.Errorf("token for 0 laptops = %d", code)
		}

		// Policy: the preview counts, the save re-judges.
		_, _, page = b.do("GET", "/policy?preview=1&max_signature_age_days=3&max_idle_lock_minutes=10&max_days_unseen=7", nil)
		if !strings.Contains(page, `data-testid="preview"`) || !strings.Contains(page, "of 1 laptops would change status") {
			t.Errorf("policy preview:\n%.800s", page)
		}
		if code, _, page := b.do("GET", "/policy?preview=1&max_signature_age_days=900&max_idle_lock_minutes=10&max_days_unseen=7", nil); code != http.StatusBadRequest || !strings.Contains(page, "max_signature_age_days") {
			t.Errorf("preview of a bad policy = %d", code)
		}
		// Turning every rule off but "seen recently" makes the laptop compliant.
		code, loc, _ := b.post("/policy/"+inventory.DefaultSchoolSlug, url.Values{"max_signature_age_days": {"3"}, "max_idle_lock_minutes": {"10"}, "max_days_unseen": {"7"}})
		if code != http.StatusSeeOther || !strings.Contains(loc, "done=saved") {
			t.Fatalf("save policy = %d to %q", code, loc)
		}
		if d, err := h.app.Store.FindDeviceByID(context.Background(), dev.ID); err != nil || d.Verdict.Status != inventory.StatusCompliant {
			t.Errorf("after the policy change the verdict is %+v (%v), want compliant", d.Verdict, err)
		}

		// People: invite, accept, sign in, disable.
		b.do("GET", "/people", nil)
		code, _, page = b.post("/people/invite", url.Values{"name": {"Nia New"}, "email": {"nia@school.example"}, "role": {"staff"}, "school": {inventory.DefaultSchoolSlug}})
		m = inviteURLText.FindStringSubmatch(page)
		if code != http.StatusOK || m == nil {
			t.Fatalf("invite = %d:\n%.500s", code, page)
		}
		link, err := url.Parse(m[1])
		if err != nil {
			t.Fatal(err)
		}
		nia := newBrowser(t, h)
		if code, _, page := nia.do("GET", link.Path, nil); code != http.StatusOK || !strings.Contains(page, "Welcome to Rollcall, Nia New") {
			t.Fatalf("open invitation = %d", code)
		}
		if code, _, page := nia.do("POST", link.Path, url.Values{"password": {"short"}, "confirm": {"short"}}); code != http.StatusBadRequest || !strings.Contains(page, "at least 12") {
			t.Errorf("short password = %d", code)
		}
		if code, loc, _ := nia.do("POST", link.Path, url.Values{"password": {"correct horse battery"}, "confirm": {"correct horse battery"}}); code != http.StatusSeeOther || !strings.Contains(loc, "/signin") {
			t.Fatalf("accept = %d to %q", code, loc)
		}
		if code, _, page := nia.do("GET", link.Path, nil); code != http.StatusConflict || !strings.Contains(page, "was used") {
			t.Errorf("invitation used twice = %d", code)
		}
		nia.signIn("nia@school.example", "correct horse battery")
		niaUser, err := h.app.Store.FindUserByEmail(context.Background(), "nia@school.example")
		if err != nil {
			t.Fatal(err)
		}
		// Reset: a new password, shown once; the old one and the session stop working.
		code, _, page = b.post("/people/"+niaUser.ID.String()+"/reset", nil)
		m = resetPasswordText.FindStringSubmatch(page)
		if code != http.StatusOK || m == nil {
			t.Fatalf("reset sign-in = %d:\n%.500s", code, page)
		}
		if code, _, _ := nia.do("GET", "/", nil); code != http.StatusSeeOther {
			t.Errorf("session after reset = %d, want 303 to sign-in", code)
		}
		if code, _, _ := nia.do("POST", "/signin", url.Values{"email": {"nia@school.example"}, "password": {"correct horse battery"}}); code != http.StatusUnauthorized {
			t.Errorf("old password after reset = %d", code)
		}
		nia.signIn("nia@school.example", m[1])
		// Her only role cannot be removed: that would hide her from this page.
		if code, _, page := b.post("/people/"+niaUser.ID.String()+"/roles/revoke", url.Values{"role": {"staff"}, "school": {inventory.DefaultSchoolSlug}}); code != http.StatusBadRequest || !strings.Contains(page, "only role") {
			t.Errorf("removing the last role = %d", code)
		}
		if code, loc, _ := b.post("/people/"+niaUser.ID.String()+"/disable", nil); code != http.StatusSeeOther || !strings.Contains(loc, "disabled") {
			t.Errorf("disable = %d to %q", code, loc)
		}
		if code, _, _ := nia.do("GET", "/", nil); code != http.StatusSeeOther {
			t.Errorf("disabled person's session still works: %d", code)
		}

		// Devices: a bad filter says what is wrong; the CSV has the laptop.
		if code, _, page := b.do("GET", "/devices?status=broken", nil); code != http.StatusBadRequest || !strings.Contains(page, "is not compliant, noncompliant or unknown") {
			t.Errorf("bad status filter = %d", code)
		}
		code, _, csvText := b.do("GET", "/devices.csv?q=sn-flow", nil)
		if code != http.StatusOK || !strings.Contains(csvText, "SN-FLOW") || !strings.HasPrefix(csvText, "School,Hostname") {
			t.Errorf("CSV export = %d:\n%s", code, csvText)
		}

		// The audit log has it all, filtered by action.
		_, _, page = b.do("GET", "/audit?action=user.", nil)
		for _, want := range []string{"user.invite", "user.invite_accept", "user.disable"} {
			if !strings.Contains(page, want) {
				t.Errorf("audit page for user.* lacks %s", want)
			}
		}
		if strings.Contains(page, "policy.change") {
			t.Error("audit page filtered to user.* shows policy.change")
		}
		for _, action := range []string{"enroll_token.create", "policy.change", "device.export"} {
			got, err := h.app.Store.FindAudit(context.Background(), inventory.AuditFilter{Action: action})
			if err != nil || len(got) == 0 {
				t.Errorf("no %s audit entry (%v)", action, err)
			}
		}
		if code, _, page := b.do("GET", "/audit?since=yesterday", nil); code != http.StatusBadRequest || !strings.Contains(page, "is not a date") {
			t.Errorf("bad audit date = %d", code)
		}
		all, err := h.app.Store.FindAudit(context.Background(), inventory.AuditFilter{Limit: inventory.MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		if n, err := inventory.VerifyAudit(context.Background(), h.app.Store); err != nil || n != int64(len(all)) || n < 9 {
			t.Errorf("VerifyAudit = %d, %v; the log has %d entries", n, err, len(all))
		}
	})
}

// TestManagingAcrossSchools: a headteacher of one school may change a
// technician's role there, but not the account of someone who also works
// for a school the headteacher does not manage.
func TestManagingAcrossSchools(t *testing.T) {
	h := start(t, "")
	ctx := context.Background()
	for _, slug := range []string{"school-a", "school-b"} {
		if err := h.app.Store.CreateSchool(ctx, &inventory.School{Slug: slug, Name: "School " + slug}); err != nil {
			t.Fatal(err)
		}
	}
	headPW := person(t, h, "head@a.example", inventory.RoleHeadteacher, "school-a")
	person(t, h, "shared@it.example", inventory.RoleTechnician, "school-a")
	shared, err := h.app.Store.FindUserByEmail(ctx, "shared@it.example")
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := h.app.Store.FindSchoolBySlug(ctx, "school-b")
	if err := h.app.Store.GrantRole(ctx, inventory.RoleGrant{UserID: shared.ID, SchoolID: b2.ID, Role: inventory.RoleTechnician}); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, h)
	b.signIn("head@a.example", headPW)
	b.do("GET", "/people", nil)
	for _, path := range []string{"/disable", "/reset"} {
		if code, _, page := b.post("/people/"+shared.ID.String()+path, nil); code != http.StatusForbidden || !strings.Contains(page, "schools you do not manage") {
			t.Errorf("POST %s of a two-school technician = %d", path, code)
		}
	}
	if code, _, _ := b.post("/people/"+shared.ID.String()+"/roles/revoke", url.Values{"role": {"technician"}, "school": {"school-a"}}); code != http.StatusSeeOther {
		t.Errorf("removing the school-a role = %d, want 303", code)
	}
	// Now they work only for school-b: not the headteacher's to manage.
	if code, _, _ := b.post("/people/"+shared.ID.String()+"/roles", url.Values{"role": {"technician"}, "school": {"school-a"}}); code != http.StatusNotFound {
		t.Errorf("granting a role to someone of school-b only = %d, want 404", code)
	}
	// A headteacher can give roles only in their school, and never org_admin.
	person(t, h, "teacher@a.example", inventory.RoleStaff, "school-a")
	teacher, err := h.app.Store.FindUserByEmail(ctx, "teacher@a.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		form url.Values
		want int
	}{
		{url.Values{"role": {"technician"}, "school": {"school-b"}}, http.StatusBadRequest},
		{url.Values{"role": {"org_admin"}}, http.StatusForbidden},
		{url.Values{"role": {"computing_lead"}, "school": {"school-a"}}, http.StatusSeeOther},
	} {
		if code, _, _ := b.post("/people/"+teacher.ID.String()+"/roles", tc.form); code != tc.want {
			t.Errorf("give %v = %d, want %d", tc.form, code, tc.want)
		}
	}
	grants, err := h.app.Store.FindRoleGrants(ctx, shared.ID)
	if err != nil || len(grants) != 1 || grants[0].SchoolID != b2.ID {
		t.Errorf("grants after = %+v, %v; want only school-b's", grants, err)
	}
}

// patterns is the server's route patterns, read from the source that
// registers them, in a mux that says which one a request matches.
type patterns struct {
	all  []string
	mux  *http.ServeMux
	seen map[string]bool
}

var handlePattern = regexp.MustCompile(`mux\.Handle\("([^"]+)"`)

func routePatterns(t *testing.T) patterns {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "web", "web.go"))
	if err != nil {
		t.Fatal(err)
	}
	p := patterns{mux: http.NewServeMux(), seen: map[string]bool{}}
	for _, m := range handlePattern.FindAllStringSubmatch(string(src), -1) {
		p.all = append(p.all, m[1])
		p.mux.Handle(m[1], http.NotFoundHandler())
	}
	if len(p.all) < 30 {
		t.Fatalf("found only %d routes in web.go", len(p.all))
	}
	return p
}
