package client

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestDescribe checks that a server that cannot be reached is told apart
// from one that refuses, since the agent tries the first again and not
// the second.
func TestDescribe(t *testing.T) {
	tests := []struct {
		name        string
		err         error
		unreachable bool
		say         string
	}{
		{"Unavailable", status.Error(codes.Unavailable, "connection refused"), true, "cannot reach the Rollcall server at rc.example:8443"},
		{"Timeout", status.Error(codes.DeadlineExceeded, "deadline"), true, "cannot reach"},
		{"Exhausted", status.Error(codes.PermissionDenied, "enrolment token has been used 3 of 3 times"), false, "server refused: enrolment token has been used"},
		{"BadIdentity", status.Error(codes.Unauthenticated, "revoked"), false, "refused this device's identity"},
		{"NotGRPC", errors.New("token is not an enrolment token"), false, "not an enrolment token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := describe(tc.err, "rc.example:8443")
			if errors.Is(err, ErrUnreachable) != tc.unreachable {
				t.Errorf("errors.Is(%v, ErrUnreachable) = %v, want %v", err, !tc.unreachable, tc.unreachable)
			}
			if !strings.Contains(err.Error(), tc.say) {
				t.Errorf("describe = %q, want it to say %q", err, tc.say)
			}
		})
	}
}
