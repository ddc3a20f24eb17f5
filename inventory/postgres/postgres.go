// Package postgres implements [inventory.Store] on PostgreSQL, using a
// pgx/v5 connection pool.
//
// The schema lives in embedded, forward-only migrations that [Open] applies
// under an advisory lock, so several servers may start at once. Times are
// timestamptz with microsecond precision (NULL for the zero time) and JSON
// documents are jsonb.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rollcall/rollcall/inventory"
)

//go:embed migrations/*.sql
var migrations embed.FS

// MigrationNames returns the file names of the embedded migrations in the
// order they are applied. The sqlite backend has the same names.
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

// DB is a Rollcall store in a PostgreSQL database. It implements
// [inventory.Store] and is safe for concurrent use.
type DB struct {
	pool *pgxpool.Pool

	// Now returns the current time. The store calls it only to fill
	// CreatedAt fields that the caller left zero; it defaults to time.Now.
	Now func() time.Time
}

var _ inventory.Store = (*DB)(nil)

// Open connects to the PostgreSQL database named by dsn (a URL or a
// keyword/value string, as libpq accepts) and applies any migrations it
// has not had yet.
func Open(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse dsn: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	db := &DB{pool: pool, Now: time.Now}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// Close closes every connection of the pool.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// migrationLock is the key of the advisory lock held while migrating:
// "rollcall" in ASCII.
const migrationLock int64 = 0x726f6c6c63616c6c

// migrate applies, in lexical order and one transaction each, the
// embedded migrations that schema_migrations does not list yet. It holds
// a session advisory lock throughout, so that servers starting together
// take turns.
func (db *DB) migrate(ctx context.Context) (err error) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire connection: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("lock migrations: %w", err)
	}
	defer func() {
		bg := context.WithoutCancel(ctx)
		if _, uerr := conn.Exec(bg, `SELECT pg_advisory_unlock($1)`, migrationLock); uerr != nil {
			// The session still holds the lock: close the connection
			// rather than return it to the pool.
			conn.Conn().Close(bg)
			if err == nil {
				err = fmt.Errorf("unlock migrations: %w", uerr)
			}
		}
	}()

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name       text PRIMARY KEY,
		applied_at timestamptz NOT NULL
	)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	rows, err := conn.Query(ctx, `SELECT name FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("query schema_migrations: %w", err)
	}
	applied, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("query schema_migrations: %w", err)
	}
	for _, name := range MigrationNames() {
		if slices.Contains(applied, name) {
			continue
		}
		if err := migrateFile(ctx, conn.Conn(), name); err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
	}
	return nil
}

// migrateFile applies one migration in a transaction and records it.
func migrateFile(ctx context.Context, conn *pgx.Conn, name string) error {
	body, err := fs.ReadFile(migrations, "migrations/"+name)
	if err != nil {
		return err
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx)
	// Without arguments Exec uses the simple protocol, which runs a
	// script of several statements.
	if _, err := tx.Exec(ctx, string(body)); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)`,
		name, time.Now().UTC()); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	return tx.Commit(ctx)
}

// inTx runs fn in a read-write transaction, commits it if fn succeeds
// and returns the result of [formatError].
func (db *DB) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return db.runTx(ctx, pgx.TxOptions{}, fn)
}

// inTxRetry is inTx for writes that may deadlock with another replica's
// or be refused for serialisation: it runs fn again, up to three times in
// all, when PostgreSQL aborts the transaction for either reason.
func (db *DB) inTxRetry(ctx context.Context, fn func(tx pgx.Tx) error) error {
	var err error
	for range 3 {
		err = db.inTx(ctx, fn)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || (pe.Code != codeDeadlock && pe.Code != codeSerialization) {
			return err
		}
	}
	return err
}

// rowQuerier runs a query for one row: a transaction, or the pool for a
// read of one statement, which needs no transaction of its own.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// readTx runs fn in a read-only transaction and returns the result of
// [formatError].
func (db *DB) readTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return db.runTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly}, fn)
}

