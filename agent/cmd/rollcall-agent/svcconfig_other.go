//go:build !windows

package main

import "log/slog"

// configureService sets what an installer could not say about the
// agent's service. systemd and launchd read all of it from the unit or
// plist the packages install, so there is nothing to do here.
func configureService(*slog.Logger) {}
