package sqlite_test

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/rollcall/rollcall/inventory"
	"github.com/rollcall/rollcall/inventory/sqlite"
	"github.com/rollcall/rollcall/inventory/storetest"
)

// MustOpenDB opens a new database in a file under t.TempDir and closes it
// when the test ends.
func MustOpenDB(tb testing.TB) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(tb.Context(), filepath.Join(tb.TempDir(), "rollcall.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Error(err)
		}
	})
	return db
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) inventory.Store { return MustOpenDB(t) })
}

func TestOpen(t *testing.T) {
	t.Run("FilePermissions", func(t *testing.T) {
		if runtime.GOOS == "windows" {
			t.Skip("Unix file modes")
		}
		path := filepath.Join(t.TempDir(), "rollcall.db")
		db, err := sqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("database file mode = %v, want 0600", got)
		}
	})

	t.Run("Reopen", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "rollcall.db")
		db, err := sqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		if err := inventory.EnsureDefaultSchool(t.Context(), db); err != nil {
			t.Fatal(err)
		}
		db.Close()

		// Opening again finds the migrations applied and the data kept.
		db, err = sqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.FindSchoolBySlug(t.Context(), inventory.DefaultSchoolSlug); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("Pragmas", func(t *testing.T) {
		db := MustOpenDB(t)
		for pragma, want := range map[string]string{
			"foreign_keys": "1",
			"journal_mode": "wal",
			"busy_timeout": "10000",
		} {
			got, err := sqlite.Pragma(t.Context(), db, pragma)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("PRAGMA %s = %q, want %q", pragma, got, want)
			}
		}
	})
}
