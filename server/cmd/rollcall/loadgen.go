package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rollcall/rollcall/agent/client"
	"github.com/rollcall/rollcall/server/admin"
	"github.com/rollcall/rollcall/server/app"
	"github.com/rollcall/rollcall/server/loadgen"
	"github.com/rollcall/rollcall/server/pki"
	"github.com/rollcall/rollcall/server/vault"
)

const loadgenUsage = `Simulated agents for load tests, each with its own key and certificate,
over real gRPC and mutual TLS.

Usage:
  rollcall loadgen enrol --fleet FILE -n N --token TOKEN [--addr HOST:PORT] [--workers W]
  rollcall loadgen enrol --fleet FILE -n N --mode bulk --data-dir D [--db URL] [--school S] [--workers W]
  rollcall loadgen run --fleet FILE --scenario heartbeat|report|events|storm [--addr HOST:PORT]...
                       [--rate N|max] [--duration D | --count N] [--conns all|none|N] [--workers N]
                       [--events-per-call K] [--resend P] [--event-ids FILE] [--timeout D] [--json]

enrol makes a fleet and saves it in FILE (mode 0600: it holds every agent's
key). The real mode calls Enroll over TLS for each agent, as the agent does,
with a token of enough uses (rollcall enroll-token create --uses N). The bulk
mode is for large fleets: each agent still makes its key, and the server's CA
signs it, but devices are stored straight through the store in the server's
data directory and database, without the agent API; one audit entry records
the load.

run sends a scenario across the fleet and prints requests, failures by gRPC
code, throughput, latency percentiles and TLS handshakes; --json prints them
as JSON. --rate N sends N requests a second open loop (latency counts from
when each request was due); max runs closed loop with --workers workers.
A run stops after --duration (default 10s) or --count requests; storm sends
one full report from every agent. --conns all keeps a connection per agent,
none dials for every request (as the agent does each check-in), N keeps at
most N live. Several --addr spread the agents over servers; --resend P sends
that fraction of event batches again at once to the next address. The
fleet file is updated with the reports the server accepted. The exit status
is 1 when any request failed, after the figures are printed.

Traffic goes only to loopback addresses unless --allow-remote is given.
`

// loadgen runs the load generator's subcommands.
func (e env) loadgen(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, loadgenUsage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "enrol", "enroll":
		return e.loadgenEnrol(ctx, args[1:])
	case "run":
		return e.loadgenRun(ctx, args[1:])
	case "help", "-h", "--help", "-help":
		fmt.Fprint(e.stdout, loadgenUsage)
		return nil
	}
	fmt.Fprint(e.stderr, loadgenUsage)
	return fmt.Errorf("unknown loadgen command %q: give enrol or run", args[0])
}

func (e env) loadgenEnrol(ctx context.Context, args []string) error {
	fs, dataDir, db := e.flags("loadgen enrol")
	fleet := fs.String("fleet", "", "file to save the fleet in; it must not exist yet (required)")
	mode := fs.String("mode", loadgen.ModeReal, "real: each agent calls Enroll over TLS with --token; bulk: devices stored through the server's store (--data-dir, --db)")
	n := fs.Int("n", 0, "how many agents (required)")
	token := fs.String("token", "", "real: an enrolment token with at least -n uses")
	addr := fs.String("addr", "", "real: the agent address to dial instead of the token's")
	school := fs.String("school", "", "bulk: school slug (default: the only school)")
	workers := fs.Int("workers", 8, "agents enrolled at once")
	allowRemote := fs.Bool("allow-remote", false, "allow an agent address that is not on this machine")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	switch {
	case *fleet == "":
		return errors.New("--fleet: give the file to save the fleet in")
	case *n < 1 || *n > loadgen.MaxAgents:
		return fmt.Errorf("-n %d: give 1 to %d agents", *n, loadgen.MaxAgents)
	case *workers < 1:
		return fmt.Errorf("--workers %d: give a positive number", *workers)
	}
	if err := loadgen.CheckNewFleet(*fleet); err != nil {
		return fmt.Errorf("--fleet: %w", err)
	}
	var (
		f   *loadgen.Fleet
		res *loadgen.Result
		err error
	)
	switch *mode {
	case loadgen.ModeReal:
		if given["data-dir"] || given["db"] || given["school"] {
			return errors.New("--data-dir, --db and --school are for --mode bulk; the real mode needs only --token")
		}
		if *token == "" {
			return fmt.Errorf("--token: give an enrolment token with at least %d uses (rollcall enroll-token create --uses %d)", *n, *n)
		}
		t, err := client.ParseToken(*token)
		if err != nil {
			return fmt.Errorf("--token: %w", err)
		}
		if *addr != "" {
			if err := loadgen.CheckAddr(*addr, *allowRemote); err != nil {
				return fmt.Errorf("--addr: %w", err)
			}
		} else if err := loadgen.CheckAddr(t.GetAgentAddress(), *allowRemote); err != nil {
			return fmt.Errorf("the token's agent address %s is not on this machine: give --addr 127.0.0.1:PORT to reach the server here, or --allow-remote", t.GetAgentAddress())
		}
		f, res, err = loadgen.Enroll(ctx, loadgen.EnrollOptions{Token: *token, N: *n, Workers: *workers, Addr: *addr, AllowRemote: *allowRemote})
		if err != nil {
			return fmt.Errorf("--token: %w", err)
		}
	case loadgen.ModeBulk:
		if given["token"] || given["addr"] {
			return errors.New("--token and --addr are for --mode real; the bulk mode needs the server's --data-dir (and --db)")
		}
		f, res, err = e.bulkEnrol(ctx, *dataDir, *db, *school, *n, *workers)
		if err != nil {
			return err
		}
	default:
		return fmt.Errorf("--mode %q: give real or bulk", *mode)
	}
	if len(f.Agents) > 0 {
		if err := f.Save(*fleet); err != nil {
			return err
		}
	}
	if err := writeResult(e.stdout, res, *asJSON); err != nil {
		return err
	}
	if res.Failed > 0 {
		return fmt.Errorf("%d of %d agents failed to enrol; the %d that did are saved in %s", res.Failed, *n, len(f.Agents), *fleet)
	}
	fmt.Fprintf(e.stderr, "Saved %d agents (tag %s) in %s.\n", len(f.Agents), f.Tag, *fleet)
	return nil
}

