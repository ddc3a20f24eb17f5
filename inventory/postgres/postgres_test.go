package postgres_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rollcall/rollcall/inventory"
	"github.com/rollcall/rollcall/inventory/postgres"
	"github.com/rollcall/rollcall/inventory/postgres/pgtest"
	"github.com/rollcall/rollcall/inventory/sqlite"
	"github.com/rollcall/rollcall/inventory/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// MustOpenDB opens a store in a new database and closes it when the test
// ends.
func MustOpenDB(tb testing.TB) *postgres.DB {
	tb.Helper()
	db, err := postgres.Open(tb.Context(), pgtest.DSN(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) inventory.Store { return MustOpenDB(t) })
}

func TestOpen(t *testing.T) {
	// Servers starting together take turns to migrate one database.
	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		dsn := pgtest.DSN(t)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() {
				db, err := postgres.Open(t.Context(), dsn)
				if err == nil {
					err = inventory.EnsureDefaultSchool(t.Context(), db)
					db.Close()
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("Open %d: %v", i, err)
			}
		}
	})

	t.Run("Reopen", func(t *testing.T) {
		t.Parallel()
		dsn := pgtest.DSN(t)
		db, err := postgres.Open(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		if err := inventory.EnsureDefaultSchool(t.Context(), db); err != nil {
			t.Fatal(err)
		}
		db.Close()
		db, err = postgres.Open(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.FindSchoolBySlug(t.Context(), inventory.DefaultSchoolSlug); err != nil {
			t.Fatal(err)
		}
	})
}

// TestMigrationNames checks that both backends have the same migrations,
// so that a schema change is never made for one dialect only.
func TestMigrationNames(t *testing.T) {
	pg, lite := postgres.MigrationNames(), sqlite.MigrationNames()
	if len(pg) == 0 {
		t.Fatal("no postgres migrations embedded")
	}
	if !slices.Equal(pg, lite) {
		t.Errorf("migration names differ:\npostgres: %v\n  sqlite: %v", pg, lite)
	}
}

// TestAgreementsNeverTruncated checks what the conformance suite cannot,
// as SQLite has no TRUNCATE: the trigger refuses to empty
// loan_agreements, even in a transaction marked as a retention purge's.
func TestAgreementsNeverTruncated(t *testing.T) {
	t.Parallel()
	db := MustOpenDB(t)
	for _, q := range []string{
		`TRUNCATE loan_agreements`,
		// One implicit transaction: the mark holds for the TRUNCATE.
		`SELECT set_config('rollcall.retention_purge', 'on', true); TRUNCATE loan_agreements`,
	} {
		err := db.ExecRaw(t.Context(), q)
		if err == nil || !strings.Contains(err.Error(), "signed agreements never change") {
			t.Errorf("%s: error %v, want the trigger's refusal", q, err)
		}
	}
}

// TestPurgeExpiredLocksSchool checks what the conformance suite cannot
// tell from the outside: PurgeExpired waits for the lock of its school,
// which a purge from another replica would hold, and not for another
// school's.
func TestPurgeExpiredLocksSchool(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := pgtest.DSN(t)
	db, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, b := &inventory.School{Slug: "a", Name: "A"}, &inventory.School{Slug: "b", Name: "B"}
	for _, sc := range []*inventory.School{a, b} {
		if err := db.CreateSchool(ctx, sc); err != nil {
			t.Fatal(err)
		}
	}
	c := inventory.RetentionCutoffs{PINHistory: time.Now()}

	// Another session, as another replica, holds a's lock.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, hashtext($2))`, postgres.RetentionLock, a.ID.String()); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := db.PurgeExpired(ctx, a.ID, c, time.Time{})
		done <- err
	}()
	// a's purge waits for the lock...
	for waiting := 0; waiting == 0; {
		select {
		case err := <-done:
			t.Fatalf("PurgeExpired of a returned while another session held a's lock: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
			AND classid = $1::int::oid AND objid = hashtext($2)::oid AND objsubid = 2`,
			postgres.RetentionLock, a.ID.String()).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
	}
	// ...while b's goes ahead.
	if _, err := db.PurgeExpired(ctx, b.ID, c, time.Time{}); err != nil {
		t.Fatalf("PurgeExpired of b: %v", err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1, hashtext($2))`, postgres.RetentionLock, a.ID.String()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("PurgeExpired of a: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("PurgeExpired of a still waits after the lock was released")
	}
}
