package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
	"github.com/rollcall/rollcall/inventory/postgres/pgtest"
	"github.com/rollcall/rollcall/server/admin"
	"github.com/rollcall/rollcall/server/app"
	"github.com/rollcall/rollcall/server/secret"
)

// benchDevices is how many devices the dashboard benchmark registers:
// $ROLLCALL_BENCH_DEVICES, default 100,000 (a local authority).
func benchDevices(b *testing.B) int {
	n := 100000
	if s := os.Getenv("ROLLCALL_BENCH_DEVICES"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 100 {
			b.Fatalf("ROLLCALL_BENCH_DEVICES=%q: give a number of at least 100", s)
		}
		n = v
	}
	return n
}

// BenchmarkDashboard serves the dashboard's pages from a real server on
// PostgreSQL (or SQLite with ROLLCALL_BENCH_DB=sqlite) holding
// benchDevices enrolled laptops in 20 schools, to a signed-in technician
// of every school, and reports each page's median and 95th-percentile
// server time. Run it with `make bench`.
func BenchmarkDashboard(b *testing.B) {
	ctx := context.Background()
	dsn := ""
	if os.Getenv("ROLLCALL_BENCH_DB") != "sqlite" {
		dsn = pgtest.DSN(b)
	}
	a, err := app.Start(ctx, app.Options{DataDir: b.TempDir(), Config: app.Config{DB: dsn, AgentAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Wait(runCtx) }()
	b.Cleanup(func() { stop(); <-done })

	n := benchDevices(b)
	started := time.Now()
	ids := seedFleet(b, a.Store, n, 20)
	b.Logf("seeded %d devices in %s", n, time.Since(started).Round(time.Second))
	a.SweepOnce(ctx, time.Now())

	_, pw, err := admin.AddUser(ctx, a.Store, "bench@school.example", "Bench Tech", "org_admin", "")
	if err != nil {
		b.Fatal(err)
	}
	client := benchSignIn(b, "http://"+a.HTTPAddr.String(), "bench@school.example", pw)
	apiToken, err := admin.CreateAPIToken(ctx, a.Store, "bench@school.example")
	if err != nil {
		b.Fatal(err)
	}

	mid, err := a.Store.FindDeviceByID(ctx, ids[len(ids)*9/10])
	if err != nil {
		b.Fatal(err)
	}
	deep := mid.ID.String() + "." + base64.RawURLEncoding.EncodeToString([]byte(mid.SortKey(inventory.SortByHostname)))
	pages := []struct{ name, path string }{
		{"Overview", "/"},
		{"DeviceList", "/devices"},
		{"DeviceListFiltered", "/devices?status=noncompliant&rule=encryption&sort=hostname"},
		{"DeviceListSearchOne", "/devices?q=SN-0042424"},
		{"DeviceListSearchMany", "/devices?q=SN-0042"},
		{"DeviceListDeepPage", "/devices?sort=hostname&after=" + url.QueryEscape(deep)},
		{"DevicePage", "/devices/" + mid.ID.String()},
		// The compliance summary of every school, through the API.
		{"ComplianceSummary", "/api/v1/compliance"},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			var times []time.Duration
			get := func() {
				req, err := http.NewRequest(http.MethodGet, "http://"+a.HTTPAddr.String()+p.path, nil)
				if err != nil {
					b.Fatal(err)
				}
				if strings.HasPrefix(p.path, "/api/") {
					req.Header.Set("Authorization", "Bearer "+apiToken)
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil {
					b.Fatal(err)
				}
				if resp.StatusCode != 200 {
					b.Fatalf("GET %s = %d", p.path, resp.StatusCode)
				}
				times = append(times, time.Since(t0))
			}
			get() // warm
			times = times[:0]
			for b.Loop() {
				get()
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(times[len(times)*95/100].Microseconds())/1000, "p95-ms")
		})
	}
}

// seedFleet enrols n laptops spread over schools schools through the
// store, with postures that make about a third of them noncompliant, and
// returns their IDs.
func seedFleet(b *testing.B, s inventory.Store, n, schools int) []uuid.UUID {
	ctx := context.Background()
	var tokens []*inventory.EnrollToken
	secretHash := sha256.Sum256([]byte("bench"))
	for i := range schools {
		sc := &inventory.School{Slug: fmt.Sprintf("school-%02d", i), Name: fmt.Sprintf("School %02d", i)}
		if err := s.CreateSchool(ctx, sc); err != nil {
			b.Fatal(err)
		}
		// A token per 1,000 laptops, so enrolments do not queue on one row.
		for range n/schools/1000 + 1 {
			t := &inventory.EnrollToken{SchoolID: sc.ID, SecretHash: secretHash[:], MaxUses: 1000, ExpiresAt: time.Now().Add(24 * time.Hour)}
			if err := s.CreateEnrollToken(ctx, t); err != nil {
				b.Fatal(err)
			}
			tokens = append(tokens, t)
		}
	}
	ids := make([]uuid.UUID, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	policy := inventory.DefaultPolicy()
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				now := time.Now()
				r := benchReport(i, now)
				tok := tokens[(i%schools)*(len(tokens)/schools)+(i/schools/1000)%(len(tokens)/schools)]
				req := &inventory.EnrollRequest{
					TokenID: tok.ID, SecretHash: secretHash[:], Report: r, ReportHash: fmt.Sprintf("%064x", i), At: now,
					Enrollment: inventory.Enrollment{CertSerial: fmt.Sprintf("%x", i), CertNotAfter: now.Add(90 * 24 * time.Hour)},
					Verdict:    inventory.VerdictOf(inventory.Judge(policy, &r.Posture, now, now)),
				}
				d, err := s.EnrollDevice(ctx, req)
				if err != nil {
					b.Errorf("enrol %d: %v", i, err)
					return
				}
				ids[i] = d.ID
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return ids
}

// benchReport is a Windows laptop's report; one in three has BitLocker
// off and one in five has stale antivirus definitions.
func benchReport(i int, now time.Time) inventory.Report {
	vol := inventory.Volume{Name: "C:", MountPoint: "C:", OSVolume: true, State: inventory.VolumeEncrypted, Protection: "on", EncryptionPercent: 100, Method: "XTS-AES 128"}
	if i%3 == 0 {
		vol.State, vol.Protection, vol.EncryptionPercent, vol.Method = inventory.VolumeNotEncrypted, "off", 0, ""
	}
	enc := &inventory.Encryption{Volumes: []inventory.Volume{vol}}
	sig := now.Add(-time.Duration(i%5) * 24 * time.Hour)
	return inventory.Report{
		Hardware: inventory.Hardware{Make: "Dell Inc.", Model: "Latitude 3440", Serial: fmt.Sprintf("SN-%07d", i), Hostname: fmt.Sprintf("LAPTOP-%07d", i),
			OSName: "Microsoft Windows 11 Pro", OSVersion: "10.0.22631", CPUModel: "Intel Core i5-1335U", CPUCores: 10, MemoryBytes: 16 << 30,
			LoggedInUser: fmt.Sprintf("SCHOOL\\staff%05d", i%20000)},
		Posture: inventory.Posture{
			Antivirus:  &inventory.Antivirus{Products: []inventory.AntivirusProduct{{Name: "Microsoft Defender Antivirus", Source: "defender", Enabled: true, UpToDate: true, SignatureUpdated: sig}}},
			Encryption: enc,
			ScreenLock: &inventory.ScreenLock{IdleLockSeconds: 300, PasswordOnWake: true},
		},
	}
}

// benchSignIn signs in over HTTP, setting up TOTP, and returns a client
// carrying the session.
func benchSignIn(b *testing.B, base, email, pw string) *http.Client {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(base+"/signin", url.Values{"email": {email}, "password": {pw}})
	if err != nil {
		b.Fatal(err)
	}
	page := readAll(resp)
	m := totpSecretText.FindStringSubmatch(page)
	if m == nil {
		b.Fatalf("no TOTP set-up after sign-in:\n%.300s", page)
	}
	sec := ""
	for _, r := range m[1] {
		if r != ' ' {
			sec += string(r)
		}
	}
	code, err := secret.TOTPCode(sec, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	csrf := csrfField.FindStringSubmatch(page)
	resp, err = c.PostForm(base+"/account/totp", url.Values{"code": {code}, "csrf": {csrf[1]}})
	if err != nil {
		b.Fatal(err)
	}
	readAll(resp)
	return c
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
