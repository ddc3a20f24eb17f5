package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rollcall/rollcall/inventory/postgres/pgtest"
	"github.com/rollcall/rollcall/server/app"
	"github.com/rollcall/rollcall/server/pki"
	"github.com/rollcall/rollcall/server/vault"
)

// The load benchmark's settings, from the environment.
const (
	// envDevices is how many agents the fleet has (default 100,000).
	envDevices = "ROLLCALL_BENCH_DEVICES"
	// envRounds is how many times each measurement is made; the
	// benchmark reports the median (default 3).
	envRounds = "ROLLCALL_BENCH_ROUNDS"
	// envOut names a file the figures are written to, as a Markdown
	// table of every round and the median.
	envOut = "ROLLCALL_BENCH_OUT"
	// envOnly, when set, names the parts to run, separated by commas:
	// steady, heartbeat, report, storm, replicas.
	envOnly = "ROLLCALL_BENCH_ONLY"
)

// keptAgents is how many agents the runs with kept connections use: few
// enough that each dials once, so what is measured is the calls.
const keptAgents = 1000

func envInt(tb testing.TB, name string, def, least int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < least {
		tb.Fatalf("%s=%q: give a number of at least %d", name, s, least)
	}
	return v
}

func listenLoopback() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

// loadBench is what the load benchmark runs against: a fleet bulk-enrolled
// into a PostgreSQL database, two Rollcall servers on it and a bare agent
// listener, each in a process of its own.
type loadBench struct {
	dsn      string
	db       *pgxpool.Pool // for the raw writes and the checks
	pgPID    int           // the postmaster, whose tree's CPU is PostgreSQL's
	fleet    *Fleet
	kept     *Fleet // the first keptAgents agents
	servers  [2]*helper
	bare     *helper
	figures  figures
	progress func(format string, args ...any)
}

func newLoadBench(b *testing.B) *loadBench {
	ctx := context.Background()
	n := envInt(b, envDevices, 100000, keptAgents)
	lb := &loadBench{dsn: pgtest.DSN(b), progress: b.Logf}
	var err error
	if lb.db, err = pgxpool.New(ctx, lb.dsn); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(lb.db.Close)
	var backend int
	if err := lb.db.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		b.Fatal(err)
	}
	lb.pgPID = parentOf(backend)

	dirs := [2]string{b.TempDir(), b.TempDir()}
	lb.servers[0] = startHelper(b, "serve", dirs[0], lb.dsn)
	// The second replica shares the first one's CA, listener certificate
	// and vault key, as replicas behind one address do.
	copyDir(b, dirs[0], dirs[1])
	lb.servers[1] = startHelper(b, "serve", dirs[1], lb.dsn)
	lb.bare = startHelper(b, "bare", dirs[0], "")

	started := time.Now()
	lb.fleet = bulkFleet(b, dirs[0], lb.dsn, n, lb.servers[0].AgentAddr)
	lb.progress("bulk-enrolled %d agents in %s", n, time.Since(started).Round(time.Second))
	lb.kept = &Fleet{Mode: lb.fleet.Mode, Tag: lb.fleet.Tag, Server: lb.fleet.Server, CA: lb.fleet.CA, Agents: lb.fleet.Agents[:keptAgents]}
	return lb
}

// bulkFleet enrols n agents through the bulk path, with synchronous
// commit off for the load only: the benchmark's subject is the server,
// not its setting up.
func bulkFleet(b *testing.B, dir, dsn string, n int, addr string) *Fleet {
	ctx := context.Background()
	ca, err := pki.LoadCA(dir)
	if err != nil {
		b.Fatal(err)
	}
	v, err := vault.LoadOrCreate(dir)
	if err != nil {
		b.Fatal(err)
	}
	s, err := app.OpenStore(ctx, dir, withoutSyncCommit(dsn))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	f, res, err := BulkEnroll(ctx, BulkOptions{Store: s, CA: ca, Vault: v, N: n, Workers: 8, Server: addr})
	if err != nil {
		b.Fatal(err)
	}
	if res.Failed > 0 {
		b.Fatalf("bulk enrolment: %d of %d failed: %v", res.Failed, n, res.Errors)
	}
	return f
}

