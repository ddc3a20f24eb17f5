package pgtest

import (
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestWithDatabase(t *testing.T) {
	for _, tc := range []struct {
		name, dsn, want string
	}{
		{"URL", "postgres://u:p@db.example:5433/postgres?sslmode=disable", "postgres://u:p@db.example:5433/x?sslmode=disable"},
		{"URLWithoutDatabase", "postgresql://u@localhost", "postgresql://u@localhost/x"},
		{"Keywords", "host=/tmp/s port=5432 user=postgres dbname=postgres", "host=/tmp/s port=5432 user=postgres dbname=postgres dbname=x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := withDatabase(tc.dsn, "x"); got != tc.want {
				t.Errorf("withDatabase(%q) = %q, want %q", tc.dsn, got, tc.want)
			}
			cfg, err := pgconn.ParseConfig(tc.want)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Database != "x" {
				t.Errorf("pgx reads database %q from %q, want x", cfg.Database, tc.want)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	for _, tc := range []struct {
		dir  string
		want float64
	}{
		{"/usr/lib/postgresql/15/bin", 15},
		{"/usr/lib/postgresql/9.6/bin", 9.6},
		{"/usr/lib/postgresql/x/bin", 0},
	} {
		if got := version(tc.dir); got != tc.want {
			t.Errorf("version(%q) = %v, want %v", tc.dir, got, tc.want)
		}
	}
}
