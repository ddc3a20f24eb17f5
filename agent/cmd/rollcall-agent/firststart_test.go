package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rollcall/rollcall/agent/client"
)

// fastRetries makes the first start's waits short for a test.
func fastRetries(t *testing.T) {
	firstEnrollDelay, lastEnrollDelay, tokenPoll = time.Millisecond, 4*time.Millisecond, time.Millisecond
	t.Cleanup(func() { firstEnrollDelay, lastEnrollDelay, tokenPoll = 5*time.Second, 15*time.Minute, 30*time.Second })
}

// TestEnrollOnFirstStart runs the first start against a fake enrolment:
// the token an installer left is used, retried while the server cannot
// be reached, not retried once refused, and removed once the agent is
// enrolled; it never reaches the log.
func TestEnrollOnFirstStart(t *testing.T) {
	fastRetries(t)
	unreachable := fmt.Errorf("dial: %w", client.ErrUnreachable)
	refused := errors.New("server refused: enrolment token has been used 30 of 30 times")
	tests := []struct {
		name     string
		token    string // the token file's contents at the start; "" for no file
		later    string // written 20ms after the start, when not ""
		enrolled bool   // a state file is there already
		answers  []error
		want     []string // the tokens tried, in order
	}{
		{"Token", "  tok-123\n", "", false, nil, []string{"tok-123"}},
		{"ServerUnreachableAtFirst", "tok-123", "", false, []error{unreachable, unreachable, unreachable}, []string{"tok-123", "tok-123", "tok-123", "tok-123"}},
		{"TokenLeftLater", "", "tok-123", false, nil, []string{"tok-123"}},
		{"EmptyTokenThenOne", " \n", "tok-123", false, nil, []string{"tok-123"}},
		{"RefusedThenAnother", "tok-old", "tok-123", false, []error{refused}, []string{"tok-old", "tok-123"}},
		{"AlreadyEnrolled", "tok-123", "", true, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dataDir, tokenFile := t.TempDir(), filepath.Join(t.TempDir(), "enroll-token")
			write := func(text string) {
				if err := os.WriteFile(tokenFile, []byte(text), 0o600); err != nil {
					t.Error(err)
				}
			}
			if tc.token != "" {
				write(tc.token)
			}
			if tc.later != "" {
				time.AfterFunc(20*time.Millisecond, func() { write(tc.later) })
			}
			enrolled := func() {
				if err := os.WriteFile(filepath.Join(dataDir, client.StateFile), []byte(`{}`), 0o600); err != nil {
					t.Error(err)
				}
			}
			if tc.enrolled {
				enrolled()
			}
			var tried []string
			orig := enrollFunc
			t.Cleanup(func() { enrollFunc = orig })
			enrollFunc = func(_ context.Context, dir, token string) error {
				tried = append(tried, token)
				if dir != dataDir {
					t.Errorf("enrolled into %s, want %s", dir, dataDir)
				}
				if n := len(tried); n <= len(tc.answers) {
					return tc.answers[n-1]
				}
				enrolled()
				return nil
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var log strings.Builder
			if err := enrollOnFirstStart(ctx, dataDir, tokenFile, slog.New(slog.NewTextHandler(&log, nil))); err != nil {
				t.Fatalf("enrollOnFirstStart = %v", err)
			}
			if strings.Join(tried, " ") != strings.Join(tc.want, " ") {
				t.Errorf("tried %q, want %q", tried, tc.want)
			}
			if _, err := os.Stat(tokenFile); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the token file is still there once enrolled: %v", err)
			}
			for _, tok := range []string{"tok-123", "tok-old"} {
				if strings.Contains(log.String(), tok) {
					t.Errorf("the log holds the token %s:\n%s", tok, log.String())
				}
			}
		})
	}
}

// TestEnrollOnFirstStartWaits checks that with no token the agent waits,
// saying so once, until it is stopped.
func TestEnrollOnFirstStartWaits(t *testing.T) {
	fastRetries(t)
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
// be reached ends the attempts, keeping the token for the next start,
// and that the service then stops cleanly.
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
	enrollFunc = func(context.Context, string, string) error { cancel(); return client.ErrUnreachable }
	if err := serve(ctx, t.TempDir(), tokenFile, slog.New(slog.DiscardHandler)); err != nil {
		t.Errorf("serve = %v, want a clean stop", err)
	}
	if _, err := os.Stat(tokenFile); err != nil {
		t.Errorf("the token is gone after a failed start: %v", err)
	}
}
