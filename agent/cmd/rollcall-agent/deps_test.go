package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies fails if the agent binary links server or database
// code, on any platform it ships for: the agent must stay small and hold
// nothing that belongs to the server.
func TestDependencies(t *testing.T) {
	forbidden := []string{
		"github.com/rollcall/rollcall/server",
		"github.com/rollcall/rollcall/inventory",
		"github.com/jackc/pgx",
		"modernc.org/sqlite",
		"github.com/mattn/go-sqlite3",
	}
	forbiddenExact := []string{"database/sql"} // database/sql/driver is only interfaces, used by uuid
	for _, goos := range []string{"linux", "windows", "darwin"} {
		t.Run(goos, func(t *testing.T) {
			cmd := exec.Command("go", "list", "-deps", ".")
			cmd.Env = append(cmd.Environ(), "GOOS="+goos, "GOARCH=amd64")
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("go list: %v", err)
			}
			deps := strings.Fields(string(out))
			if len(deps) < 10 {
				t.Fatalf("go list found only %d packages: %q", len(deps), deps)
			}
			for _, d := range deps {
				for _, f := range forbiddenExact {
					if d == f {
						t.Errorf("agent links %s", d)
					}
				}
				for _, f := range forbidden {
					if d == f || strings.HasPrefix(d, f+"/") {
						t.Errorf("agent links %s", d)
					}
				}
			}
		})
	}
}
