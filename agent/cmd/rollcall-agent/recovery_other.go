//go:build !windows

package main

import "log/slog"

// setRecovery makes the service manager restart the agent when it fails.
// systemd and launchd read that from the unit or plist the packages
// install, so there is nothing to do here.
func setRecovery(*slog.Logger) {}
