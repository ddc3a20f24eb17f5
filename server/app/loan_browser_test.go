package app_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/rollcall/rollcall/inventory"
	"github.com/rollcall/rollcall/server/admin"
	"github.com/rollcall/rollcall/server/secret"
	"github.com/rollcall/rollcall/server/vault"
)

// chromeSignIn signs a person in at base in the browser, setting up
// two-step sign-in when their role asks for it, and ends on their home
// page.
func chromeSignIn(t *testing.T, ctx context.Context, base, email, password string) {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/signin"),
		chromedp.WaitVisible(`input[name=email]`),
		chromedp.SendKeys(`input[name=email]`, email),
		chromedp.SendKeys(`input[name=password]`, password),
		chromedp.Submit(`input[name=password]`),
		chromedp.WaitNotPresent(`input[name=password]`),
		chromedp.WaitVisible(`main h1`),
	)
	if err != nil {
		t.Fatalf("sign in as %s: %v", email, err)
	}
	if text(t, ctx, "main h1") != "Set up two-step sign-in" {
		return
	}
	code, err := secret.TOTPCode(strings.ReplaceAll(text(t, ctx, `[data-testid=totp-secret]`), " ", ""), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(ctx,
		chromedp.SendKeys(`input[name=code]`, code),
		chromedp.Submit(`input[name=code]`),
		chromedp.WaitVisible(`ul.codes`),
		chromedp.Click(`a.button`),
		chromedp.WaitNotPresent(`ul.codes`),
		chromedp.WaitVisible(`main h1`),
	)
	if err != nil {
		t.Fatalf("two-step set-up for %s: %v", email, err)
	}
}

func chromeSignOut(t *testing.T, ctx context.Context) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Click(`header form button`), chromedp.WaitVisible(`input[name=email]`)); err != nil {
		t.Fatalf("sign out: %v", err)
	}
}

