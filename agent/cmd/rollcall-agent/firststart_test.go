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
	firstEnrollDelay, lastEnrollDelay = time.Millisecond, 4*time.Millisecond
	t.Cleanup(func() { firstEnrollDelay, lastEnrollDelay = 5*time.Second, 15*time.Minute })
	unreachable := errors.New("connection refused")
	tests := []struct {
		name      string
		token     string // the token file's contents; "" for no file
		enrolled  bool   // a state file is there already
		failures  int    // enrolments that fail before one works
		wantCalls int
		wantErr   string
		wantFile  bool // the token file is still there afterwards
	}{
		{"Token", "  tok-123\n", false, 0, 1, "", false},
		{"ServerUnreachableAtFirst", "tok-123", false, 3, 4, "", false},
		{"NoToken", "", false, 0, 0, "no enrolment token was left at", false},
		{"EmptyToken", " \n", false, 0, 0, "no enrolment token was left at", true},
		{"AlreadyEnrolled", "tok-123", true, 0, 0, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dataDir, tokenFile := t.TempDir(), filepath.Join(t.TempDir(), "enroll-token")
			if tc.token != "" {
				if err := os.WriteFile(tokenFile, []byte(tc.token), 0o600); err != nil {
					t.Fatal(err)
				}
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
			err := enrollOnFirstStart(context.Background(), dataDir, tokenFile, slog.New(slog.NewTextHandler(io.Discard, nil)))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("enrollOnFirstStart = %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, client.ErrNotEnrolled)):
				t.Fatalf("enrollOnFirstStart = %v, want ErrNotEnrolled saying %q", err, tc.wantErr)
			}
			if len(calls) != tc.wantCalls {
				t.Errorf("enrolled %d times, want %d", len(calls), tc.wantCalls)
			}
			for _, c := range calls {
				if c != "tok-123" {
					t.Errorf("enrolled with %q, want the token trimmed", c)
				}
			}
			if _, err := os.Stat(tokenFile); (err == nil) != tc.wantFile && tc.token != "" {
				t.Errorf("token file there afterwards: %v, want %v", err == nil, tc.wantFile)
			}
		})
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
