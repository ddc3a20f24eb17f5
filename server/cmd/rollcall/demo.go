package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/rollcall/rollcall/agent/client"
	"github.com/rollcall/rollcall/inventory"
	"github.com/rollcall/rollcall/server/admin"
	"github.com/rollcall/rollcall/server/app"
)

// demoEmail is the technician account the demo makes.
const demoEmail = "technician@demo.school"

// demo runs a server on the embedded store with this machine's agent
// enrolled and running in the foreground, until ctx ends.
func (e env) demo(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("rollcall demo", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	dataDir := fs.String("data-dir", ".demo", "folder for the demo's server and agent data")
	agentBin := fs.String("agent-bin", "", "path to rollcall-agent (default: beside this program)")
	agentAddr := fs.String("agent-addr", "127.0.0.1:18443", "agent API listen address")
	httpAddr := fs.String("http-addr", "127.0.0.1:18080", "web listen address")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *agentBin == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		*agentBin = filepath.Join(filepath.Dir(exe), "rollcall-agent")
		if runtime.GOOS == "windows" {
			*agentBin += ".exe"
		}
	}
	if _, err := os.Stat(*agentBin); err != nil {
		return fmt.Errorf("agent program not found at %s: build it with `make build` or give --agent-bin", *agentBin)
	}
	serverDir, agentDir := filepath.Join(*dataDir, "server"), filepath.Join(*dataDir, "agent")

	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := app.Start(ctx, app.Options{
		DataDir:         serverDir,
		Config:          app.Config{AgentAddr: *agentAddr, HTTPAddr: *httpAddr},
		Logger:          logger,
		CheckInInterval: 30 * time.Second,
		Remember:        &app.Config{AgentAddr: *agentAddr, HTTPAddr: *httpAddr},
	})
	if err != nil {
		return err
	}
	agentErr := e.demoRun(ctx, a, agentDir, *agentBin)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	serveErr := a.Wait(cancelled)
	if ctx.Err() != nil && agentErr == nil {
		fmt.Fprintln(e.stderr, "Demo stopped.")
		return serveErr
	}
	return errors.Join(agentErr, serveErr)
}

// demoRun prepares the demo's account and agent on the running server a,
// then runs the agent until ctx ends or the agent stops. The caller stops
// the server whatever this returns.
func (e env) demoRun(ctx context.Context, a *app.App, agentDir, agentBin string) error {
	password := "(set on the first demo run; shown then)"
	others := ""
	_, pw, err := admin.AddUser(ctx, a.Store, demoEmail, "Demo Technician", string(inventory.RoleTechnician), "")
	switch {
	case err == nil:
		password = pw
		if others, err = demoSchool(ctx, a.Store); err != nil {
			return err
		}
	case inventory.ErrorCode(err) != inventory.ECONFLICT:
		return err
	}
	apiToken, err := admin.CreateAPIToken(ctx, a.Store, demoEmail)
	if err != nil {
		return err
	}

	agentArgs := []string{"--data-dir", agentDir}
	if _, err := client.LoadIdentity(agentDir); errors.Is(err, client.ErrNotEnrolled) {
		tok, err := admin.CreateEnrollToken(ctx, a.Store, a.CA, admin.EnrollTokenRequest{
			Uses: 1, TTL: time.Hour, Advertise: a.Advertise, Now: time.Now(),
		})
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stderr, "Enrolling this machine's agent...")
		enroll := exec.CommandContext(ctx, agentBin, append([]string{"enroll", "--token", tok}, agentArgs...)...)
		enroll.Stdout, enroll.Stderr = e.stderr, e.stderr
		if err := enroll.Run(); err != nil {
			return fmt.Errorf("enrol the agent: %w", err)
		}
	}
	agent := exec.CommandContext(ctx, agentBin, append([]string{"run"}, agentArgs...)...)
	agent.Stdout, agent.Stderr = e.stderr, e.stderr
	agent.Cancel = func() error { return agent.Process.Signal(syscall.SIGTERM) }
	agent.WaitDelay = 10 * time.Second
	if err := agent.Start(); err != nil {
		return fmt.Errorf("start the agent: %w", err)
	}

	url := fmt.Sprintf("http://%s/", a.HTTPAddr)
	fmt.Fprintf(e.stdout, `
Rollcall demo is running. Press Ctrl-C to stop the server and the agent.

  Dashboard:   %s
  Sign in as:  %s
  Password:    %s
  API token:   %s
%s
  The first sign-in asks you to set up two-step sign-in: scan the QR code
  with an authenticator app on your phone (or type the key it shows).

  Try:  curl -s -H 'Authorization: Bearer %s' %sapi/v1/devices

`, url, demoEmail, password, apiToken, others, apiToken, url)

	err = agent.Wait()
	if ctx.Err() != nil {
		return nil // stopped by Ctrl-C
	}
	if err == nil {
		err = errors.New("the agent stopped")
	}
	return fmt.Errorf("agent: %w", err)
}

// demoSchool adds, on the first demo run, a headteacher and a teacher to
// try a loan with, and some kit without an agent to the register. It
// returns the lines that tell their passwords.
func demoSchool(ctx context.Context, s inventory.Store) (string, error) {
	var lines strings.Builder
	lines.WriteString("\n  To try a loan, sign in in another browser as:\n")
	for _, p := range []struct{ email, name, role string }{
		{"head@demo.school", "Demo Headteacher", string(inventory.RoleHeadteacher)},
		{"teacher@demo.school", "Demo Teacher", string(inventory.RoleStaff)},
	} {
		_, pw, err := admin.AddUser(ctx, s, p.email, p.name, p.role, "")
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&lines, "    %-20s %s (%s)\n", p.email, pw, p.role)
	}
	school, err := s.FindSchoolBySlug(ctx, inventory.DefaultSchoolSlug)
	if err != nil {
		return "", err
	}
	kit := []*inventory.Asset{
		{Kind: inventory.KindLaptop, Make: "Dell", Model: "Latitude 3440", Serial: "DEMO-LT-001", AssetTag: "KIT-0001", Location: "IT office"},
		{Kind: inventory.KindTablet, Make: "Apple", Model: "iPad (10th generation)", Serial: "DEMO-IPAD-01", AssetTag: "IPAD-01", Location: "Year 3 trolley", Shared: true},
		{Kind: inventory.KindTablet, Make: "Apple", Model: "iPad (10th generation)", Serial: "DEMO-IPAD-02", AssetTag: "IPAD-02", Location: "Year 3 trolley", Shared: true},
		{Kind: inventory.KindProjector, Make: "Epson", Model: "EB-W49", Serial: "DEMO-PRJ-01", AssetTag: "PRJ-01", Location: "Hall"},
	}
	for _, a := range kit {
		a.SchoolID, a.Status = school.ID, inventory.AssetInStock
	}
	if err := s.ImportAssets(ctx, kit); err != nil {
		return "", fmt.Errorf("demo register: %w", err)
	}
	return lines.String(), nil
}
