package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/types/known/durationpb"

	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
	"github.com/rollcall/rollcall/server/app"
)

// The benchmarks run each server in a process of its own, so that its CPU
// time can be read apart from the load generator's: the test binary runs
// again with envHelper set to "serve" (a Rollcall server) or "bare" (an
// agent listener that does no work), and writes its addresses to the file
// named by envReady.
const (
	envHelper  = "ROLLCALL_LOADBENCH_HELPER"
	envDataDir = "ROLLCALL_LOADBENCH_DATA_DIR"
	envDB      = "ROLLCALL_LOADBENCH_DB"
	envReady   = "ROLLCALL_LOADBENCH_READY"
	// envProfile, when set, names a file the Rollcall servers write a
	// CPU profile to (with their process ID appended), for finding where
	// their time goes.
	envProfile = "ROLLCALL_BENCH_CPUPROFILE"
)

// runHelper runs the helper process the environment asks for, if any, and
// reports whether it did.
func runHelper() bool {
	mode := os.Getenv(envHelper)
	if mode == "" {
		return false
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	var err error
	switch mode {
	case "serve":
		err = helperServe(ctx)
	case "bare":
		err = helperBare(ctx)
	default:
		err = fmt.Errorf("%s=%q: give serve or bare", envHelper, mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	return true
}

// helperServe runs a Rollcall server until it is signalled.
func helperServe(ctx context.Context) error {
	if p := os.Getenv(envProfile); p != "" {
		f, err := os.Create(fmt.Sprintf("%s.%d", p, os.Getpid()))
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	a, err := app.Start(ctx, app.Options{
		DataDir: os.Getenv(envDataDir),
		Config:  app.Config{DB: os.Getenv(envDB), AgentAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"},
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	if err := writeReady(a.AgentAddr.String(), a.HTTPAddr.String()); err != nil {
		return err
	}
	return a.Wait(ctx)
}

// bareServer answers every agent call at once, doing no work: what is
// left of a call is gRPC and TLS.
type bareServer struct {
	agentv1.UnimplementedAgentServiceServer
}

func (bareServer) CheckIn(context.Context, *agentv1.CheckInRequest) (*agentv1.CheckInResponse, error) {
	return &agentv1.CheckInResponse{CheckInInterval: durationpb.New(5 * time.Minute)}, nil
}

func (bareServer) SendEvents(_ context.Context, req *agentv1.SendEventsRequest) (*agentv1.SendEventsResponse, error) {
	resp := &agentv1.SendEventsResponse{Stored: uint32(len(req.GetEvents()))}
	for _, e := range req.GetEvents() {
		resp.AcknowledgedIds = append(resp.AcknowledgedIds, e.GetId())
	}
	return resp, nil
}

// helperBare serves bareServer with the agent listener's certificate from
// the data directory, asking for client certificates as Rollcall does.
func helperBare(ctx context.Context) error {
	dir := os.Getenv(envDataDir)
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "agent-listener.crt"), filepath.Join(dir, "agent-listener.key"))
	if err != nil {
		return err
	}
	g := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12,
	})))
	agentv1.RegisterAgentServiceServer(g, bareServer{})
	lis, err := listenLoopback()
	if err != nil {
		return err
	}
	if err := writeReady(lis.Addr().String(), ""); err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		g.Stop()
	}()
	return g.Serve(lis)
}

type ready struct {
	AgentAddr string `json:"agent_addr"`
	HTTPAddr  string `json:"http_addr"`
}

func writeReady(agentAddr, httpAddr string) error {
	b, err := json.Marshal(ready{AgentAddr: agentAddr, HTTPAddr: httpAddr})
	if err != nil {
		return err
	}
	path := os.Getenv(envReady)
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

// helper is a helper process started by a benchmark.
type helper struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	ready
}

// startHelper starts a helper process in mode on the data directory dir
// (and database db) and waits until it listens.
func startHelper(tb testing.TB, mode, dir, db string) *helper {
	tb.Helper()
	readyFile := filepath.Join(tb.TempDir(), "ready.json")
	h := &helper{cmd: exec.Command(os.Args[0], "-test.run=^$")}
	h.cmd.Env = append(os.Environ(), envHelper+"="+mode, envDataDir+"="+dir, envDB+"="+db, envReady+"="+readyFile)
	h.cmd.Stderr = &h.stderr
	if err := h.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- h.cmd.Wait() }()
	tb.Cleanup(func() {
		_ = h.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = h.cmd.Process.Kill()
			<-exited
		}
		if s := strings.TrimSpace(h.stderr.String()); s != "" {
			tb.Logf("%s helper said:\n%s", mode, s)
		}
	})
	deadline := time.Now().Add(2 * time.Minute)
	for {
		b, err := os.ReadFile(readyFile)
		if err == nil {
			if err := json.Unmarshal(b, &h.ready); err != nil {
				tb.Fatal(err)
			}
			return h
		}
		select {
		case err := <-exited:
			tb.Fatalf("%s helper exited before it listened: %v: %s", mode, err, h.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s helper did not listen within 2 minutes: %s", mode, h.stderr.String())
		}
	}
}

// clockTicks is the kernel's USER_HZ, in which /proc reports CPU time; it
// is 100 on every Linux this runs on.
const clockTicks = 100

// cpuTime returns the user and system CPU time process pid has used.
func cpuTime(pid int) (time.Duration, error) { return statTicks(pid, 11, 12) }

// statTicks returns the sum of two fields of /proc/pid/stat that count
// clock ticks, as a duration; fields are counted from 0 after the command
// name, so utime and stime (fields 14 and 15 of the line) are 11 and 12.
func statTicks(pid, a, b int) (time.Duration, error) {
	buf, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces.
	s := string(buf)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("no command name in " + s)
	}
	f := strings.Fields(s[i+1:])
	if len(f) <= max(a, b) {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	x, err1 := strconv.ParseInt(f[a], 10, 64)
	y, err2 := strconv.ParseInt(f[b], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(x+y) * time.Second / clockTicks, nil
}

// treeCPU returns the CPU time used by process pid and its children: for
// PostgreSQL, the postmaster, its backends and workers alive now, and
// those it has waited for (which /proc counts in the postmaster's cutime
// and cstime).
func treeCPU(pid int) (time.Duration, error) {
	total, err := cpuTime(pid)
	if err != nil {
		return 0, err
	}
	reaped, err := statTicks(pid, 13, 14)
	if err != nil {
		return 0, err
	}
	total += reaped
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil || child == pid || parentOf(child) != pid {
			continue
		}
		if d, err := cpuTime(child); err == nil {
			total += d
		}
	}
	return total, nil
}

// parentOf returns the parent of process pid, or 0.
func parentOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0
	}
	p, _ := strconv.Atoi(f[1])
	return p
}

// rss returns the resident and peak resident memory of process pid, in
// bytes.
func rss(pid int) (cur, peak int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			cur = n << 10
		case "VmHWM":
			peak = n << 10
		}
	}
	if cur == 0 {
		return 0, 0, fmt.Errorf("/proc/%d/status has no VmRSS", pid)
	}
	return cur, peak, nil
}
