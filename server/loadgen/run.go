package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rollcall/rollcall/inventory"
	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

// Scenario is what each request of a run does.
type Scenario string

// The scenarios.
const (
	// Heartbeat checks in with the report hash only. When the server
	// answers report_required the agent sends the full report in the same
	// request, as the real agent does.
	Heartbeat Scenario = "heartbeat"
	// Report checks in with a changed full report: the antivirus
	// definitions moved on to now, so the server stores it.
	Report Scenario = "report"
	// Events sends 1 to EventsPerCall usb.inserted and usb.removed
	// events, each with a new UUID.
	Events Scenario = "events"
	// Storm has every agent send one changed full report, once: the
	// morning boot storm. Count defaults to the fleet's size.
	Storm Scenario = "storm"
)

// Scenarios lists every scenario.
var Scenarios = []Scenario{Heartbeat, Report, Events, Storm}

// ParseScenario returns the scenario named s.
func ParseScenario(s string) (Scenario, error) {
	for _, sc := range Scenarios {
		if string(sc) == s {
			return sc, nil
		}
	}
	return "", fmt.Errorf("scenario %q: give heartbeat, report, events or storm", s)
}

// Options configure a run.
type Options struct {
	// Addrs are the agent listeners; agent i talks to Addrs[i%len(Addrs)].
	// Empty means the fleet's server.
	Addrs []string
	// AllowRemote allows addresses that are not loopback (see CheckAddr).
	AllowRemote bool
	Scenario    Scenario
	// Rate is the requests per second across the fleet, sent open loop: the
	// k-th request is due at k/Rate whether or not earlier ones finished,
	// and its latency counts from then. Zero runs closed loop: Workers
	// each send their next request when the last one ends.
	Rate float64
	// Workers is, closed loop, how many requests are in flight (default
	// 16); open loop, the most requests in flight at once (default 1000),
	// beyond which due requests wait, their latency still counted from
	// when they were due.
	Workers int
	// Duration and Count bound the run: it stops sending at whichever
	// comes first. One of them must be set, except for Storm.
	Duration time.Duration
	Count    int
	// Conns is ConnsPerAgent (each agent keeps its connection, as a
	// long-running agent could), ConnsPerRequest (a connection per
	// request, as agent/client's Runner.Once dials for each check-in), or
	// a bound on the live connections, the least recently used closed
	// first and an agent without one dialling again with its own
	// certificate.
	Conns int
	// EventsPerCall is the most events in one SendEvents (default 5).
	EventsPerCall int
	// Resend is the fraction of event batches sent a second time, at the
	// same moment, to the next address (or the same one when there is
	// one), to prove each event is stored once.
	Resend float64
	// Timeout bounds each call (default 30s, as the agent's).
	Timeout time.Duration
	// Progress, when not nil, gets a line every ProgressEvery (default 5s).
	Progress      io.Writer
	ProgressEvery time.Duration
}

func (o *Options) check(f *Fleet) error {
	if len(f.Agents) == 0 {
		return errors.New("the fleet has no agents")
	}
	if len(o.Addrs) == 0 {
		if f.Server == "" {
			return errors.New("no address: give the agent listener's host:port")
		}
		o.Addrs = []string{f.Server}
	}
	for _, a := range o.Addrs {
		if err := CheckAddr(a, o.AllowRemote); err != nil {
			return err
		}
	}
	if _, err := ParseScenario(string(o.Scenario)); err != nil {
		return err
	}
	switch {
	case o.Rate < 0:
		return fmt.Errorf("rate %g: give a positive number of requests per second, or 0 for as fast as the workers go", o.Rate)
	case o.Workers < 0:
		return fmt.Errorf("workers %d: give a positive number", o.Workers)
	case o.Duration < 0 || o.Count < 0:
		return errors.New("duration and count cannot be negative")
	case o.Conns < ConnsPerRequest:
		return fmt.Errorf("conns %d: give a positive bound, ConnsPerAgent or ConnsPerRequest", o.Conns)
	case o.EventsPerCall < 0 || o.EventsPerCall > inventory.MaxEventsPerCall:
		return fmt.Errorf("events per call %d: give 1 to %d", o.EventsPerCall, inventory.MaxEventsPerCall)
	case o.Resend < 0 || o.Resend > 1:
		return fmt.Errorf("resend %g: give a fraction from 0 to 1", o.Resend)
	}
	if o.Scenario == Storm && o.Count == 0 {
		o.Count = len(f.Agents)
	}
	if o.Duration == 0 && o.Count == 0 {
		return errors.New("give a duration or a count: every run must stop by itself")
	}
	if o.Workers == 0 {
		o.Workers = 16
		if o.Rate > 0 {
			o.Workers = 1000
		}
	}
	if o.EventsPerCall == 0 {
		o.EventsPerCall = 5
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 5 * time.Second
	}
	return nil
}

