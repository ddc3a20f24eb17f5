package main

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
	"github.com/rollcall/rollcall/server/vault"
)

// keysRotate changes the vault key: every sealed value (recovery keys,
// TOTP secrets, PIN records and their history) is sealed again under a
// new key in one transaction, then the new key replaces the old file.
func (e env) keysRotate(ctx context.Context, args []string) error {
	fs, dataDir, db := e.flags("keys rotate")
	if err := parse(fs, args); err != nil {
		return err
	}
	s, _, err := e.openStore(ctx, *dataDir, *db)
	if err != nil {
		return err
	}
	defer s.Close()
	n, oldID, newID, err := vault.Rotate(*dataDir, func(fn func(string, []string, []byte) ([]byte, error)) (int, error) {
		return s.ResealAll(ctx, func(v inventory.Sealed) ([]byte, error) { return fn(v.Table, v.IDs, v.Value) })
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Sealed %s again under the new vault key %s (was %s). The old key is gone; start the server again so it loads the new one.\n", plural(n, "secret"), newID, oldID)
	return audit(ctx, s, uuid.Nil, "vault.rotate", "vault", fmt.Sprintf("resealed %d secrets; key %s replaced by %s", n, oldID, newID))
}

// plural writes a count of things: "1 secret", "3 secrets".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
