package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rollcall/rollcall/agent/outbox"
	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

// Timing defaults.
const (
	DefaultInterval = 5 * time.Minute
	RenewBefore     = 30 * 24 * time.Hour // renew the certificate when it has less left
	eventBatch      = 100
	callTimeout     = 30 * time.Second
)

// Runner checks in and delivers the outbox.
type Runner struct {
	Identity *Identity
	Outbox   *outbox.Outbox
	// Collect returns the current report and its hash.
	Collect func(ctx context.Context) (*agentv1.Report, string)
	Logger  *slog.Logger
	// Interval between check-ins; the server may change it.
	Interval time.Duration
	// Now returns the current time; tests replace it.
	Now func() time.Time

	kickOnce sync.Once
	kick     chan struct{}
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Event queues an event with a new UUID in the outbox.
func (r *Runner) Event(typ string, payload map[string]any) error {
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	e := &agentv1.Event{Id: id.String(), Type: typ, OccurredAt: timestamppb.New(r.now())}
	if payload != nil {
		if e.Payload, err = structpb.NewStruct(payload); err != nil {
			return fmt.Errorf("event payload: %w", err)
		}
	}
	return r.Outbox.AddEvent(e)
}

// USBEvent queues a usb.* event with its typed body, to be delivered at
// once (see Kick).
func (r *Runner) USBEvent(typ string, body *agentv1.UsbEvent, at time.Time) error {
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	return r.Outbox.AddEvent(&agentv1.Event{Id: id.String(), Type: typ, OccurredAt: timestamppb.New(at), Usb: body})
}

// Kick asks Run to deliver the queued events now rather than at the next
// check-in. It never blocks.
func (r *Runner) Kick() {
	select {
	case r.kicks() <- struct{}{}:
	default: // a delivery is already due
	}
}

func (r *Runner) kicks() chan struct{} {
	r.kickOnce.Do(func() { r.kick = make(chan struct{}, 1) })
	return r.kick
}

// SendEvents connects and delivers the queued events, without a check-in.
func (r *Runner) SendEvents(ctx context.Context) error {
	conn, err := r.Identity.Dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := r.sendEvents(ctx, agentv1.NewAgentServiceClient(conn)); err != nil {
		return describe(err, r.Identity.State.ServerAddr)
	}
	return nil
}

// Queue collects a report and stores it in the outbox when it differs
// from the last one the server accepted.
func (r *Runner) Queue(ctx context.Context) error {
	rep, hash := r.Collect(ctx)
	accepted, err := r.Outbox.AcceptedHash()
	if err != nil {
		return err
	}
	if hash == accepted {
		// Unchanged since the server last accepted it. A report still
		// pending from before would now be stale: replace it.
		if _, _, _, pending, err := r.Outbox.PendingReport(); err != nil || !pending {
			return err
		}
	}
	return r.Outbox.PutReport(rep, hash, r.now())
}

// Once collects, then delivers everything pending: events first, then the
// report (or a heartbeat), then renews the certificate if it is due. What
// cannot be delivered stays in the outbox for the next try. Events the
// server refuses do not hold back the check-in.
func (r *Runner) Once(ctx context.Context) error {
	if err := r.Queue(ctx); err != nil {
		return fmt.Errorf("queue report: %w", err)
	}
	conn, err := r.Identity.Dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	c := agentv1.NewAgentServiceClient(conn)
	evErr := r.sendEvents(ctx, c)
	if evErr == nil {
		evErr = r.reportDropped(ctx, c)
	}
	if evErr != nil && unreachable(evErr) {
		return describe(evErr, r.Identity.State.ServerAddr)
	}
	if err := r.checkIn(ctx, c); err != nil {
		return err
	}
	if left := r.Identity.NotAfter().Sub(r.now()); left < RenewBefore {
		rctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		if err := r.Identity.Renew(rctx, c); err != nil {
			return fmt.Errorf("renew certificate: %w", err)
		}
		r.log().Info("certificate renewed", "not_after", r.Identity.NotAfter())
	}
	if evErr != nil {
		return fmt.Errorf("send events: %w", describe(evErr, r.Identity.State.ServerAddr))
	}
	return nil
}

// sendEvents delivers the queued events in batches, oldest first. Events
// the server stored or refused for good leave the outbox; it stops with an
// error when a batch removes nothing, so a confused server cannot make the
// agent send the same batch for ever.
func (r *Runner) sendEvents(ctx context.Context, c agentv1.AgentServiceClient) error {
	for {
		events, err := r.Outbox.PendingEvents(eventBatch)
		if err != nil || len(events) == 0 {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		resp, err := c.SendEvents(cctx, &agentv1.SendEventsRequest{Events: events})
		cancel()
		if err != nil {
			return err
		}
		done := resp.GetAcknowledgedIds()
		for _, rej := range resp.GetRejected() {
			r.log().Warn("server refused an event; dropping it", "event_id", rej.GetId(), "reason", rej.GetReason())
			done = append(done, rej.GetId())
		}
		n, err := r.Outbox.AckEvents(done)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("server acknowledged none of the %d events sent; they stay queued", len(events))
		}
	}
}

// keyDroppedReported is the outbox key holding how many dropped events the
// server has been told of.
const keyDroppedReported = "dropped_reported"

// reportDropped tells the server, with an agent.events_dropped event, how
// many events the outbox dropped at its bound since it last said. It runs
// once the outbox is empty, so the event itself drops nothing.
func (r *Runner) reportDropped(ctx context.Context, c agentv1.AgentServiceClient) error {
	total, err := r.Outbox.Dropped()
	if err != nil {
		return err
	}
	var told uint64
	if b, err := r.Outbox.Get(keyDroppedReported); err != nil {
		return err
	} else if b != nil {
		told, _ = strconv.ParseUint(string(b), 10, 64)
	}
	if total <= told {
		return nil
	}
	if err := r.Event("agent.events_dropped", map[string]any{"count": total - told, "total": total}); err != nil {
		return err
	}
	if err := r.Outbox.Put(keyDroppedReported, []byte(strconv.FormatUint(total, 10))); err != nil {
		return err
	}
	return r.sendEvents(ctx, c)
}

func (r *Runner) checkIn(ctx context.Context, c agentv1.AgentServiceClient) error {
	rep, hash, collected, pending, err := r.Outbox.PendingReport()
	if err != nil {
		return err
	}
	req := &agentv1.CheckInRequest{CollectedAt: timestamppb.New(r.now())}
	if pending {
		req.Report, req.ReportHash, req.CollectedAt = rep, hash, timestamppb.New(collected)
	} else if req.ReportHash, err = r.Outbox.AcceptedHash(); err != nil {
		return err
	}
	if req.ReportHash == "" { // nothing accepted and nothing pending: collect now
		rep, hash := r.Collect(ctx)
		req.Report, req.ReportHash = rep, hash
		pending = true
	}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := c.CheckIn(cctx, req)
	if err != nil {
		return describe(err, r.Identity.State.ServerAddr)
	}
	if resp.GetReportRequired() && !pending {
		rep, hash := r.Collect(ctx)
		req = &agentv1.CheckInRequest{Report: rep, ReportHash: hash, CollectedAt: timestamppb.New(r.now())}
		if resp, err = c.CheckIn(cctx, req); err != nil {
			return describe(err, r.Identity.State.ServerAddr)
		}
	}
	if d := resp.GetCheckInInterval().AsDuration(); d >= 10*time.Second && d <= 24*time.Hour {
		r.Interval = d
	}
	if req.Report != nil {
		if err := r.Outbox.AckReport(req.GetReportHash()); err != nil {
			return err
		}
	}
	return nil
}

// Run checks in every interval until ctx ends. After a failure it retries
// with exponential backoff and full jitter, from 1 second up to the
// interval, so a fleet coming back online does not arrive all at once.
func (r *Runner) Run(ctx context.Context) error {
	backoff := time.Second
	for {
		var wait time.Duration
		if err := r.Once(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			r.log().Warn("check-in failed; will retry", "err", err, "in", backoff)
			wait = time.Duration(rand.Int64N(int64(backoff))) + time.Second
			backoff = min(backoff*2, r.interval())
		} else {
			backoff = time.Second
			wait = jitter(r.interval())
		}
		if !r.waitKicked(ctx, wait) {
			return nil
		}
	}
}

// waitKicked waits for d, delivering events whenever Kick is called
// meanwhile. It returns false when ctx ends.
func (r *Runner) waitKicked(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
			return true
		case <-r.kicks():
			if err := r.SendEvents(ctx); err != nil && ctx.Err() == nil {
				r.log().Warn("event delivery failed; will retry at the next check-in", "err", err)
			}
		}
	}
}

