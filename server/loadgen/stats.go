package loadgen

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/status"
)

// Latencies keeps every latency recorded, so percentiles are exact and
// two sets merge by appending. A million requests take 8 MB, which is
// why no histogram library is needed.
type Latencies struct {
	d      []time.Duration
	sorted bool
}

// Add records one latency.
func (l *Latencies) Add(d time.Duration) {
	l.d = append(l.d, d)
	l.sorted = false
}

// Merge adds every latency of o.
func (l *Latencies) Merge(o *Latencies) {
	l.d = append(l.d, o.d...)
	l.sorted = false
}

// Len returns how many latencies were recorded.
func (l *Latencies) Len() int { return len(l.d) }

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100): the
// smallest latency at least p percent of them are at or below. It returns
// 0 when none were recorded.
func (l *Latencies) Percentile(p float64) time.Duration {
	if len(l.d) == 0 {
		return 0
	}
	if !l.sorted {
		slices.Sort(l.d)
		l.sorted = true
	}
	rank := int(math.Ceil(p / 100 * float64(len(l.d))))
	return l.d[min(max(rank, 1), len(l.d))-1]
}

// Summary returns the count, mean and percentiles of the latencies.
func (l *Latencies) Summary() Summary {
	s := Summary{Count: len(l.d)}
	if s.Count == 0 {
		return s
	}
	var sum time.Duration
	for _, d := range l.d {
		sum += d
	}
	s.Mean = sum / time.Duration(s.Count)
	s.P50, s.P90, s.P95, s.P99, s.Max = l.Percentile(50), l.Percentile(90), l.Percentile(95), l.Percentile(99), l.Percentile(100)
	return s
}

// Summary describes a set of latencies.
type Summary struct {
	Count                         int
	Mean, P50, P90, P95, P99, Max time.Duration
}

// MarshalJSON gives the latencies in milliseconds.
func (s Summary) MarshalJSON() ([]byte, error) {
	ms := func(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }
	return json.Marshal(struct {
		Count int     `json:"count"`
		Mean  float64 `json:"mean_ms"`
		P50   float64 `json:"p50_ms"`
		P90   float64 `json:"p90_ms"`
		P95   float64 `json:"p95_ms"`
		P99   float64 `json:"p99_ms"`
		Max   float64 `json:"max_ms"`
	}{s.Count, ms(s.Mean), ms(s.P50), ms(s.P90), ms(s.P95), ms(s.P99), ms(s.Max)})
}

// ErrorCount is how often one error was seen.
type ErrorCount struct {
	Code    string `json:"code"` // the gRPC code, such as "Unavailable"
	Message string `json:"message"`
	Count   int64  `json:"count"`
}

// maxErrorKinds bounds how many different errors are told apart; the
// rest are counted under their code alone.
const maxErrorKinds = 50

// tally counts errors by gRPC code and message.
type tally struct {
	mu sync.Mutex
	m  map[[2]string]int64
}

func (t *tally) add(err error) {
	st := status.Convert(err)
	msg := st.Message()
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	k := [2]string{st.Code().String(), msg}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[[2]string]int64{}
	}
	if _, ok := t.m[k]; !ok && len(t.m) >= maxErrorKinds {
		k[1] = "(other messages)"
	}
	t.m[k]++
}

// sorted returns the errors, most frequent first.
func (t *tally) sorted() []ErrorCount {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]ErrorCount, 0, len(t.m))
	for k, n := range t.m {
		out = append(out, ErrorCount{Code: k[0], Message: k[1], Count: n})
	}
	slices.SortFunc(out, func(a, b ErrorCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Code, b.Code), cmp.Compare(a.Message, b.Message))
	})
	return out
}

