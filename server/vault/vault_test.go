package vault

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	v1, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	sealed, err := v1.Seal([]byte("secret"), []byte("ctx"))
	if err != nil {
		t.Fatal(err)
	}
	v2, err := LoadOrCreate(dir) // the same key again
	if err != nil {
		t.Fatal(err)
	}
	if got, err := v2.Open(sealed, []byte("ctx")); err != nil || string(got) != "secret" {
		t.Errorf("Open with the reloaded key = %q, %v", got, err)
	}
	if err := os.WriteFile(filepath.Join(dir, KeyFile), []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreate(dir); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("a damaged key file: %v", err)
	}
}

func TestSealOpen(t *testing.T) {
	v, _ := New(bytes.Repeat([]byte{7}, 32))
	other, _ := New(bytes.Repeat([]byte{8}, 32))
	const secret = "123456-234567-345678-456789-567890-678901-789012-890123"
	sealed, err := v.Seal([]byte(secret), []byte("device-1/{A}"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte(secret)) || bytes.Contains(sealed, []byte("123456")) {
		t.Fatal("the sealed value holds the secret in the clear")
	}
	again, _ := v.Seal([]byte(secret), []byte("device-1/{A}"))
	if bytes.Equal(sealed, again) {
		t.Error("sealing twice gave the same bytes; the nonce must differ")
	}
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	tests := []struct {
		name    string
		v       *Vault
		sealed  []byte
		context string
		want    string // "" means it opens
	}{
		{"Opens", v, sealed, "device-1/{A}", ""},
		{"OtherContext", v, sealed, "device-2/{A}", "altered"},
		{"Tampered", v, flipped, "device-1/{A}", "altered"},
		{"OtherKey", other, sealed, "device-1/{A}", "another key"},
		{"Garbage", v, []byte("plain text"), "device-1/{A}", "not a sealed value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.v.Open(tt.sealed, []byte(tt.context))
			if tt.want == "" {
				if err != nil || string(got) != secret {
					t.Errorf("Open = %q, %v", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open err = %v, want %q", err, tt.want)
			}
		})
	}
}

// memStore is a store of sealed values for the rotation tests.
type memStore struct {
	rows map[string][]byte // table/ids -> sealed
	ids  map[string][]string
	fail int // fail on this value (1-based); 0 never
}

func (m *memStore) reseal(fn func(table string, ids []string, sealed []byte) ([]byte, error)) (int, error) {
	next := map[string][]byte{}
	n := 0
	for k, v := range m.rows {
		n++
		if n == m.fail {
			return 0, os.ErrInvalid
		}
		table, _, _ := strings.Cut(k, "/")
		out, err := fn(table, m.ids[k], v)
		if err != nil {
			return 0, err
		}
		next[k] = out
	}
	m.rows = next // all or nothing, like a transaction
	return n, nil
}

func TestRotate(t *testing.T) {
	dir := t.TempDir()
	v, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	oldKey, _ := os.ReadFile(filepath.Join(dir, KeyFile))
	m := &memStore{rows: map[string][]byte{}, ids: map[string][]string{}}
	plain := map[string]string{}
	for _, r := range []struct {
		table string
		ids   []string
		value string
	}{
		{"recovery_keys", []string{"dev-1", "{5E1F-0001}"}, "111111-222222-333333-444444-555555-666666-777777-888888"},
		{"users", []string{"user-1"}, "JBSWY3DPEHPK3PXP"},
		{"pin_records", []string{"rec-1", "asset-1", "device_passcode"}, "4821"},
		{"pin_history", []string{"rec-1", "2026-12-01T09:00:00Z", "asset-1", "device_passcode"}, "1234"},
	} {
		ctx, err := ContextOf(r.table, r.ids)
		if err != nil {
			t.Fatal(err)
		}
		sealed, err := v.Seal([]byte(r.value), ctx)
		if err != nil {
			t.Fatal(err)
		}
		k := r.table + "/" + strings.Join(r.ids, "/")
		m.rows[k], m.ids[k], plain[k] = sealed, r.ids, r.value
	}

	// A rotation that fails part way changes nothing, and leaves both keys loadable.
	m.fail = 3
	if _, _, _, err := Rotate(dir, m.reseal); err == nil {
		t.Fatal("a failed reseal was not reported")
	}
	if key, _ := os.ReadFile(filepath.Join(dir, KeyFile)); !bytes.Equal(key, oldKey) {
		t.Fatal("a failed rotation replaced the key")
	}
	if _, err := os.Stat(filepath.Join(dir, NextKeyFile)); err != nil {
		t.Fatalf("a failed rotation lost the next key: %v", err)
	}
	// Run again, it finishes with the same next key.
	m.fail = 0
	n, oldID, newID, err := Rotate(dir, m.reseal)
	if err != nil || n != 4 || oldID == newID {
		t.Fatalf("Rotate = %d, %s, %s, %v", n, oldID, newID, err)
	}
	if _, err := os.Stat(filepath.Join(dir, NextKeyFile)); err == nil {
		t.Error("the next key file is still there after the rotation")
	}
	fi, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the new key file: %v, mode %v", err, fi.Mode().Perm())
	}
	now, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	old, err := New(oldKey)
	if err != nil {
		t.Fatal(err)
	}
	for k, sealed := range m.rows {
		table, _, _ := strings.Cut(k, "/")
		ctx, _ := ContextOf(table, m.ids[k])
		if got, err := now.Open(sealed, ctx); err != nil || string(got) != plain[k] {
			t.Errorf("%s with the new key = %q, %v", k, got, err)
		}
		if _, err := old.Open(sealed, ctx); err == nil {
			t.Errorf("%s still opens with the old key", k)
		}
	}
	if now.ID() != newID {
		t.Errorf("the key loaded is %s, want %s", now.ID(), newID)
	}
}

func TestContextOf(t *testing.T) {
	for _, tc := range []struct {
		table string
		ids   []string
		want  string
	}{
		{"recovery_keys", []string{"d", "{P}"}, "rollcall recovery key {P}"},
		{"users", []string{"u"}, "totp:u"},
		{"pin_records", []string{"r", "a", "device_passcode"}, "rollcall pin a device_passcode"},
		{"pin_history", []string{"r", "t", "a", "firmware_password"}, "rollcall pin a firmware_password"},
		{"pin_records", []string{"r"}, ""},
		{"sessions", []string{"s"}, ""},
	} {
		got, err := ContextOf(tc.table, tc.ids)
		if tc.want == "" && err == nil || tc.want != "" && string(got) != tc.want {
			t.Errorf("ContextOf(%s, %v) = %q, %v; want %q", tc.table, tc.ids, got, err, tc.want)
		}
	}
}
