package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/kardianos/service"
)

// serviceName is the agent's service's name on every system; the
// installers use it too.
const serviceName = "RollcallAgent"

// serviceConfig describes the agent to the operating system's service
// manager: started at boot and restarted when it fails.
func serviceConfig(dataDir string) *service.Config {
	return &service.Config{
		Name:        serviceName,
		DisplayName: "Rollcall Agent",
		Description: "Reports this device's hardware and security posture to the school's Rollcall server.",
		Arguments:   []string{"run", "--data-dir", dataDir},
		Option: service.KeyValue{
			"OnFailure":              "restart",
			"OnFailureDelayDuration": "10s",
			"OnFailureResetPeriod":   86400,
			"DelayedAutoStart":       true,
			"Restart":                "always",
		},
	}
}

// program is the agent as the service manager sees it. Start returns at
// once and the work runs in a goroutine; Stop cancels it and waits.
type program struct {
	dataDir   string
	tokenFile string // where an installer may leave an enrolment token
	logger    *slog.Logger
	cancel    context.CancelFunc
	done      sync.WaitGroup
	err       error
}

func (p *program) Start(service.Service) error {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		p.err = serve(ctx, p.dataDir, p.tokenFile, p.logger)
		if p.err != nil && ctx.Err() == nil {
			// The work stopped without being asked to. Exit with an error
			// so the service manager restarts the agent rather than
			// keeping an idle process that reports nothing.
			p.logger.Error("agent stopped; exiting so the service manager restarts it", "err", p.err)
			exit(1)
		}
	}()
	return nil
}

// exit ends the process; a variable so that a test can see the call.
var exit = os.Exit

func (p *program) Stop(service.Service) error {
	p.cancel()
	p.done.Wait()
	return nil
}

// runService runs the agent until ctx ends: under the service manager when
// started by it, else in the foreground.
func runService(ctx context.Context, dataDir, tokenFile string, stderr io.Writer) error {
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	if service.Interactive() {
		return serve(ctx, dataDir, tokenFile, logger)
	}
	p := &program{dataDir: dataDir, tokenFile: tokenFile, logger: logger}
	s, err := service.New(p, serviceConfig(dataDir))
	if err != nil {
		return err
	}
	if err := s.Run(); err != nil {
		return err
	}
	return p.err
}

// serve is the agent's work: enrol with the token an installer left, if
// it has not enrolled yet, then check in on schedule and deliver the
// outbox.
func serve(ctx context.Context, dataDir, tokenFile string, logger *slog.Logger) error {
	configureService(logger)
	if err := enrollOnFirstStart(ctx, dataDir, tokenFile, logger); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while waiting to enrol: a clean stop
		}
		return err
	}
	r, err := newRunner(dataDir, logger)
	if err != nil {
		return err
	}
	defer r.Outbox.Close()
	if err := r.Event("agent.started", map[string]any{"version": version}); err != nil {
		return err
	}
	logger.Info("agent running", "server", r.Identity.State.ServerAddr, "device_id", r.Identity.State.DeviceID, "version", version)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait() // the watcher uses the outbox, closed after this returns
	defer cancel()
	wg.Go(func() { watchUSB(ctx, r, logger) })
	return r.Run(ctx)
}

// control installs, removes, starts, stops or reports on the service.
func control(action, dataDir string, stdout io.Writer) error {
	s, err := service.New(&program{}, serviceConfig(dataDir))
	if err != nil {
		return err
	}
	if action == "status" {
		st, err := s.Status()
		if err != nil {
			return fmt.Errorf("service status: %w", err)
		}
		names := map[service.Status]string{service.StatusRunning: "running", service.StatusStopped: "stopped"}
		name, ok := names[st]
		if !ok {
			name = "unknown"
		}
		fmt.Fprintln(stdout, name)
		return nil
	}
	if err := service.Control(s, action); err != nil {
		return fmt.Errorf("%s the service: %w", action, err)
	}
	fmt.Fprintf(stdout, "Service %s: done.\n", action)
	return nil
}
