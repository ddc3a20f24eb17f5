package main

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite"

	"github.com/rollcall/rollcall/inventory/postgres/pgtest"
	"github.com/rollcall/rollcall/server/app"
)

// TestAuditVerify writes audit entries through the CLI, then alters the
// audit table directly in the database, as someone with database access
// might, and expects `rollcall audit verify` to fail naming the first
// entry that no longer fits.
func TestAuditVerify(t *testing.T) {
	tamper := []struct {
		name    string
		sql     string // run against the audit_log table
		wantSeq int
		want    string
	}{
		{"Changed", `UPDATE audit_log SET detail = 'nothing to see' WHERE seq = 3`, 3, "was changed"},
		{"ChangedActor", `UPDATE audit_log SET actor = 'someone else' WHERE seq = 2`, 2, "was changed"},
		{"Removed", `DELETE FROM audit_log WHERE seq = 3`, 3, "removed"},
		{"Truncated", `DELETE FROM audit_log WHERE seq = 4`, 4, "cut off"},
		{"Reordered", `UPDATE audit_log SET seq = 1000 WHERE seq = 2; UPDATE audit_log SET seq = 2 WHERE seq = 3; UPDATE audit_log SET seq = 3 WHERE seq = 1000`, 2, ""},
		{"OldestRemoved", `DELETE FROM audit_log WHERE seq <= 2`, 1, "entries 1 to 2 were removed"},
		// Made to look like a purge, but without the purge entry a real
		// one appends in the same transaction.
		{"OldestRemovedAsIfPurged", `INSERT INTO audit_anchor (id, seq, hash, purged_at) SELECT 1, seq, hash, '2026-12-01T00:00:00.000000Z' FROM audit_log WHERE seq = 2;
			DELETE FROM audit_log WHERE seq <= 2`, 3, "no purge entry"},
	}
	for _, backend := range []string{"sqlite", "postgres"} {
		for _, tc := range tamper {
			t.Run(backend+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				env := map[string]string{}
				dsn := ""
				if backend == "postgres" {
					dsn = pgtest.DSN(t)
					env["ROLLCALL_DB"] = dsn
				}
				// Four entries: a school and three people.
				if _, err := cli(t, env, "school", "add", "--data-dir", dir, "--slug", "st-ann", "--name", "St Ann's"); err != nil {
					t.Fatal(err)
				}
				for i := range 3 {
					if _, err := cli(t, env, "user", "add", "--data-dir", dir, "--email", fmt.Sprintf("p%d@school.example", i), "--name", "P", "--role", "staff", "--school", "st-ann"); err != nil {
						t.Fatal(err)
					}
				}
				out, err := cli(t, env, "audit", "verify", "--data-dir", dir)
				if err != nil || !strings.Contains(out, "intact: 4 entries") {
					t.Fatalf("verify before tampering = %q, %v", out, err)
				}
				m := newestHash.FindStringSubmatch(out)
				if m == nil {
					t.Fatalf("verify names no newest hash: %q", out)
				}
				execSQL(t, backend, dir, dsn, tc.sql)
				out, err = cli(t, env, "audit", "verify", "--data-dir", dir, "--known", m[1])
				if err == nil {
					t.Fatalf("verify after %s passed: %q", tc.name, out)
				}
				if want := fmt.Sprintf("entry %d", tc.wantSeq); !strings.Contains(out, want) || !strings.Contains(out, "NOT intact") || !strings.Contains(out, tc.want) {
					t.Errorf("verify after %s says %q, want it to name %s (%q)", tc.name, out, want, tc.want)
				}
			})
		}
	}
}

// TestAuditVerifyAfterPurge cuts the oldest entries at the end of their
// retention, as the sweep does, and expects `rollcall audit verify` to
// pass and say where the log now starts.
func TestAuditVerifyAfterPurge(t *testing.T) {
	dir := t.TempDir()
	for i := range 3 {
		if _, err := cli(t, nil, "user", "add", "--data-dir", dir, "--email", fmt.Sprintf("p%d@school.example", i), "--name", "P", "--role", "staff"); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	s, err := app.OpenStore(ctx, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.PurgeAudit(ctx, time.Now().Add(time.Hour), time.Now())
	s.Close()
	if err != nil || a.Seq != 3 {
		t.Fatalf("PurgeAudit = %+v, %v", a, err)
	}
	out, err := cli(t, nil, "audit", "verify", "--data-dir", dir)
	if err != nil || !strings.Contains(out, "intact: 1 entry,") || !strings.Contains(out, "Entries 1 to 3 were deleted at the end of their retention") {
		t.Errorf("verify after a purge = %q, %v", out, err)
	}
}

var newestHash = regexp.MustCompile(`Newest entry: 4 at \S+, hash ([0-9a-f]{64})`)

// execSQL runs statement directly against the backend's database.
func execSQL(t *testing.T, backend, dir, dsn, statement string) {
	t.Helper()
	ctx := context.Background()
	if backend == "postgres" {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, statement); err != nil {
			t.Fatalf("%s: %v", statement, err)
		}
		return
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, app.SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, statement); err != nil {
		t.Fatalf("%s: %v", statement, err)
	}
}
