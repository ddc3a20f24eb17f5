package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rollcall/rollcall/inventory"
	"github.com/rollcall/rollcall/inventory/postgres"
	"github.com/rollcall/rollcall/inventory/sqlite"
)

// SQLiteFile is the default database file in the data directory.
const SQLiteFile = "rollcall.db"

// OpenStore opens the database named by dsn, or the SQLite file in dataDir
// when dsn is empty, runs its migrations and makes sure a school exists.
// A dsn is a postgres:// or postgresql:// URL, or sqlite:PATH.
func OpenStore(ctx context.Context, dataDir, dsn string) (inventory.Store, error) {
	var (
		s   inventory.Store
		err error
	)
	switch {
	case dsn == "":
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
		s, err = sqlite.Open(ctx, filepath.Join(dataDir, SQLiteFile))
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		s, err = postgres.Open(ctx, dsn)
	case strings.HasPrefix(dsn, "sqlite:"):
		s, err = sqlite.Open(ctx, strings.TrimPrefix(dsn, "sqlite:"))
	default:
		return nil, fmt.Errorf("database %q: give a postgres:// URL or sqlite:PATH", redact(dsn))
	}
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", redact(dsn), err)
	}
	if err := inventory.EnsureDefaultSchool(ctx, s); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// redact hides a password in a database URL.
func redact(dsn string) string {
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		return dsn
	}
	userinfo, host, ok := strings.Cut(rest, "@")
	if !ok {
		return dsn
	}
	if user, _, hasPass := strings.Cut(userinfo, ":"); hasPass {
		return scheme + "://" + user + ":xxxxx@" + host
	}
	return dsn
}
