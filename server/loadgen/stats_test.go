package loadgen

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestStats_Percentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // 100, 99, ..., 1: unsorted on purpose
	}
	tests := []struct {
		name string
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{"Empty", nil, 50, 0},
		{"One", ms(7), 50, 7 * time.Millisecond},
		{"OneMax", ms(7), 100, 7 * time.Millisecond},
		{"MedianOdd", ms(5, 1, 3), 50, 3 * time.Millisecond},
		// Nearest rank: the 2nd of 4.
		{"MedianEven", ms(4, 1, 3, 2), 50, 2 * time.Millisecond},
		{"P50Of100", ms(hundred...), 50, 50 * time.Millisecond},
		{"P90Of100", ms(hundred...), 90, 90 * time.Millisecond},
		{"P95Of100", ms(hundred...), 95, 95 * time.Millisecond},
		{"P99Of100", ms(hundred...), 99, 99 * time.Millisecond},
		{"P99Point9Of100", ms(hundred...), 99.9, 100 * time.Millisecond},
		{"MaxOf100", ms(hundred...), 100, 100 * time.Millisecond},
		{"TinyP", ms(hundred...), 0.001, 1 * time.Millisecond},
		{"P95Of10", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 95, 10 * time.Millisecond},
		{"P90Of10", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9 * time.Millisecond},
		{"Ties", ms(2, 2, 2, 9), 75, 2 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var l Latencies
			for _, d := range tc.in {
				l.Add(d)
			}
			if got := l.Percentile(tc.p); got != tc.want {
				t.Errorf("Percentile(%g) of %v = %v, want %v", tc.p, tc.in, got, tc.want)
			}
		})
	}
}

func TestStats_MergeAndSummary(t *testing.T) {
	var a, b Latencies
	for i := 1; i <= 50; i++ {
		a.Add(time.Duration(i) * time.Millisecond)
		b.Add(time.Duration(101-i) * time.Millisecond)
	}
	a.Percentile(50) // sorts a; the merge must sort again
	a.Merge(&b)
	s := a.Summary()
	want := Summary{Count: 100, Mean: 50500 * time.Microsecond, P50: 50 * time.Millisecond, P90: 90 * time.Millisecond,
		P95: 95 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}
	if s != want {
		t.Errorf("Summary = %+v, want %+v", s, want)
	}
	bs, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(bs); got != `{"count":100,"mean_ms":50.5,"p50_ms":50,"p90_ms":90,"p95_ms":95,"p99_ms":99,"max_ms":100}` {
		t.Errorf("JSON = %s", got)
	}
}

func TestStats_Errors(t *testing.T) {
	var tl tally
	for range 30 {
		tl.add(status.Error(codes.Unavailable, "connection refused"))
	}
	tl.add(status.Error(codes.Unauthenticated, "client certificate was not issued by this server's CA"))
	tl.add(errors.New("plain"))
	for i := range maxErrorKinds + 10 {
		tl.add(status.Error(codes.Internal, fmt.Sprintf("distinct %d", i)))
	}
	got := tl.sorted()
	if len(got) != maxErrorKinds+1 {
		t.Fatalf("%d kinds of error, want at most %d plus one for the rest", len(got), maxErrorKinds)
	}
	if got[0] != (ErrorCount{Code: "Unavailable", Message: "connection refused", Count: 30}) {
		t.Errorf("most frequent = %+v", got[0])
	}
	other := false
	for _, e := range got {
		other = other || e.Message == "(other messages)"
		if e.Message == "plain" && e.Code != "Unknown" {
			t.Errorf("a plain error counts as %s", e.Code)
		}
	}
	if !other {
		t.Error("errors beyond the bound are not counted")
	}
	tl.add(status.Error(codes.Internal, strings.Repeat("x", 500)))
	for _, e := range tl.sorted() {
		if len(e.Message) > 210 {
			t.Errorf("message of %d bytes kept", len(e.Message))
		}
	}
}
