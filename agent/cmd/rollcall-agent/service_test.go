package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rollcall/rollcall/agent/client"
)

// TestProgramExitsWhenWorkFails checks that under a service manager an
// agent whose work stops on its own exits with an error, so the manager
// restarts it.
func TestProgramExitsWhenWorkFails(t *testing.T) {
	codes := make(chan int, 1)
	exit = func(code int) { codes <- code }
	t.Cleanup(func() { exit = os.Exit })

	// A damaged identity: the work fails at once.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, client.StateFile), []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &program{dataDir: dir, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := p.Start(nil); err != nil {
		t.Fatalf("Start: %v", err)
	}
	select {
	case code := <-codes:
		if code == 0 {
			t.Errorf("exit code 0 after the work failed, want non-zero")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the process did not exit after its work failed")
	}
	if err := p.Stop(nil); err != nil {
		t.Errorf("Stop: %v", err)
	}
}
