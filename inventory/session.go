package inventory

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Session is one signed-in browser. The cookie holds a random token; only
// its SHA-256 is stored, so the database alone cannot be used to sign in.
// Sessions live in the store so that several server replicas share them.
type Session struct {
	ID        uuid.UUID
	Hash      []byte // SHA-256 of the cookie's token
	UserID    uuid.UUID
	CreatedAt time.Time
	// LastSeenAt is the last request made with the session; the server
	// moves it at most once a minute.
	LastSeenAt time.Time
	ExpiresAt  time.Time // the session ends then, whatever its use
	// SecondFactorAt is when the person passed their second factor (a
	// TOTP code or a recovery code) in this session; zero while the
	// session has only the password.
	SecondFactorAt time.Time
	// ReauthAt is when the person last re-entered their password in this
	// session, for actions that ask again; zero if never.
	ReauthAt  time.Time
	Addr      string // remote address at sign-in
	UserAgent string // browser at sign-in, at most 300 bytes
}

// SessionUpdate changes a session. Nil fields are left as they are.
type SessionUpdate struct {
	LastSeenAt     *time.Time
	ExpiresAt      *time.Time
	SecondFactorAt *time.Time
	ReauthAt       *time.Time
}

// SessionStore keeps sign-in sessions and failed sign-ins.
type SessionStore interface {
	// CreateSession stores s, filling ID and CreatedAt when zero. Returns
	// ENOTFOUND for an unknown user and ECONFLICT if the hash is taken.
	CreateSession(ctx context.Context, s *Session) error
	// FindSessionByHash returns ENOTFOUND if no session has this hash.
	// Expired sessions are still returned; the caller checks ExpiresAt.
	FindSessionByHash(ctx context.Context, hash []byte) (*Session, error)
	// UpdateSession applies upd. Returns ENOTFOUND.
	UpdateSession(ctx context.Context, id uuid.UUID, upd SessionUpdate) error
	// DeleteSession removes a session (sign-out). Deleting a session that
	// does not exist is not an error.
	DeleteSession(ctx context.Context, id uuid.UUID) error
	// DeleteUserSessions removes every session of a user and returns how
	// many there were.
	DeleteUserSessions(ctx context.Context, userID uuid.UUID) (int, error)
	// DeleteExpiredSessions removes sessions that expired before before
	// and returns how many.
	DeleteExpiredSessions(ctx context.Context, before time.Time) (int, error)

	// RecordLoginFailure notes a failed sign-in under key (an email
	// address, or "addr:" and a remote address) at at.
	RecordLoginFailure(ctx context.Context, key string, at time.Time) error
	// CountLoginFailures returns how many failures key has had at or
	// after since, and when the newest of them was (zero when none).
	CountLoginFailures(ctx context.Context, key string, since time.Time) (n int, newest time.Time, err error)
	// ClearLoginFailures forgets key's failures (after a good sign-in).
	ClearLoginFailures(ctx context.Context, key string) error
	// DeleteLoginFailuresBefore forgets every failure older than before.
	DeleteLoginFailuresBefore(ctx context.Context, before time.Time) error
}
