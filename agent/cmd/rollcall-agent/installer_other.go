//go:build !windows

package main

// installerToken returns the enrolment token the operating system's
// installer recorded. Only the Windows installer records one outside the
// token file.
func installerToken() (pendingToken, error) { return pendingToken{}, nil }
