package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rollcall/rollcall/inventory"
	"github.com/rollcall/rollcall/server/app"
	"github.com/rollcall/rollcall/server/vault"
)

// TestKeysRotate runs `rollcall keys rotate` on a data directory holding
// a sealed PIN: afterwards it opens with the new key only, and the
// rotation is in the audit log.
func TestKeysRotate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := cli(t, nil, "user", "add", "--data-dir", dir, "--email", "tech@school.example", "--name", "Tess Tech", "--role", "technician"); err != nil {
		t.Fatal(err)
	}
	s, err := app.OpenStore(ctx, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := s.FindSchoolBySlug(ctx, inventory.DefaultSchoolSlug)
	if err != nil {
		t.Fatal(err)
	}
	tech, err := s.FindUserByEmail(ctx, "tech@school.example")
	if err != nil {
		t.Fatal(err)
	}
	ipad := &inventory.Asset{SchoolID: sc.ID, Kind: inventory.KindTablet, AssetTag: "IPAD-01", Status: inventory.AssetInStock}
	if err := s.CreateAsset(ctx, ipad); err != nil {
		t.Fatal(err)
	}
	v, err := vault.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	pinCtx := vault.PINContext(ipad.ID.String(), string(inventory.PINDevicePasscode))
	sealed, err := v.Seal([]byte("482916"), pinCtx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPIN(ctx, &inventory.PINRecord{AssetID: ipad.ID, Kind: inventory.PINDevicePasscode, Sealed: sealed, SetBy: tech.ID, SetAt: time.Now()}, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	oldKey, _ := os.ReadFile(filepath.Join(dir, vault.KeyFile))

	out, err := cli(t, nil, "keys", "rotate", "--data-dir", dir)
	if err != nil || !strings.Contains(out, "Sealed 1 secret again") {
		t.Fatalf("keys rotate = %q, %v", out, err)
	}
	s, err = app.OpenStore(ctx, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rec, err := s.FindPINRecord(ctx, ipad.ID, inventory.PINDevicePasscode)
	if err != nil {
		t.Fatal(err)
	}
	now, err := vault.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := now.Open(rec.Sealed, pinCtx); err != nil || string(plain) != "482916" {
		t.Errorf("with the new key the PIN opens as %q, %v", plain, err)
	}
	old, _ := vault.New(oldKey)
	if _, err := old.Open(rec.Sealed, pinCtx); err == nil {
		t.Error("the PIN still opens with the old key")
	}
	if got, err := s.FindAudit(ctx, inventory.AuditFilter{Action: "vault.rotate"}); err != nil || len(got) != 1 {
		t.Errorf("audit of the rotation: %d entries, %v", len(got), err)
	}
}
