package web

import (
	"bytes"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// TestTemplates renders every page with full data, so a template that
// names a missing field or compares the wrong types fails here rather
// than in front of a person.
func TestTemplates(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	school := &inventory.School{ID: uuid.New(), Slug: "st-ann", Name: "St Ann's", Policy: inventory.DefaultPolicy()}
	other := &inventory.School{ID: uuid.New(), Slug: "st-bede", Name: "St Bede's", Policy: inventory.DefaultPolicy()}
	user := &inventory.User{ID: uuid.New(), Email: "it@school.example", Name: "Sam Tech", TOTPConfirmedAt: now}
	dev := &inventory.Device{ID: uuid.New(), SchoolID: school.ID, Hostname: "LAPTOP-1", Make: "Dell", Model: "Latitude", Serial: "SN1",
		OSName: "Windows", OSVersion: "11", LastSeenAt: now, Verdict: inventory.Verdict{Status: inventory.StatusNoncompliant, Failing: []string{inventory.RuleEncryption}},
		Hardware: inventory.Hardware{CPUModel: "i5", CPUCores: 4, LoggedInUser: "sam", Disks: []inventory.Disk{{Name: "disk0", Model: "SSD"}}}}
	comp := inventory.Judge(school.Policy, &inventory.Posture{}, now, now)
	tok := &inventory.EnrollToken{ID: uuid.New(), SchoolID: school.ID, MaxUses: 3, ExpiresAt: now.Add(time.Hour), CreatedAt: now}
	entry := &inventory.AuditEntry{Seq: 1, At: now, Actor: "it@school.example", Action: "session.signin", Record: "user/1", Addr: "127.0.0.1"}
	qr, err := newQRCode("otpauth://totp/Rollcall:it@school.example?secret=JBSWY3DPEHPK3PXP")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		page any
		want string
	}{
		{"signin.html", signinPage{Email: "a@b.c", Error: "wrong", Insecure: true}, "not reached over HTTPS"},
		{"totp.html", totpPage{Error: "not right"}, "authenticator app"},
		{"totp_setup.html", totpSetupPage{Secret: "ABCD EFGH", QR: qr, Required: true}, "ABCD EFGH"},
		{"totp_setup.html", totpSetupPage{Codes: []string{"aaaaa-bbbbb"}, Next: "/"}, "aaaaa-bbbbb"},
		{"error.html", errorPage{Status: 404, Message: "gone"}, "gone"},
		{"home.html", homePage{Roles: []string{"staff"}}, "Your roles: Staff"},
		{"overview.html", overviewPage{Counts: inventory.DeviceCounts{Total: 3, Failing: map[string]int{}}, UnseenDays: 7,
			Tiles: []ruleTile{{Rule: inventory.RuleEncryption, Failing: 1}}, Schools: []*inventory.School{school, other},
			Chart: complianceChart([]inventory.ComplianceDay{{SchoolID: school.ID, Day: now.Truncate(24 * time.Hour), Devices: 3, Compliant: 1, Unknown: 1, Noncompliant: 1}}, now.Truncate(24*time.Hour).AddDate(0, 0, -29), 30)},
			"3 devices, 1 compliant"},
		{"devices.html", devicesPage{Devices: []*inventory.Device{dev}, Schools: []*inventory.School{school, other}, SchoolOf: map[uuid.UUID]string{school.ID: school.Name},
			Rules: inventory.Rules, Seen: seenChoices, Next: "after=x", Total: 1, Sorts: []sortLink{{Key: "hostname", Query: "sort=hostname", Current: true}}}, "LAPTOP-1"},
		{"devices.html", devicesPage{Error: "status: bad", Seen: seenChoices}, "status: bad"},
		{"device.html", devicePage{Device: dev, School: school, Compliance: comp, Changed: map[string]time.Time{"encryption": now},
			USB:         []usbRow{{At: now, Type: inventory.EventUSBInserted, Device: inventory.USBDevice{Vendor: "SanDisk", VendorID: "0781", ProductID: "5581", MassStorage: true}, MassStorage: true}},
			Enrollments: []*inventory.Enrollment{{ID: uuid.New(), CreatedAt: now, CertNotAfter: now}}, CanRevoke: true, EOS: now}, "SanDisk"},
		{"audit.html", auditPage{Entries: []*inventory.AuditEntry{entry}, Query: map[string]string{}, Next: "before=1", Schools: []*inventory.School{school, other}}, "session.signin"},
		{"enrolment.html", enrolmentPage{Schools: []*inventory.School{school}, Tokens: []tokenRow{{Token: tok, School: "St Ann's", State: "active"}}, NewToken: "rc1_x", TTLs: ttlChoices, TTL: "24h"}, "rc1_x"},
		{"policy.html", policyPage{Schools: []*inventory.School{school, other}, School: school, Policy: school.Policy, CanEdit: true,
			Preview: &policyPreview{Devices: 2, Changed: 1}}, "would change status"},
		{"people.html", peoplePage{People: []personRow{{User: user, Grants: []grantRow{{Role: "technician", School: "St Ann's", Slug: "st-ann", CanRevoke: true}}}, {User: user, Self: true}},
			Invites: []*inventory.Invite{{Email: "n@school.example", Role: inventory.RoleStaff, SchoolID: school.ID, ExpiresAt: now}}, Schools: []*inventory.School{school},
			SchoolOf: map[uuid.UUID]string{school.ID: school.Name}, Roles: inventory.Roles, InviteURL: "http://x/invite/y", Form: url.Values{"role": {"staff"}}}, "http://x/invite/y"},
		{"invite.html", invitePage{Invite: &inventory.Invite{Name: "Nia", Email: "n@school.example", Role: inventory.RoleStaff}, School: "St Ann's", Token: "t", Error: "short"}, "Welcome to Rollcall, Nia"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			pd := pageData{Title: "T", User: user, CSRF: "tok", Nav: []navItem{{Href: "/", Text: "Overview", Current: true}}, Page: tc.page, Flash: "revoked"}
			if err := pages[tc.name].ExecuteTemplate(&buf, "layout.html", pd); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(buf.String(), tc.want) {
				t.Errorf("%s lacks %q", tc.name, tc.want)
			}
			if strings.Contains(buf.String(), "<script") || strings.Contains(buf.String(), "style=") {
				t.Errorf("%s has a script or an inline style, which the CSP refuses", tc.name)
			}
		})
	}
}

