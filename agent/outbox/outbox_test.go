package outbox

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

// MustOpen opens an outbox at path, closing it when the test ends.
func MustOpen(tb testing.TB, path string, opts Options) *Outbox {
	tb.Helper()
	o, err := Open(path, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { o.Close() })
	return o
}

// tempPath returns the path of an outbox file in a fresh temporary directory.
func tempPath(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(tb.TempDir(), "outbox.db")
}

// newID returns a random version 4 UUID.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// newEvent returns a USB event with a fresh ID and payload n.
func newEvent(tb testing.TB, n int) *agentv1.Event {
	tb.Helper()
	payload, err := structpb.NewStruct(map[string]any{"n": n, "vendor_id": "0781", "product": "Cruzer Blade"})
	if err != nil {
		tb.Fatal(err)
	}
	return &agentv1.Event{
		Id:         newID(),
		Type:       "usb.inserted",
		OccurredAt: timestamppb.New(time.Date(2026, 1, 5, 9, 0, n, 0, time.UTC)),
		Payload:    payload,
	}
}

// addEvents adds n new events to o and returns them.
func addEvents(tb testing.TB, o *Outbox, n int) []*agentv1.Event {
	tb.Helper()
	var added []*agentv1.Event
	for i := range n {
		e := newEvent(tb, i)
		if err := o.AddEvent(e); err != nil {
			tb.Fatal(err)
		}
		added = append(added, e)
	}
	return added
}

// ids returns the IDs of events.
func ids(events []*agentv1.Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.GetId())
	}
	return out
}

// assertPending fails tb unless o holds exactly want, in order, and counts them.
func assertPending(tb testing.TB, o *Outbox, want []*agentv1.Event) {
	tb.Helper()
	got, err := o.PendingEvents(0)
	if err != nil {
		tb.Fatal(err)
	}
	if len(got) != len(want) {
		tb.Fatalf("pending events = %q, want %q", ids(got), ids(want))
	}
	for i := range got {
		if !proto.Equal(got[i], want[i]) {
			tb.Fatalf("pending event %d = %v, want %v", i, got[i], want[i])
		}
	}
	n, err := o.EventCount()
	if err != nil {
		tb.Fatal(err)
	}
	if n != len(want) {
		tb.Errorf("EventCount = %d, want %d", n, len(want))
	}
}

func TestOutbox_PendingEvents(t *testing.T) {
	o := MustOpen(t, tempPath(t), Options{})
	if got, err := o.PendingEvents(10); err != nil || len(got) != 0 {
		t.Fatalf("PendingEvents on an empty outbox = %v, %v", got, err)
	}
	added := addEvents(t, o, 5)
	for _, tc := range []struct {
		name  string
		limit int
		want  []*agentv1.Event
	}{
		{"All", 0, added},
		{"Negative", -1, added},
		{"AboveCount", 10, added},
		{"Exact", 5, added},
		{"First2", 2, added[:2]},
		{"First1", 1, added[:1]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := o.PendingEvents(tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(got), ids(tc.want)) {
				t.Errorf("PendingEvents(%d) = %q, want %q", tc.limit, ids(got), ids(tc.want))
			}
		})
	}
	assertPending(t, o, added)
}

func TestOutbox_AckEvents(t *testing.T) {
	for _, tc := range []struct {
		name string
		ack  func(added []*agentv1.Event) []string // IDs to acknowledge
		keep []int                                 // indexes of the events left
	}{
		{"None", func([]*agentv1.Event) []string { return nil }, []int{0, 1, 2, 3, 4}},
		{"First", func(a []*agentv1.Event) []string { return ids(a[:1]) }, []int{1, 2, 3, 4}},
		{"Middle", func(a []*agentv1.Event) []string { return ids(a[1:4]) }, []int{0, 4}},
		{"Scattered", func(a []*agentv1.Event) []string { return []string{a[4].Id, a[0].Id, a[2].Id} }, []int{1, 3}},
		{"All", func(a []*agentv1.Event) []string { return ids(a) }, nil},
		{"UnknownIgnored", func(a []*agentv1.Event) []string { return []string{newID(), a[3].Id, "not-a-uuid", ""} }, []int{0, 1, 2, 4}},
		{"Repeated", func(a []*agentv1.Event) []string { return []string{a[2].Id, a[2].Id} }, []int{0, 1, 3, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := MustOpen(t, tempPath(t), Options{})
			added := addEvents(t, o, 5)
			removed, err := o.AckEvents(tc.ack(added))
			if err != nil {
				t.Fatal(err)
			}
			if want := 5 - len(tc.keep); removed != want {
				t.Errorf("AckEvents removed %d, want %d", removed, want)
			}
			var want []*agentv1.Event
			for _, i := range tc.keep {
				want = append(want, added[i])
			}
			assertPending(t, o, want)
		})
	}
}

