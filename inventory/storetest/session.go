package storetest

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// session creates a session of user that expires a day after t0.
func (e *env) session(user uuid.UUID) *inventory.Session {
	e.t.Helper()
	s := &inventory.Session{Hash: secret(), UserID: user, CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(24 * time.Hour)}
	if err := e.s.CreateSession(e.ctx, s); err != nil {
		e.t.Fatalf("CreateSession: %v", err)
	}
	return s
}

func (e *env) findSession(hash []byte) *inventory.Session {
	e.t.Helper()
	s, err := e.s.FindSessionByHash(e.ctx, hash)
	if err != nil {
		e.t.Fatalf("FindSessionByHash: %v", err)
	}
	return s
}

// sessionGone fails the test unless no session has this hash.
func (e *env) sessionGone(hash []byte) {
	e.t.Helper()
	_, err := e.s.FindSessionByHash(e.ctx, hash)
	wantCode(e.t, err, inventory.ENOTFOUND)
}

// failures returns CountLoginFailures(key, since).
func (e *env) failures(key string, since time.Time) (int, time.Time) {
	e.t.Helper()
	n, newest, err := e.s.CountLoginFailures(e.ctx, key, since)
	if err != nil {
		e.t.Fatalf("CountLoginFailures: %v", err)
	}
	return n, newest
}