// run is one run in progress.
type run struct {
	f    *Fleet
	o    Options
	pool *pool

	sent, ok, failed, reportsRequired atomic.Int64
	errs                              tally

	mu     sync.Mutex
	lat    Latencies
	events []SentEvent
	ev     EventCounts
}

// Run sends the scenario across the fleet until the duration or count is
// reached or ctx ends, waits for the calls in flight, and returns what
// happened. Requests go to the agents in turn, so each agent's requests
// are spread evenly over the run. The agents' reports held in f are
// updated as the server accepts new ones (see [Fleet.Changed]).
func Run(ctx context.Context, f *Fleet, o Options) (*Result, error) {
	if err := o.check(f); err != nil {
		return nil, err
	}
	r := &run{f: f, o: o, pool: newPool(o.Addrs, f.CA, o.Conns)}
	defer r.pool.close()
	if o.Scenario == Events {
		r.events = make([]SentEvent, 0, 1024)
	}
	start := time.Now()
	stopProgress := r.progress(start)
	if o.Rate > 0 {
		r.openLoop(ctx, start)
	} else {
		r.closedLoop(ctx, start)
	}
	elapsed := time.Since(start)
	stopProgress()

	res := &Result{
		Scenario: string(o.Scenario), Agents: len(f.Agents), Addrs: o.Addrs, Rate: o.Rate, Workers: o.Workers, Conns: describeConns(o.Conns),
		Sent: r.sent.Load(), OK: r.ok.Load(), Failed: r.failed.Load(), ReportsRequired: r.reportsRequired.Load(),
		Elapsed: elapsed, Latency: r.lat.Summary(),
		Handshakes: r.pool.n.made.Load(), HandshakesFailed: r.pool.n.failed.Load(),
		Errors: r.errs.sorted(),
	}
	if elapsed > 0 {
		res.Throughput = float64(res.OK) / elapsed.Seconds()
	}
	if o.Scenario == Events {
		ev := r.ev
		res.Events, res.EventIDs = &ev, r.events
	}
	return res, nil
}

// openLoop sends the k-th request at start+k/Rate, each in its own
// goroutine, at most Workers at once.
func (r *run) openLoop(ctx context.Context, start time.Time) {
	var wg sync.WaitGroup
	slots := make(chan struct{}, r.o.Workers)
	timer := time.NewTimer(0)
	defer timer.Stop()
	end := start.Add(r.o.Duration)
loop:
	for k := 0; r.o.Count == 0 || k < r.o.Count; k++ {
		due := start.Add(time.Duration(float64(k) / r.o.Rate * float64(time.Second)))
		if r.o.Duration > 0 && !due.Before(end) {
			break
		}
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				break loop
			}
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			break loop
		}
		wg.Go(func() {
			defer func() { <-slots }()
			r.request(ctx, k, due)
		})
	}
	wg.Wait()
}

// closedLoop runs Workers that each send a request as soon as their last
// one ends.
func (r *run) closedLoop(ctx context.Context, start time.Time) {
	var next atomic.Int64
	end := start.Add(r.o.Duration)
	var wg sync.WaitGroup
	for range r.o.Workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				if r.o.Duration > 0 && !time.Now().Before(end) {
					return
				}
				k := int(next.Add(1) - 1)
				if r.o.Count > 0 && k >= r.o.Count {
					return
				}
				r.request(ctx, k, time.Now())
			}
		})
	}
	wg.Wait()
}

