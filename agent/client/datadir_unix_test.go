//go:build !windows

package client

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSecureDir(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before os.FileMode // 0 means the folder does not exist yet
	}{
		{"Missing", 0},
		{"WorldReadable", 0o755},
		{"GroupWritable", 0o770},
		{"AlreadyPrivate", 0o700},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "agent")
			if tc.before != 0 {
				if err := os.Mkdir(dir, tc.before); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(dir, tc.before); err != nil { // past the umask
					t.Fatal(err)
				}
			}
			if err := SecureDir(dir); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != 0o700 {
				t.Errorf("mode %v, want 0700", got)
			}
		})
	}
}
