package gqlwire

import "github.com/heraldhq/herald/internal/apperr"

// The extensions.code values the router answers with, declared here once
// (subgraphs' own codes pass through unchanged). docs/router.md lists them
// with their HTTP statuses.
const (
	// Before the operation is understood.
	CodeParseFailed      = "GRAPHQL_PARSE_FAILED"
	CodeValidationFailed = "GRAPHQL_VALIDATION_FAILED"
	CodeBadUserInput     = string(apperr.BadUserInput)
	CodeRequestTooLarge  = "REQUEST_TOO_LARGE"
	CodeBatchTooLarge    = "BATCH_TOO_LARGE"

	// Limits (router/limits.go, router/cost.go).
	CodeQueryTooDeep          = "QUERY_TOO_DEEP"
	CodeQueryTooComplex       = "QUERY_TOO_COMPLEX"
	CodeQueryTooExpensive     = "QUERY_TOO_EXPENSIVE"
	CodeIntrospectionDisabled = "INTROSPECTION_DISABLED"
	CodeTimeout               = "TIMEOUT"

	// Automatic Persisted Queries, as Apollo clients expect them.
	CodePersistedQueryNotFound     = "PERSISTED_QUERY_NOT_FOUND"
	CodePersistedQueryNotSupported = "PERSISTED_QUERY_NOT_SUPPORTED"
	CodePersistedQueryHashMismatch = "PERSISTED_QUERY_HASH_MISMATCH"

	// Who calls (router/gate.go, router/authz.go).
	CodeUnauthenticated = string(apperr.Unauthenticated)
	CodeForbidden       = string(apperr.Forbidden)
	CodeRateLimited     = "RATE_LIMITED"

	// Running.
	CodeUnavailable = string(apperr.Unavailable)
	CodeInternal    = string(apperr.Internal)
	CodeTooSlow     = "SUBSCRIBER_TOO_SLOW" // a subscriber that does not read fast enough
)
