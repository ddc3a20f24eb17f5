package inventory_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rollcall/rollcall/inventory"
)

func TestAuditEntryFit(t *testing.T) {
	long := strings.Repeat("é", 800) // 1,600 bytes
	tests := []struct {
		name string
		in   inventory.AuditEntry
	}{
		{"Short", inventory.AuditEntry{Action: "device.export", Actor: "it@school.example", Detail: "3 devices"}},
		{"LongDetail", inventory.AuditEntry{Action: "device.export", Actor: "it@school.example", Detail: long}},
		{"LongEverything", inventory.AuditEntry{Action: long, Actor: long, Record: long, Addr: long, Detail: long}},
		{"BadText", inventory.AuditEntry{Action: "a\x00b", Actor: "x\xffy", Detail: "\x00"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.in
			e.At = time.Now()
			e.Fit()
			if err := e.Validate(); err != nil {
				t.Fatalf("after Fit, Validate = %v", err)
			}
			for _, s := range []string{e.Action, e.Actor, e.Record, e.Addr, e.Detail} {
				if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
					t.Errorf("field %q is not clean text", s)
				}
			}
			if len(tc.in.Detail) > 1000 && !strings.HasSuffix(e.Detail, "(cut)") {
				t.Errorf("a cut detail does not say so: %q", e.Detail[len(e.Detail)-20:])
			}
			if tc.name == "Short" && (e.Action != tc.in.Action || e.Actor != tc.in.Actor || e.Detail != tc.in.Detail) {
				t.Errorf("Fit changed an entry that fitted: %+v", e)
			}
		})
	}
}

// chain is an audit log in memory, for VerifyAudit.
type chain []*inventory.AuditEntry

// anchored is a chain whose oldest entries were purged.
type anchored struct {
	chain
	anchor inventory.AuditAnchor
}

func (a anchored) FindAuditAnchor(context.Context) (inventory.AuditAnchor, error) {
	return a.anchor, nil
}

func (c chain) AppendAudit(context.Context, *inventory.AuditEntry) error {
	return errors.New("read-only")
}
func (c chain) FindAudit(context.Context, inventory.AuditFilter) ([]*inventory.AuditEntry, error) {
	return nil, errors.New("unused")
}
func (c chain) WalkAudit(_ context.Context, fn func(*inventory.AuditEntry) error) error {
	for _, e := range c {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (c chain) FindAuditAnchor(context.Context) (inventory.AuditAnchor, error) {
	return inventory.AuditAnchor{}, nil
}

func newChain(n int) chain {
	var c chain
	for i := range n {
		c = c.add(&inventory.AuditEntry{At: time.Date(2026, 12, 1, 9, i, 0, 0, time.UTC), Actor: "it@school.example", Action: "session.signin"})
	}
	return c
}

// add appends e as the next entry of c, chained.
func (c chain) add(e *inventory.AuditEntry) chain {
	e.Seq = int64(len(c) + 1)
	if len(c) > 0 {
		e.PrevHash = c[len(c)-1].Hash
	}
	e.Hash = e.ComputeHash()
	return append(c, e)
}

// purged returns a chain of 5 entries whose first 2 were purged, the
// purge entry being the 6th, as a store leaves it; tamper changes it.
func purged(tamper func(c chain, a *inventory.AuditAnchor) chain) anchored {
	c := newChain(5)
	a := inventory.AuditAnchor{Seq: 2, Hash: c[1].Hash, PurgedAt: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)}
	c = c.add(inventory.AuditPurgeEntry(1, a, a.PurgedAt))
	c = c[2:]
	return anchored{tamper(c, &a), a}
}

func TestVerifyAudit(t *testing.T) {
	tests := []struct {
		name    string
		tamper  func(c chain) chain
		wantN   int64
		wantSeq int64 // 0: intact
		reason  string
	}{
		{"Intact", func(c chain) chain { return c }, 5, 0, ""},
		{"Empty", func(chain) chain { return nil }, 0, 0, ""},
		{"Changed", func(c chain) chain { c[2].Detail = "edited"; return c }, 2, 3, "changed"},
		{"Removed", func(c chain) chain { return append(c[:2:2], c[3:]...) }, 2, 3, "removed"},
		{"RemovedFirst", func(c chain) chain { return c[1:] }, 0, 1, "removed"},
		{"Duplicated", func(c chain) chain { return append(c[:3:3], c[2:]...) }, 3, 3, "twice"},
		{"Reordered", func(c chain) chain {
			c[1], c[2] = c[2], c[1]
			c[1].Seq, c[2].Seq = 2, 3
			return c
		}, 1, 2, "changed"},
		{"Relinked", func(c chain) chain {
			// An entry rewritten with its own hash recomputed, but not the next one's link.
			c[2].Detail = "edited"
			c[2].Hash = c[2].ComputeHash()
			return c
		}, 3, 4, "does not follow entry 3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			verifyAudit(t, tc.tamper(newChain(5)), tc.wantN, tc.wantSeq, tc.reason)
		})
	}
}

