package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
	"github.com/rollcall/rollcall/server/admin"
	"github.com/rollcall/rollcall/server/notify/mailtest"
)

// call sends an API request with token and returns the status and body.
func (h *harness) call(t *testing.T, method, path, token, contentType string, body []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+h.app.HTTPAddr.String()+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// callJSON sends v as JSON and decodes the answer into out (when not nil).
func (h *harness) callJSON(t *testing.T, method, path, token string, v, out any) int {
	t.Helper()
	var body []byte
	if v != nil {
		body, _ = json.Marshal(v)
	}
	st, raw := h.call(t, method, path, token, "application/json", body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s = %d: %v\n%s", method, path, st, err, raw)
		}
	}
	return st
}

// apiToken makes an API token for a person.
func apiToken(t *testing.T, h *harness, email string) string {
	t.Helper()
	tok, err := admin.CreateAPIToken(context.Background(), h.app.Store, email)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// loanJSON is the part of the API's loan the tests read.
type loanJSON struct {
	ID       string  `json:"id"`
	Status   string  `json:"status"`
	DeviceID *string `json:"device_id"`
	CheckDue *string `json:"check_due"`
	Version  int     `json:"version"`
}

type apiError struct {
	Error struct{ Code, Message string } `json:"error"`
}

// wantRefused checks an API answer is status with a message containing msg.
func wantRefused(t *testing.T, what string, st int, raw []byte, status int, msg string) {
	t.Helper()
	var e apiError
	_ = json.Unmarshal(raw, &e)
	if st != status || !strings.Contains(e.Error.Message, msg) {
		t.Errorf("%s = %d %q, want %d with %q", what, st, e.Error.Message, status, msg)
	}
}

// mailTo waits for an email to addr whose subject contains subject.
func mailTo(t *testing.T, m *mailtest.Server, addr, subject string) mailtest.Mail {
	t.Helper()
	return m.Wait(t, func(got mailtest.Mail) bool {
		for _, to := range got.To {
			if strings.EqualFold(to, addr) && strings.Contains(got.Subject, subject) {
				return true
			}
		}
		return false
	})
}

var loanIDInPath = regexp.MustCompile(`^/loans/([0-9a-f-]{36})\?`)

// TestLoanFlow walks a loan through every step on both stores, through
// the pages and the API, with the emails each step sends, refusing each
// step taken out of order, and finds every step in the audit log.
func TestLoanFlow(t *testing.T) {
	backends(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		headPW := person(t, h, "head@school.example", inventory.RoleHeadteacher, "")
		staffPW := person(t, h, "zoe@school.example", inventory.RoleStaff, "")
		staff := apiToken(t, h, "zoe@school.example")
		head := apiToken(t, h, "head@school.example")
		tech := h.apiToken

		// The technician adds a laptop to the register through the API.
		var asset struct{ ID, Status string }
		if st := h.callJSON(t, "POST", "/api/v1/register", tech, map[string]any{"kind": "laptop", "make": "Dell", "model": "Latitude 5440",
			"serial": "LOAN-0001", "asset_tag": "KIT-0001", "purchase_cost": 649.5, "purchase_date": "01/09/2025"}, &asset); st != http.StatusCreated {
			t.Fatalf("add laptop = %d", st)
		}

		// Zoë asks for it on the request page.
		zoe := newBrowser(t, h)
		zoe.signIn("zoe@school.example", staffPW)
		zoe.do("GET", "/loans/new", nil)
		code, loc, page := zoe.post("/loans", url.Values{"asset": {asset.ID}, "reason": {"Marking at home"}, "expected_return": {"2027-07-24"}})
		m := loanIDInPath.FindStringSubmatch(loc)
		if code != http.StatusSeeOther || m == nil {
			t.Fatalf("request = %d to %q:\n%.500s", code, loc, page)
		}
		loan := m[1]
		mail := mailTo(t, h.mail, "head@school.example", "needs your approval")
		if !strings.Contains(mail.Body, "LOAN-0001") || !strings.Contains(mail.Body, "/loans/"+loan) {
			t.Errorf("approval email does not name the laptop and link the loan:\n%s", mail.Body)
		}

		// Out of order: signing, handing over and returning before approval.
		st, raw := h.call(t, "POST", "/api/v1/loans/"+loan+"/sign", staff, "application/json", []byte(`{"full_name":"Person zoe@school.example","accept":true}`))
		wantRefused(t, "sign before approval", st, raw, http.StatusConflict, "waiting for approval")
		st, raw = h.call(t, "POST", "/api/v1/loans/"+loan+"/handover", tech, "application/json", nil)
		wantRefused(t, "hand over before signing", st, raw, http.StatusConflict, "has not signed")
		st, raw = h.call(t, "POST", "/api/v1/loans/"+loan+"/approve", staff, "application/json", nil)
		wantRefused(t, "staff approving", st, raw, http.StatusForbidden, "do not let you approve")
		// A second request for the same laptop is refused while this one is open.
		st, raw = h.call(t, "POST", "/api/v1/loans", tech, "application/json", []byte(`{"device_id":"`+asset.ID+`","reason":"Spare"}`))
		wantRefused(t, "second loan of the laptop", st, raw, http.StatusConflict, "another open loan")

		// The headteacher approves on the page; Zoë is emailed the link to sign.
		hb := newBrowser(t, h)
		hb.signIn("head@school.example", headPW)
		if code, _, page := hb.do("GET", "/loans/"+loan, nil); code != http.StatusOK || !strings.Contains(page, "Your decision") {
			t.Errorf("the headteacher's view of the request = %d:\n%.2000s", code, page)
		}
		if code, loc, _ := hb.post("/loans/"+loan+"/approve", nil); code != http.StatusSeeOther || !strings.Contains(loc, "done=loan-approve") {
			t.Fatalf("approve = %d to %q", code, loc)
		}
		mail = mailTo(t, h.mail, "zoe@school.example", "approved")
		if !strings.Contains(mail.Body, "/loans/"+loan) {
			t.Errorf("approval email has no link to sign:\n%s", mail.Body)
		}
		st, raw = h.call(t, "POST", "/api/v1/loans/"+loan+"/approve", head, "application/json", nil)
		wantRefused(t, "approve twice", st, raw, http.StatusConflict, "approved")

		// Zoë reads the agreement, filled in for the laptop, and signs it.
		_, _, page = zoe.do("GET", "/loans/"+loan, nil)
		for _, want := range []string{"LOAN-0001", "KIT-0001", "Latitude 5440", "Type your full name"} {
			if !strings.Contains(page, want) {
				t.Errorf("signing page lacks %q", want)
			}
		}
		n := strings.Count(page, `name="declaration"`)
		digest := regexp.MustCompile(`name="digest" value="([0-9a-f]{64})"`).FindStringSubmatch(page)
		if n < 3 || digest == nil {
			t.Fatalf("signing page has %d declarations and digest %v", n, digest)
		}
		form := url.Values{"full_name": {"Person zoe@school.example"}, "digest": {digest[1]}, "declarations": {strconv.Itoa(n)}}
		for i := range n - 1 {
			form.Add("declaration", strconv.Itoa(i))
		}
		if code, _, page := zoe.post("/loans/"+loan+"/sign", form); code != http.StatusBadRequest || !strings.Contains(page, "Tick each statement") {
			t.Errorf("sign with a box unticked = %d", code)
		}
		form.Add("declaration", strconv.Itoa(n-1))
		form.Set("full_name", "Someone Else")
		if code, _, page := zoe.post("/loans/"+loan+"/sign", form); code != http.StatusBadRequest || !strings.Contains(page, "full name") {
			t.Errorf("sign with another name = %d:\n%.300s", code, page)
		}
		form.Set("full_name", "  person ZOE@school.example ")
		if code, loc, page := zoe.post("/loans/"+loan+"/sign", form); code != http.StatusSeeOther || !strings.Contains(loc, "done=loan-sign") {
			t.Fatalf("sign = %d to %q:\n%.500s", code, loc, page)
		}
		mailTo(t, h.mail, "tech@school.example", "signed")

		// The signed agreement: stored once, downloadable, and never changed.
		id := uuid.MustParse(loan)
		sa, err := h.app.Store.FindAgreement(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(sa.Text, "LOAN-0001") || len(sa.SHA256) != 64 || sa.FullName != "person ZOE@school.example" || sa.Address != "127.0.0.1" {
			t.Errorf("stored agreement: %q by %q from %q", sa.SHA256, sa.FullName, sa.Address)
		}
		code, _, pdf := zoe.do("GET", "/loans/"+loan+"/agreement.pdf", nil)
		if code != http.StatusOK || pdf != string(sa.PDF) || !strings.HasPrefix(pdf, "%PDF-") {
			t.Fatalf("download agreement = %d, %d bytes (stored %d)", code, len(pdf), len(sa.PDF))
		}
		if txt := pdfText(t, []byte(pdf)); !strings.Contains(txt, "LOAN-0001") || !strings.Contains(txt, sa.SHA256) {
			t.Errorf("the PDF does not show the serial and digest:\n%s", txt)
		}
		if st, raw := h.call(t, "GET", "/api/v1/loans/"+loan+"/agreement.pdf", staff, "", nil); st != http.StatusOK || !bytes.Equal(raw, sa.PDF) {
			t.Errorf("API agreement.pdf = %d", st)
		}
		person(t, h, "other@school.example", inventory.RoleStaff, "")
		stranger := apiToken(t, h, "other@school.example")
		if st, _ := h.call(t, "GET", "/api/v1/loans/"+loan+"/agreement.pdf", stranger, "", nil); st != http.StatusNotFound {
			t.Errorf("another member of staff reading the agreement = %d, want 404", st)
		}

		// The headteacher previews, then saves, a new agreement: the signed one keeps its text.
		hb.do("GET", "/agreements", nil)
		edit := url.Values{"school": {inventory.DefaultSchoolSlug}, "title": {"Laptop loan"}, "body": {"You borrow the {make} {model} ({serial}).\n\nLook after it."}, "declarations": {"I will look after it.\nI will bring it back."}}
		edit.Set("action", "preview")
		if code, _, page := hb.post("/agreements", edit); code != http.StatusOK || !strings.Contains(page, "not saved yet") || !strings.Contains(page, "You borrow the Dell Latitude 5440 (ABC1234)") {
			t.Errorf("preview = %d:\n%.1500s", code, page)
		}
		edit.Set("body", "You borrow the {mke}.")
		if code, _, page := hb.post("/agreements", edit); code != http.StatusBadRequest || !strings.Contains(page, "{mke}") {
			t.Errorf("preview of an unknown placeholder = %d", code)
		}
		edit.Set("body", "You borrow the {make} {model} ({serial}).\n\nLook after it.")
		edit.Set("action", "save")
		if code, loc, _ := hb.post("/agreements", edit); code != http.StatusSeeOther || !strings.Contains(loc, "template-saved") {
			t.Errorf("save agreement = %d to %q", code, loc)
		}
		school, err := h.app.Store.FindSchoolBySlug(ctx, inventory.DefaultSchoolSlug)
		if err != nil {
			t.Fatal(err)
		}
		if versions, err := h.app.Store.FindAgreementTemplates(ctx, school.ID); err != nil || len(versions) != 1 || versions[0].Version != 1 {
			t.Errorf("after one preview and one save the versions are %+v (%v)", versions, err)
		}
		if again, err := h.app.Store.FindAgreement(ctx, id); err != nil || again.Text != sa.Text || !bytes.Equal(again.PDF, sa.PDF) {
			t.Errorf("a new version of the agreement changed the one signed (%v)", err)
		}

		// The technician hands it over: only now is it on loan.
		var l loanJSON
		if st := h.callJSON(t, "POST", "/api/v1/loans/"+loan+"/handover", tech, map[string]string{"condition": "Good", "accessories": "Charger"}, &l); st != http.StatusOK || l.Status != "on_loan" || l.CheckDue == nil {
			t.Fatalf("hand over = %d %+v", st, l)
		}
		if a, _ := h.app.Store.FindAssetByID(ctx, uuid.MustParse(asset.ID)); a.Status != inventory.AssetOnLoan {
			t.Errorf("after the hand-over the laptop is %s", a.Status)
		}
		mailTo(t, h.mail, "zoe@school.example", "on loan")
		st, raw = h.call(t, "POST", "/api/v1/loans/"+loan+"/sign", staff, "application/json", []byte(`{"full_name":"Person zoe@school.example","accept":true}`))
		wantRefused(t, "sign again", st, raw, http.StatusConflict, "on loan")

		// A check resets the clock; the list of checks due shows it only when due.
		firstDue := *l.CheckDue
		h.app.SweepOnce(ctx, time.Now().AddDate(0, 0, 40)) // within a week of the check
		mailTo(t, h.mail, "zoe@school.example", "check")
		if st := h.callJSON(t, "POST", "/api/v1/loans/"+loan+"/check", tech, map[string]string{"notes": "Updates installed"}, &l); st != http.StatusOK || l.CheckDue == nil || *l.CheckDue < firstDue {
			t.Errorf("check = %d, due %v (was %s)", st, l.CheckDue, firstDue)
		}

		// Return, then return again.
		if st := h.callJSON(t, "POST", "/api/v1/loans/"+loan+"/return", tech, map[string]string{"condition": "Good", "notes": "Charger back"}, &l); st != http.StatusOK || l.Status != "returned" {
			t.Fatalf("return = %d %+v", st, l)
		}
		st, raw = h.call(t, "POST", "/api/v1/loans/"+loan+"/return", tech, "application/json", nil)
		wantRefused(t, "return twice", st, raw, http.StatusConflict, "already received back")
		if a, _ := h.app.Store.FindAssetByID(ctx, uuid.MustParse(asset.ID)); a.Status != inventory.AssetInStock {
			t.Errorf("after the return the laptop is %s", a.Status)
		}
		mailTo(t, h.mail, "zoe@school.example", "returned")
		zoe.signIn("zoe@school.example", staffPW) // the sweep 40 days on ended her session
		if _, _, page := zoe.do("GET", "/loans/"+loan, nil); !strings.Contains(page, "download the signed agreement") {
			t.Errorf("after the return the borrower cannot find their agreement:\n%.3000s", page)
		}

		// The register page shows the laptop's history.
		tb := newBrowser(t, h)
		tb.signIn("tech@school.example", techPassword(t, h))
		_, _, page = tb.do("GET", "/register/"+asset.ID, nil)
		for _, want := range []string{"Handed over", "Checked", "Returned", "Person zoe@school.example", "£649.50"} {
			if !strings.Contains(page, want) {
				t.Errorf("the laptop's page lacks %q", want)
			}
		}

		// Her subject access export holds the loan and the text she signed, and no secret.
		code, _, export := zoe.do("GET", "/account/export.json", nil)
		if code != http.StatusOK || !strings.Contains(export, sa.SHA256) || !strings.Contains(export, "LOAN-0001") || strings.Contains(export, "$2a$") || strings.Contains(export, "password_hash") {
			t.Errorf("subject access export = %d:\n%.600s", code, export)
		}

		// Every step is in the audit log.
		for _, action := range []string{"register.create", "loan.request", "loan.approve", "loan.sign", "loan.handover", "loan.check", "loan.return"} {
			got, err := h.app.Store.FindAudit(ctx, inventory.AuditFilter{Action: action})
			if err != nil || len(got) == 0 {
				t.Errorf("no %s audit entry (%v)", action, err)
			}
		}
	})
}

// techPassword resets the harness technician's sign-in and returns the
// new password.
func techPassword(t *testing.T, h *harness) string {
	t.Helper()
	_, pw, err := admin.ResetSignIn(context.Background(), h.app.Store, "tech@school.example")
	if err != nil {
		t.Fatal(err)
	}
	return pw
}

// pdfText returns the text pdftotext reads from a PDF.
func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Fatal("pdftotext not found: run `make test` (it installs poppler-utils) or `sudo apt-get install poppler-utils`")
	}
	path := filepath.Join(t.TempDir(), "agreement.pdf")
	if err := os.WriteFile(path, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("pdftotext", "-layout", path, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}

// TestLoanApprovalRace: of many approvals of one request sent at once,
// exactly one wins; so does one of two concurrent requests for a laptop.
// A headteacher cannot approve their own request, and a school that asks
// for the computing leader's approval waits for it.
func TestLoanApprovalRace(t *testing.T) {
	backends(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		person(t, h, "head@school.example", inventory.RoleHeadteacher, "")
		person(t, h, "lead@school.example", inventory.RoleComputingLead, "")
		person(t, h, "sam@school.example", inventory.RoleStaff, "")
		head, lead, staff := apiToken(t, h, "head@school.example"), apiToken(t, h, "lead@school.example"), apiToken(t, h, "sam@school.example")

		var l loanJSON
		if st := h.callJSON(t, "POST", "/api/v1/loans", staff, map[string]string{"kind": "tablet", "reason": "Forest school photos"}, &l); st != http.StatusCreated || l.Status != "requested" {
			t.Fatalf("request = %d %+v", st, l)
		}
		const n = 8
		codes := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				codes[i], _ = h.call(t, "POST", "/api/v1/loans/"+l.ID+"/approve", head, "application/json", nil)
			})
		}
		wg.Wait()
		won := 0
		for _, c := range codes {
			switch c {
			case http.StatusOK:
				won++
			case http.StatusConflict:
			default:
				t.Errorf("concurrent approval answered %d", c)
			}
		}
		if won != 1 {
			t.Errorf("%d of %d concurrent approvals won, want exactly 1 (%v)", won, n, codes)
		}
		events, err := h.app.Store.FindLoanEvents(ctx, uuid.MustParse(l.ID), uuid.Nil)
		if err != nil || len(events) != 2 {
			t.Errorf("history after the race: %d events (%v), want requested and one approved", len(events), err)
		}

		// Approving your own request is refused.
		var own loanJSON
		h.callJSON(t, "POST", "/api/v1/loans", head, map[string]string{"kind": "laptop", "reason": "Governors' meeting"}, &own)
		st, raw := h.call(t, "POST", "/api/v1/loans/"+own.ID+"/approve", head, "application/json", nil)
		wantRefused(t, "approve your own request", st, raw, http.StatusForbidden, "request you made")

		// With the computing leader's approval turned on, the headteacher's alone is not enough.
		school, err := h.app.Store.FindSchoolBySlug(ctx, inventory.DefaultSchoolSlug)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.app.Store.SetSchoolLoanSettings(ctx, school.ID, inventory.LoanSettings{RequireLeadApproval: true, CheckIntervalDays: 28}); err != nil {
			t.Fatal(err)
		}
		var two loanJSON
		h.callJSON(t, "POST", "/api/v1/loans", staff, map[string]string{"kind": "camera", "reason": "Sports day"}, &two)
		mailTo(t, h.mail, "lead@school.example", "needs your approval")
		if h.callJSON(t, "POST", "/api/v1/loans/"+two.ID+"/approve", head, nil, &two); two.Status != "requested" {
			t.Errorf("after the headteacher alone the loan is %s", two.Status)
		}
		if h.callJSON(t, "POST", "/api/v1/loans/"+two.ID+"/approve", lead, nil, &two); two.Status != "approved" {
			t.Errorf("after both approvals the loan is %s", two.Status)
		}
		// Declining needs a reason, and tells the borrower.
		var three loanJSON
		h.callJSON(t, "POST", "/api/v1/loans", staff, map[string]string{"kind": "phone", "reason": "Trip"}, &three)
		st, raw = h.call(t, "POST", "/api/v1/loans/"+three.ID+"/decline", head, "application/json", []byte(`{}`))
		wantRefused(t, "decline without a reason", st, raw, http.StatusBadRequest, "reason")
		if h.callJSON(t, "POST", "/api/v1/loans/"+three.ID+"/decline", head, map[string]string{"reason": "Use the school phone"}, &three); three.Status != "declined" {
			t.Errorf("decline: %s", three.Status)
		}
		if m := mailTo(t, h.mail, "sam@school.example", "declined"); !strings.Contains(m.Body, "Use the school phone") {
			t.Errorf("decline email lacks the reason:\n%s", m.Body)
		}
		var list struct {
			Items []loanJSON `json:"items"`
		}
		if st := h.callJSON(t, "GET", "/api/v1/loans?status=requested,approved", head, nil, &list); st != http.StatusOK || len(list.Items) != 3 {
			t.Errorf("GET /api/v1/loans?status=requested,approved = %d with %d loans, want 3", st, len(list.Items))
		}
		st, raw = h.call(t, "GET", "/api/v1/loans?status=lost", head, "", nil)
		wantRefused(t, "unknown loan status", st, raw, http.StatusBadRequest, `"lost"`)
	})
}