// jitter returns d moved at random by up to a tenth either way, so
// devices that booted together drift apart.
func jitter(d time.Duration) time.Duration {
	return d - d/10 + time.Duration(rand.Int64N(int64(d/5)+1))
}

func (r *Runner) interval() time.Duration {
	if r.Interval <= 0 {
		return DefaultInterval
	}
	return r.Interval
}

func (r *Runner) log() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

// unreachable reports whether err means the server could not be reached,
// so there is no point in trying another call now.
func unreachable(err error) bool {
	st, ok := status.FromError(err)
	return ok && (st.Code() == codes.Unavailable || st.Code() == codes.DeadlineExceeded)
}

// describe turns a gRPC error into a sentence for the technician.
// ErrUnreachable is what an error from a call that did not reach the
// server (or got no answer in time) matches with errors.Is: trying again
// later may work, unlike a refusal.
var ErrUnreachable = errors.New("cannot reach the Rollcall server")

// unreachableError says which server could not be reached, and why.
type unreachableError struct{ msg string }

func (e unreachableError) Error() string { return e.msg }
func (e unreachableError) Unwrap() error { return ErrUnreachable }

func describe(err error, addr string) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.Unavailable, codes.DeadlineExceeded:
		return unreachableError{fmt.Sprintf("cannot reach the Rollcall server at %s (%s); anything collected stays queued in the outbox", addr, st.Message())}
	case codes.Unauthenticated:
		return fmt.Errorf("server refused this device's identity: %s", st.Message())
	case codes.PermissionDenied:
		return fmt.Errorf("server refused: %s", st.Message())
	case codes.InvalidArgument:
		return fmt.Errorf("server rejected the data: %s", st.Message())
	}
	return fmt.Errorf("server error (%s): %s", st.Code(), st.Message())
}
