package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/rollcall/rollcall/agent/client"
	"github.com/rollcall/rollcall/agent/collect"
	"github.com/rollcall/rollcall/agent/posture"
	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

// keyUSBWatchedUntil is the outbox key holding when the agent last knew
// its USB watcher was running (RFC 3339). Insertions the OS recorded after
// that time happened while the agent was not watching.
const keyUSBWatchedUntil = "usb_watched_until"

// watchUSB reports the USB insertions the OS recorded while the agent was
// not running, then each insertion and removal as it happens, delivering
// each at once. It returns when ctx ends.
func watchUSB(ctx context.Context, r *client.Runner, logger *slog.Logger) {
	if err := reportUSBHistory(ctx, r, posture.USBHistory, time.Now()); err != nil {
		logger.Warn("USB history not read", "err", err)
	}
	var wg sync.WaitGroup
	defer wg.Wait() // the outbox is closed after watchUSB returns
	wg.Go(func() { keepWatchedUntil(ctx, r, logger) })
	err := posture.WatchUSB(ctx, func(typ string, e *agentv1.UsbEvent) {
		if e.GetUser() == "" {
			e.User = collect.ConsoleUser(ctx)
		}
		if err := r.USBEvent(typ, e, time.Now()); err != nil {
			logger.Error("USB event not queued", "type", typ, "err", err)
			return
		}
		r.Kick()
	})
	if err != nil {
		logger.Warn("USB insertions are not watched", "err", err)
	}
}

// reportUSBHistory queues, as usb.recorded events, the recorded insertions
// later than the time the agent last watched (all of them the first time),
// and notes that the agent watches from now.
func reportUSBHistory(ctx context.Context, r *client.Runner, history func(context.Context) ([]*agentv1.UsbEvent, error), now time.Time) error {
	var since time.Time
	if b, err := r.Outbox.Get(keyUSBWatchedUntil); err != nil {
		return err
	} else if b != nil {
		since, _ = time.Parse(time.RFC3339Nano, string(b))
	}
	events, err := history(ctx)
	if err != nil {
		return err
	}
	queued := 0
	for _, e := range events {
		at := e.GetLastSeen().AsTime()
		if e.GetLastSeen() == nil || !at.After(since) {
			continue
		}
		// A record the OS keeps no times for (macOS lists what is attached
		// now) is reported once per device, not at every start.
		key := ""
		if e.GetFirstSeen() == nil {
			d := e.GetDevice()
			key = "usb_recorded/" + d.GetVendorId() + ":" + d.GetProductId() + ":" + d.GetSerial()
			if b, err := r.Outbox.Get(key); err != nil {
				return err
			} else if b != nil {
				continue
			}
		}
		if err := r.USBEvent(posture.USBRecorded, e, at); err != nil {
			return err
		}
		if key != "" {
			if err := r.Outbox.Put(key, []byte{1}); err != nil {
				return err
			}
		}
		queued++
	}
	if err := r.Outbox.Put(keyUSBWatchedUntil, []byte(now.UTC().Format(time.RFC3339Nano))); err != nil {
		return err
	}
	if queued > 0 {
		r.Kick()
	}
	return nil
}

// keepWatchedUntil moves the watched-until time forward every minute while
// the agent runs.
func keepWatchedUntil(ctx context.Context, r *client.Runner, logger *slog.Logger) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if err := r.Outbox.Put(keyUSBWatchedUntil, []byte(now.UTC().Format(time.RFC3339Nano))); err != nil {
				logger.Warn("USB watch time not saved", "err", err)
			}
		}
	}
}