// TestLoanInBrowser is a whole loan in a real Chromium: a member of staff
// asks for a laptop, the headteacher approves, the member of staff signs
// the agreement and downloads its PDF, and the technician hands the
// laptop over, records a check and receives it back. The emails arrive at
// the test's SMTP server and every step is in the audit log. On the way
// it takes the screenshots of the guides.
func TestLoanInBrowser(t *testing.T) {
	h := start(t, "")
	ctx := context.Background()
	store := h.app.Store
	_, staffPW, err := admin.AddUser(ctx, store, "zoe@school.example", "Zoë Ó Súilleabháin", "staff", "")
	if err != nil {
		t.Fatal(err)
	}
	_, headPW, err := admin.AddUser(ctx, store, "head@school.example", "Hari Head", "headteacher", "")
	if err != nil {
		t.Fatal(err)
	}
	techPW := techPassword(t, h)
	school, err := store.FindSchoolBySlug(ctx, inventory.DefaultSchoolSlug)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []*inventory.Asset{
		{SchoolID: school.ID, Kind: inventory.KindLaptop, Make: "Lenovo", Model: "ThinkPad E14", Serial: "PF4LOAN1", AssetTag: "KIT-0101", Status: inventory.AssetInStock, Location: "IT office"},
		{SchoolID: school.ID, Kind: inventory.KindTablet, Make: "Apple", Model: "iPad (10th generation)", Serial: "DMPLOAN2", AssetTag: "IPAD-07", Status: inventory.AssetInStock, Location: "Year 2 trolley", Shared: true},
		{SchoolID: school.ID, Kind: inventory.KindProjector, Make: "Epson", Model: "EB-W49", Serial: "X5LOAN3", AssetTag: "PRJ-03", Status: inventory.AssetInRepair, Location: "Hall"},
	} {
		if err := store.CreateAsset(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	base := "http://" + h.app.HTTPAddr.String()
	c := newChrome(t)
	downloads := t.TempDir()
	if _, err := chromedp.CallBrowser(c, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads}); err != nil {
		t.Fatalf("allow downloads: %v", err)
	}

	// Zoë asks for the laptop.
	chromeSignIn(t, c, base, "zoe@school.example", staffPW)
	err = chromedp.Do(c,
		chromedp.Navigate(base+"/loans/new"),
		chromedp.WaitVisible(`select[name=asset]`),
		chromedp.SetValue(`textarea[name=reason]`, "Planning and marking at home"),
	)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(c, chromedp.Evaluate[bool](`(() => { const s = document.querySelector("select[name=asset]"); s.value = [...s.options].find(o => o.text.includes("PF4LOAN1")).value; return true })()`)); err != nil {
		t.Fatalf("choose the laptop: %v", err)
	}
	screenshot(t, c, "loan-request.png")
	if err := chromedp.Do(c, chromedp.Submit(`textarea[name=reason]`), chromedp.WaitVisible(`[data-testid=loan-status]`)); err != nil {
		t.Fatalf("send the request: %v", err)
	}
	if st := text(t, c, `[data-testid=loan-status]`); st != "Waiting for approval" {
		t.Errorf("after the request the loan is %q", st)
	}
	loanURL, err := chromedp.Run(c, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	loanPath := strings.SplitN(strings.TrimPrefix(loanURL, base), "?", 2)[0]
	mailTo(t, h.mail, "head@school.example", "needs your approval")
	chromeSignOut(t, c)

	// The headteacher approves it from the loans page.
	chromeSignIn(t, c, base, "head@school.example", headPW)
	err = chromedp.Do(c,
		chromedp.Navigate(base+"/loans"),
		chromedp.WaitVisible(`main table a`),
		chromedp.Click(`main table a`),
		chromedp.WaitVisible(`form[action$="/approve"] button`),
	)
	if err != nil {
		t.Fatalf("open the request: %v\n%s", err, text(t, c, "main"))
	}
	screenshot(t, c, "loan-approve.png")
	if err := chromedp.Do(c, chromedp.Click(`form[action$="/approve"] button`), chromedp.WaitVisible(`p.flash`)); err != nil {
		t.Fatalf("approve: %v", err)
	}
	if st := text(t, c, `[data-testid=loan-status]`); st != "Waiting for signature" {
		t.Errorf("after approval the loan is %q", st)
	}
	if err := chromedp.Do(c, chromedp.Navigate(base+"/agreements"), chromedp.WaitVisible(`textarea[name=body]`)); err != nil {
		t.Fatalf("agreement editor: %v", err)
	}
	screenshot(t, c, "agreement-editor.png")
	// The retention page, previewing a shorter period for USB events.
	err = chromedp.Do(c,
		chromedp.Navigate(base+"/retention"),
		chromedp.WaitVisible(`[data-testid=not-in-force]`),
		chromedp.SetValue(`input[name=usb_events]`, "180"),
		chromedp.Click(`button[name=preview]`),
		chromedp.WaitVisible(`[data-testid=preview]`),
	)
	if err != nil {
		t.Fatalf("retention preview: %v\n%s", err, text(t, c, "main"))
	}
	if got := text(t, c, `[data-testid=preview]`); !strings.Contains(got, "Saving them deletes nothing more") {
		t.Errorf("retention preview says %q", got)
	}
	screenshot(t, c, "retention.png")
	chromeSignOut(t, c)
	approved := mailTo(t, h.mail, "zoe@school.example", "approved")
	if !strings.Contains(approved.Body, loanPath) {
		t.Errorf("the approval email has no link to %s:\n%s", loanPath, approved.Body)
	}

	// Zoë reads the agreement, ticks each statement, signs, and downloads the PDF.
	chromeSignIn(t, c, base, "zoe@school.example", staffPW)
	if err := chromedp.Do(c, chromedp.Navigate(base+loanPath), chromedp.WaitVisible(`[data-testid=agreement]`)); err != nil {
		t.Fatalf("open the agreement: %v", err)
	}
	if agreement := text(t, c, `[data-testid=agreement]`); !strings.Contains(agreement, "PF4LOAN1") || !strings.Contains(agreement, "KIT-0101") {
		t.Errorf("the agreement does not name the laptop:\n%s", agreement)
	}
	ticked, err := chromedp.Run(c, chromedp.Evaluate[int](`(() => { const boxes = document.querySelectorAll("input[name=declaration]"); boxes.forEach(b => b.click()); return boxes.length })()`))
	if err != nil || ticked < 3 {
		t.Fatalf("ticked %d statements: %v", ticked, err)
	}
	if err := chromedp.Do(c, chromedp.SendKeys(`input[name=full_name]`, "Zoë Ó Súilleabháin")); err != nil {
		t.Fatal(err)
	}
	screenshot(t, c, "loan-sign.png")
	if err := chromedp.Do(c, chromedp.Submit(`input[name=full_name]`), chromedp.WaitVisible(`[data-testid=agreement-pdf]`)); err != nil {
		t.Fatalf("sign: %v", err)
	}
	if err := chromedp.Do(c, chromedp.Click(`[data-testid=agreement-pdf]`)); err != nil {
		t.Fatalf("download: %v", err)
	}
	pdf := waitForDownload(t, downloads)
	if txt := pdfText(t, pdf); !strings.Contains(txt, "Zoë Ó Súilleabháin") || !strings.Contains(txt, "PF4LOAN1") {
		t.Errorf("the downloaded agreement lacks the signature or serial:\n%s", txt)
	}
	chromeSignOut(t, c)
	mailTo(t, h.mail, "tech@school.example", "signed")

	// The technician hands it over, records a check and receives it back.
	chromeSignIn(t, c, base, "tech@school.example", techPW)
	steps := []struct{ form, field, value, status string }{
		{"handover", "condition", "Good, no marks", "On loan"},
		{"check", "notes", "Updates installed", "On loan"},
		{"return", "notes", "Charger returned", "Returned"},
	}
	for _, s := range steps {
		err := chromedp.Do(c,
			chromedp.Navigate(base+loanPath),
			chromedp.WaitVisible(`form[action$="/`+s.form+`"] input[name=`+s.field+`]`),
			chromedp.SendKeys(`form[action$="/`+s.form+`"] input[name=`+s.field+`]`, s.value),
			chromedp.Submit(`form[action$="/`+s.form+`"] input[name=`+s.field+`]`),
			chromedp.WaitVisible(`p.flash`),
		)
		if err != nil {
			t.Fatalf("%s: %v", s.form, err)
		}
		if st := text(t, c, `[data-testid=loan-status]`); st != s.status {
			t.Errorf("after %s the loan is %q, want %q", s.form, st, s.status)
		}
		if s.form == "check" {
			screenshot(t, c, "loan-on-loan.png")
		}
	}
	mailTo(t, h.mail, "zoe@school.example", "returned")

	// The register, and an import with a bad line previewed before anything is written.
	if err := chromedp.Do(c, chromedp.Navigate(base+"/register"), chromedp.WaitVisible(`[data-testid=asset-total]`)); err != nil {
		t.Fatal(err)
	}
	if n := text(t, c, `[data-testid=asset-total]`); n != "3" {
		t.Errorf("the register shows %s items, want 3", n)
	}
	screenshot(t, c, "register.png")
	csvPath := filepath.Join(t.TempDir(), "snipeit.csv")
	file := strings.Replace(string(snipeIT(12, 200)), "Ready to Deploy", "Borrowed", 1)
	if err := os.WriteFile(csvPath, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(c,
		chromedp.Navigate(base+"/register/import"),
		chromedp.WaitVisible(`input[name=file]`),
		chromedp.SetUploadFiles(`input[name=file]`, []string{csvPath}),
		chromedp.Click(`button[value=preview]`),
		chromedp.WaitVisible(`[data-testid=import-preview]`),
	)
	if err != nil {
		t.Fatalf("preview the import: %v", err)
	}
	if valid, problems := text(t, c, `[data-testid=import-valid]`), text(t, c, `[data-testid=import-problems]`); valid != "11" || !strings.Contains(problems, "Borrowed") {
		t.Errorf("preview: %s valid, problems %q", valid, problems)
	}
	screenshot(t, c, "import-preview.png")
	if n := countAssets(t, h); n != 3 {
		t.Errorf("the preview wrote to the register: %d entries", n)
	}
	if err := chromedp.Do(c, chromedp.Click(`button[value=import_valid]`), chromedp.WaitVisible(`[data-testid=asset-total]`)); err != nil {
		t.Fatalf("import the valid lines: %v", err)
	}
	if n := text(t, c, `[data-testid=asset-total]`); n != "14" {
		t.Errorf("after importing 11 lines the register shows %s", n)
	}

	// Every step is in the audit log, by the person who took it.
	want := map[string]string{"loan.request": "zoe@school.example", "loan.approve": "head@school.example", "loan.sign": "zoe@school.example",
		"loan.handover": "tech@school.example", "loan.check": "tech@school.example", "loan.return": "tech@school.example", "register.import": "tech@school.example"}
	for action, actor := range want {
		got, err := store.FindAudit(ctx, inventory.AuditFilter{Action: action})
		if err != nil || len(got) != 1 || got[0].Actor != actor {
			t.Errorf("audit %s: %+v (%v), want one by %s", action, got, err, actor)
		}
	}
}

// waitForDownload returns the first complete file to appear in dir.
func waitForDownload(t *testing.T, dir string) []byte {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".pdf") {
				b, err := os.ReadFile(filepath.Join(dir, e.Name()))
				if err == nil && len(b) > 0 {
					return b
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("no PDF was downloaded within 20s")
	return nil
}

// TestPINInBrowser: the technician records an iPad's passcode on its
// register page, then shows it after typing their password, a code from
// their app and a reason. The value is on the page with the minute's
// refresh that hides it, the network manager's email arrives, and a
// member of staff notes using it from the trolley page.
func TestPINInBrowser(t *testing.T) {
	h := start(t, "")
	ctx := context.Background()
	store := h.app.Store
	techPW := techPassword(t, h)
	_, staffPW, err := admin.AddUser(ctx, store, "sam@school.example", "Sam Teacher", "staff", "")
	if err != nil {
		t.Fatal(err)
	}
	school, err := store.FindSchoolBySlug(ctx, inventory.DefaultSchoolSlug)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.SetSchoolPINSettings(ctx, school.ID, inventory.PINSettings{NetworkManager: "nm@it-support.example"}); err != nil {
		t.Fatal(err)
	}
	ipad := &inventory.Asset{SchoolID: school.ID, Kind: inventory.KindTablet, Make: "Apple", Model: "iPad (10th generation)", Serial: "DMPPIN07", AssetTag: "IPAD-07", Status: inventory.AssetInStock, Shared: true}
	if err := store.CreateAsset(ctx, ipad); err != nil {
		t.Fatal(err)
	}
	base := "http://" + h.app.HTTPAddr.String()
	c := newChrome(t)
	chromeSignIn(t, c, base, "tech@school.example", techPW)
	err = chromedp.Do(c,
		chromedp.Navigate(base+"/register/"+ipad.ID.String()),
		chromedp.WaitVisible(`[data-testid=pins]`),
	)
	if err != nil {
		t.Fatalf("open the PIN card: %v", err)
	}
	// The record form sits in a closed <details>: open it, type, save.
	if _, err := chromedp.Run(c, chromedp.Evaluate[bool](`(() => { document.querySelectorAll("#pins details").forEach(d => d.open = true); return true })()`)); err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(c,
		chromedp.SendKeys(`form[action$="/pins/device_passcode"] input[name=value]`, "482916"),
		chromedp.Submit(`form[action$="/pins/device_passcode"] input[name=value]`),
		chromedp.WaitVisible(`p.flash`),
	)
	if err != nil {
		t.Fatalf("record the passcode: %v", err)
	}
	if page := text(t, c, "main"); strings.Contains(page, "482916") {
		t.Error("the register page shows the passcode it recorded")
	}
	screenshot(t, c, "pins-card.png")
	code, err := secret.TOTPCode(totpSecretOf(t, store, "tech@school.example", h), time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(c,
		chromedp.Click(`a[href$="/pins/device_passcode/reveal"]`),
		chromedp.WaitVisible(`input[name=reason]`),
		chromedp.SendKeys(`input[name=reason]`, "Resetting it for Year 3"),
		chromedp.SendKeys(`input[name=password]`, techPW),
		chromedp.SendKeys(`input[name=code]`, code),
		chromedp.Submit(`input[name=code]`),
		chromedp.WaitVisible(`[data-testid=pin-value]`),
	)
	if err != nil {
		t.Fatalf("show the passcode: %v\n%s", err, text(t, c, "main"))
	}
	if v := text(t, c, `[data-testid=pin-value]`); v != "482916" {
		t.Errorf("the page shows %q, want the passcode", v)
	}
	refresh, err := chromedp.Run(c, chromedp.Evaluate[string](`document.querySelector('meta[http-equiv=refresh]')?.content ?? ""`))
	if err != nil || !strings.HasPrefix(refresh, "60;") {
		t.Errorf("the shown passcode's page refreshes with %q (%v), want after 60 seconds", refresh, err)
	}
	screenshot(t, c, "pin-reveal.png")
	mail := mailTo(t, h.mail, "nm@it-support.example", "PIN shown")
	if strings.Contains(mail.Body, "482916") || !strings.Contains(mail.Body, "Resetting it for Year 3") {
		t.Errorf("the network manager's email:\n%s", mail.Body)
	}

	// An old laptop goes to a data destruction service, with its certificate.
	old := &inventory.Asset{SchoolID: school.ID, Kind: inventory.KindLaptop, Make: "Dell", Model: "Latitude 3300", Serial: "OLDLT01", AssetTag: "KIT-0009", Status: inventory.AssetInStock}
	if err := store.CreateAsset(ctx, old); err != nil {
		t.Fatal(err)
	}
	certPath := filepath.Join(t.TempDir(), "destruction-certificate.pdf")
	cert := []byte("%PDF-1.4\n% certificate of secure data destruction, OLDLT01\n%%EOF\n")
	if err := os.WriteFile(certPath, cert, 0o600); err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(c,
		chromedp.Navigate(base+"/register/"+old.ID.String()),
		chromedp.WaitReady(`form[action$="/dispose"]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(c, chromedp.Evaluate[bool](`(() => { const f = document.querySelector('form[action$="/dispose"]'); f.closest("details").open = true; f.querySelector("select[name=method]").value = "data_destruction"; f.querySelector("input[name=date]").value = new Date().toISOString().slice(0, 10); return true })()`)); err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(c,
		chromedp.SendKeys(`form[action$="/dispose"] input[name=recipient]`, "Secure Shred Ltd"),
		chromedp.SetUploadFiles(`form[action$="/dispose"] input[name=certificate]`, []string{certPath}),
		chromedp.Submit(`form[action$="/dispose"] input[name=recipient]`),
		chromedp.WaitVisible(`[data-testid=disposal]`),
	)
	if err != nil {
		t.Fatalf("dispose: %v\n%s", err, text(t, c, "main"))
	}
	sum := sha256.Sum256(cert)
	if got := text(t, c, `[data-testid=certificate-sha]`); got != hex.EncodeToString(sum[:]) {
		t.Errorf("the page shows the certificate's SHA-256 as %q", got)
	}
	screenshot(t, c, "disposal.png")
	if a, err := store.FindAssetByID(ctx, old.ID); err != nil || a.Status != inventory.AssetDisposed {
		t.Errorf("after the disposal the laptop is %v (%v)", a.Status, err)
	}
	if d, err := store.FindDisposal(ctx, old.ID); err != nil || !bytes.Equal(d.Certificate, cert) {
		t.Errorf("the stored certificate differs (%v)", err)
	}
	chromeSignOut(t, c)

	// A member of staff signs the iPad out and notes using its passcode.
	chromeSignIn(t, c, base, "sam@school.example", staffPW)
	err = chromedp.Do(c,
		chromedp.Navigate(base+"/trolley"),
		chromedp.WaitVisible(`form[action="/trolley/out"] button`),
		chromedp.Click(`form[action="/trolley/out"] button`),
		chromedp.WaitVisible(`[data-testid=pin-used]`),
		chromedp.Click(`[data-testid=pin-used]`),
	)
	if err != nil {
		t.Fatalf("note the use: %v", err)
	}
	// The page already shows the sign-out's confirmation, so wait for
	// the PIN log instead.
	actions := map[string]int{}
	for deadline := time.Now().Add(10 * time.Second); actions["use"] == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		entries, err := store.FindPINLog(ctx, inventory.PINLogFilter{AssetID: ipad.ID})
		if err != nil {
			t.Fatal(err)
		}
		actions = map[string]int{}
		for _, e := range entries {
			actions[e.Action]++
		}
	}
	if actions["set"] != 1 || actions["view"] != 1 || actions["use"] != 1 {
		t.Errorf("PIN log of the iPad: %v, want one set, one view, one use", actions)
	}
}

// totpSecretOf opens a person's TOTP secret with the server's vault key,
// as the test's authenticator app.
func totpSecretOf(t *testing.T, store inventory.Store, email string, h *harness) string {
	t.Helper()
	u, err := store.FindUserByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.LoadOrCreate(h.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := v.Open(u.TOTPSealed, vault.TOTPContext(u.ID.String()))
	if err != nil {
		t.Fatal(err)
	}
	return string(plain)
}

// TestExitInBrowser runs a leaver's exit check-in from start to
// completion in a real Chromium: the line manager starts it, the
// technician records every step of the iPad assigned to the leaver, the
// leaver confirms their part, the technician and the line manager sign
// off, and the record's PDF downloads; the iPad is back in stock with its
// PIN retired.
func TestExitInBrowser(t *testing.T) {
	h := start(t, "")
	ctx := context.Background()
	store := h.app.Store
	techPW := techPassword(t, h)
	_, leaverPW, err := admin.AddUser(ctx, store, "zoe@school.example", "Zoë Ó Súilleabháin", "staff", "")
	if err != nil {
		t.Fatal(err)
	}
	_, lmPW, err := admin.AddUser(ctx, store, "lm@school.example", "Lee Manager", "line_manager", "")
	if err != nil {
		t.Fatal(err)
	}
	school, err := store.FindSchoolBySlug(ctx, inventory.DefaultSchoolSlug)
	if err != nil {
		t.Fatal(err)
	}
	ipad := &inventory.Asset{SchoolID: school.ID, Kind: inventory.KindTablet, Make: "Apple", Model: "iPad", Serial: "DMPEXIT1", AssetTag: "IPAD-ZOE", Status: inventory.AssetAssigned, AssignedTo: "zoe@school.example"}
	if err := store.CreateAsset(ctx, ipad); err != nil {
		t.Fatal(err)
	}
	base := "http://" + h.app.HTTPAddr.String()
	c := newChrome(t)
	downloads := t.TempDir()
	if _, err := chromedp.CallBrowser(c, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads}); err != nil {
		t.Fatalf("allow downloads: %v", err)
	}

	// The line manager starts the check-in.
	chromeSignIn(t, c, base, "lm@school.example", lmPW)
	err = chromedp.Do(c, chromedp.Navigate(base+"/exits"), chromedp.WaitVisible(`select[name=person]`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(c, chromedp.Evaluate[bool](`(() => { const s = document.querySelector("select[name=person]"); s.value = [...s.options].find(o => o.text.includes("zoe@")).value; document.querySelector("input[name=leaving_date]").value = new Date().toISOString().slice(0, 10); return true })()`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(c, chromedp.Submit(`select[name=person]`), chromedp.WaitVisible(`[data-testid=exit-item]`)); err != nil {
		t.Fatalf("start: %v", err)
	}
	exitURL, err := chromedp.Run(c, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	exitPath := strings.SplitN(strings.TrimPrefix(exitURL, base), "?", 2)[0]
	chromeSignOut(t, c)

	// The technician records each step of the iPad.
	chromeSignIn(t, c, base, "tech@school.example", techPW)
	for _, step := range inventory.ExitSteps {
		err := chromedp.Do(c,
			chromedp.Navigate(base+exitPath),
			chromedp.WaitVisible(`[data-testid=step-`+step+`]`),
			chromedp.SendKeys(`form:has([data-testid=step-`+step+`]) input[name=note]`, "Done for "+step),
			chromedp.Click(`[data-testid=step-`+step+`]`),
			chromedp.WaitVisible(`p.flash`),
		)
		if err != nil {
			t.Fatalf("step %s: %v\n%s", step, err, text(t, c, "main"))
		}
	}
	screenshot(t, c, "exit-check-in.png")
	chromeSignOut(t, c)

	// The leaver confirms; then the technician and the line manager sign off.
	chromeSignIn(t, c, base, "zoe@school.example", leaverPW)
	// Her home page leads to it.
	if err := chromedp.Do(c, chromedp.Navigate(base+"/"), chromedp.WaitVisible(`[data-testid=my-exit] a`), chromedp.Click(`[data-testid=my-exit] a`),
		chromedp.WaitVisible(`[data-testid=confirm-leaver]`), chromedp.Click(`[data-testid=confirm-leaver]`), chromedp.WaitVisible(`p.flash`)); err != nil {
		t.Fatalf("the leaver confirms: %v", err)
	}
	chromeSignOut(t, c)
	code, err := secret.TOTPCode(totpSecretOf(t, store, "tech@school.example", h), time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(c,
		chromedp.Navigate(base+"/signin"),
		chromedp.WaitVisible(`input[name=email]`),
		chromedp.SendKeys(`input[name=email]`, "tech@school.example"),
		chromedp.SendKeys(`input[name=password]`, techPW),
		chromedp.Submit(`input[name=password]`),
		chromedp.WaitVisible(`input[name=code]`),
		chromedp.SendKeys(`input[name=code]`, code),
		chromedp.Submit(`input[name=code]`),
		chromedp.WaitNotPresent(`input[name=code]`),
		chromedp.Navigate(base+exitPath),
		chromedp.WaitVisible(`[data-testid=signoff-technician]`),
		chromedp.Click(`[data-testid=signoff-technician]`),
		chromedp.WaitVisible(`p.flash`),
	)
	if err != nil {
		t.Fatalf("the technician signs off: %v", err)
	}
	chromeSignOut(t, c)
	chromeSignIn(t, c, base, "lm@school.example", lmPW)
	err = chromedp.Do(c,
		chromedp.Navigate(base+exitPath),
		chromedp.WaitVisible(`[data-testid=signoff-line_manager]`),
		chromedp.Click(`[data-testid=signoff-line_manager]`),
		chromedp.WaitVisible(`[data-testid=exit-record]`),
	)
	if err != nil {
		t.Fatalf("the line manager signs off: %v", err)
	}
	if st := text(t, c, `[data-testid=exit-status]`); st != "Completed" {
		t.Errorf("after both sign-offs the check-in is %q", st)
	}
	screenshot(t, c, "exit-complete.png")
	if err := chromedp.Do(c, chromedp.Click(`[data-testid=exit-record]`)); err != nil {
		t.Fatal(err)
	}
	pdf := waitForDownload(t, downloads)
	if txt := pdfText(t, pdf); !strings.Contains(txt, "Zoë Ó Súilleabháin") || !strings.Contains(txt, "Done for factory_reset") {
		t.Errorf("the record lacks the leaver or the reset:\n%s", txt)
	}
	if a, err := store.FindAssetByID(ctx, ipad.ID); err != nil || a.Status != inventory.AssetInStock {
		t.Errorf("after the check-in the iPad is %v (%v)", a.Status, err)
	}
}