func TestOutbox_AckEvents_ThenAdd(t *testing.T) {
	o := MustOpen(t, tempPath(t), Options{})
	added := addEvents(t, o, 3)
	if _, err := o.AckEvents(ids(added[:2])); err != nil {
		t.Fatal(err)
	}
	more := addEvents(t, o, 2)
	assertPending(t, o, append(added[2:], more...))
}

func TestOutbox_Bound(t *testing.T) {
	path := tempPath(t)
	o := MustOpen(t, path, Options{MaxEvents: 3})
	added := addEvents(t, o, 5)
	assertPending(t, o, added[2:])
	assertDropped(t, o, 2)

	// Acknowledging makes room again: nothing more is dropped until the bound is reached.
	if _, err := o.AckEvents(ids(added[2:3])); err != nil {
		t.Fatal(err)
	}
	more := addEvents(t, o, 1)
	assertPending(t, o, append(added[3:], more...))
	assertDropped(t, o, 2)

	// A dropped event's ID is forgotten, so acknowledging it does nothing.
	if _, err := o.AckEvents(ids(added[:1])); err != nil {
		t.Fatal(err)
	}
	assertPending(t, o, append(added[3:], more...))

	// Reopened with a lower bound, the next add drops down to it.
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	o = MustOpen(t, path, Options{MaxEvents: 2})
	last := addEvents(t, o, 1)
	assertPending(t, o, append(more, last...))
	assertDropped(t, o, 4)
}

func TestOpen_Options(t *testing.T) {
	o := MustOpen(t, tempPath(t), Options{})
	if o.maxEvents != DefaultMaxEvents || DefaultMaxEvents != 10000 {
		t.Errorf("maxEvents = %d, want 10000", o.maxEvents)
	}
	if _, err := Open(tempPath(t), Options{MaxEvents: -1}); err == nil {
		t.Error("Open with negative MaxEvents: want error")
	}
}

// assertDropped fails tb unless o has dropped want events.
func assertDropped(tb testing.TB, o *Outbox, want uint64) {
	tb.Helper()
	got, err := o.Dropped()
	if err != nil {
		tb.Fatal(err)
	}
	if got != want {
		tb.Errorf("Dropped = %d, want %d", got, want)
	}
}

func TestOutbox_AddEvent_Duplicate(t *testing.T) {
	o := MustOpen(t, tempPath(t), Options{MaxEvents: 3})
	added := addEvents(t, o, 3)
	// The same ID again, even with other contents, is not queued twice and does not push out
	// the oldest event.
	dup := proto.Clone(added[1]).(*agentv1.Event)
	dup.Type = "usb.removed"
	for range 3 {
		if err := o.AddEvent(dup); err != nil {
			t.Fatal(err)
		}
	}
	assertPending(t, o, added)
	assertDropped(t, o, 0)
}

func TestOutbox_AddEvent_Invalid(t *testing.T) {
	o := MustOpen(t, tempPath(t), Options{})
	for _, tc := range []struct {
		name string
		e    *agentv1.Event
	}{
		{"Nil", nil},
		{"NoID", &agentv1.Event{Type: "agent.started"}},
		{"NotUUID", &agentv1.Event{Id: "event-1", Type: "agent.started"}},
		{"NoDashes", &agentv1.Event{Id: "0d4b6c2e9f8a4b1c8d3e2f1a0b9c8d7e", Type: "agent.started"}},
		{"BadHex", &agentv1.Event{Id: "0d4b6c2e-9f8a-4b1c-8d3e-2f1a0b9c8d7g", Type: "agent.started"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := o.AddEvent(tc.e); err == nil {
				t.Error("AddEvent: want error")
			}
		})
	}
	assertPending(t, o, nil)

	upper := &agentv1.Event{Id: "0D4B6C2E-9F8A-4B1C-8D3E-2F1A0B9C8D7E", Type: "agent.started"}
	if err := o.AddEvent(upper); err != nil {
		t.Errorf("AddEvent with an upper-case UUID: %v", err)
	}
}

