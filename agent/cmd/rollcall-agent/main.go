// Command rollcall-agent is the Rollcall agent: installed as a service on a
// school laptop, it reports the laptop's hardware and security posture to
// the Rollcall server.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/rollcall/rollcall/agent/client"
	"github.com/rollcall/rollcall/agent/collect"
	"github.com/rollcall/rollcall/agent/outbox"
	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "rollcall-agent:", err)
		}
		os.Exit(1)
	}
}

const usage = `Rollcall agent.

Usage:
  rollcall-agent enroll --token T [--data-dir A]
  rollcall-agent run [--once] [--data-dir A] [--token-file F]
  rollcall-agent collect --json
  rollcall-agent install [--data-dir A] | uninstall | start | stop | status
  rollcall-agent version

The data directory defaults to %s. A service that is not enrolled
yet enrols at its first start with the token an installer left in the
token file (or, on Windows, the MSI's ENROLL_TOKEN), then removes it.
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		fmt.Fprintf(stderr, usage, defaultDataDir(getenv))
		return flag.ErrHelp
	}
	cmd, rest := args[1], args[2:]
	fs := flag.NewFlagSet("rollcall-agent "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", defaultDataDir(getenv), "agent data directory")
	switch cmd {
	case "enroll":
		token := fs.String("token", "", "enrolment token from `rollcall enroll-token create` (required)")
		if err := parse(fs, rest); err != nil {
			return err
		}
		if *token == "" {
			*token = getenv("ROLLCALL_ENROLL_TOKEN")
		}
		if *token == "" {
			return errors.New("give --token (or set ROLLCALL_ENROLL_TOKEN)")
		}
		return enroll(ctx, *dataDir, *token, stdout)
	case "run":
		once := fs.Bool("once", false, "check in once and exit")
		tokenFile := fs.String("token-file", defaultTokenFile(getenv), "enrolment token left by an installer, used and removed at the first start")
		if err := parse(fs, rest); err != nil {
			return err
		}
		if *once {
			return runOnce(ctx, *dataDir, stdout)
		}
		return runService(ctx, *dataDir, *tokenFile, stderr)
	case "collect":
		asJSON := fs.Bool("json", true, "print the report as JSON")
		if err := parse(fs, rest); err != nil {
			return err
		}
		if !*asJSON {
			return errors.New("collect prints JSON only: give --json")
		}
		return printReport(stdout, collect.Collect(ctx, version))
	case "install", "uninstall", "start", "stop", "status", "restart":
		if err := parse(fs, rest); err != nil {
			return err
		}
		return control(cmd, *dataDir, stdout)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "rollcall-agent", version)
		return nil
	case "help", "-h", "--help", "-help":
		fmt.Fprintf(stdout, usage, defaultDataDir(getenv))
		return nil
	}
	fmt.Fprintf(stderr, usage, defaultDataDir(getenv))
	return fmt.Errorf("unknown command %q", cmd)
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// defaultDataDir is where the agent keeps its identity and outbox.
func defaultDataDir(getenv func(string) string) string {
	if d := getenv("ROLLCALL_AGENT_DATA_DIR"); d != "" {
		return d
	}
	switch runtime.GOOS {
	case "windows":
		base := getenv("ProgramData")
		if base == "" {
			base = `C:\ProgramData`
		}
		return filepath.Join(base, "Rollcall")
	case "darwin":
		return "/Library/Application Support/Rollcall"
	}
	return "/var/lib/rollcall-agent"
}

// hiddenPassword replaces recovery passwords in what collect prints.
const hiddenPassword = "(sent to the server for escrow; not shown)"

// printReport writes rep as one JSON object with the keys hardware,
// antivirus, encryption, screen_lock and usb, as the agent would send it
// but with recovery passwords hidden.
func printReport(w io.Writer, rep *agentv1.Report) error {
	enc := proto.CloneOf(rep.GetPosture().GetEncryption())
	for _, k := range enc.GetRecoveryKeys() {
		k.NumericalPassword = hiddenPassword
	}
	p := rep.GetPosture()
	parts := []struct {
		key string
		msg proto.Message
	}{
		{"hardware", rep.GetHardware()},
		{"antivirus", p.GetAntivirus()},
		{"encryption", enc},
		{"screen_lock", p.GetScreenLock()},
		{"usb", p.GetUsb()},
	}
	opts := protojson.MarshalOptions{UseProtoNames: true, EmitDefaultValues: true}
	var b strings.Builder
	b.WriteString("{")
	for i, part := range parts {
		if i > 0 {
			b.WriteString(",")
		}
		v := []byte("null")
		if part.msg != nil && part.msg.ProtoReflect().IsValid() {
			var err error
			if v, err = opts.Marshal(part.msg); err != nil {
				return err
			}
		}
		fmt.Fprintf(&b, "%q:%s", part.key, v)
	}
	b.WriteString("}")
	var out bytes.Buffer
	if err := json.Indent(&out, []byte(b.String()), "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err := out.WriteTo(w)
	return err
}

// collectReport gathers the report and its hash.
func collectReport(ctx context.Context) (*agentv1.Report, string) {
	rep := collect.Collect(ctx, version)
	return rep, collect.Hash(rep)
}

func enroll(ctx context.Context, dataDir, token string, stdout io.Writer) error {
	rep, hash := collectReport(ctx)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	id, err := client.Enroll(ctx, dataDir, token, rep, hash)
	if err != nil {
		return err
	}
	ob, err := openOutbox(dataDir)
	if err != nil {
		return err
	}
	defer ob.Close()
	if err := ob.AckReport(hash); err != nil { // the server stored this report at enrolment
		return err
	}
	fmt.Fprintf(stdout, "Enrolled as device %s with the server at %s.\n", id.State.DeviceID, id.State.ServerAddr)
	return nil
}

func openOutbox(dataDir string) (*outbox.Outbox, error) {
	return outbox.Open(filepath.Join(dataDir, "outbox.db"), outbox.Options{})
}

// newRunner loads the identity and opens the outbox.
func newRunner(dataDir string, logger *slog.Logger) (*client.Runner, error) {
	id, err := client.LoadIdentity(dataDir)
	if err != nil {
		return nil, err
	}
	if err := client.SecureDir(dataDir); err != nil {
		return nil, err
	}
	ob, err := openOutbox(dataDir)
	if err != nil {
		return nil, err
	}
	return &client.Runner{Identity: id, Outbox: ob, Collect: collectReport, Logger: logger}, nil
}

func runOnce(ctx context.Context, dataDir string, stdout io.Writer) error {
	r, err := newRunner(dataDir, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer r.Outbox.Close()
	if err := r.Event("agent.started", map[string]any{"version": version, "once": true}); err != nil {
		return err
	}
	if err := r.Once(ctx); err != nil {
		n, _ := r.Outbox.EventCount()
		return fmt.Errorf("%w (%d events queued)", err, n)
	}
	fmt.Fprintln(stdout, "Checked in.")
	return nil
}
