// Package sqlite implements [inventory.Store] on a SQLite database file,
// using the pure-Go driver modernc.org/sqlite.
//
// The schema lives in embedded, forward-only migrations that [Open] applies.
// IDs are stored as canonical UUID text, times as fixed-width UTC text with
// microsecond precision (NULL for the zero time) and JSON documents as text.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/rollcall/rollcall/inventory"
)

//go:embed migrations/*.sql
var migrations embed.FS

// MigrationNames returns the file names of the embedded migrations in the
// order they are applied. The postgres backend has the same names.
func MigrationNames() []string {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		panic(err) // the pattern is constant and valid
	}
	for i, n := range names {
		names[i] = strings.TrimPrefix(n, "migrations/")
	}
	sort.Strings(names)
	return names
}

// DB is a Rollcall store in one SQLite database file. It implements
// [inventory.Store] and is safe for concurrent use.
type DB struct {
	db *sql.DB

	// Now returns the current time. The store calls it only to fill
	// CreatedAt fields that the caller left zero; it defaults to time.Now.
	Now func() time.Time
}

var _ inventory.Store = (*DB)(nil)

// Open opens the SQLite database at path, creating the file with
// owner-only permissions if it does not exist, and applies any migrations
// it has not had yet. Every connection has foreign keys on, a busy timeout,
// write-ahead logging and immediate transactions, and the pool holds a
// single connection so that writers never contend.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlite: no database path")
	}
	if path != ":memory:" {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("create database file: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("create database file: %w", err)
		}
	}
	sdb, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	sdb.SetMaxOpenConns(1)
	sdb.SetConnMaxLifetime(0)
	sdb.SetConnMaxIdleTime(0)
	db := &DB{db: sdb, Now: time.Now}
	if err := db.migrate(ctx); err != nil {
		sdb.Close()
		return nil, err
	}
	return db, nil
}

// dsn returns the driver's connection string for the database at path.
func dsn(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	// FULL: a transaction is on disk before the agent is told it is
	// stored, so a power cut cannot lose what the agent then deleted.
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_txlock", "immediate")
	if path == ":memory:" {
		return ":memory:?" + q.Encode()
	}
	p := filepath.ToSlash(path)
	if filepath.VolumeName(path) != "" {
		p = "/" + p // file:/C:/dir/db
	}
	return "file:" + (&url.URL{Path: p}).EscapedPath() + "?" + q.Encode()
}

// Close closes the database.
func (db *DB) Close() error {
	return db.db.Close()
}

// migrate applies, in lexical order and one transaction each, the
// embedded migrations that schema_migrations does not list yet.
func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name       TEXT NOT NULL PRIMARY KEY,
		applied_at TEXT NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for _, name := range MigrationNames() {
		if err := db.migrateFile(ctx, name); err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
	}
	return nil
}

// migrateFile applies one migration unless it has been applied already.
// The transaction is immediate, so two processes opening the same file
// cannot both apply it.
func (db *DB) migrateFile(ctx context.Context, name string) error {
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()

	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE name = ?`, name).Scan(&n); err != nil {
		return fmt.Errorf("check applied: %w", err)
	} else if n > 0 {
		return nil
	}
	body, err := fs.ReadFile(migrations, "migrations/"+name)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)`,
		name, encodeTime(time.Now())); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	return tx.Commit()
}

// inTx runs fn in a transaction, commits it if fn succeeds and returns the
// result of [formatError]. The pool's single connection and the immediate
// lock serialise transactions, so fn may read and then write safely.
func (db *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return formatError(fmt.Errorf("begin: %w", err))
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return formatError(err)
	}
	if err := tx.Commit(); err != nil {
		return formatError(fmt.Errorf("commit: %w", err))
	}
	return nil
}

// now returns the store's current time.
func (db *DB) now() time.Time {
	if db.Now == nil {
		return time.Now()
	}
	return db.Now()
}

// newID returns a new UUIDv7.
func newID() (uuid.UUID, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.Nil, fmt.Errorf("new id: %w", err)
	}
	return id, nil
}

// fillID sets *id to a new UUIDv7 if it is zero.
func fillID(id *uuid.UUID) error {
	if *id != uuid.Nil {
		return nil
	}
	v, err := newID()
	*id = v
	return err
}

