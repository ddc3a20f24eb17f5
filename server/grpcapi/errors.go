package grpcapi

import (
	"context"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rollcall/rollcall/inventory"
)

// codeOf maps each domain error code to its gRPC code.
var codeOf = map[string]codes.Code{
	inventory.ECONFLICT:       codes.AlreadyExists,
	inventory.EINTERNAL:       codes.Internal,
	inventory.EINVALID:        codes.InvalidArgument,
	inventory.ENOTFOUND:       codes.NotFound,
	inventory.EUNAUTHORIZED:   codes.Unauthenticated,
	inventory.EFORBIDDEN:      codes.PermissionDenied,
	inventory.EEXPIRED:        codes.PermissionDenied,
	inventory.EEXHAUSTED:      codes.PermissionDenied,
	inventory.EREVOKED:        codes.PermissionDenied,
	inventory.EREPORTREQUIRED: codes.FailedPrecondition,
}

// toStatus converts an error to a gRPC status error, logging it once when
// it is internal. The message of an internal error never reaches the agent.
func toStatus(ctx context.Context, logger *slog.Logger, method string, err error) error {
	code, ok := codeOf[inventory.ErrorCode(err)]
	if !ok {
		code = codes.Internal
	}
	if code == codes.Internal {
		logger.ErrorContext(ctx, "agent call failed", "method", method, "err", err)
	}
	return status.Error(code, inventory.ErrorMessage(err))
}
