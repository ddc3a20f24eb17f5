package posture

import (
	"context"
	"strings"
	"testing"
	"time"

	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

// TestCollect checks that a reader that panics, hangs, returns nothing or
// is missing costs only its own concern, which then says why.
func TestCollect(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	r := readers{
		antivirus: func(context.Context) *agentv1.Antivirus {
			return &agentv1.Antivirus{Products: []*agentv1.AntivirusProduct{{Name: "ClamAV", Enabled: true}}}
		},
		encryption: func(context.Context) *agentv1.Encryption { panic("boom") },
		screenLock: func(context.Context) *agentv1.ScreenLock {
			<-release // hangs past the timeout, ignoring its context
			return &agentv1.ScreenLock{IdleLockSeconds: 1}
		},
		// usb missing
	}
	start := time.Now()
	p := collect(context.Background(), r, 100*time.Millisecond)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("collect took %v with a hung reader", d)
	}
	if got := p.GetAntivirus().GetProducts(); len(got) != 1 || got[0].GetName() != "ClamAV" {
		t.Errorf("antivirus = %v", p.GetAntivirus())
	}
	for _, tc := range []struct {
		name, reason, want string
	}{
		{"encryption", p.GetEncryption().GetUnknownReason(), "reader failed: boom"},
		{"screen_lock", p.GetScreenLock().GetUnknownReason(), ReasonTimedOut},
		{"usb", p.GetUsb().GetUnknownReason(), ReasonUnsupported},
	} {
		if !strings.HasPrefix(tc.reason, tc.want) {
			t.Errorf("%s: reason %q, want it to start %q", tc.name, tc.reason, tc.want)
		}
	}
	if p.GetScreenLock().GetIdleLockSeconds() != 0 {
		t.Error("a timed-out reader's late result was used")
	}
	if got := p.GetEncryption().GetUnknownReason(); strings.Count(got, "\n") > 8 {
		t.Errorf("the reason carries %d lines of stack", strings.Count(got, "\n"))
	}
}

func TestCollect_NilResult(t *testing.T) {
	p := collect(context.Background(), readers{usb: func(context.Context) *agentv1.Usb { return nil }}, time.Second)
	if p.GetUsb().GetUnknownReason() != "reader returned nothing" {
		t.Errorf("usb = %v", p.GetUsb())
	}
}
