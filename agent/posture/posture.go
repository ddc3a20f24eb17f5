// Package posture reads a device's security posture: antivirus, disk
// encryption, screen lock and USB devices. Each operating system's readers
// live in their own package (win, mac, linux), where the decoding of what
// the OS says is kept apart from the calls that fetch it, so that it is
// tested on every OS against recorded outputs.
//
// Collect runs the readers concurrently, each under a timeout and with
// panics recovered, so a hung WMI query or command cannot stall the agent;
// a concern that could not be read carries the reason in its
// unknown_reason field and nothing else.
package posture

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

// Timeout bounds each concern's reader.
const Timeout = 10 * time.Second

// Reasons given in unknown_reason when the reader itself fails.
const (
	ReasonTimedOut    = "timed out"
	ReasonUnsupported = "not read on this operating system"
)

// readers are one operating system's ways of reading each concern. Each
// honours ctx and never returns nil: a concern it cannot read comes back
// with UnknownReason set.
type readers struct {
	antivirus  func(context.Context) *agentv1.Antivirus
	encryption func(context.Context) *agentv1.Encryption
	screenLock func(context.Context) *agentv1.ScreenLock
	usb        func(context.Context) *agentv1.Usb
}

// Collect reads every concern of this device's posture.
func Collect(ctx context.Context) *agentv1.Posture {
	return collect(ctx, osReaders(), Timeout)
}

func collect(ctx context.Context, r readers, timeout time.Duration) *agentv1.Posture {
	p := &agentv1.Posture{}
	var wg sync.WaitGroup
	wg.Go(func() {
		p.Antivirus = run(ctx, timeout, r.antivirus, func(reason string) *agentv1.Antivirus {
			return &agentv1.Antivirus{UnknownReason: reason}
		})
	})
	wg.Go(func() {
		p.Encryption = run(ctx, timeout, r.encryption, func(reason string) *agentv1.Encryption {
			return &agentv1.Encryption{UnknownReason: reason}
		})
	})
	wg.Go(func() {
		p.ScreenLock = run(ctx, timeout, r.screenLock, func(reason string) *agentv1.ScreenLock {
			return &agentv1.ScreenLock{UnknownReason: reason}
		})
	})
	wg.Go(func() {
		p.Usb = run(ctx, timeout, r.usb, func(reason string) *agentv1.Usb {
			return &agentv1.Usb{UnknownReason: reason}
		})
	})
	wg.Wait()
	return p
}

// run calls read under timeout with panics recovered. When read is nil,
// panics, times out or returns nil, run returns unknown(reason). A reader
// that times out finishes in the background and its result is dropped.
func run[T any](ctx context.Context, timeout time.Duration, read func(context.Context) *T, unknown func(reason string) *T) *T {
	if read == nil {
		return unknown(ReasonUnsupported)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan *T, 1) // buffered: a reader that finishes late must not block
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- unknown(fmt.Sprintf("reader failed: %v\n%s", v, firstLines(debug.Stack(), 8)))
			}
		}()
		done <- read(ctx)
	}()
	select {
	case v := <-done:
		if v == nil {
			return unknown("reader returned nothing")
		}
		return v
	case <-ctx.Done():
		return unknown(ReasonTimedOut)
	}
}

// firstLines returns at most n lines of b, to keep a stack trace inside
// the report's string limit.
func firstLines(b []byte, n int) string {
	for i, c := range b {
		if c == '\n' {
			n--
			if n == 0 {
				return string(b[:i])
			}
		}
	}
	return string(b)
}