func TestSafeNext(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/devices?q=1", "/devices?q=1"},
		{"", "/"},
		{"https://evil.example/", "/"},
		{"//evil.example/", "/"},
		{"/\\evil.example", "/"},
		{"/\t/evil.example", "/"},
		{"/%09/evil.example", "/%09/evil.example"}, // escaped: a path on this server
		{"/\n/evil.example", "/"},
		{"https:/evil.example", "/"},
		{"/devices/../audit", "/devices/../audit"},
	} {
		if got := safeNext(tc.in); got != tc.want {
			t.Errorf("safeNext(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCursor(t *testing.T) {
	d := &inventory.Device{ID: uuid.New(), Hostname: "Lab.PC-01"}
	id, key, err := decodeCursor(encodeCursor(d, inventory.SortByHostname))
	if err != nil || id != d.ID || key != "lab.pc-01" {
		t.Errorf("cursor round trip = %v %q %v", id, key, err)
	}
	for _, bad := range []string{"x", "not-a-uuid.abc", d.ID.String() + ".!!"} {
		if _, _, err := decodeCursor(bad); inventory.ErrorCode(err) != inventory.EINVALID {
			t.Errorf("decodeCursor(%q) = %v, want EINVALID", bad, err)
		}
	}
}

func TestCSVCell(t *testing.T) {
	for _, tc := range []struct{ in, want string }{{"=1+1", "'=1+1"}, {"@SUM", "'@SUM"}, {"LAPTOP", "LAPTOP"}, {"", ""}} {
		if got := csvCell(tc.in); got != tc.want {
			t.Errorf("csvCell(%q) = %q", tc.in, got)
		}
	}
}
