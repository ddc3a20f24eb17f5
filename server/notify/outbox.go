package notify

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// OutboxOptions tune an [Outbox]. The zero value suits production.
type OutboxOptions struct {
	// QueueSize is how many messages can wait; 0 means 1000.
	QueueSize int
	// Backoff holds the waits before each retry, so a message is tried
	// len(Backoff)+1 times. Nil means 15s then 45s: three tries over about
	// a minute. Tests pass short waits.
	Backoff []time.Duration
	// Registerer, when not nil, registers rollcall_mail_sent_total,
	// rollcall_mail_failed_total and rollcall_mail_dropped_total.
	Registerer prometheus.Registerer
}

// Outbox sends messages in the background through a [Sender], one at a
// time, retrying failures. Create it with [NewOutbox] and stop it with
// [Outbox.Close].
//
// It counts each message once: sent; failed, when every try failed; or
// dropped, when it was never tried because the queue was full or the
// Outbox was closing. Logs name a message by its kind and number of
// recipients, never its body.
type Outbox struct {
	logger  *slog.Logger
	sender  Sender
	backoff []time.Duration

	sent, failed, dropped prometheus.Counter

	mu     sync.RWMutex // guards closed and closing queue
	closed bool
	queue  chan Message

	ctx    context.Context // cancelled when Close gives up waiting
	cancel context.CancelFunc
	done   chan struct{} // closed when the worker returns
}

// NewOutbox starts an Outbox that sends through s. It panics if logger or
// s is nil.
func NewOutbox(logger *slog.Logger, s Sender, o OutboxOptions) *Outbox {
	if logger == nil || s == nil {
		panic("notify.NewOutbox: nil dependency")
	}
	size := o.QueueSize
	if size <= 0 {
		size = 1000
	}
	backoff := o.Backoff
	if backoff == nil {
		backoff = []time.Duration{15 * time.Second, 45 * time.Second}
	}
	ctx, cancel := context.WithCancel(context.Background())
	ob := &Outbox{
		logger:  logger.With("component", "mail"),
		sender:  s,
		backoff: slices.Clone(backoff),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rollcall_mail_sent_total",
			Help: "Emails the SMTP relay accepted.",
		}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rollcall_mail_failed_total",
			Help: "Emails given up on after every try failed.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rollcall_mail_dropped_total",
			Help: "Emails never tried: the queue was full or the server was stopping.",
		}),
		queue:  make(chan Message, size),
		ctx:    ctx,
		cancel: cancel,
		done:   make(chan struct{}),
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(ob.sent, ob.failed, ob.dropped)
	}
	go ob.run()
	return ob
}

// Send queues m and returns at once. A message with no recipients is
// ignored. When the queue is full, or the Outbox is closed, m is dropped,
// logged and counted.
func (o *Outbox) Send(m Message) {
	if len(m.To) == 0 {
		o.logger.Debug("mail has no recipients; not sent", "kind", m.Kind)
		return
	}
	m.To = slices.Clone(m.To)
	o.mu.RLock()
	defer o.mu.RUnlock()
	if o.closed {
		o.drop(m, "outbox closed")
		return
	}
	select {
	case o.queue <- m:
	default:
		o.drop(m, "queue full")
	}
}

// drop counts and logs a message that will never be tried.
func (o *Outbox) drop(m Message, why string) {
	o.dropped.Inc()
	o.logger.Warn("mail dropped: "+why, "kind", m.Kind, "recipients", len(m.To))
}

// Close stops taking messages and sends what is queued, retries included,
// until ctx ends. Then it gives up on the rest, which are counted as
// dropped (or failed, for one being retried), and returns ctx's error.
func (o *Outbox) Close(ctx context.Context) error {
	o.mu.Lock()
	if !o.closed {
		o.closed = true
		close(o.queue)
	}
	o.mu.Unlock()
	select {
	case <-o.done:
		return nil
	case <-ctx.Done():
	}
	select {
	case <-o.done: // finished just as ctx ended
		return nil
	default:
		o.cancel()
		return fmt.Errorf("close mail outbox: %w", ctx.Err())
	}
}

// run sends queued messages until the queue is closed and empty.
func (o *Outbox) run() {
	defer close(o.done)
	defer o.cancel()
	for m := range o.queue {
		if o.ctx.Err() != nil {
			o.drop(m, "outbox closed")
			continue
		}
		o.deliver(m)
	}
}

// deliver tries m until it is sent, the tries run out, or the Outbox gives up.
func (o *Outbox) deliver(m Message) {
	for try := 1; ; try++ {
		err := o.sender.Send(o.ctx, m)
		if err == nil {
			o.sent.Inc()
			return
		}
		if try > len(o.backoff) || o.ctx.Err() != nil {
			o.failed.Inc()
			o.logger.Error("mail not sent", "kind", m.Kind, "recipients", len(m.To), "tries", try, "err", err)
			return
		}
		wait := o.backoff[try-1]
		o.logger.Warn("mail not sent; will retry", "kind", m.Kind, "recipients", len(m.To), "try", try, "retry_in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-o.ctx.Done():
			t.Stop()
			o.failed.Inc()
			o.logger.Error("mail not sent: outbox closed before retry", "kind", m.Kind, "recipients", len(m.To), "tries", try, "err", err)
			return
		}
	}
}