// Result is what a run or an enrolment did.
type Result struct {
	Scenario string   `json:"scenario"` // a Scenario, or "enrol-real" or "enrol-bulk"
	Agents   int      `json:"agents"`
	Addrs    []string `json:"addrs,omitempty"`
	Rate     float64  `json:"rate"`    // requests per second asked for; 0: as fast as the workers go
	Workers  int      `json:"workers"` // closed loop: workers; open loop: most requests in flight
	Conns    string   `json:"conns,omitempty"`

	Sent   int64 `json:"sent"`
	OK     int64 `json:"ok"`
	Failed int64 `json:"failed"`
	// ReportsRequired counts heartbeats the server answered with
	// report_required; each was followed by the full report, in the same
	// request.
	ReportsRequired int64 `json:"reports_required"`

	Elapsed    time.Duration `json:"-"`
	Throughput float64       `json:"throughput_per_s"` // requests that succeeded, per second of the run
	Latency    Summary       `json:"latency"`          // of the requests that succeeded

	Handshakes       int64 `json:"handshakes"`
	HandshakesFailed int64 `json:"handshakes_failed"`

	Errors []ErrorCount `json:"errors"`
	Events *EventCounts `json:"events,omitempty"`

	// EventIDs lists every event sent, for a check of the database.
	EventIDs []SentEvent `json:"-"`
}

// EventCounts sums up the events of a run.
type EventCounts struct {
	Sent         int64 `json:"sent"`         // distinct events sent
	Acknowledged int64 `json:"acknowledged"` // distinct events the server acknowledged
	Stored       int64 `json:"stored"`       // new events the server said it stored, over every call
	Rejected     int64 `json:"rejected"`
	Resent       int64 `json:"resent"` // calls that sent a batch again, to the next address
}

// SentEvent is one event sent, and whether the server acknowledged it.
type SentEvent struct {
	ID           string
	DeviceID     string
	Acknowledged bool
}

// MarshalJSON adds the elapsed time in seconds.
func (r *Result) MarshalJSON() ([]byte, error) {
	type plain Result
	return json.Marshal(struct {
		*plain
		ElapsedSeconds float64 `json:"elapsed_s"`
	}{(*plain)(r), math.Round(r.Elapsed.Seconds()*1e3) / 1e3})
}

// WriteText writes the result for people, with the topErrors most
// frequent errors.
func (r *Result) WriteText(w io.Writer, topErrors int) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d agents", r.Scenario, r.Agents)
	if len(r.Addrs) > 0 {
		fmt.Fprintf(&b, " -> %s", strings.Join(r.Addrs, ", "))
	}
	if r.Rate > 0 {
		fmt.Fprintf(&b, ", open loop at %g/s, at most %d in flight", r.Rate, r.Workers)
	} else {
		fmt.Fprintf(&b, ", closed loop with %d workers", r.Workers)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "requests    %d sent, %d ok, %d failed", r.Sent, r.OK, r.Failed)
	if r.ReportsRequired > 0 {
		fmt.Fprintf(&b, " (%d heartbeats answered report_required, then sent in full)", r.ReportsRequired)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "throughput  %.1f ok/s over %s\n", r.Throughput, r.Elapsed.Round(time.Millisecond))
	l := r.Latency
	fmt.Fprintf(&b, "latency     p50 %s  p90 %s  p95 %s  p99 %s  max %s  (mean %s, of %d ok)\n",
		ms(l.P50), ms(l.P90), ms(l.P95), ms(l.P99), ms(l.Max), ms(l.Mean), l.Count)
	fmt.Fprintf(&b, "handshakes  %d (%d failed)", r.Handshakes, r.HandshakesFailed)
	if r.Conns != "" {
		fmt.Fprintf(&b, "; connections: %s", r.Conns)
	}
	b.WriteString("\n")
	if e := r.Events; e != nil {
		fmt.Fprintf(&b, "events      %d sent, %d acknowledged, %d stored new, %d rejected; %d batches resent\n",
			e.Sent, e.Acknowledged, e.Stored, e.Rejected, e.Resent)
	}
	for i, e := range r.Errors {
		if i == topErrors {
			fmt.Fprintf(&b, "            ... and %d more kinds of error\n", len(r.Errors)-i)
			break
		}
		fmt.Fprintf(&b, "error       %d x %s: %s\n", e.Count, e.Code, e.Message)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ms formats d in milliseconds.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/1e6)
}