func TestOutbox_Report(t *testing.T) {
	o := MustOpen(t, tempPath(t), Options{})
	assertNoReport(t, o)
	assertAccepted(t, o, "")

	reportA := &agentv1.Report{Hardware: &agentv1.Hardware{Hostname: "lab-07", Serial: "7XK2QZ3"}}
	reportB := &agentv1.Report{Hardware: &agentv1.Hardware{Hostname: "lab-07", Serial: "7XK2QZ3", MemoryBytes: 8 << 30}}
	atA := time.Date(2026, 1, 5, 9, 0, 0, 123456789, time.UTC)
	atB := time.Date(2026, 1, 5, 10, 0, 0, 0, time.FixedZone("BST", 3600))

	if err := o.PutReport(reportA, "hash-a", atA); err != nil {
		t.Fatal(err)
	}
	assertReport(t, o, reportA, "hash-a", atA)

	// A newer report replaces the pending one.
	if err := o.PutReport(reportB, "hash-b", atB); err != nil {
		t.Fatal(err)
	}
	assertReport(t, o, reportB, "hash-b", atB)

	// The server accepts A, sent before B was collected: B stays pending.
	if err := o.AckReport("hash-a"); err != nil {
		t.Fatal(err)
	}
	assertReport(t, o, reportB, "hash-b", atB)
	assertAccepted(t, o, "hash-a")

	if err := o.AckReport("hash-b"); err != nil {
		t.Fatal(err)
	}
	assertNoReport(t, o)
	assertAccepted(t, o, "hash-b")

	// Acknowledging with nothing pending still records the hash.
	if err := o.AckReport("hash-c"); err != nil {
		t.Fatal(err)
	}
	assertNoReport(t, o)
	assertAccepted(t, o, "hash-c")

	for _, tc := range []struct {
		name string
		err  error
	}{
		{"PutNil", o.PutReport(nil, "h", atA)},
		{"PutEmptyHash", o.PutReport(reportA, "", atA)},
		{"AckEmptyHash", o.AckReport("")},
	} {
		if tc.err == nil {
			t.Errorf("%s: want error", tc.name)
		}
	}
	assertAccepted(t, o, "hash-c")
}

// assertReport fails tb unless o's pending report is want with hash and collectedAt.
func assertReport(tb testing.TB, o *Outbox, want *agentv1.Report, wantHash string, wantAt time.Time) {
	tb.Helper()
	r, hash, at, ok, err := o.PendingReport()
	if err != nil {
		tb.Fatal(err)
	}
	if !ok {
		tb.Fatal("no pending report")
	}
	if !proto.Equal(r, want) || hash != wantHash || !at.Equal(wantAt) {
		tb.Errorf("PendingReport = %v, %q, %v; want %v, %q, %v", r, hash, at, want, wantHash, wantAt)
	}
}

// assertNoReport fails tb if o has a pending report.
func assertNoReport(tb testing.TB, o *Outbox) {
	tb.Helper()
	r, hash, at, ok, err := o.PendingReport()
	if err != nil {
		tb.Fatal(err)
	}
	if ok || r != nil || hash != "" || !at.IsZero() {
		tb.Errorf("PendingReport = %v, %q, %v, %v; want none", r, hash, at, ok)
	}
}

// assertAccepted fails tb unless o's accepted hash is want.
func assertAccepted(tb testing.TB, o *Outbox, want string) {
	tb.Helper()
	got, err := o.AcceptedHash()
	if err != nil {
		tb.Fatal(err)
	}
	if got != want {
		tb.Errorf("AcceptedHash = %q, want %q", got, want)
	}
}

func TestOutbox_GetPut(t *testing.T) {
	o := MustOpen(t, tempPath(t), Options{})
	if v, err := o.Get("device_id"); err != nil || v != nil {
		t.Fatalf("Get absent = %q, %v; want nil", v, err)
	}
	for _, tc := range []struct {
		name  string
		key   string
		value []byte
	}{
		{"DeviceID", "device_id", []byte("5b0f0a8e-6d0e-4c47-9d59-6c2f1c9e1a77")},
		{"Binary", "cert_serial", []byte{0, 1, 2, 0xff}},
		{"Empty", "flag", []byte{}},
		// The outbox's own keys live elsewhere, so a caller cannot clobber them.
		{"InternalName", "accepted_hash", []byte("mine")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := o.Put(tc.key, tc.value); err != nil {
				t.Fatal(err)
			}
			got, err := o.Get(tc.key)
			if err != nil {
				t.Fatal(err)
			}
			if got == nil || string(got) != string(tc.value) {
				t.Errorf("Get(%q) = %q, want %q", tc.key, got, tc.value)
			}
		})
	}
	assertAccepted(t, o, "")

	// The returned slice is a copy.
	v, _ := o.Get("device_id")
	v[0] = 'X'
	if v2, _ := o.Get("device_id"); v2[0] != '5' {
		t.Errorf("changing Get's result changed the stored value: %q", v2)
	}

	if err := o.Put("device_id", nil); err != nil {
		t.Fatal(err)
	}
	if v, err := o.Get("device_id"); err != nil || v != nil {
		t.Errorf("Get after Put(nil) = %q, %v; want nil", v, err)
	}
	if err := o.Put("", []byte("x")); err == nil {
		t.Error("Put with empty key: want error")
	}
}

