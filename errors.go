// Package cic holds the vocabulary every feature shares: error kinds and
// the roles a user may hold. It imports no feature package, so every
// feature may import it.
package cic

import (
	"errors"
	"fmt"
)

// Kind classifies an error for the edge: web/ maps each kind to one HTTP
// status in one place, so features never think in status codes.
type Kind string

const (
	EINVALID      Kind = "invalid"
	ENOTFOUND     Kind = "not_found"
	ECONFLICT     Kind = "conflict"
	EUNAUTHORIZED Kind = "unauthorized"
	EFORBIDDEN    Kind = "forbidden"
	ERATELIMIT    Kind = "rate_limited"
	EUNAVAILABLE  Kind = "unavailable"
	EINTERNAL     Kind = "internal"
)

// Error is a domain error safe to show to a client: Code is a stable,
// machine-readable reason (e.g. "slug_taken") and Message is for people.
type Error struct {
	Kind    Kind
	Code    string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf returns an *Error whose code is the kind itself.
func Errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: string(kind), Message: fmt.Sprintf(format, args...)}
}

// Codef returns an *Error with a specific reason code.
func Codef(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorKind returns the kind of the first *Error in err's chain, or
// EINTERNAL when there is none: an unclassified error is our fault.
func ErrorKind(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return EINTERNAL
}

// AsError returns the first *Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
