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
	_, pw, err := admin.AddUser(ctx, a.Store, demoEmail, "Demo Technician", string(inventory.RoleTechnician), "")
	switch {
	case err == nil:
		password = pw
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

  The first sign-in asks you to set up two-step sign-in: scan the QR code
  with an authenticator app on your phone (or type the key it shows).

  Try:  curl -s -H 'Authorization: Bearer %s' %sapi/v1/devices

`, url, demoEmail, password, apiToken, apiToken, url)

	err = agent.Wait()
	if ctx.Err() != nil {
		return nil // stopped by Ctrl-C
	}
	if err == nil {
		err = errors.New("the agent stopped")
	}
	return fmt.Errorf("agent: %w", err)
}
