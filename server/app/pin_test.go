package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/rollcall/rollcall/inventory"
	"github.com/rollcall/rollcall/server/app"
	"github.com/rollcall/rollcall/server/vault"
)

// The values the PIN tests record: distinctive, so that finding one
// anywhere but a reveal answer is a leak.
const (
	secretPIN     = "739104-PIN-SECRET"
	secretPINNew  = "739104-PIN-SECRET-2"
	secretFirmwre = "Fw-Secret-55-xyzzy"
)

// TestPINRegister records, changes, shows and refuses PINs on both
// stores. A value is shown only to the technician, with their password
// and a reason; every view, use and refusal is in the PIN log and the
// audit log; the network manager is emailed of a view; and no value is
// found in any list, page, log, email, audit entry or database file. A
// change of the vault key leaves every value readable with the new key
// and none with the old.
func TestPINRegister(t *testing.T) {
	backends(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		store := h.app.Store
		techPW := techPassword(t, h)
		tech := apiToken(t, h, "tech@school.example")
		person(t, h, "head@school.example", inventory.RoleHeadteacher, "")
		person(t, h, "sam@school.example", inventory.RoleStaff, "")
		head, staff := apiToken(t, h, "head@school.example"), apiToken(t, h, "sam@school.example")
		if err := store.CreateSchool(ctx, &inventory.School{Slug: "other", Name: "Other School"}); err != nil {
			t.Fatal(err)
		}
		person(t, h, "tech-b@other.example", inventory.RoleTechnician, "other")
		techB := apiToken(t, h, "tech-b@other.example")
		school, err := store.FindSchoolBySlug(ctx, inventory.DefaultSchoolSlug)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.SetSchoolPINSettings(ctx, school.ID, inventory.PINSettings{NetworkManager: "nm@it-support.example"}); err != nil {
			t.Fatal(err)
		}
		ipad := &inventory.Asset{SchoolID: school.ID, Kind: inventory.KindTablet, Make: "Apple", Model: "iPad", Serial: "DMPPIN01", AssetTag: "IPAD-01", Status: inventory.AssetInStock, Shared: true}
		if err := store.CreateAsset(ctx, ipad); err != nil {
			t.Fatal(err)
		}
		pins := "/api/v1/devices/" + ipad.ID.String() + "/pins/"

		// The technician records, then changes, the passcode, and records the firmware password.
		for _, set := range []struct{ kind, value string }{{"device_passcode", secretPIN}, {"device_passcode", secretPINNew}, {"firmware_password", secretFirmwre}} {
			if st, raw := h.call(t, "PUT", pins+set.kind, tech, "application/json", []byte(`{"value": "`+set.value+`"}`)); st != http.StatusOK || bytes.Contains(raw, []byte(set.value)) {
				t.Fatalf("PUT %s = %d %s", set.kind, st, raw)
			}
		}
		st, raw := h.call(t, "PUT", pins+"device_passcode", head, "application/json", []byte(`{"value": "1111"}`))
		wantRefused(t, "the headteacher recording a PIN", st, raw, http.StatusForbidden, "Only the technician")
		st, raw = h.call(t, "PUT", pins+"shoe_size", tech, "application/json", []byte(`{"value": "9"}`))
		wantRefused(t, "an unknown kind", st, raw, http.StatusBadRequest, "device_passcode")
		rec, err := store.FindPINRecord(ctx, ipad.ID, inventory.PINDevicePasscode)
		if err != nil {
			t.Fatal(err)
		}
		if old, err := store.FindPINHistory(ctx, rec.ID); err != nil || len(old) != 1 {
			t.Errorf("the changed passcode's history: %d values (%v), want the old one", len(old), err)
		}

		// Refusals, each logged.
		reveal := func(token, kind, body string) (int, []byte) {
			return h.call(t, "POST", pins+kind+"/reveal", token, "application/json", []byte(body))
		}
		st, raw = reveal(tech, "device_passcode", `{"reason": "Reset for Year 3", "password": "not my password"}`)
		wantRefused(t, "a wrong password", st, raw, http.StatusUnauthorized, "not right")
		st, raw = reveal(tech, "device_passcode", `{"password": "`+techPW+`"}`)
		wantRefused(t, "no reason", st, raw, http.StatusBadRequest, "Reason")
		st, raw = reveal(staff, "device_passcode", `{"reason": "I forgot it", "password": "x"}`)
		wantRefused(t, "a member of staff", st, raw, http.StatusForbidden, "do not let you see")
		st, raw = reveal(head, "device_passcode", `{"reason": "Curious", "password": "x"}`)
		wantRefused(t, "the headteacher, when the school does not allow it", st, raw, http.StatusForbidden, "do not let you see")
		st, raw = reveal(techB, "device_passcode", `{"reason": "Helping out", "password": "x"}`)
		wantRefused(t, "another school's technician", st, raw, http.StatusNotFound, "no kit")

		// Shown to the technician with the password and a reason, and the network manager told.
		st, raw = reveal(tech, "device_passcode", `{"reason": "Reset for Year 3", "password": "`+techPW+`"}`)
		var shown struct {
			Values []struct{ Label, Value string } `json:"values"`
		}
		if err := json.Unmarshal(raw, &shown); err != nil || st != http.StatusOK || len(shown.Values) != 1 || shown.Values[0].Value != secretPINNew {
			t.Fatalf("reveal = %d %s", st, raw)
		}
		mail := mailTo(t, h.mail, "nm@it-support.example", "PIN shown")
		if !strings.Contains(mail.Body, "Reset for Year 3") || !strings.Contains(mail.Body, "DMPPIN01") {
			t.Errorf("the network manager's email lacks the reason or the iPad:\n%s", mail.Body)
		}
		// Staff say they used it, without seeing it.
		if st := h.callJSON(t, "POST", pins+"device_passcode/use", staff, map[string]string{"reason": "Unlocked it for a lesson"}, nil); st != http.StatusOK {
			t.Errorf("staff noting a use = %d", st)
		}

		var log struct {
			Items []struct{ Action, Reason, ActorID string } `json:"items"`
		}
		if st := h.callJSON(t, "GET", "/api/v1/pin-log?school=default", tech, nil, &log); st != http.StatusOK {
			t.Fatalf("PIN log = %d", st)
		}
		counts := map[string]int{}
		for _, e := range log.Items {
			counts[e.Action]++
		}
		if counts["set"] != 3 || counts["refused"] != 5 || counts["view"] != 1 || counts["use"] != 1 {
			t.Errorf("PIN log counts %v, want 3 set, 5 refused, 1 view, 1 use", counts)
		}
		if st, _ := h.call(t, "GET", "/api/v1/pin-log", staff, "", nil); st != http.StatusForbidden {
			t.Errorf("staff reading the PIN log = %d", st)
		}
		for action, want := range map[string]int{"pin.set": 3, "pin.view": 1, "pin.refused": 5, "pin.use": 1} {
			got, err := store.FindAudit(ctx, inventory.AuditFilter{Action: action})
			if err != nil || len(got) != want {
				t.Errorf("%d %s audit entries (%v), want %d", len(got), action, err, want)
			}
		}

		// No value anywhere but the reveal answer.
		tb := newBrowser(t, h)
		tb.signIn("tech@school.example", techPW)
		var seen []string
		for _, path := range []string{"/register/" + ipad.ID.String(), "/pins", "/register", "/audit"} {
			_, _, page := tb.do("GET", path, nil)
			seen = append(seen, page)
		}
		for _, path := range []string{"/api/v1/register", "/api/v1/register/" + ipad.ID.String(), "/api/v1/pin-log", "/api/v1/audit?limit=1000"} {
			_, body := h.call(t, "GET", path, tech, "", nil)
			seen = append(seen, string(body))
		}
		for _, m := range h.mail.Messages() {
			seen = append(seen, m.Subject, m.Body)
		}
		seen = append(seen, h.logs.String())
		for i, text := range seen {
			for _, v := range []string{secretPIN, secretFirmwre} {
				if strings.Contains(text, v) {
					t.Errorf("value %q found in place %d:\n%.300s", v, i, text)
				}
			}
		}
		files := databaseFiles(t, h)
		for _, v := range []string{secretPIN, secretFirmwre} {
			if f := findInFiles(t, files, v); f != "" {
				t.Errorf("the database file %s holds %q", f, v)
			}
		}

		// A new vault key: every value opens with it, none with the old one.
		oldKey, err := os.ReadFile(filepath.Join(h.dataDir, vault.KeyFile))
		if err != nil {
			t.Fatal(err)
		}
		h.stopApp()
		s, err := app.OpenStore(ctx, h.dataDir, h.db)
		if err != nil {
			t.Fatal(err)
		}
		n, _, _, err := vault.Rotate(h.dataDir, func(fn func(string, []string, []byte) ([]byte, error)) (int, error) {
			return s.ResealAll(ctx, func(v inventory.Sealed) ([]byte, error) { return fn(v.Table, v.IDs, v.Value) })
		})
		if err != nil || n < 4 { // two records, one old value, the technician's TOTP secret
			t.Fatalf("rotate: %d values, %v", n, err)
		}
		old, _ := vault.New(oldKey)
		cur, err := vault.LoadOrCreate(h.dataDir)
		if err != nil {
			t.Fatal(err)
		}
		checked := 0
		if _, err := s.ResealAll(ctx, func(v inventory.Sealed) ([]byte, error) {
			c, err := vault.ContextOf(v.Table, v.IDs)
			if err != nil {
				return nil, err
			}
			if _, err := cur.Open(v.Value, c); err != nil {
				t.Errorf("%s %v does not open with the new key: %v", v.Table, v.IDs, err)
			}
			if _, err := old.Open(v.Value, c); err == nil {
				t.Errorf("%s %v still opens with the old key", v.Table, v.IDs)
			}
			checked++
			return v.Value, nil
		}); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if checked != n {
			t.Errorf("checked %d values, rotated %d", checked, n)
		}
		h.startApp("127.0.0.1:0")
		st, raw = reveal(tech, "firmware_password", `{"reason": "BIOS update", "password": "`+techPW+`"}`)
		if st != http.StatusOK || !bytes.Contains(raw, []byte(secretFirmwre)) {
			t.Errorf("reveal after the new key = %d %s", st, raw)
		}
	})
}

// databaseFiles returns the files that hold the harness's database: the
// SQLite file and its journal, or the PostgreSQL cluster's data directory
// after a checkpoint.
func databaseFiles(t *testing.T, h *harness) []string {
	t.Helper()
	var root string
	if h.db == "" {
		root = h.dataDir
	} else {
		conn, err := pgx.Connect(context.Background(), h.db)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "CHECKPOINT"); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRow(context.Background(), "SHOW data_directory").Scan(&root); err != nil {
			t.Fatal(err)
		}
	}
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, path)
		}
		return nil
	})
	if err != nil || len(files) == 0 {
		t.Fatalf("no database files under %s (%v)", root, err)
	}
	return files
}

// findInFiles returns the first file holding text, or "".
func findInFiles(t *testing.T, files []string, text string) string {
	t.Helper()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && bytes.Contains(b, []byte(text)) {
			return f
		}
	}
	return ""
}