// bulkEnrol enrols n agents through the store of the server in dataDir.
func (e env) bulkEnrol(ctx context.Context, dataDir, db, school string, n, workers int) (*loadgen.Fleet, *loadgen.Result, error) {
	ca, err := pki.LoadCA(dataDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("--data-dir: %s holds no Rollcall CA: give the --data-dir that `rollcall serve` uses", dataDir)
	} else if err != nil {
		return nil, nil, err
	}
	v, err := vault.LoadOrCreate(dataDir)
	if err != nil {
		return nil, nil, err
	}
	s, cfg, err := e.openStore(ctx, dataDir, db)
	if err != nil {
		return nil, nil, err
	}
	defer s.Close()
	sc, err := admin.ResolveSchool(ctx, s, school)
	if err != nil {
		return nil, nil, fmt.Errorf("--school: %w", err)
	}
	f, res, err := loadgen.BulkEnroll(ctx, loadgen.BulkOptions{
		Store: s, CA: ca, Vault: v, School: sc.Slug, N: n, Workers: workers,
		Server: localAddr(cfg.AgentAddr),
	})
	if err != nil {
		return nil, nil, err
	}
	detail := fmt.Sprintf("load generator stored %d simulated devices (fleet tag %s) through the bulk path, with enrolment tokens since revoked", res.OK, f.Tag)
	return f, res, audit(ctx, s, sc.ID, "loadgen.bulk_enroll", "school/"+sc.Slug, detail)
}

