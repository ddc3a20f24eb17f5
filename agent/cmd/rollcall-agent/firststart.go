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
// Linux packages read it from /etc, the macOS and Windows installers keep
// it in the data directory.
func defaultTokenFile(getenv func(string) string) string {
	if runtime.GOOS == "linux" {
		return "/etc/rollcall-agent/enroll-token"
	}
	return defaultDataDir(getenv) + string(os.PathSeparator) + "enroll-token"
}

// findPendingToken returns the token in tokenFile or, failing that, one
// the operating system's installer recorded (installerToken); the zero
// pendingToken when there is none.
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

// Delays between attempts to enrol with a pending token, doubling from
// the first to the last; variables so that tests need not wait.
var (
	firstEnrollDelay = 5 * time.Second
	lastEnrollDelay  = 15 * time.Minute
)

// tokenPoll is how often a service with no enrolment token looks for
// one; a variable so that tests need not wait.
var tokenPoll = 30 * time.Second

// enrollOnFirstStart enrols the agent when it has no identity yet, with
// the enrolment token an installer left (see findPendingToken). Without
// one it waits, looking again every tokenPoll, so that a service
// installed before its token (or a token put in place later) needs no
// restart. With one it tries until it succeeds or ctx ends, waiting
// longer after each failure, since a laptop set up before it reaches the
// school's network cannot enrol at once; then it removes the token. It
// returns nil at once when the agent is already enrolled (or someone
// enrols it by hand meanwhile).
func enrollOnFirstStart(ctx context.Context, dataDir, tokenFile string, logger *slog.Logger) error {
	delay, waiting := firstEnrollDelay, false
	for {
		if _, err := client.LoadIdentity(dataDir); !errors.Is(err, client.ErrNotEnrolled) {
			return nil // enrolled, or damaged: loading it again says how
		}
		tok, err := findPendingToken(tokenFile)
		if err != nil {
			return err
		}
		if tok.value == "" {
			if !waiting {
				logger.Warn("not enrolled: waiting for an enrolment token; put one in the token file, or run rollcall-agent enroll --token T", "token_file", tokenFile)
				waiting = true
			}
			if err := sleep(ctx, tokenPoll); err != nil {
				return err
			}
			continue
		}
		err = enrollFunc(ctx, dataDir, tok.value)
		if err == nil {
			logger.Info("enrolled with the token the installer left", "from", tok.from)
			if err := tok.clear(); err != nil {
				logger.Warn("could not remove the used enrolment token; remove it by hand", "from", tok.from, "err", err)
			}
			return nil
		}
		logger.Warn("could not enrol yet; trying again", "from", tok.from, "err", err, "in", delay.String())
		if err := sleep(ctx, delay); err != nil {
			return err
		}
		delay = min(2*delay, lastEnrollDelay)
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
