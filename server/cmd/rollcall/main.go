// Command rollcall is the Rollcall server: it keeps the schools' device
// register and serves the agent API, the REST API and the dashboard.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/rollcall/rollcall/inventory"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "rollcall:", message(err))
		}
		os.Exit(1)
	}
}

const usage = `Rollcall server.

Usage:
  rollcall serve --data-dir D [--db URL] [--agent-addr HOST:PORT] [--http-addr HOST:PORT] [--advertise HOST:PORT] [--trust-proxy]
                 [--public-url URL] [--smtp-host H] [--smtp-port N] [--smtp-user U] [--smtp-from ADDR] [--smtp-security starttls|tls|none]
  rollcall user add --data-dir D --email E --name N --role ROLE [--school S]
  rollcall user reset --data-dir D --email E
  rollcall enroll-token create --data-dir D [--school S] [--uses N] [--ttl DURATION]
  rollcall api-token create --data-dir D --email E
  rollcall school add --data-dir D --slug S --name N
  rollcall policy show --data-dir D [--school S]
  rollcall policy set --data-dir D [--school S] [--max-idle-lock-minutes N] [--require-encryption=false] ...
  rollcall audit verify --data-dir D [--db URL] [--known HASH]
  rollcall keys rotate --data-dir D [--db URL]    (stop serve first)
  rollcall migrate --data-dir D [--db URL]
  rollcall demo [--data-dir D]
  rollcall loadgen enrol|run ...    simulated agents for load tests (rollcall loadgen help)
  rollcall version

The data directory defaults to $ROLLCALL_DATA_DIR, else /var/lib/rollcall.
serve remembers --db and the addresses there; $ROLLCALL_DB overrides the
remembered database. Roles: org_admin, technician, headteacher,
computing_lead, staff, line_manager, auditor.
`

// run is the whole program; main only supplies the process's context,
// arguments, environment and output.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	cmd, rest := args[1], args[2:]
	if len(rest) > 0 && (cmd == "user" || cmd == "enroll-token" || cmd == "api-token" || cmd == "school" || cmd == "policy" || cmd == "audit" || cmd == "keys") {
		cmd, rest = cmd+" "+rest[0], rest[1:]
	}
	e := env{getenv: getenv, stdout: stdout, stderr: stderr}
	switch cmd {
	case "serve":
		return e.serve(ctx, rest)
	case "user add":
		return e.userAdd(ctx, rest)
	case "user reset":
		return e.userReset(ctx, rest)
	case "enroll-token create":
		return e.enrollTokenCreate(ctx, rest)
	case "api-token create":
		return e.apiTokenCreate(ctx, rest)
	case "school add":
		return e.schoolAdd(ctx, rest)
	case "policy show":
		return e.policyShow(ctx, rest)
	case "policy set":
		return e.policySet(ctx, rest)
	case "audit verify":
		return e.auditVerify(ctx, rest)
	case "keys rotate":
		return e.keysRotate(ctx, rest)
	case "migrate":
		return e.migrate(ctx, rest)
	case "demo":
		return e.demo(ctx, rest)
	case "loadgen":
		return e.loadgen(ctx, rest)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "rollcall", version)
		return nil
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

// message returns what the operator should read for err: the message of a
// domain error, or the error itself.
func message(err error) string {
	var e *inventory.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}
