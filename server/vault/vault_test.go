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
