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
	busy    atomic.Bool
	overlap atomic.Bool // two batches were written at once
}

func (s *batchStore) RecordHeartbeats(_ context.Context, cs []inventory.CheckIn) ([]error, error) {
	if !s.busy.CompareAndSwap(false, true) {
		s.overlap.Store(true)
	}
	defer s.busy.Store(false)
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
		hash     func(i int) string
		wantCode func(i int) string
	}{
		{"AllMatch", 300, func(int) string { return "ok" }, func(int) string { return "" }},
		{"SomeStale", 300, func(i int) string {
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
		{"One", 1, func(int) string { return "ok" }, func(int) string { return "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &batchStore{delay: 2 * time.Millisecond}
			h := newBatcher(maxHeartbeatBatch, store.RecordHeartbeats)
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
			if store.overlap.Load() {
				t.Error("two batches were written at once")
			}
			if n := store.batches.Load(); tt.callers > 1 && n >= int64(tt.callers) {
				t.Errorf("%d batches for %d concurrent callers: nothing was batched", n, tt.callers)
			}
			if l := store.largest.Load(); l > maxHeartbeatBatch {
				t.Errorf("a batch of %d, more than %d", l, maxHeartbeatBatch)
			}
			if h.busy || len(h.queue) != 0 {
				t.Errorf("after the callers: busy %v, %d queued", h.busy, len(h.queue))
			}
		})
	}
}

// TestHeartbeats_BatchFails gives every caller of a failed batch its
// error, and the next batch is written again.
func TestHeartbeats_BatchFails(t *testing.T) {
	h := newBatcher(maxHeartbeatBatch, (&batchStore{}).RecordHeartbeats)
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
	h := newBatcher(maxHeartbeatBatch, store.RecordHeartbeats)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := heartbeat(ctx, h, inventory.CheckIn{DeviceID: uuid.New(), Hash: "ok"}); err != nil {
		t.Fatal(err)
	}
	if store.batches.Load() != 1 {
		t.Errorf("%d batches written, want 1", store.batches.Load())
	}
}
