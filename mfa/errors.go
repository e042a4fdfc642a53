package mfa

import (
	"errors"
	"fmt"
)

// Code is a stable error class that transports expose (GraphQL's
// extensions.code). SPAs rely on these values.
type Code string

// Error codes.
const (
	CodeBadUserInput    Code = "BAD_USER_INPUT"
	CodeUnauthenticated Code = "UNAUTHENTICATED"
	CodeForbidden       Code = "FORBIDDEN"
	CodeNotFound        Code = "NOT_FOUND"
	CodeConflict        Code = "CONFLICT"
	CodeRateLimited     Code = "RATE_LIMITED"
	CodeUnavailable     Code = "UNAVAILABLE"
	CodeInternal        Code = "INTERNAL"
)

// Error is a failure meant for the caller: its Message is safe to show and
// leaks nothing internal. Field names the offending input field, if any.
type Error struct {
	Code    Code
	Message string
	Field   string
	// Reason is a finer, stable machine-readable reason (e.g.
	// INVALID_CREDENTIALS) where the code alone is not enough.
	Reason string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

func newError(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func invalidInput(field, format string, args ...any) *Error {
	return &Error{Code: CodeBadUserInput, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Errors a Store returns; Service maps them to *Error where the caller should
// see them.
var (
	// ErrNotFound: no row matches.
	ErrNotFound = errors.New("mfa: not found")
	// ErrDuplicate: a unique constraint refused the write.
	ErrDuplicate = errors.New("mfa: duplicate")
	// ErrStale: a compare-and-swap write found the row changed or gone.
	ErrStale = errors.New("mfa: stale write")
	// ErrUnavailable: the database (or another dependency) cannot be
	// reached or refused the connection; the same call may succeed later.
	// Stores wrap connection-level failures with it; transports answer
	// UNAVAILABLE.
	ErrUnavailable = errors.New("mfa: a dependency is unavailable")
)

var (
	errUnauthenticated   = &Error{Code: CodeUnauthenticated, Message: "authentication required"}
	errInvalidCredential = &Error{Code: CodeUnauthenticated, Reason: "INVALID_CREDENTIALS", Message: "invalid organization, username or password"}
	errForbidden         = &Error{Code: CodeForbidden, Message: "you are not allowed to do this"}
)

// notFound maps a store's ErrNotFound to a caller-facing NOT_FOUND error and
// passes other errors through.
func notFound(err error, what string) error {
	if errors.Is(err, ErrNotFound) {
		return newError(CodeNotFound, "%s not found", what)
	}
	return err
}