func TestVerifyAuditAfterPurge(t *testing.T) {
	tests := []struct {
		name    string
		tamper  func(c chain, a *inventory.AuditAnchor) chain
		wantN   int64
		wantSeq int64 // 0: intact
		reason  string
	}{
		{"Intact", func(c chain, _ *inventory.AuditAnchor) chain { return c }, 4, 0, ""},
		{"NoPurgeEntry", func(c chain, _ *inventory.AuditAnchor) chain { return c[:3] }, 3, 3, "no purge entry"},
		{"PurgeEntryForOtherEntries", func(c chain, a *inventory.AuditAnchor) chain {
			*a = inventory.AuditAnchor{Seq: 3, Hash: c[0].Hash}
			return c[1:]
		}, 3, 4, "no purge entry"},
		{"AnchorChanged", func(c chain, a *inventory.AuditAnchor) chain { a.Hash = c[0].Hash; return c }, 0, 3, "does not follow entry 2"},
		{"RemovedAfterPurge", func(c chain, _ *inventory.AuditAnchor) chain { return c[1:] }, 0, 3, "removed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			verifyAudit(t, purged(tc.tamper), tc.wantN, tc.wantSeq, tc.reason)
		})
	}
}

// verifyAudit runs VerifyAudit on s and checks it checked wantN entries
// and broke at wantSeq (0: not at all) for a reason containing reason.
func verifyAudit(t *testing.T, s inventory.AuditStore, wantN, wantSeq int64, reason string) {
	t.Helper()
	n, err := inventory.VerifyAudit(context.Background(), s)
	var brk *inventory.AuditBreak
	switch {
	case wantSeq == 0 && err != nil:
		t.Fatalf("VerifyAudit = %v, want intact", err)
	case wantSeq != 0 && !errors.As(err, &brk):
		t.Fatalf("VerifyAudit = %d, %v; want a break at %d", n, err, wantSeq)
	case wantSeq != 0 && (brk.Seq != wantSeq || !strings.Contains(brk.Reason, reason)):
		t.Errorf("break at %d (%s), want %d (%s)", brk.Seq, brk.Reason, wantSeq, reason)
	}
	if n != wantN {
		t.Errorf("checked %d entries, want %d", n, wantN)
	}
}

// moving is a purged chain whose purge lands while VerifyAudit walks it:
// the first read of the anchor comes before the purge, the walk after.
type moving struct {
	anchored
	reads int
}

func (m *moving) FindAuditAnchor(context.Context) (inventory.AuditAnchor, error) {
	m.reads++
	if m.reads == 1 {
		return inventory.AuditAnchor{}, nil
	}
	return m.anchor, nil
}

func TestVerifyAuditDuringPurge(t *testing.T) {
	m := &moving{anchored: purged(func(c chain, _ *inventory.AuditAnchor) chain { return c })}
	verifyAudit(t, m, 4, 0, "")
	if m.reads < 3 {
		t.Errorf("read the anchor %d times; a purge during the walk should make it walk again", m.reads)
	}
}
