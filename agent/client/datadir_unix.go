//go:build !windows

package client

import (
	"fmt"
	"os"
)

// SecureDir makes dir if it is missing and leaves it readable by its
// owner only, tightening the mode of a folder made earlier by someone else
// (an installer, or a technician with mkdir).
func SecureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("restrict data dir %s to its owner: %w", dir, err)
	}
	return nil
}
