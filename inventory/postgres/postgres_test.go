package postgres_test

import (
	"slices"
	"strings"
	"sync"
	"testing"

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
