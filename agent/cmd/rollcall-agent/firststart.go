package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/rollcall/rollcall/agent/client"
)

// pendingToken is an enrolment token an installer left for the agent's
// first start, and how to remove it once it has been used.
type pendingToken struct {
	value string
	from  string // where it was found, for the log; never the token
	clear func() error
}

// defaultTokenFile is where an installer leaves an enrolment token: the
// Linux packages in /etc, the macOS install.sh in the data directory.
// Windows has none: the MSI records the token in the registry, under a
// key only SYSTEM and Administrators may read, whereas any user may
// create files in C:\ProgramData.
func defaultTokenFile(getenv func(string) string) string {
	switch runtime.GOOS {
	case "linux":
		return "/etc/rollcall-agent/enroll-token"
	case "windows":
		return ""
	}
	return defaultDataDir(getenv) + string(os.PathSeparator) + "enroll-token"
}

// findPendingToken returns the token in tokenFile (when one is given)
// or, failing that, one the operating system's installer recorded
// (installerToken); the zero pendingToken when there is none.
func findPendingToken(tokenFile string) (pendingToken, error) {
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		switch {
		case err == nil && strings.TrimSpace(string(b)) != "":
			return pendingToken{value: strings.TrimSpace(string(b)), from: tokenFile, clear: func() error { return os.Remove(tokenFile) }}, nil
		case err != nil && !errors.Is(err, os.ErrNotExist):
			return pendingToken{}, fmt.Errorf("read the enrolment token file: %w", err)
		}
	}
	return installerToken()
}

// enrollFunc enrols the agent; a variable so that tests need no server.
var enrollFunc = func(ctx context.Context, dataDir, token string) error {
	return enroll(ctx, dataDir, token, io.Discard)
}

// Delays between attempts to enrol while the server cannot be reached,
// doubling from the first to the last, and how often a service with no
// usable token looks for a new one; variables so that tests need not
// wait.
var (
	firstEnrollDelay = 5 * time.Second
	lastEnrollDelay  = 15 * time.Minute
	tokenPoll        = 30 * time.Second
)

// enrollOnFirstStart enrols the agent when it has no identity yet, with
// the enrolment token an installer left (see findPendingToken).
//
//   - Without a token it waits, looking again every tokenPoll, so that a
//     service installed before its token needs no restart.
//   - While the server cannot be reached it tries again, waiting longer
//     each time, since a laptop set up off the school's network cannot
//     enrol at once.
//   - A token the server refuses (used up, expired, revoked, from another
//     server) is not tried again: it waits for a different one.
//
// Once the agent is enrolled, by this or by hand, any token left is
// removed, so none lingers after use (an upgrade that passes the token
// again leaves nothing either). It returns nil when enrolled, and ctx's
// error when stopped first. The token itself is never logged.
func enrollOnFirstStart(ctx context.Context, dataDir, tokenFile string, logger *slog.Logger) error {
	// The data folder is made and locked before anything is read or
	// written, so nobody else can have planted files in it.
	if err := client.SecureDir(dataDir); err != nil {
		return err
	}
	delay, said, refused := firstEnrollDelay, "", ""
	say := func(msg string, args ...any) { // each thing once, not every poll
		if said != msg {
			logger.Warn(msg, args...)
			said = msg
		}
	}
	for {
		tok, err := findPendingToken(tokenFile)
		if err != nil {
			return err
		}
		if _, err := client.LoadIdentity(dataDir); !errors.Is(err, client.ErrNotEnrolled) {
			// Enrolled (or damaged: loading it again says how).
			if tok.value != "" {
				if err := tok.clear(); err != nil {
					logger.Warn("could not remove an enrolment token left for an enrolled agent; remove it by hand", "from", tok.from, "err", err)
				} else {
					logger.Info("removed an enrolment token: this agent is enrolled", "from", tok.from)
				}
			}
			return nil
		}
		switch {
		case tok.value == "":
			say("not enrolled: waiting for an enrolment token; give one to the installer, or run rollcall-agent enroll --token T", "token_file", tokenFile)
		case tok.value == refused:
			say("the server refused the enrolment token; waiting for another", "from", tok.from)
		default:
			err := enrollFunc(ctx, dataDir, tok.value)
			switch {
			case err == nil:
				logger.Info("enrolled with the token the installer left", "from", tok.from)
				delay = firstEnrollDelay
				continue // removes the token, and returns
			case ctx.Err() != nil:
				return ctx.Err()
			case errors.Is(err, client.ErrUnreachable):
				logger.Warn("could not enrol yet; trying again", "from", tok.from, "err", err, "in", delay.String())
				if err := sleep(ctx, delay); err != nil {
					return err
				}
				delay = min(2*delay, lastEnrollDelay)
				continue
			default:
				logger.Error("the server refused the enrolment token; waiting for another", "from", tok.from, "err", err)
				refused, said, delay = tok.value, "the server refused the enrolment token; waiting for another", firstEnrollDelay
			}
		}
		if err := sleep(ctx, tokenPoll); err != nil {
			return err
		}
	}
}

// sleep waits for d, or returns ctx's error when it ends first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
