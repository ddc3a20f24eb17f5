package grpcapi

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// The most items in one batch of each kind. Heartbeats and enrolment
// reads are one statement a batch; reports are several statements each,
// in one transaction, so a batch of them is kept short.
const (
	maxEnrollmentBatch = 500
	maxHeartbeatBatch  = 500
	maxReportBatch     = 32
)

// The most batches of each kind done at once. A batch of reports spends
// most of its time waiting on round trips to the database, so several
// overlap; a batch of heartbeats or enrolment reads is one statement, and
// writing two at once was measured no faster (docs/performance.md). Each
// batch holds one database connection.
const (
	enrollmentBatches = 1
	heartbeatBatches  = 1
	reportBatches     = 4
)

// batchWriteTimeout bounds the write of one batch, which the callers
// waiting on it cannot cancel.
const batchWriteTimeout = 15 * time.Second

// batcher does the work of concurrent calls together: while batches are
// being done the next gathers, and is done as soon as one of them ends, by
// the first of its callers. At a trickle each item is done alone, as soon
// as it comes; under load, up to max share one round trip or one
// transaction and its commit. Every caller returns once its own item is
// done, and no caller does more than one batch, so none waits long on
// others' items. At most par batches are done at once.
type batcher[T, R any] struct {
	max, par int
	// do does items and returns a result for each, in order, or an error
	// that is every item's.
	do func(ctx context.Context, items []T) ([]R, error)

	mu      sync.Mutex
	queue   []*call[T, R]
	running int // batches being done; when par are, the next doer is queue[0]
}

// call is one caller's item and, once done, its result.
type call[T, R any] struct {
	item T
	res  R
	err  error
	done chan struct{} // closed when res and err are set
	lead chan struct{} // closed when this caller is to do the next batch
	// leading says this caller does a batch: it came when fewer than par
	// were being done, or lead is closed. Guarded by the batcher's mu.
	leading bool
}

func newBatcher[T, R any](max, par int, do func(ctx context.Context, items []T) ([]R, error)) *batcher[T, R] {
	return &batcher[T, R]{max: max, par: par, do: do}
}

// run does item in a batch and returns its result.
func (b *batcher[T, R]) run(ctx context.Context, item T) (R, error) {
	c := &call[T, R]{item: item, done: make(chan struct{}), lead: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, c)
	lead := b.running < b.par
	if lead {
		b.running++
		c.leading = true
	}
	b.mu.Unlock()
	if !lead {
		select {
		case <-c.done:
			// Another batch did the item; if this caller was handed the
			// lead meanwhile, it still does the next batch.
			b.mu.Lock()
			lead = c.leading
			b.mu.Unlock()
			if !lead {
				return c.res, c.err
			}
		case <-c.lead:
		}
	}
	b.next(ctx)
	<-c.done
	return c.res, c.err
}

// next does the queue's first batch, which holds the caller's own item
// unless another batch took it meanwhile, and then hands the next batch on
// to the first caller left waiting, unless that caller already leads one.
func (b *batcher[T, R]) next(ctx context.Context) {
	b.mu.Lock()
	n := min(len(b.queue), b.max)
	batch := b.queue[:n:n]
	b.queue = b.queue[n:]
	if n == 0 {
		b.running--
		b.mu.Unlock()
		return
	}
	b.mu.Unlock()

	items := make([]T, len(batch))
	for i, c := range batch {
		items[i] = c.item
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchWriteTimeout)
	res, err := b.do(ctx, items)
	cancel()
	for i, c := range batch {
		if err != nil {
			c.err = err
		} else {
			c.res = res[i]
		}
		close(c.done)
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.queue) == 0 || b.queue[0].leading {
		b.running--
		return
	}
	b.queue[0].leading = true
	close(b.queue[0].lead)
}

// findEnrollments reads enrolments for a batch of calls: the enrolment of
// each ID, or nil where there is none.
func (s *Server) findEnrollments(ctx context.Context, ids []uuid.UUID) ([]*inventory.Enrollment, error) {
	found, err := s.store.FindEnrollments(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]*inventory.Enrollment, len(ids))
	for i, id := range ids {
		out[i] = found[id]
	}
	return out, nil
}

// recordReports stores a batch of full reports in one transaction. When
// that fails, because one of them cannot be stored (a serial number
// another device has, say) or for any other reason, each is stored again
// alone, so that each gets its own answer and one report never costs
// another its place.
func (s *Server) recordReports(ctx context.Context, cs []inventory.CheckIn) ([]error, error) {
	errs := make([]error, len(cs))
	if len(cs) == 1 {
		errs[0] = s.store.RecordCheckIn(ctx, cs[0])
		return errs, nil
	}
	if err := s.store.RecordReports(ctx, cs); err == nil {
		return errs, nil
	}
	for i, c := range cs {
		errs[i] = s.store.RecordCheckIn(ctx, c)
	}
	return errs, nil
}