// withoutSyncCommit returns dsn with synchronous commit turned off for
// its sessions.
func withoutSyncCommit(dsn string) string {
	if !strings.Contains(dsn, "://") {
		return dsn + " options='-c synchronous_commit=off'"
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "options=-c%20synchronous_commit%3Doff"
}

func copyDir(tb testing.TB, from, to string) {
	entries, err := os.ReadDir(from)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkLoad measures the agent API under load on PostgreSQL, against
// the limits of the same machine: the steady state of the whole fleet
// checking in every 5 minutes, heartbeats and full reports as fast as they
// are accepted, the morning boot storm, each against a bare gRPC listener
// that does no work and a raw pgx write of the same rows, and two
// replicas taking the same events. Each measurement is made
// $ROLLCALL_BENCH_ROUNDS times and its median reported. Run it with
// `make bench`; docs/performance.md explains the figures.
func BenchmarkLoad(b *testing.B) {
	lb := newLoadBench(b)
	rounds := envInt(b, envRounds, 3, 1)
	for range b.N {
		for r := range rounds {
			lb.progress("round %d of %d", r+1, rounds)
			lb.round(b)
		}
	}
	lb.sizes(b)
	for _, m := range lb.figures.order {
		b.ReportMetric(lb.figures.median(m), m)
	}
	if out := os.Getenv(envOut); out != "" {
		if err := os.WriteFile(out, []byte(lb.figures.markdown(len(lb.fleet.Agents))), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// round makes every measurement once.
func (lb *loadBench) round(b *testing.B) {
	ctx := context.Background()
	n := len(lb.fleet.Agents)
	rollcall, replica := lb.servers[0].AgentAddr, lb.servers[1].AgentAddr

	// 1. The steady state: every agent checks in every 5 minutes, dialling
	// for each check-in as the agent does.
	if want("steady") {
		lb.steady(b, rollcall, n)
	}
	// 2. Heartbeats and full reports as fast as they are accepted, over
	// kept connections, against the bare listener's rate and the raw
	// database writes of the same rows.
	if want("heartbeat") {
		lb.heartbeats(b, rollcall)
	}
	if want("report") {
		lb.reports(b, rollcall)
	}
	// 3. The boot storm: every agent sends its full report once, each on a
	// connection of its own, as fast as they are accepted.
	if want("storm") {
		lb.storm(b, rollcall, n)
	}
	// 4. Two replicas on one database take events, a quarter of the
	// batches sent to both at once: each must be stored once.
	if want("replicas") {
		lb.replicas(ctx, b, rollcall, replica)
	}
}

// want reports whether part is to be run (see envOnly).
func want(part string) bool {
	only := os.Getenv(envOnly)
	return only == "" || slices.Contains(strings.Split(only, ","), part)
}

func (lb *loadBench) steady(b *testing.B, rollcall string, n int) {
	res, cpu := lb.measure(b, lb.servers[0], lb.fleet, Options{Addrs: []string{rollcall}, Scenario: Heartbeat, Rate: float64(n) / 300, Duration: time.Minute, Conns: ConnsPerRequest})
	lb.figures.add("steady-ok/s", res.Throughput)
	lb.figures.add("steady-p50-ms", ms64(res.Latency.P50))
	lb.figures.add("steady-p99-ms", ms64(res.Latency.P99))
	lb.figures.add("steady-server-cpu-%", cpu.server)
	lb.figures.add("steady-postgres-cpu-%", cpu.postgres)
}

func (lb *loadBench) heartbeats(b *testing.B, rollcall string) {
	hb, cpu := lb.measure(b, lb.servers[0], lb.kept, Options{Addrs: []string{rollcall}, Scenario: Heartbeat, Workers: 64, Duration: 15 * time.Second, Conns: ConnsPerAgent})
	bareHB, _ := lb.measure(b, lb.bare, lb.kept, Options{Addrs: []string{lb.bare.AgentAddr}, Scenario: Heartbeat, Workers: 64, Duration: 15 * time.Second, Conns: ConnsPerAgent})
	rawHB := lb.rawHeartbeats(b, 10*time.Second)
	lb.figures.add("heartbeat-ok/s", hb.Throughput)
	lb.figures.add("heartbeat-p99-ms", ms64(hb.Latency.P99))
	lb.figures.add("heartbeat-server-cpu-%", cpu.server)
	lb.figures.add("heartbeat-postgres-cpu-%", cpu.postgres)
	lb.figures.add("bare-heartbeat-ok/s", bareHB.Throughput)
	lb.figures.add("raw-heartbeat-rows/s", rawHB)
	lb.figures.add("heartbeat-%-of-bare", 100*hb.Throughput/bareHB.Throughput)
	lb.figures.add("heartbeat-%-of-raw", 100*hb.Throughput/rawHB)
}

func (lb *loadBench) reports(b *testing.B, rollcall string) {
	// The bare runs go first: the runs against Rollcall then leave it
	// holding each agent's latest report.
	bareRep, _ := lb.measure(b, lb.bare, lb.kept, Options{Addrs: []string{lb.bare.AgentAddr}, Scenario: Report, Workers: 64, Duration: 15 * time.Second, Conns: ConnsPerAgent})
	rep, cpu := lb.measure(b, lb.servers[0], lb.kept, Options{Addrs: []string{rollcall}, Scenario: Report, Workers: 64, Duration: 15 * time.Second, Conns: ConnsPerAgent})
	rawRep := lb.rawReports(b, 10*time.Second)
	lb.figures.add("report-ok/s", rep.Throughput)
	lb.figures.add("report-p99-ms", ms64(rep.Latency.P99))
	lb.figures.add("report-server-cpu-%", cpu.server)
	lb.figures.add("report-postgres-cpu-%", cpu.postgres)
	lb.figures.add("bare-report-ok/s", bareRep.Throughput)
	lb.figures.add("raw-report-rows/s", rawRep)
	lb.figures.add("report-%-of-bare", 100*rep.Throughput/bareRep.Throughput)
	lb.figures.add("report-%-of-raw", 100*rep.Throughput/rawRep)
}

func (lb *loadBench) storm(b *testing.B, rollcall string, n int) {
	bareStorm, _ := lb.measure(b, lb.bare, lb.fleet, Options{Addrs: []string{lb.bare.AgentAddr}, Scenario: Storm, Workers: 64, Count: n / 5, Conns: ConnsPerRequest})
	storm, cpu := lb.measure(b, lb.servers[0], lb.fleet, Options{Addrs: []string{rollcall}, Scenario: Storm, Workers: 64, Conns: ConnsPerRequest})
	lb.figures.add("storm-s", storm.Elapsed.Seconds())
	lb.figures.add("storm-ok/s", storm.Throughput)
	lb.figures.add("storm-p99-ms", ms64(storm.Latency.P99))
	lb.figures.add("storm-server-cpu-%", cpu.server)
	lb.figures.add("storm-postgres-cpu-%", cpu.postgres)
	lb.figures.add("bare-storm-ok/s", bareStorm.Throughput)
	lb.figures.add("storm-%-of-bare", 100*storm.Throughput/bareStorm.Throughput)
}

func (lb *loadBench) replicas(ctx context.Context, b *testing.B, rollcall, replica string) {
	ev, _ := lb.measure(b, lb.servers[0], lb.fleet, Options{Addrs: []string{rollcall, replica}, Scenario: Events, Workers: 32, Duration: 20 * time.Second, Conns: 2000, Resend: 0.25})
	lost, twice := lb.checkEvents(ctx, b, ev)
	lb.figures.add("replicas-events/s", float64(ev.Events.Sent)/ev.Elapsed.Seconds())
	lb.figures.add("replicas-errors", float64(ev.Failed))
	lb.figures.add("replicas-events-lost", float64(lost))
	lb.figures.add("replicas-events-stored-twice", float64(twice))
}

// sizes adds what the database holds at the end, for sizing: its size,
// and the bytes per row, indexes included, of the tables that grow with
// the fleet and its reports.
func (lb *loadBench) sizes(b *testing.B) {
	ctx := context.Background()
	var db int64
	if err := lb.db.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&db); err != nil {
		b.Fatal(err)
	}
	lb.figures.add("db-end-MB", float64(db)/(1<<20))
	for _, table := range []string{"devices", "posture_snapshots", "events", "recovery_keys"} {
		var bytes, rows int64
		err := lb.db.QueryRow(ctx, `SELECT pg_total_relation_size($1::regclass), (SELECT count(*) FROM `+table+`)`, table).Scan(&bytes, &rows)
		if err != nil {
			b.Fatal(err)
		}
		lb.figures.add(table+"-rows", float64(rows))
		if rows > 0 {
			lb.figures.add(table+"-bytes/row", float64(bytes)/float64(rows))
		}
	}
}

// cpuShare is the CPU a server and PostgreSQL used over a run, in percent
// of one core.
type cpuShare struct{ server, postgres float64 }

// measure runs o across f and returns the result and the CPU that srv and
// PostgreSQL used meanwhile. It fails b if any request failed, except for
// the event runs, whose failures are counted as a figure.
func (lb *loadBench) measure(b *testing.B, srv *helper, f *Fleet, o Options) (*Result, cpuShare) {
	b.Helper()
	srv0, pg0 := lb.cpu(b, srv)
	res, err := Run(context.Background(), f, o)
	if err != nil {
		b.Fatal(err)
	}
	srv1, pg1 := lb.cpu(b, srv)
	lb.progress("%s on %s (%d agents): %d ok, %d failed, %.0f/s, p50 %s p99 %s, %d handshakes",
		o.Scenario, strings.Join(o.Addrs, " "), len(f.Agents), res.OK, res.Failed, res.Throughput, ms(res.Latency.P50), ms(res.Latency.P99), res.Handshakes)
	if res.Failed > 0 && o.Scenario != Events {
		b.Fatalf("%s: %d requests failed: %v", o.Scenario, res.Failed, res.Errors)
	}
	secs := res.Elapsed.Seconds()
	return res, cpuShare{server: 100 * (srv1 - srv0).Seconds() / secs, postgres: 100 * (pg1 - pg0).Seconds() / secs}
}

func (lb *loadBench) cpu(b *testing.B, srv *helper) (server, postgres time.Duration) {
	s, err := cpuTime(srv.cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	p, err := treeCPU(lb.pgPID)
	if err != nil {
		b.Fatal(err)
	}
	return s, p
}

// checkEvents counts, of the events a run sent, those acknowledged but
// not stored and those stored more than once.
func (lb *loadBench) checkEvents(ctx context.Context, b *testing.B, res *Result) (lost, twice int64) {
	ids := make([]uuid.UUID, 0, len(res.EventIDs))
	acked := 0
	for _, e := range res.EventIDs {
		if e.Acknowledged {
			ids = append(ids, uuid.MustParse(e.ID))
			acked++
		}
	}
	var rows, distinct int64
	err := lb.db.QueryRow(ctx, `SELECT count(*), count(DISTINCT id) FROM events WHERE id = ANY($1)`, ids).Scan(&rows, &distinct)
	if err != nil {
		b.Fatal(err)
	}
	return int64(acked) - distinct, rows - distinct
}

// rawHeartbeats writes the rows a heartbeat writes, for as many of the
// fleet's devices as it can in d, with plain pgx batches of 1,000
// statements on 4 connections, and returns the rows written per second:
// the database's limit for heartbeats on this machine.
func (lb *loadBench) rawHeartbeats(b *testing.B, d time.Duration) float64 {
	return lb.raw(b, d, func(batch *pgx.Batch, a *Agent, at time.Time) {
		batch.Queue(`UPDATE devices SET last_seen_at = $1 WHERE id = $2 AND report_hash <> ''`, at, a.DeviceID)
	})
}

// rawReports writes the rows a full report writes: the device's hardware,
// hash and verdict, and a posture snapshot.
func (lb *loadBench) rawReports(b *testing.B, d time.Duration) float64 {
	return lb.raw(b, d, func(batch *pgx.Batch, a *Agent, at time.Time) {
		l := lb.fleet.laptop(a, at)
		r := l.domainReport()
		hw, _ := json.Marshal(r.Hardware)
		posture, _ := json.Marshal(r.Posture)
		h := r.Hardware
		batch.Queue(`UPDATE devices SET hostname = $1, make = $2, model = $3, serial = $4, os_name = $5, os_version = $6,
				hardware = $7, last_seen_at = $8, updated_at = $8, hostname_key = $9, serial_key = $10, logged_in_user = $11
			WHERE id = $12`,
			h.Hostname, h.Make, h.Model, h.Serial, h.OSName, h.OSVersion, hw, at,
			strings.ToLower(h.Hostname), strings.ToLower(h.Serial), strings.ToLower(h.LoggedInUser), a.DeviceID)
		batch.Queue(`INSERT INTO posture_snapshots (id, device_id, hash, posture, received_at) VALUES ($1, $2, $3, $4, $5)`,
			uuid.Must(uuid.NewV7()), a.DeviceID, a.hash, posture, at)
	})
}

// raw sends batches of 1,000 agents' rows, made by queue, in a transaction
// each, from 4 connections, for d.
func (lb *loadBench) raw(b *testing.B, d time.Duration, queue func(*pgx.Batch, *Agent, time.Time)) float64 {
	const conns, size = 4, 1000
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var (
		next, rows atomic.Int64
		wg         sync.WaitGroup
		errs       = make(chan error, conns)
	)
	start := time.Now()
	for range conns {
		wg.Go(func() {
			for ctx.Err() == nil {
				first := int(next.Add(size)) - size
				batch := &pgx.Batch{}
				at := time.Now().UTC()
				for i := range size {
					queue(batch, lb.fleet.Agents[(first+i)%len(lb.fleet.Agents)], at)
				}
				err := pgx.BeginFunc(context.Background(), lb.db, func(tx pgx.Tx) error {
					return tx.SendBatch(context.Background(), batch).Close()
				})
				if err != nil {
					errs <- err
					return
				}
				rows.Add(size)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	rate := float64(rows.Load()) / elapsed.Seconds()
	lb.progress("raw pgx writes: %d agents' rows in %s, %.0f/s", rows.Load(), elapsed.Round(time.Millisecond), rate)
	return rate
}

func ms64(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// figures are a benchmark's measurements by name, one per round, in the
// order first made.
type figures struct {
	order  []string
	values map[string][]float64
}

func (f *figures) add(name string, v float64) {
	if f.values == nil {
		f.values = map[string][]float64{}
	}
	if _, ok := f.values[name]; !ok {
		f.order = append(f.order, name)
	}
	f.values[name] = append(f.values[name], v)
}

// median returns the median of name's values.
func (f *figures) median(name string) float64 {
	v := slices.Clone(f.values[name])
	sort.Float64s(v)
	if len(v) == 0 {
		return 0
	}
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// markdown returns the figures as a table: one row per figure, its
// median and then each round's value.
func (f *figures) markdown(devices int) string {
	var b strings.Builder
	rounds := 0
	for _, v := range f.values {
		rounds = max(rounds, len(v))
	}
	fmt.Fprintf(&b, "Load benchmark, %d devices, %s, %d rounds.\n\n| figure | median |", devices, time.Now().UTC().Format(time.DateTime), rounds)
	for i := range rounds {
		fmt.Fprintf(&b, " round %d |", i+1)
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---|", rounds) + "\n")
	for _, name := range f.order {
		fmt.Fprintf(&b, "| %s | %s |", name, num(f.median(name)))
		for _, v := range f.values[name] {
			fmt.Fprintf(&b, " %s |", num(v))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func num(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}
