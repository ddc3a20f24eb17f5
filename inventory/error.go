package inventory

import (
	"errors"
	"fmt"
)

// Error codes. Codes are append-only: never reorder or reuse one.
const (
	ECONFLICT       = "conflict"        // the change clashes with what is stored
	EINTERNAL       = "internal"        // a fault on our side
	EINVALID        = "invalid"         // the input is malformed
	ENOTFOUND       = "not_found"       // no such record
	EUNAUTHORIZED   = "unauthorized"    // the caller is not who they need to be
	EFORBIDDEN      = "forbidden"       // the caller may not do this
	EEXPIRED        = "expired"         // a token or certificate is past its time
	EEXHAUSTED      = "exhausted"       // a token has no uses left
	EREVOKED        = "revoked"         // a token or certificate was revoked
	EREPORTREQUIRED = "report_required" // a check-in hash is unknown; send the full report
)

// Error is a domain error: a code for programs and a message for people.
type Error struct {
	Code    string
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("inventory error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of a domain error, EINTERNAL for any other
// non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of a domain error, or "Internal error."
// for any other non-nil error, so that internal details never reach a user.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}
