package grpcapi

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// batchStore records the batches it is given and answers each heartbeat
// by its hash: "stale" needs a report, "fail" fails the whole batch.
type batchStore struct {
	inventory.DeviceStore
	delay   time.Duration
	batches atomic.Int64
	largest atomic.Int64
	writing atomic.Int64 // batches being written
	most    atomic.Int64 // the most batches written at once
}

func (s *batchStore) RecordHeartbeats(_ context.Context, cs []inventory.CheckIn) ([]error, error) {
	if len(cs) == 0 {
		return nil, errors.New("an empty batch")
	}
	w := s.writing.Add(1)
	defer s.writing.Add(-1)
	for m := s.most.Load(); w > m && !s.most.CompareAndSwap(m, w); m = s.most.Load() {
	}
	s.batches.Add(1)
	if n := int64(len(cs)); n > s.largest.Load() {
		s.largest.Store(n)
	}
	time.Sleep(s.delay)
	errs := make([]error, len(cs))
	for i, c := range cs {
		switch c.Hash {
		case "fail":
			return nil, errors.New("database gone")
		case "stale":
			errs[i] = c.ReportRequiredError()
		}
	}
	return errs, nil
}

// heartbeat runs c through h as CheckIn does, and returns its result.
func heartbeat(ctx context.Context, h *batcher[inventory.CheckIn, error], c inventory.CheckIn) error {
	res, err := h.run(ctx, c)
	if err != nil {
		return err
	}
	return res
}

func TestHeartbeats(t *testing.T) {
	tests := []struct {
		name     string
		callers  int
		par      int
		hash     func(i int) string
		wantCode func(i int) string
	}{
		{"AllMatch", 300, 1, func(int) string { return "ok" }, func(int) string { return "" }},
		{"AllMatchTwoAtOnce", 300, 2, func(int) string { return "ok" }, func(int) string { return "" }},
		{"AllMatchFourAtOnce", 1000, 4, func(int) string { return "ok" }, func(int) string { return "" }},
		{"SomeStale", 300, 2, func(i int) string {
			if i%3 == 0 {
				return "stale"
			}
			return "ok"
		}, func(i int) string {
			if i%3 == 0 {
				return inventory.EREPORTREQUIRED
			}
			return ""
		}},
		{"One", 1, 2, func(int) string { return "ok" }, func(int) string { return "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &batchStore{delay: 2 * time.Millisecond}
			h := newBatcher(maxHeartbeatBatch, tt.par, store.RecordHeartbeats)
			errs := make([]error, tt.callers)
			var wg sync.WaitGroup
			for i := range tt.callers {
				wg.Go(func() {
					errs[i] = heartbeat(context.Background(), h, inventory.CheckIn{DeviceID: uuid.New(), Hash: tt.hash(i), At: time.Now()})
				})
			}
			wg.Wait()
			for i, err := range errs {
				if got := inventory.ErrorCode(err); got != tt.wantCode(i) {
					t.Errorf("caller %d: %v, want code %q", i, err, tt.wantCode(i))
				}
			}
			if m := store.most.Load(); m > int64(tt.par) {
				t.Errorf("%d batches were written at once, more than %d", m, tt.par)
			}
			if n := store.batches.Load(); tt.callers > 1 && n >= int64(tt.callers) {
				t.Errorf("%d batches for %d concurrent callers: nothing was batched", n, tt.callers)
			}
			if l := store.largest.Load(); l > maxHeartbeatBatch {
				t.Errorf("a batch of %d, more than %d", l, maxHeartbeatBatch)
			}
			if h.running != 0 || len(h.queue) != 0 {
				t.Errorf("after the callers: %d batches running, %d queued", h.running, len(h.queue))
			}
		})
	}
}

// TestHeartbeats_BatchFails gives every caller of a failed batch its
// error, and the next batch is written again.
func TestHeartbeats_BatchFails(t *testing.T) {
	h := newBatcher(maxHeartbeatBatch, heartbeatBatches, (&batchStore{}).RecordHeartbeats)
	err := heartbeat(context.Background(), h, inventory.CheckIn{DeviceID: uuid.New(), Hash: "fail"})
	if err == nil || err.Error() != "database gone" {
		t.Fatalf("failed batch: %v", err)
	}
	if err := heartbeat(context.Background(), h, inventory.CheckIn{DeviceID: uuid.New(), Hash: "ok"}); err != nil {
		t.Fatalf("after a failed batch: %v", err)
	}
}

// TestHeartbeats_CancelledCaller still has its heartbeat written: the
// write does not end with the call that started it.
func TestHeartbeats_CancelledCaller(t *testing.T) {
	store := &batchStore{delay: 10 * time.Millisecond}
	h := newBatcher(maxHeartbeatBatch, heartbeatBatches, store.RecordHeartbeats)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := heartbeat(ctx, h, inventory.CheckIn{DeviceID: uuid.New(), Hash: "ok"}); err != nil {
		t.Fatal(err)
	}
	if store.batches.Load() != 1 {
		t.Errorf("%d batches written, want 1", store.batches.Load())
	}
}

// TestBatcher_Overlaps starts a second batch while the first is still
// being written, up to par at once, and queues the rest behind them.
func TestBatcher_Overlaps(t *testing.T) {
	const par = 2
	release := make(chan struct{})
	started := make(chan int, 10)
	h := newBatcher(10, par, func(_ context.Context, items []int) ([]int, error) {
		started <- len(items)
		<-release
		return items, nil
	})
	results := make(chan int, 10)
	for i := range 5 {
		go func() {
			r, _ := h.run(context.Background(), i)
			results <- r
		}()
		if i < par {
			select {
			case n := <-started:
				if n != 1 {
					t.Fatalf("batch %d of %d items, want 1", i+1, n)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("batch %d did not start while %d were being written", i+1, i)
			}
		}
	}
	// The three left wait until a batch ends, and then go together.
	waitFor(t, func() bool { h.mu.Lock(); defer h.mu.Unlock(); return len(h.queue) == 3 })
	close(release)
	if n := <-started; n != 3 {
		t.Errorf("third batch of %d items, want 3", n)
	}
	sum := 0
	for range 5 {
		sum += <-results
	}
	if sum != 0+1+2+3+4 {
		t.Errorf("results add up to %d, want 10", sum)
	}
	waitFor(t, func() bool { h.mu.Lock(); defer h.mu.Unlock(); return h.running == 0 })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}