// localAddr returns how this machine reaches the agent listener that
// listens on listen: a wildcard host becomes 127.0.0.1.
func localAddr(listen string) string {
	if listen == "" {
		listen = app.DefaultAgentAddr
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// addrList is a repeatable flag.
type addrList []string

func (a *addrList) String() string { return strings.Join(*a, ",") }
func (a *addrList) Set(s string) error {
	*a = append(*a, s)
	return nil
}

func (e env) loadgenRun(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("rollcall loadgen run", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fleet := fs.String("fleet", "", "the fleet file made by loadgen enrol (required)")
	scenario := fs.String("scenario", "", "heartbeat, report, events or storm (required)")
	var addrs addrList
	fs.Var(&addrs, "addr", "agent listener host:port; repeat for several servers (default: the fleet's)")
	rate := fs.String("rate", "max", "requests per second across the fleet, open loop; max: closed loop with --workers")
	duration := fs.Duration("duration", 0, "stop sending after this long (default 10s unless --count is given)")
	count := fs.Int("count", 0, "stop after this many requests (storm: default one per agent)")
	conns := fs.String("conns", "all", "all: a connection per agent; none: one per request; N: at most N live")
	workers := fs.Int("workers", 0, "closed loop: workers (default 16); open loop: most requests in flight (default 1000)")
	perCall := fs.Int("events-per-call", 5, "events: the most events in one call")
	resend := fs.Float64("resend", 0, "events: the fraction of batches sent again at once to the next address")
	eventIDs := fs.String("event-ids", "", "events: write every event sent to this file: ID, device ID, acknowledged or not")
	timeout := fs.Duration("timeout", 30*time.Second, "the longest one call may take")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	allowRemote := fs.Bool("allow-remote", false, "allow addresses that are not on this machine")
	if err := parse(fs, args); err != nil {
		return err
	}
	o := loadgen.Options{Addrs: addrs, AllowRemote: *allowRemote, Duration: *duration, Count: *count, Workers: *workers,
		EventsPerCall: *perCall, Resend: *resend, Timeout: *timeout, Progress: e.stderr}
	var err error
	if *fleet == "" {
		return errors.New("--fleet: give the fleet file made by `rollcall loadgen enrol`")
	}
	if o.Scenario, err = loadgen.ParseScenario(*scenario); err != nil {
		return fmt.Errorf("--scenario: %w", err)
	}
	if *rate != "max" {
		if o.Rate, err = strconv.ParseFloat(*rate, 64); err != nil || o.Rate <= 0 || o.Rate > 1e6 {
			return fmt.Errorf("--rate %q: give requests per second, such as 333, or max", *rate)
		}
	}
	switch *conns {
	case "all":
		o.Conns = loadgen.ConnsPerAgent
	case "none":
		o.Conns = loadgen.ConnsPerRequest
	default:
		if o.Conns, err = strconv.Atoi(*conns); err != nil || o.Conns < 1 {
			return fmt.Errorf("--conns %q: give all, none or a number of live connections", *conns)
		}
	}
	switch {
	case *duration < 0 || *duration > 24*time.Hour:
		return fmt.Errorf("--duration %s: give up to 24h", *duration)
	case *count < 0:
		return fmt.Errorf("--count %d: give a positive number", *count)
	case *workers < 0:
		return fmt.Errorf("--workers %d: give a positive number", *workers)
	case *perCall < 1 || *perCall > 500:
		return fmt.Errorf("--events-per-call %d: give 1 to 500", *perCall)
	case *resend < 0 || *resend > 1:
		return fmt.Errorf("--resend %g: give a fraction from 0 to 1", *resend)
	case *timeout <= 0:
		return fmt.Errorf("--timeout %s: give a positive duration", *timeout)
	case *eventIDs != "" && o.Scenario != loadgen.Events:
		return errors.New("--event-ids is for --scenario events")
	case (*resend > 0 || *perCall != 5) && o.Scenario != loadgen.Events:
		return errors.New("--resend and --events-per-call are for --scenario events")
	}
	if o.Duration == 0 && o.Count == 0 && o.Scenario != loadgen.Storm {
		o.Duration = 10 * time.Second
	}
	for _, a := range addrs {
		if err := loadgen.CheckAddr(a, *allowRemote); err != nil {
			return fmt.Errorf("--addr: %w", err)
		}
	}
	f, err := loadgen.LoadFleet(*fleet)
	if err != nil {
		return fmt.Errorf("--fleet: %w", err)
	}
	if len(addrs) == 0 {
		if err := loadgen.CheckAddr(f.Server, *allowRemote); err != nil {
			return fmt.Errorf("the fleet's server (give --addr to choose another): %w", err)
		}
	}
	res, err := loadgen.Run(ctx, f, o)
	if err != nil {
		return err
	}
	if f.Changed() {
		if err := f.Save(*fleet); err != nil {
			return err
		}
	}
	if *eventIDs != "" {
		if err := writeEventIDs(*eventIDs, res.EventIDs); err != nil {
			return fmt.Errorf("--event-ids: %w", err)
		}
	}
	if err := writeResult(e.stdout, res, *asJSON); err != nil {
		return err
	}
	if res.Failed > 0 {
		return fmt.Errorf("%d of %d requests failed", res.Failed, res.Sent)
	}
	return nil
}

func writeResult(w io.Writer, res *loadgen.Result, asJSON bool) error {
	if !asJSON {
		return res.WriteText(w, 5)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// writeEventIDs writes one line per event: its ID, its device's ID and
// "acknowledged" or "unacknowledged", separated by tabs.
func writeEventIDs(path string, events []loadgen.SentEvent) error {
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(fh)
	for _, e := range events {
		ack := "acknowledged"
		if !e.Acknowledged {
			ack = "unacknowledged"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", e.ID, e.DeviceID, ack)
	}
	if err := w.Flush(); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}