func (su suite) testSessionStore(t *testing.T) {
	t.Run("CreateSession", func(t *testing.T) {
		e := su.fresh(t)
		u := e.user("a@school.example")
		zone := time.FixedZone("UTC-3", -3*3600)
		in := &inventory.Session{
			Hash:           secret(),
			UserID:         u.ID,
			CreatedAt:      t0.In(zone),
			LastSeenAt:     t0.Add(time.Second),
			ExpiresAt:      t0.Add(12 * time.Hour).In(zone),
			SecondFactorAt: t0.Add(2 * time.Second),
			ReauthAt:       t0.Add(3 * time.Second),
			Addr:           "192.0.2.10:51234",
			UserAgent:      "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
		}
		if err := e.s.CreateSession(e.ctx, in); err != nil {
			t.Fatal(err)
		}
		wantV7(t, "ID", in.ID)
		want := &inventory.Session{
			ID: in.ID, Hash: in.Hash, UserID: u.ID, CreatedAt: ts(t0), LastSeenAt: ts(t0.Add(time.Second)),
			ExpiresAt: ts(t0.Add(12 * time.Hour)), SecondFactorAt: ts(t0.Add(2 * time.Second)),
			ReauthAt: ts(t0.Add(3 * time.Second)), Addr: in.Addr, UserAgent: in.UserAgent,
		}
		equal(t, "CreateSession result", in, want)
		equal(t, "FindSessionByHash", e.findSession(in.Hash), want)

		// Only the password so far: the optional times read back zero.
		bare := &inventory.Session{Hash: secret(), UserID: u.ID, ExpiresAt: t0}
		if err := e.s.CreateSession(e.ctx, bare); err != nil {
			t.Fatal(err)
		}
		if bare.CreatedAt.IsZero() {
			t.Error("CreatedAt was not filled")
		}
		equal(t, "minimal session", e.findSession(bare.Hash), bare)
	})

	t.Run("CreateSession/Errors", func(t *testing.T) {
		e := su.fresh(t)
		u := e.user("a@school.example")
		taken := e.session(u.ID)
		for _, tc := range []struct {
			name string
			s    inventory.Session
			code string
			msg  string
		}{
			{"ErrUserNotFound", inventory.Session{Hash: secret(), UserID: uuid.New(), ExpiresAt: t0}, inventory.ENOTFOUND, "user"},
			{"ErrHashTaken", inventory.Session{Hash: taken.Hash, UserID: u.ID, ExpiresAt: t0}, inventory.ECONFLICT, "hash"},
			{"ErrIDTaken", inventory.Session{ID: taken.ID, Hash: secret(), UserID: u.ID, ExpiresAt: t0}, inventory.ECONFLICT, taken.ID.String()},
			{"ErrNoExpiry", inventory.Session{Hash: secret(), UserID: u.ID}, inventory.EINVALID, "expiry"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := e.s.CreateSession(e.ctx, &tc.s)
				wantCode(t, err, tc.code)
				wantMessage(t, err, tc.msg)
			})
		}
		equal(t, "session kept", e.findSession(taken.Hash), taken)
	})

	t.Run("FindSessionByHash", func(t *testing.T) {
		e := su.fresh(t)
		u := e.user("a@school.example")
		// An expired session is still returned.
		old := &inventory.Session{Hash: secret(), UserID: u.ID, CreatedAt: t0, ExpiresAt: t0.Add(-time.Hour)}
		if err := e.s.CreateSession(e.ctx, old); err != nil {
			t.Fatal(err)
		}
		equal(t, "expired session", e.findSession(old.Hash), old)
		e.sessionGone(secret())
	})

	t.Run("UpdateSession", func(t *testing.T) {
		e := su.fresh(t)
		u := e.user("a@school.example")
		s := e.session(u.ID)
		other := e.session(u.ID)
		at := func(d time.Duration) *time.Time { v := t0.Add(d); return &v }
		zero := time.Time{}
		for _, tc := range []struct {
			name   string
			upd    inventory.SessionUpdate
			change func(*inventory.Session)
		}{
			{"Nothing", inventory.SessionUpdate{}, func(*inventory.Session) {}},
			{"LastSeen", inventory.SessionUpdate{LastSeenAt: at(time.Minute)},
				func(s *inventory.Session) { s.LastSeenAt = ts(t0.Add(time.Minute)) }},
			{"SecondFactor", inventory.SessionUpdate{SecondFactorAt: at(2 * time.Minute)},
				func(s *inventory.Session) { s.SecondFactorAt = ts(t0.Add(2 * time.Minute)) }},
			{"All", inventory.SessionUpdate{LastSeenAt: at(3 * time.Minute), ExpiresAt: at(48 * time.Hour),
				SecondFactorAt: at(4 * time.Minute), ReauthAt: at(5 * time.Minute)},
				func(s *inventory.Session) {
					s.LastSeenAt, s.ExpiresAt = ts(t0.Add(3*time.Minute)), ts(t0.Add(48*time.Hour))
					s.SecondFactorAt, s.ReauthAt = ts(t0.Add(4*time.Minute)), ts(t0.Add(5*time.Minute))
				}},
			{"ClearSecondFactor", inventory.SessionUpdate{SecondFactorAt: &zero, ReauthAt: &zero},
				func(s *inventory.Session) { s.SecondFactorAt, s.ReauthAt = time.Time{}, time.Time{} }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if err := e.s.UpdateSession(e.ctx, s.ID, tc.upd); err != nil {
					t.Fatal(err)
				}
				tc.change(s)
				equal(t, "session", e.findSession(s.Hash), s)
				equal(t, "other session", e.findSession(other.Hash), other)
			})
		}
		for _, tc := range []struct {
			name string
			id   uuid.UUID
			upd  inventory.SessionUpdate
			code string
		}{
			{"ErrNotFound", uuid.New(), inventory.SessionUpdate{LastSeenAt: at(0)}, inventory.ENOTFOUND},
			{"ErrNotFoundNothing", uuid.New(), inventory.SessionUpdate{}, inventory.ENOTFOUND},
			{"ErrNoExpiry", s.ID, inventory.SessionUpdate{ExpiresAt: &zero}, inventory.EINVALID},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantCode(t, e.s.UpdateSession(e.ctx, tc.id, tc.upd), tc.code)
				equal(t, "session", e.findSession(s.Hash), s)
			})
		}
	})

	t.Run("DeleteSession", func(t *testing.T) {
		e := su.fresh(t)
		u := e.user("a@school.example")
		s, other := e.session(u.ID), e.session(u.ID)
		if err := e.s.DeleteSession(e.ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		e.sessionGone(s.Hash)
		equal(t, "other session", e.findSession(other.Hash), other)
		if err := e.s.DeleteSession(e.ctx, s.ID); err != nil {
			t.Errorf("deleting again: %v", err)
		}
		if err := e.s.DeleteSession(e.ctx, uuid.New()); err != nil {
			t.Errorf("deleting an unknown session: %v", err)
		}
	})

	t.Run("DeleteUserSessions", func(t *testing.T) {
		e := su.fresh(t)
		u, other := e.user("a@school.example"), e.user("b@school.example")
		mine := []*inventory.Session{e.session(u.ID), e.session(u.ID), e.session(u.ID)}
		theirs := e.session(other.ID)
		for _, tc := range []struct {
			name string
			user uuid.UUID
			want int
		}{
			{"Three", u.ID, 3},
			{"Again", u.ID, 0},
			{"UnknownUser", uuid.New(), 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				n, err := e.s.DeleteUserSessions(e.ctx, tc.user)
				if err != nil {
					t.Fatal(err)
				}
				equal(t, "deleted", n, tc.want)
			})
		}
		for _, s := range mine {
			e.sessionGone(s.Hash)
		}
		equal(t, "other user's session", e.findSession(theirs.Hash), theirs)
	})

	t.Run("DeleteExpiredSessions", func(t *testing.T) {
		e := su.fresh(t)
		u := e.user("a@school.example")
		var all []*inventory.Session
		for i := range 4 {
			s := &inventory.Session{Hash: secret(), UserID: u.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Duration(i) * time.Hour)}
			if err := e.s.CreateSession(e.ctx, s); err != nil {
				t.Fatal(err)
			}
			all = append(all, s)
		}
		for _, tc := range []struct {
			name   string
			before time.Time
			want   int
			left   int // sessions all[left:] remain
		}{
			{"None", t0, 0, 0},
			{"ExpiringAtBeforeStays", t0.Add(time.Hour), 1, 1},
			{"Two", t0.Add(3*time.Hour - time.Microsecond), 2, 3},
			{"Again", t0.Add(3*time.Hour - time.Microsecond), 0, 3},
		} {
			t.Run(tc.name, func(t *testing.T) {
				n, err := e.s.DeleteExpiredSessions(e.ctx, tc.before)
				if err != nil {
					t.Fatal(err)
				}
				equal(t, "deleted", n, tc.want)
				for i, s := range all {
					if i < tc.left {
						e.sessionGone(s.Hash)
					} else {
						equal(t, "session kept", e.findSession(s.Hash), s)
					}
				}
			})
		}
	})

	t.Run("LoginFailures", func(t *testing.T) {
		e := su.fresh(t)
		const key, other = "a@school.example", "addr:192.0.2.10"
		for _, at := range []time.Time{t0.Add(2 * time.Minute), t0, t0.Add(time.Minute)} {
			if err := e.s.RecordLoginFailure(e.ctx, key, at); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.s.RecordLoginFailure(e.ctx, other, t0.Add(3*time.Minute)); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name   string
			key    string
			since  time.Time
			n      int
			newest time.Time
		}{
			{"Ever", key, time.Time{}, 3, ts(t0.Add(2 * time.Minute))},
			{"FromFirst", key, t0, 3, ts(t0.Add(2 * time.Minute))},
			{"AtOrAfter", key, t0.Add(time.Minute), 2, ts(t0.Add(2 * time.Minute))},
			{"JustAfter", key, t0.Add(time.Minute + time.Microsecond), 1, ts(t0.Add(2 * time.Minute))},
			{"NoneInWindow", key, t0.Add(3 * time.Minute), 0, time.Time{}},
			{"OtherKey", other, t0, 1, ts(t0.Add(3 * time.Minute))},
			{"UnknownKey", "nobody@school.example", time.Time{}, 0, time.Time{}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				n, newest := e.failures(tc.key, tc.since)
				equal(t, "count", n, tc.n)
				equal(t, "newest", newest, tc.newest)
			})
		}

		if err := e.s.ClearLoginFailures(e.ctx, key); err != nil {
			t.Fatal(err)
		}
		if n, _ := e.failures(key, time.Time{}); n != 0 {
			t.Errorf("after ClearLoginFailures, count = %d, want 0", n)
		}
		if n, _ := e.failures(other, time.Time{}); n != 1 {
			t.Errorf("other key's count after clearing = %d, want 1", n)
		}
	})

	t.Run("DeleteLoginFailuresBefore", func(t *testing.T) {
		e := su.fresh(t)
		const a, b = "a@school.example", "b@school.example"
		for _, f := range []struct {
			key string
			at  time.Time
		}{{a, t0}, {a, t0.Add(time.Hour)}, {b, t0.Add(-time.Hour)}, {b, t0.Add(2 * time.Hour)}} {
			if err := e.s.RecordLoginFailure(e.ctx, f.key, f.at); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.s.DeleteLoginFailuresBefore(e.ctx, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		n, newest := e.failures(a, time.Time{})
		equal(t, "a's count", n, 1)
		equal(t, "a's newest", newest, ts(t0.Add(time.Hour)))
		n, newest = e.failures(b, time.Time{})
		equal(t, "b's count", n, 1)
		equal(t, "b's newest", newest, ts(t0.Add(2*time.Hour)))
	})
}