// progress writes a line to Progress every ProgressEvery until the
// returned function is called.
func (r *run) progress(start time.Time) func() {
	if r.o.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(r.o.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(r.o.Progress, "%s: %d sent, %d ok, %d failed, %d handshakes\n",
					time.Since(start).Round(time.Second), r.sent.Load(), r.ok.Load(), r.failed.Load(), r.pool.n.made.Load())
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// request makes request k, due at due, with agent k modulo the fleet.
func (r *run) request(ctx context.Context, k int, due time.Time) {
	place := k % len(r.f.Agents)
	a := r.f.Agents[place]
	addr := place % len(r.o.Addrs)
	a.mu.Lock()
	defer a.mu.Unlock()
	if r.o.Scenario == Events {
		r.sendEvents(ctx, a, place, addr, due)
		return
	}
	r.sent.Add(1)
	err := r.withConn(ctx, a, place, addr, func(ctx context.Context, c agentv1.AgentServiceClient) error {
		if r.o.Scenario == Heartbeat {
			return r.heartbeat(ctx, c, a)
		}
		return r.report(ctx, c, a)
	})
	r.done(due, err)
}

// withConn calls fn with the agent's connection to address addr, under
// the call timeout.
func (r *run) withConn(ctx context.Context, a *Agent, place, addr int, fn func(context.Context, agentv1.AgentServiceClient) error) error {
	conn, release, err := r.pool.get(a, place, addr)
	if err != nil {
		return err
	}
	defer release()
	ctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()
	return fn(ctx, agentv1.NewAgentServiceClient(conn))
}

// done records the end of a request due at due.
func (r *run) done(due time.Time, err error) {
	took := time.Since(due)
	if err != nil {
		r.failed.Add(1)
		r.errs.add(err)
		return
	}
	r.ok.Add(1)
	r.mu.Lock()
	r.lat.Add(took)
	r.mu.Unlock()
}

func (r *run) heartbeat(ctx context.Context, c agentv1.AgentServiceClient, a *Agent) error {
	resp, err := c.CheckIn(ctx, &agentv1.CheckInRequest{ReportHash: a.hash, CollectedAt: timestamppb.Now()})
	if err != nil || !resp.GetReportRequired() {
		return err
	}
	r.reportsRequired.Add(1)
	rep, hash := r.f.Report(a)
	_, err = c.CheckIn(ctx, &agentv1.CheckInRequest{ReportHash: hash, Report: rep, CollectedAt: timestamppb.New(a.reportAt)})
	if err == nil {
		a.hash = hash
	}
	return err
}

// report sends a full report collected now, with the antivirus
// definitions moved on to now, so it differs from the last one.
func (r *run) report(ctx context.Context, c agentv1.AgentServiceClient, a *Agent) error {
	at := time.Now().UTC().Truncate(time.Second)
	if !at.After(a.reportAt) {
		at = a.reportAt.Add(time.Second)
	}
	rep, hash := r.f.laptop(a, at).report()
	if _, err := c.CheckIn(ctx, &agentv1.CheckInRequest{ReportHash: hash, Report: rep, CollectedAt: timestamppb.New(at)}); err != nil {
		return err
	}
	a.reportAt, a.hash = at, hash
	r.f.changed.Store(true)
	return nil
}

// sendEvents sends one batch of events, and with probability Resend the
// same batch again at once to the next address; each send is a request.
func (r *run) sendEvents(ctx context.Context, a *Agent, place, addr int, due time.Time) {
	events, err := r.f.laptop(a, time.Now()).usbEvents(1+rand.IntN(r.o.EventsPerCall), time.Now())
	if err != nil {
		r.sent.Add(1)
		r.done(due, err)
		return
	}
	addrs := []int{addr}
	if rand.Float64() < r.o.Resend {
		addrs = append(addrs, (addr+1)%len(r.o.Addrs))
	}
	acked := make([]map[string]bool, len(addrs))
	var wg sync.WaitGroup
	for i, ad := range addrs {
		r.sent.Add(1)
		wg.Go(func() {
			var resp *agentv1.SendEventsResponse
			err := r.withConn(ctx, a, place, ad, func(ctx context.Context, c agentv1.AgentServiceClient) error {
				var err error
				resp, err = c.SendEvents(ctx, &agentv1.SendEventsRequest{Events: events})
				return err
			})
			if err == nil && len(resp.GetRejected()) > 0 {
				err = fmt.Errorf("server rejected events as invalid: %s", resp.GetRejected()[0].GetReason())
			}
			r.done(due, err)
			acked[i] = map[string]bool{}
			for _, id := range resp.GetAcknowledgedIds() {
				acked[i][id] = true
			}
			r.mu.Lock()
			r.ev.Stored += int64(resp.GetStored())
			r.ev.Rejected += int64(len(resp.GetRejected()))
			r.mu.Unlock()
		})
	}
	wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ev.Resent += int64(len(addrs) - 1)
	for _, e := range events {
		ok := false
		for _, m := range acked {
			ok = ok || m[e.GetId()]
		}
		r.ev.Sent++
		if ok {
			r.ev.Acknowledged++
		}
		r.events = append(r.events, SentEvent{ID: e.GetId(), DeviceID: a.DeviceID.String(), Acknowledged: ok})
	}
}
