package app_test

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rollcall/rollcall/agent/client"
	"github.com/rollcall/rollcall/agent/collect"

	"github.com/rollcall/rollcall/inventory"
	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
	"github.com/rollcall/rollcall/server/admin"
	"github.com/rollcall/rollcall/server/secret"
)

// chromium returns the path of the headless browser the page tests drive.
// `make test` installs Debian's chromium package when it is missing; a
// machine without it fails here, naming the fix, rather than skipping.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("ROLLCALL_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium found: run `make test` (it installs Debian's chromium package) or `sudo apt-get install chromium`, or set ROLLCALL_CHROMIUM")
	return ""
}

// newChrome starts a headless Chromium for the test and returns a tab.
func newChrome(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	// The first call starts the browser; it lives as long as ctx, so the
	// time limit goes on a context derived after it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	ctx, cancelTime := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelTime)
	return ctx
}

// text returns the visible text of the first element sel matches.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(sel))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// screenshot saves a full-page PNG: into docs/images when
// ROLLCALL_SCREENSHOTS=1 (`make screenshots`), else into a temporary
// folder; either way it must be a real picture.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		t.Fatalf("screenshot %s is not a PNG: %v", name, err)
	}
	if b := img.Bounds(); b.Dx() < 800 || b.Dy() < 300 {
		t.Errorf("screenshot %s is only %dx%d", name, b.Dx(), b.Dy())
	}
	dir := t.TempDir()
	if os.Getenv("ROLLCALL_SCREENSHOTS") == "1" {
		dir = filepath.Join("..", "..", "docs", "images")
	}
	if err := os.WriteFile(filepath.Join(dir, name), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDashboardInBrowser signs a technician in with a password and a TOTP
// code in a real Chromium, finds the enrolled laptop on the overview and
// in the filtered list, opens its page, revokes its certificate, and sees
// the agent refused.
func TestDashboardInBrowser(t *testing.T) {
	h := start(t, "")
	_, pw, err := admin.AddUser(context.Background(), h.app.Store, "browser@school.example", "Tess Tech", "technician", "")
	if err != nil {
		t.Fatal(err)
	}
	id := enroll(t, h.token(t, 2, time.Hour), "SN-BROWSER")
	other := enroll(t, h.token(t, 1, time.Hour), "SN-OTHER")
	// Real reports: this laptop has BitLocker suspended, the other is compliant;
	// a memory stick was plugged into this one.
	checkInPosture(t, id, "SN-BROWSER", false)
	checkInPosture(t, other, "SN-OTHER", true)
	_, err = agentClient(t, id).SendEvents(context.Background(), &agentv1.SendEventsRequest{Events: []*agentv1.Event{{
		Id: uuid.NewString(), Type: inventory.EventUSBInserted, OccurredAt: timestamppb.Now(),
		Usb: &agentv1.UsbEvent{User: "tess", Device: &agentv1.UsbDevice{VendorId: "0781", ProductId: "5567", Vendor: "SanDisk", Product: "Cruzer Blade", Serial: "4C53000123", Class: "mass storage", MassStorage: true}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	// A class set of ten more, one in four with BitLocker off.
	for i := range 10 {
		serial := fmt.Sprintf("SN-LAB-%02d", i)
		checkInPosture(t, enroll(t, h.token(t, 1, time.Hour), serial), serial, i%4 != 0)
	}
	h.app.SweepOnce(context.Background(), time.Now()) // today's figures for the chart
	// And the four weeks before, as the sweep would have kept them: a
	// school getting its laptops encrypted.
	school, err := h.app.Store.FindSchoolBySlug(context.Background(), inventory.DefaultSchoolSlug)
	if err != nil {
		t.Fatal(err)
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	for d := 1; d < 30; d++ {
		ok := 3 + (29-d)*5/29
		day := inventory.ComplianceDay{SchoolID: school.ID, Day: today.AddDate(0, 0, -d), Devices: 12, Compliant: ok, Unknown: d % 2, Noncompliant: 12 - ok - d%2}
		if err := h.app.Store.RecordComplianceDay(context.Background(), day); err != nil {
			t.Fatal(err)
		}
	}
	base := "http://" + h.app.HTTPAddr.String()
	ctx := newChrome(t)

	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/devices"),
		chromedp.WaitVisible(`input[name=email]`),
		chromedp.SendKeys(`input[name=email]`, "browser@school.example"),
		chromedp.SendKeys(`input[name=password]`, pw),
		chromedp.Submit(`input[name=password]`),
		chromedp.WaitVisible(`[data-testid=totp-secret]`),
	)
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
	code, err := secret.TOTPCode(strings.ReplaceAll(text(t, ctx, `[data-testid=totp-secret]`), " ", ""), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(ctx,
		chromedp.SendKeys(`input[name=code]`, code),
		chromedp.Submit(`input[name=code]`),
		chromedp.WaitVisible(`ul.codes`),
	)
	if err != nil {
		t.Fatalf("TOTP set-up: %v", err)
	}
	if n := len(strings.Fields(text(t, ctx, `ul.codes`))); n != 10 {
		t.Errorf("recovery codes page shows %d codes, want 10", n)
	}
	// The page asked for first comes after the sign-in; the overview is a click away.
	if err := chromedp.Do(ctx, chromedp.Click(`a.button`), chromedp.WaitVisible(`[data-testid=count-devices]`)); err != nil {
		t.Fatalf("continue to the overview: %v", err)
	}
	if h1 := text(t, ctx, "h1"); h1 != "Fleet overview" {
		t.Errorf("after sign-in the page is %q", h1)
	}
	if total, bad := text(t, ctx, `[data-testid=count-devices]`), text(t, ctx, `[data-testid=count-noncompliant]`); total != "12" || bad != "4" {
		t.Errorf("overview counts %q devices, %q not compliant; want 12 and 4", total, bad)
	}
	if bars, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(".chart svg g").length`)); err != nil || bars != 30 {
		t.Errorf("the chart has %d bars (%v), want 30", bars, err)
	}
	screenshot(t, ctx, "overview.png")

	// Filter the list by serial number and open the device.
	err = chromedp.Do(ctx,
		chromedp.Click(`nav a[href="/devices"]`),
		chromedp.WaitVisible(`input[name=q]`),
		chromedp.SendKeys(`input[name=q]`, "browser"),
		chromedp.Submit(`input[name=q]`),
		chromedp.WaitVisible(`input[name=q][value="browser"]`),
	)
	if err != nil {
		t.Fatalf("filter devices: %v", err)
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("tbody tr").length`))
	if err != nil {
		t.Fatal(err)
	}
	if n := text(t, ctx, `[data-testid=device-total]`); n != "1" || rows != 1 {
		t.Errorf("search for 'browser' shows %s devices in %d rows, want 1", n, rows)
	}
	if err := chromedp.Do(ctx, chromedp.Click(`tbody a`), chromedp.WaitVisible(`[data-testid=device-status]`)); err != nil {
		t.Fatalf("open device: %v", err)
	}
	if h1, st := text(t, ctx, "h1"), text(t, ctx, `[data-testid=device-status]`); h1 != "LAPTOP-SN-BROWSER" || st != "Not compliant" {
		t.Errorf("device page: heading %q, status %q", h1, st)
	}
	if usb := text(t, ctx, `[data-testid=usb]`); !strings.Contains(usb, "Cruzer Blade") {
		t.Errorf("device page USB timeline: %q", usb)
	}
	screenshot(t, ctx, "device.png")

	// Revoke its certificate; the agent is refused from then on.
	if err := chromedp.Do(ctx, chromedp.Click(`[data-testid=revoke]`), chromedp.WaitVisible(`p.flash`)); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if flash := text(t, ctx, `p.flash`); !strings.Contains(flash, "revoked") {
		t.Errorf("after revoking the page says %q", flash)
	}
	_, err = agentClient(t, id).CheckIn(context.Background(), &agentv1.CheckInRequest{ReportHash: strings.Repeat("0", 64)})
	wantStatus(t, err, codes.Unauthenticated, "revoked")

	entries, err := h.app.Store.FindAudit(context.Background(), inventory.AuditFilter{Action: "enrollment.revoke"})
	if err != nil || len(entries) != 1 || entries[0].Actor != "browser@school.example" {
		t.Errorf("audit of the revocation: %v, %+v", err, entries)
	}
}

// checkInPosture sends a full report with the posture of a Windows laptop
// whose BitLocker is on, or suspended.
func checkInPosture(t *testing.T, id *client.Identity, serial string, encrypted bool) {
	t.Helper()
	rep, _ := report(serial, "LAPTOP-"+serial)
	rep.Hardware.CpuModel, rep.Hardware.LoggedInUser, rep.Hardware.AgentVersion = "Intel Core i5-1335U", "SCHOOL\\tess", "v0.4.0"
	vol := &agentv1.Volume{Name: "C:", MountPoint: "C:", OsVolume: true, State: inventory.VolumeEncrypted, Protection: "on", EncryptionPercent: 100, Method: "XTS-AES 128"}
	if !encrypted {
		vol.State, vol.Protection = inventory.VolumeSuspended, "off"
	}
	rep.Posture = &agentv1.Posture{
		Antivirus:  &agentv1.Antivirus{Products: []*agentv1.AntivirusProduct{{Name: "Microsoft Defender Antivirus", Source: "defender", Enabled: true, UpToDate: true, SignatureUpdated: timestamppb.New(time.Now().Add(-6 * time.Hour))}}},
		Encryption: &agentv1.Encryption{Volumes: []*agentv1.Volume{vol}},
		ScreenLock: &agentv1.ScreenLock{IdleLockSeconds: 300, PasswordOnWake: true, User: "tess"},
		Usb:        &agentv1.Usb{},
	}
	if _, err := agentClient(t, id).CheckIn(context.Background(), &agentv1.CheckInRequest{ReportHash: collect.Hash(rep), Report: rep}); err != nil {
		t.Fatal(err)
	}
}

// TestSweepJudgesAgeingDefinitions: a laptop whose antivirus definitions
// stop updating keeps sending the same report, so only the sweep can
// notice when they pass the policy's age limit.
func TestSweepJudgesAgeingDefinitions(t *testing.T) {
	h := start(t, "")
	id := enroll(t, h.token(t, 1, time.Hour), "SN-AGEING")
	checkInPosture(t, id, "SN-AGEING", true) // definitions 6 hours old, limit 3 days
	d := deviceBySerial(t, h, "SN-AGEING")
	if d.Verdict.Status != inventory.StatusCompliant || d.Verdict.Until.IsZero() {
		t.Fatalf("after the report the verdict is %+v, want compliant with an Until", d.Verdict)
	}
	ctx := context.Background()
	h.app.SweepOnce(ctx, time.Now().Add(24*time.Hour))
	if d = deviceBySerial(t, h, "SN-AGEING"); d.Verdict.Status != inventory.StatusCompliant {
		t.Errorf("a day later the verdict is %+v, want still compliant", d.Verdict)
	}
	h.app.SweepOnce(ctx, time.Now().Add(3*24*time.Hour))
	if d = deviceBySerial(t, h, "SN-AGEING"); !d.Verdict.Fails(inventory.RuleAntivirus) {
		t.Errorf("three days later the verdict is %+v, want antivirus failing", d.Verdict)
	}
}
