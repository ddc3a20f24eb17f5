package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// audit appends an entry and returns it as appended.
func (e *env) audit(a inventory.AuditEntry) *inventory.AuditEntry {
	e.t.Helper()
	if err := e.s.AppendAudit(e.ctx, &a); err != nil {
		e.t.Fatalf("AppendAudit(%s): %v", a.Action, err)
	}
	return &a
}

// walkAudit returns every audit entry, in Seq order.
func (e *env) walkAudit() []*inventory.AuditEntry {
	e.t.Helper()
	all := []*inventory.AuditEntry{}
	if err := e.s.WalkAudit(e.ctx, func(a *inventory.AuditEntry) error {
		all = append(all, a)
		return nil
	}); err != nil {
		e.t.Fatalf("WalkAudit: %v", err)
	}
	return all
}

// verifyAudit fails the test unless VerifyAudit finds a sound chain of n
// entries.
func (e *env) verifyAudit(n int64) {
	e.t.Helper()
	got, err := inventory.VerifyAudit(e.ctx, e.s)
	if err != nil {
		e.t.Fatalf("VerifyAudit: %v", err)
	}
	if got != n {
		e.t.Fatalf("VerifyAudit checked %d entries, want %d", got, n)
	}
}

// wantChain fails the test unless all are entries 1 to len(all), each
// linked to the one before and hashed over its own fields.
func wantChain(t *testing.T, all []*inventory.AuditEntry) {
	t.Helper()
	var prev []byte
	for i, a := range all {
		if a.Seq != int64(i+1) {
			t.Fatalf("entry %d has Seq %d", i+1, a.Seq)
		}
		if !bytes.Equal(a.PrevHash, prev) {
			t.Fatalf("entry %d: PrevHash %x, want %x", a.Seq, a.PrevHash, prev)
		}
		if i == 0 && a.PrevHash != nil {
			t.Fatalf("entry 1: PrevHash %x, want nil", a.PrevHash)
		}
		if !bytes.Equal(a.Hash, a.ComputeHash()) || len(a.Hash) != 32 {
			t.Fatalf("entry %d: Hash %x, want %x", a.Seq, a.Hash, a.ComputeHash())
		}
		prev = a.Hash
	}
}

// auditSet is a log of 30 entries over two schools and none, two people
// and the system, several actions and 30 minutes.
type auditSet struct {
	schoolA, schoolB uuid.UUID
	alice, bob       uuid.UUID
	all              []*inventory.AuditEntry // in Seq order
}

var auditActions = []string{"session.signin", "session.signout", "sessions.list", "enrollment.revoke", "a_b.x", "axb.x", "élève.add"}

func (e *env) auditSet() *auditSet {
	e.t.Helper()
	set := &auditSet{schoolA: uuid.New(), schoolB: uuid.New(), alice: uuid.New(), bob: uuid.New()}
	schools := []uuid.UUID{set.schoolA, set.schoolB, uuid.Nil}
	actors := []struct {
		id   uuid.UUID
		name string
	}{{set.alice, "alice@school.example"}, {set.bob, "bob@school.example"}, {uuid.Nil, "system"}}
	for i := range 30 {
		actor := actors[(i/2)%3]
		set.all = append(set.all, e.audit(inventory.AuditEntry{
			At:       t0.Add(time.Duration(i) * time.Minute),
			ActorID:  actor.id,
			Actor:    actor.name,
			SchoolID: schools[i%3],
			Action:   auditActions[i%len(auditActions)],
			Record:   fmt.Sprintf("device/%d", i),
			Addr:     "192.0.2.1",
			Detail:   fmt.Sprintf("entry %d", i),
		}))
	}
	return set
}

// want returns the entries of set that f selects, newest first, as
// FindAudit should.
func (set *auditSet) want(f inventory.AuditFilter) []*inventory.AuditEntry {
	out := []*inventory.AuditEntry{}
	for _, a := range slices.Backward(set.all) {
		switch {
		case f.Before > 0 && a.Seq >= f.Before:
		case f.SchoolIDs != nil && !slices.Contains(f.SchoolIDs, a.SchoolID):
		case f.ActorID != uuid.Nil && a.ActorID != f.ActorID:
		case !strings.HasPrefix(a.Action, f.Action):
		case !f.Since.IsZero() && a.At.Before(ts(f.Since)): // bounds are kept to microseconds too
		case !f.Until.IsZero() && !a.At.Before(ts(f.Until)):
		default:
			out = append(out, a)
		}
	}
	if n := f.PageLimit(); len(out) > n {
		out = out[:n]
	}
	return out
}