// formatError converts an error from the driver into a domain error:
// uniqueness violations become ECONFLICT, foreign-key violations
// ENOTFOUND and other constraint violations EINVALID. Domain errors are
// returned unwrapped and anything else unchanged (and so EINTERNAL).
// Helpers that know which value clashed return a domain error with a
// better message themselves.
func formatError(err error) error {
	if err == nil {
		return nil
	}
	var e *inventory.Error
	if errors.As(err, &e) {
		return e
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return inventory.Errorf(inventory.ECONFLICT, "the record clashes with one already stored")
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return inventory.Errorf(inventory.ENOTFOUND, "a record it refers to does not exist")
	case sqlite3.SQLITE_CONSTRAINT_CHECK, sqlite3.SQLITE_CONSTRAINT_NOTNULL:
		return inventory.Errorf(inventory.EINVALID, "a value is missing or out of range")
	}
	return err
}

// uniqueViolation reports whether err is a uniqueness violation and, if
// so, names what clashed: "table.column, ..." for a constraint on columns
// or "index 'name'" for an expression or partial index.
func uniqueViolation(err error) (string, bool) {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return "", false
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
	default:
		return "", false
	}
	msg := se.Error()
	const prefix = "constraint failed: "
	if i := strings.LastIndex(msg, prefix); i >= 0 {
		msg = msg[i+len(prefix):]
	}
	if i := strings.LastIndex(msg, " ("); i >= 0 { // the result code, "(2067)"
		msg = msg[:i]
	}
	return msg, true
}

// timeFormat is how times are stored: UTC, fixed width, microseconds.
// Strings in this form sort in time order.
const timeFormat = "2006-01-02T15:04:05.000000Z"

// utc returns t in UTC truncated to microseconds, as it will read back.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// encodeTime returns t as stored, or nil for the zero time.
func encodeTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return utc(t).Format(timeFormat)
}

// timeScanner scans a stored time, or NULL as the zero time, into *t.
type timeScanner struct{ t *time.Time }

// Scan implements [sql.Scanner].
func (s timeScanner) Scan(v any) error {
	var str string
	switch v := v.(type) {
	case nil:
		*s.t = time.Time{}
		return nil
	case string:
		str = v
	case []byte:
		str = string(v)
	default:
		return fmt.Errorf("scan time: unexpected %T", v)
	}
	t, err := time.Parse(timeFormat, str)
	if err != nil {
		return fmt.Errorf("scan time: %w", err)
	}
	*s.t = t.UTC()
	return nil
}

// nullUUID returns id for storing, or nil for uuid.Nil.
func nullUUID(id uuid.UUID) any {
	if id == uuid.Nil {
		return nil
	}
	return id.String()
}

// uuidScanner scans a UUID, or NULL as uuid.Nil, into *id.
type uuidScanner struct{ id *uuid.UUID }

// Scan implements [sql.Scanner].
func (s uuidScanner) Scan(v any) error {
	if v == nil {
		*s.id = uuid.Nil
		return nil
	}
	return s.id.Scan(v)
}

// rowScanner is a *sql.Row or *sql.Rows.
type rowScanner interface {
	Scan(dest ...any) error
}

// dateFormat is how dates without a time are stored.
const dateFormat = time.DateOnly

// midnightUTC returns the start of t's day in UTC, or the zero time for
// the zero time.
func midnightUTC(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// encodeDate returns t's day in UTC as stored, or nil for the zero time.
func encodeDate(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(dateFormat)
}

// dateScanner scans a stored date as midnight UTC, or NULL as the zero
// time, into *t.
type dateScanner struct{ t *time.Time }

// Scan implements [sql.Scanner].
func (s dateScanner) Scan(v any) error {
	var str string
	switch v := v.(type) {
	case nil:
		*s.t = time.Time{}
		return nil
	case string:
		str = v
	case []byte:
		str = string(v)
	default:
		return fmt.Errorf("scan date: unexpected %T", v)
	}
	t, err := time.Parse(dateFormat, str)
	if err != nil {
		return fmt.Errorf("scan date: %w", err)
	}
	*s.t = t
	return nil
}
