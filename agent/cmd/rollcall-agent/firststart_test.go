package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rollcall/rollcall/agent/client"
)

// TestEnrollOnFirstStart runs the first start against a fake enrolment:
// the token an installer left is used, retried while the server cannot
// be reached, and removed once it worked.
func TestEnrollOnFirstStart(t *testing.T) {
	firstEnrollDelay, lastEnrollDelay, tokenPoll = time.Millisecond, 4*time.Millisecond, time.Millisecond
	t.Cleanup(func() { firstEnrollDelay, lastEnrollDelay, tokenPoll = 5*time.Second, 15*time.Minute, 30*time.Second })
	unreachable := errors.New("connection refused")
	tests := []struct {
		name      string
		token     string // the token file's contents; "" for no file
		later     bool   // the token file is written only after the agent started waiting
		enrolled  bool   // a state file is there already
		failures  int    // enrolments that fail before one works
		wantCalls int
		wantFile  bool // the token file is still there afterwards
	}{
		{"Token", "  tok-123\n", false, false, 0, 1, false},
		{"ServerUnreachableAtFirst", "tok-123", false, false, 3, 4, false},
		{"TokenLeftLater", "tok-123", true, false, 0, 1, false},
		{"EmptyTokenThenOne", " \n", true, false, 0, 1, false},
		{"AlreadyEnrolled", "tok-123", false, true, 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dataDir, tokenFile := t.TempDir(), filepath.Join(t.TempDir(), "enroll-token")
			write := func(text string) {
				if err := os.WriteFile(tokenFile, []byte(text), 0o600); err != nil {
					t.Error(err)
				}
			}
			switch {
			case tc.later && strings.TrimSpace(tc.token) == "":
				write(tc.token) // an empty file now, a token later
				time.AfterFunc(20*time.Millisecond, func() { write("tok-123") })
			case tc.later:
				time.AfterFunc(20*time.Millisecond, func() { write(tc.token) })
			default:
				write(tc.token)
			}
			if tc.enrolled {
				if err := os.WriteFile(filepath.Join(dataDir, client.StateFile), []byte(`{}`), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var calls []string
			orig := enrollFunc
			t.Cleanup(func() { enrollFunc = orig })
			enrollFunc = func(_ context.Context, dir, token string) error {
				calls = append(calls, token)
				if dir != dataDir {
					t.Errorf("enrolled into %s, want %s", dir, dataDir)
				}
				if len(calls) <= tc.failures {
					return unreachable
				}
				return nil
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := enrollOnFirstStart(ctx, dataDir, tokenFile, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
				t.Fatalf("enrollOnFirstStart = %v", err)
			}
			if len(calls) != tc.wantCalls {
				t.Errorf("enrolled %d times, want %d", len(calls), tc.wantCalls)
			}
			for _, c := range calls {
				if c != "tok-123" {
					t.Errorf("enrolled with %q, want the token trimmed", c)
				}
			}
			if _, err := os.Stat(tokenFile); (err == nil) != tc.wantFile {
				t.Errorf("token file there afterwards: %v, want %v", err == nil, tc.wantFile)
			}
		})
	}
}

// TestEnrollOnFirstStartWaits checks that with no token the agent waits,
// saying so once, until it is stopped.
func TestEnrollOnFirstStartWaits(t *testing.T) {
	tokenPoll = time.Millisecond
	t.Cleanup(func() { tokenPoll = 30 * time.Second })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var log strings.Builder
	err := enrollOnFirstStart(ctx, t.TempDir(), filepath.Join(t.TempDir(), "enroll-token"), slog.New(slog.NewTextHandler(&log, nil)))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("enrollOnFirstStart = %v, want it to wait until stopped", err)
	}
	if n := strings.Count(log.String(), "waiting for an enrolment token"); n != 1 {
		t.Errorf("said it was waiting %d times, want once:\n%s", n, log.String())
	}
}

// TestEnrollOnFirstStartStops checks that a stop while the server cannot
// be reached ends the attempts, keeping the token for the next start.
func TestEnrollOnFirstStartStops(t *testing.T) {
	firstEnrollDelay, lastEnrollDelay = time.Hour, time.Hour
	t.Cleanup(func() { firstEnrollDelay, lastEnrollDelay = 5*time.Second, 15*time.Minute })
	tokenFile := filepath.Join(t.TempDir(), "enroll-token")
	if err := os.WriteFile(tokenFile, []byte("tok"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	orig := enrollFunc
	t.Cleanup(func() { enrollFunc = orig })
	enrollFunc = func(context.Context, string, string) error { cancel(); return errors.New("connection refused") }
	err := enrollOnFirstStart(ctx, t.TempDir(), tokenFile, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("enrollOnFirstStart = %v, want it to stop when asked", err)
	}
	if _, err := os.Stat(tokenFile); err != nil {
		t.Errorf("the token is gone after a failed start: %v", err)
	}
}