func TestOutbox_Reopen(t *testing.T) {
	path := tempPath(t)
	o := MustOpen(t, path, Options{MaxEvents: 4})
	added := addEvents(t, o, 6)
	if _, err := o.AckEvents(ids(added[2:3])); err != nil {
		t.Fatal(err)
	}
	report := &agentv1.Report{Hardware: &agentv1.Hardware{Hostname: "lab-07"}}
	at := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	if err := errors.Join(
		o.PutReport(report, "hash-new", at),
		o.AckReport("hash-old"),
		o.Put("device_id", []byte("dev-1")),
		o.Close(),
	); err != nil {
		t.Fatal(err)
	}

	o = MustOpen(t, path, Options{MaxEvents: 4})
	assertPending(t, o, added[3:])
	assertDropped(t, o, 2)
	assertReport(t, o, report, "hash-new", at)
	assertAccepted(t, o, "hash-old")
	if v, err := o.Get("device_id"); err != nil || string(v) != "dev-1" {
		t.Errorf("Get(device_id) = %q, %v", v, err)
	}
	// Sequence numbers carry on after a reopen, so new events still come last.
	more := addEvents(t, o, 1)
	assertPending(t, o, append(added[3:], more...))
	assertDropped(t, o, 2)
}

func TestOpen_InUse(t *testing.T) {
	path := tempPath(t)
	first := MustOpen(t, path, Options{})

	start := time.Now()
	second, err := Open(path, Options{})
	if err == nil {
		second.Close()
		t.Fatal("second Open succeeded, want in-use error")
	}
	want := fmt.Sprintf("outbox %s is in use by another agent process", path)
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if d := time.Since(start); d < 500*time.Millisecond || d > 5*time.Second {
		t.Errorf("second Open gave up after %s, want about 1s", d)
	}

	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	MustOpen(t, path, Options{})
}

func TestOpen_FileMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no Unix permission bits")
	}
	path := tempPath(t)
	MustOpen(t, path, Options{})
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("mode = %v, want 0600", got)
	}
}

func TestOpen_BadPath(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "missing-dir", "outbox.db"), Options{}); err == nil {
		t.Error("Open in a missing directory: want error")
	}
}

func TestOutbox_Concurrent(t *testing.T) {
	o := MustOpen(t, tempPath(t), Options{MaxEvents: 50})
	const writers, perWriter = 4, 25
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for i := range perWriter {
				if err := o.AddEvent(newEvent(t, i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			events, err := o.PendingEvents(5)
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := o.AckEvents(ids(events)); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()

	events, err := o.PendingEvents(0)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := o.EventCount()
	if n != len(events) || n > 50 {
		t.Errorf("EventCount = %d, pending = %d, bound 50", n, len(events))
	}
}

// crashChildEnv names the outbox file the crash test's child process writes to.
const crashChildEnv = "ROLLCALL_OUTBOX_CRASH_CHILD"

// TestOutbox_CrashChild is the child process of TestOutbox_Crash: it adds events until it is
// killed, printing each event's ID once AddEvent has returned. Without the environment variable
// it does nothing.
func TestOutbox_CrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("run by TestOutbox_Crash")
	}
	o, err := Open(path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for i := 0; ; i++ {
		e := newEvent(t, i%60)
		if err := o.AddEvent(e); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		fmt.Println(e.Id)
	}
}

// TestOutbox_Crash kills a process that is adding events and checks that every event whose
// AddEvent had returned is in the outbox afterwards.
func TestOutbox_Crash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path := tempPath(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestOutbox_CrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	const killAfter = 200
	var done []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if line := sc.Text(); validUUID(line) {
			done = append(done, line)
		}
		if len(done) == killAfter {
			// SIGKILL on Unix: no deferred calls, no Close.
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
		}
	}
	err = cmd.Wait()
	if len(done) < killAfter {
		t.Fatalf("child stopped after %d events: %v\n%s", len(done), err, stderr.String())
	}
	if cmd.ProcessState.Success() || (runtime.GOOS != "windows" && cmd.ProcessState.ExitCode() != -1) {
		t.Fatalf("child was not killed: %v\n%s", cmd.ProcessState, stderr.String())
	}

	o := MustOpen(t, path, Options{})
	events, err := o.PendingEvents(0)
	if err != nil {
		t.Fatal(err)
	}
	got := ids(events)
	// The child may have committed one more event that it did not live to print.
	if len(got) < len(done) || len(got) > len(done)+1 {
		t.Errorf("outbox holds %d events, child reported %d", len(got), len(done))
	}
	if !slices.Equal(got[:min(len(done), len(got))], done) {
		for _, id := range done {
			if !slices.Contains(got, id) {
				t.Errorf("event %s reported added is missing after the crash", id)
			}
		}
		t.Error("events after the crash are not the reported ones in order")
	}
	t.Logf("child killed after %d reported events; outbox holds %d", len(done), len(got))
}