func (su suite) testAuditStore(t *testing.T) {
	t.Run("AppendAudit", func(t *testing.T) {
		e := su.fresh(t)
		e.verifyAudit(0)
		zone := time.FixedZone("UTC+2", 2*3600)
		person, school := uuid.New(), uuid.New()
		in := []inventory.AuditEntry{
			{At: t0.In(zone), Actor: "system", Action: "server.start"},
			{At: t0.Add(time.Second), ActorID: person, Actor: "head@school.example", SchoolID: school,
				Action: "session.signin", Record: "user/" + person.String(), Addr: "192.0.2.7:4431", Detail: "password and TOTP"},
			{At: t0.Add(time.Second), Actor: "agent", SchoolID: school, Action: "enrollment.renew", Record: "device/x",
				// The store fills these; what the caller gives is ignored.
				Seq: 99, PrevHash: []byte("forged"), Hash: []byte("forged")},
			{At: t0.Add(-time.Hour), ActorID: person, Actor: "head@school.example", Action: "user.disable", Detail: "élève — «quoted»"},
		}
		var appended []*inventory.AuditEntry
		for i, a := range in {
			got := e.audit(a)
			want := a
			want.Seq, want.At = int64(i+1), ts(a.At)
			want.PrevHash, want.Hash = nil, nil
			if i > 0 {
				want.PrevHash = appended[i-1].Hash
			}
			want.Hash = want.ComputeHash()
			equal(t, fmt.Sprintf("entry %d as appended", i+1), got, &want)
			appended = append(appended, got)
		}
		wantChain(t, appended)
		equal(t, "WalkAudit", e.walkAudit(), appended)
		e.verifyAudit(int64(len(in)))

		got, err := e.s.FindAudit(e.ctx, inventory.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "FindAudit", got, []*inventory.AuditEntry{appended[3], appended[2], appended[1], appended[0]})
	})

	t.Run("AppendAudit/ErrInvalid", func(t *testing.T) {
		e := su.fresh(t)
		good := inventory.AuditEntry{At: t0, Actor: "system", Action: "x.y"}
		e.audit(good)
		for _, tc := range []struct {
			name   string
			change func(*inventory.AuditEntry)
			msg    string
		}{
			{"NoAction", func(a *inventory.AuditEntry) { a.Action = "" }, "action"},
			{"NoActor", func(a *inventory.AuditEntry) { a.Actor = "" }, "actor"},
			{"NoTime", func(a *inventory.AuditEntry) { a.At = time.Time{} }, "time"},
			{"LongRecord", func(a *inventory.AuditEntry) { a.Record = strings.Repeat("r", 201) }, "record"},
			{"LongDetail", func(a *inventory.AuditEntry) { a.Detail = strings.Repeat("d", 2001) }, "detail"},
			{"NULInDetail", func(a *inventory.AuditEntry) { a.Detail = "a\x00b" }, "detail"},
			{"BadUTF8", func(a *inventory.AuditEntry) { a.Addr = "\xff" }, "addr"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				a := good
				tc.change(&a)
				err := e.s.AppendAudit(e.ctx, &a)
				wantCode(t, err, inventory.EINVALID)
				wantMessage(t, err, tc.msg)
				if a.Seq != 0 || a.Hash != nil {
					t.Errorf("a refused entry was given Seq %d and Hash %x", a.Seq, a.Hash)
				}
			})
		}
		e.verifyAudit(1)
		// The chain goes on from the last good entry.
		wantChain(t, []*inventory.AuditEntry{e.walkAudit()[0], e.audit(good)})
	})

	t.Run("AppendAudit/Concurrent", func(t *testing.T) {
		// Appends from many goroutines (on PostgreSQL, many connections,
		// as from several replicas) never share a Seq or fork the chain.
		e := su.fresh(t)
		const workers, each = 8, 20
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			seqs []int64
		)
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					a := inventory.AuditEntry{At: t0.Add(time.Duration(i) * time.Second), Actor: "system",
						Action: "test.concurrent", Detail: fmt.Sprintf("worker %d entry %d", w, i)}
					if err := e.s.AppendAudit(e.ctx, &a); err != nil {
						t.Errorf("AppendAudit: %v", err)
						return
					}
					mu.Lock()
					seqs = append(seqs, a.Seq)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		slices.Sort(seqs)
		want := make([]int64, workers*each)
		for i := range want {
			want[i] = int64(i + 1)
		}
		equal(t, "sequence numbers", seqs, want)
		all := e.walkAudit()
		wantChain(t, all)
		e.verifyAudit(workers * each)
	})

	t.Run("FindAudit", func(t *testing.T) {
		e := su.fresh(t)
		set := e.auditSet()
		for _, tc := range []struct {
			name string
			f    inventory.AuditFilter
			n    int // how many entries the filter should find, as a check on the model
		}{
			{"All", inventory.AuditFilter{}, 30},
			{"SchoolA", inventory.AuditFilter{SchoolIDs: []uuid.UUID{set.schoolA}}, 10},
			{"BothSchools", inventory.AuditFilter{SchoolIDs: []uuid.UUID{set.schoolA, set.schoolB}}, 20},
			{"NoSchools", inventory.AuditFilter{SchoolIDs: []uuid.UUID{}}, 0},
			{"UnknownSchool", inventory.AuditFilter{SchoolIDs: []uuid.UUID{uuid.New()}}, 0},
			{"Actor", inventory.AuditFilter{ActorID: set.alice}, 10},
			{"UnknownActor", inventory.AuditFilter{ActorID: uuid.New()}, 0},
			{"ActionPrefix", inventory.AuditFilter{Action: "session."}, 10},
			{"ActionExact", inventory.AuditFilter{Action: "sessions.list"}, 4},
			{"ActionUnderscore", inventory.AuditFilter{Action: "a_b"}, 4},
			{"ActionNonASCII", inventory.AuditFilter{Action: "é"}, 4},
			{"ActionNone", inventory.AuditFilter{Action: "zzz"}, 0},
			{"Since", inventory.AuditFilter{Since: t0.Add(20 * time.Minute)}, 10},
			{"Until", inventory.AuditFilter{Until: t0.Add(5 * time.Minute)}, 5},
			{"Window", inventory.AuditFilter{Since: t0.Add(5 * time.Minute), Until: t0.Add(15*time.Minute + time.Microsecond)}, 11},
			{"Before", inventory.AuditFilter{Before: 11}, 10},
			{"Limit", inventory.AuditFilter{Limit: 3}, 3},
			{"Combined", inventory.AuditFilter{SchoolIDs: []uuid.UUID{set.schoolA}, ActorID: set.bob,
				Since: t0.Add(2 * time.Minute), Before: 29, Limit: 2}, 2},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := e.s.FindAudit(e.ctx, tc.f)
				if err != nil {
					t.Fatal(err)
				}
				want := set.want(tc.f)
				if len(want) != tc.n {
					t.Fatalf("the model selects %d entries, the case expects %d", len(want), tc.n)
				}
				equal(t, "entries", got, want)
			})
		}
	})

	t.Run("FindAudit/Pages", func(t *testing.T) {
		e := su.fresh(t)
		set := e.auditSet()
		var (
			got   []*inventory.AuditEntry
			pages []int
			f     = inventory.AuditFilter{SchoolIDs: []uuid.UUID{set.schoolA}, Limit: 6}
		)
		for {
			page, err := e.s.FindAudit(e.ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			pages = append(pages, len(page))
			got = append(got, page...)
			f.Before = page[len(page)-1].Seq
		}
		equal(t, "page sizes", pages, []int{6, 4})
		equal(t, "entries", got, set.want(inventory.AuditFilter{SchoolIDs: []uuid.UUID{set.schoolA}}))
	})

	t.Run("WalkAudit/Stop", func(t *testing.T) {
		e := su.fresh(t)
		e.auditSet()
		stop := errors.New("stop")
		var calls []int64
		err := e.s.WalkAudit(e.ctx, func(a *inventory.AuditEntry) error {
			calls = append(calls, a.Seq)
			if len(calls) == 3 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) {
			t.Fatalf("WalkAudit = %v, want the error fn returned", err)
		}
		equal(t, "entries walked", calls, []int64{1, 2, 3})
	})

	t.Run("WalkAudit/Empty", func(t *testing.T) {
		e := su.fresh(t)
		equal(t, "entries", len(e.walkAudit()), 0)
	})

	t.Run("Large", func(t *testing.T) {
		// More entries than a page of WalkAudit and than MaxPageSize.
		e := su.fresh(t)
		const n = inventory.MaxPageSize + 234
		for i := range n {
			e.audit(inventory.AuditEntry{At: t0.Add(time.Duration(i) * time.Millisecond), Actor: "system", Action: "test.large"})
		}
		all := e.walkAudit()
		equal(t, "entries walked", len(all), n)
		wantChain(t, all)
		e.verifyAudit(n)
		got, err := e.s.FindAudit(e.ctx, inventory.AuditFilter{Limit: n})
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "entries found with a limit above the maximum", len(got), inventory.MaxPageSize)
		equal(t, "newest entry", got[0], all[n-1])
		got, err = e.s.FindAudit(e.ctx, inventory.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "entries found with no limit", len(got), inventory.DefaultPageSize)
	})
}
