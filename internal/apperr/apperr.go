// Package apperr is Herald's one error type. Every error a client may see
// carries a Code, mapped once to the GraphQL extensions.code; anything else is
// an internal error, logged in full and shown to clients without details.
package apperr

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// Code is the machine-readable class of an error, used as extensions.code.
type Code string

const (
	BadUserInput Code = "BAD_USER_INPUT"
	NotFound     Code = "NOT_FOUND"
	Conflict     Code = "CONFLICT"
	// Unauthenticated: the caller did not prove who they are (no token, or
	// one the router refused).
	Unauthenticated Code = "UNAUTHENTICATED"
	// Forbidden: the caller is known but may not do this (not the owner,
	// or a scope is missing).
	Forbidden   Code = "FORBIDDEN"
	Unavailable Code = "UNAVAILABLE"
	Internal    Code = "INTERNAL"
)

// Error is an error with a code, a client-safe message and optionally the
// input field at fault.
type Error struct {
	Code    Code
	Message string
	Field   string
	Err     error
}

func (e *Error) Error() string {
	msg := string(e.Code) + ": " + e.Message
	if e.Field != "" {
		msg += " (field " + e.Field + ")"
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an error with a code and a message a client may read.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid reports bad input in the named field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: BadUserInput, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Wrap attaches a code and client-safe message to a cause.
func Wrap(err error, code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// CodeOf returns the code of the first *Error in err's chain; without one,
// Unavailable for an unreachable dependency (see Unreachable) and Internal
// for anything else.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if Unreachable(err) {
		return Unavailable
	}
	return Internal
}

// As returns the first *Error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Unreachable reports whether err says that a dependency (a database, a
// broker, another service) could not be reached or dropped the connection,
// rather than that the request itself was wrong. Such errors are
// UNAVAILABLE: the same request can succeed once the dependency is back, and
// clients retry it (with their idempotency key where the operation has one).
func Unreachable(err error) bool {
	if err == nil {
		return false
	}
	if e, ok := As(err); ok {
		return e.Code == Unavailable
	}
	var (
		opErr   *net.OpError
		dnsErr  *net.DNSError
		connErr *pgconn.ConnectError
		pgErr   *pgconn.PgError
	)
	switch {
	case errors.Is(err, driver.ErrBadConn),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.As(err, &opErr),
		errors.As(err, &dnsErr),
		errors.As(err, &connErr):
		return true
	case errors.As(err, &pgErr):
		// Class 08: connection exception; 57P01-57P03: the server is
		// shutting down, crashed or not accepting connections yet (a
		// restart); 53300: too many connections.
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" ||
			pgErr.Code == "57P03" || pgErr.Code == "53300"
	}
	// pgx marks errors that happened before anything reached the server
	// (a closed or broken connection) as safe to retry.
	return pgconn.SafeToRetry(err)
}