func (db *DB) runTx(ctx context.Context, opts pgx.TxOptions, fn func(tx pgx.Tx) error) error {
	tx, err := db.pool.BeginTx(ctx, opts)
	if err != nil {
		return formatError(fmt.Errorf("begin: %w", err))
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return formatError(err)
	}
	if err := tx.Commit(ctx); err != nil {
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

// PostgreSQL error codes (SQLSTATE) that formatError converts.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
	codeNotNullViolation    = "23502"
	codeCheckViolation      = "23514"
	codeInvalidText         = "22P02" // invalid_text_representation, e.g. bad JSON
	codeBadEncoding         = "22021" // character_not_in_repertoire, e.g. a NUL byte
	codeUntranslatable      = "22P05" // untranslatable_character, e.g. \u0000 in jsonb
	codeDeadlock            = "40P01" // deadlock_detected: inTxRetry tries again
	codeSerialization       = "40001" // serialization_failure: inTxRetry tries again
)

// formatError converts an error from the driver into a domain error:
// uniqueness violations become ECONFLICT, foreign-key violations
// ENOTFOUND, and other constraint violations and text PostgreSQL cannot
// store EINVALID. Domain errors are returned unwrapped and anything else
// unchanged (and so EINTERNAL). Helpers that know which value clashed
// return a domain error with a better message themselves.
func formatError(err error) error {
	if err == nil {
		return nil
	}
	var e *inventory.Error
	if errors.As(err, &e) {
		return e
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch pe.Code {
	case codeUniqueViolation:
		return inventory.Errorf(inventory.ECONFLICT, "the record clashes with one already stored")
	case codeForeignKeyViolation:
		return inventory.Errorf(inventory.ENOTFOUND, "a record it refers to does not exist")
	case codeNotNullViolation, codeCheckViolation:
		return inventory.Errorf(inventory.EINVALID, "a value is missing or out of range")
	case codeInvalidText, codeBadEncoding, codeUntranslatable:
		return inventory.Errorf(inventory.EINVALID, "a value cannot be stored: %s", pe.Message)
	}
	return err
}

// uniqueViolation reports whether err is a uniqueness violation and, if
// so, the name of the constraint or index that clashed.
func uniqueViolation(err error) (string, bool) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == codeUniqueViolation {
		return pe.ConstraintName, true
	}
	return "", false
}

// utc returns t in UTC truncated to microseconds, as it will read back.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// encodeTime returns t as stored, or nil (NULL) for the zero time.
func encodeTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return utc(t)
}

// timeScanner scans a timestamptz, or NULL as the zero time, into *t in
// UTC.
type timeScanner struct{ t *time.Time }

// ScanTimestamptz implements [pgtype.TimestamptzScanner].
func (s timeScanner) ScanTimestamptz(v pgtype.Timestamptz) error {
	switch {
	case !v.Valid:
		*s.t = time.Time{}
	case v.InfinityModifier != pgtype.Finite:
		return fmt.Errorf("scan time: infinite timestamp")
	default:
		*s.t = v.Time.UTC()
	}
	return nil
}

// nullUUID returns id for storing, or nil (NULL) for uuid.Nil.
func nullUUID(id uuid.UUID) any {
	if id == uuid.Nil {
		return nil
	}
	return id
}

// uuidScanner scans a uuid, or NULL as uuid.Nil, into *id.
type uuidScanner struct{ id *uuid.UUID }

// ScanUUID implements [pgtype.UUIDScanner].
func (s uuidScanner) ScanUUID(v pgtype.UUID) error {
	if !v.Valid {
		*s.id = uuid.Nil
		return nil
	}
	*s.id = v.Bytes
	return nil
}

// isNoRows reports whether err says a query returned no row.
func isNoRows(err error) bool {
	return errors.Is(err, pgx.ErrNoRows)
}

// encodeDate returns t's day in UTC as a date for storing, or nil (NULL)
// for the zero time.
func encodeDate(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return pgtype.Date{Time: midnightUTC(t), Valid: true}
}

// dateScanner scans a date as midnight UTC, or NULL as the zero time,
// into *t.
type dateScanner struct{ t *time.Time }

// ScanDate implements [pgtype.DateScanner].
func (s dateScanner) ScanDate(v pgtype.Date) error {
	switch {
	case !v.Valid:
		*s.t = time.Time{}
	case v.InfinityModifier != pgtype.Finite:
		return fmt.Errorf("scan date: infinite date")
	default:
		*s.t = midnightUTC(v.Time)
	}
	return nil
}

// placeholders returns the placeholders $1 to $n, comma-separated.
func placeholders(n int) string {
	marks := make([]string, n)
	for i := range marks {
		marks[i] = "$" + strconv.Itoa(i+1)
	}
	return strings.Join(marks, ", ")
}
