package app

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
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
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"), isKeywordDSN(dsn):
		s, err = postgres.Open(ctx, dsn)
	case strings.HasPrefix(dsn, "sqlite:"):
		s, err = sqlite.Open(ctx, strings.TrimPrefix(dsn, "sqlite:"))
	default:
		return nil, fmt.Errorf("database %q: give a postgres:// URL, a PostgreSQL \"host=... dbname=...\" string or sqlite:PATH", redact(dsn))
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

// isKeywordDSN reports whether dsn is a PostgreSQL keyword/value string
// such as "host=/run/postgresql dbname=rollcall".
func isKeywordDSN(dsn string) bool {
	for _, f := range strings.Fields(dsn) {
		if k, _, ok := strings.Cut(f, "="); ok && (k == "host" || k == "dbname") {
			return true
		}
	}
	return false
}

// keywordPassword matches the password in a PostgreSQL keyword/value
// string, quoted or not.
var keywordPassword = regexp.MustCompile(`password\s*=\s*('(?:\\.|[^'])*'|\S+)`)

// redact hides any password in a database string, so it can be printed
// or logged: the user-info password and a password query parameter of a
// URL, or the password keyword of a keyword/value string.
func redact(dsn string) string {
	if isKeywordDSN(dsn) {
		return keywordPassword.ReplaceAllString(dsn, "password=xxxxx")
	}
	u, err := url.Parse(dsn)
	if err != nil {
		// Unparsable: say nothing that might be a secret.
		scheme, _, _ := strings.Cut(dsn, ":")
		return scheme + ":(unparsable; not shown)"
	}
	q := u.Query()
	for k := range q {
		if strings.EqualFold(k, "password") {
			q.Set(k, "xxxxx")
			u.RawQuery = q.Encode()
		}
	}
	return u.Redacted()
}
