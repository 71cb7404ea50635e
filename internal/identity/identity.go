// Package identity carries who is calling from the router to the subgraphs
// and decides ownership where the data lives.
//
// The router verifies the caller's token and sends the verified subject and
// scopes in headers; a subgraph trusts those headers only on requests that
// carried the router's shared secret (internal/subgraphauth runs before
// Middleware), and the router strips any copies a client sends. Services
// that call a subgraph directly (the notifier) name themselves with
// HeaderService instead of a subject.
package identity

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/heraldhq/herald/internal/apperr"
)

// Headers from the router (and from services) to subgraphs.
const (
	HeaderSubject = "X-Herald-Subject"
	HeaderScopes  = "X-Herald-Scopes" // space-separated, as in OAuth 2.0
	HeaderService = "X-Herald-Service"
)

// OperatorScope is the scope that lets a caller act on anyone's data. The
// router maps the identity provider's operator scope
// (HERALD_AUTH_OPERATOR_SCOPE) onto it, so subgraphs and the schema's
// @requiresScopes speak one name.
const OperatorScope = "herald:admin"

// ServiceNotifier is the notifier's service identity: the only caller that
// may read webhook signing secrets.
const ServiceNotifier = "notifier"

// Identity is a verified caller. The zero value is anonymous.
type Identity struct {
	// Subject is the token's sub claim; empty when anonymous or a service.
	Subject string
	// Scopes are the token's scopes, operator scope already mapped.
	Scopes []string
	// Service names an internal service calling with its own identity.
	Service string
}

// Anonymous tells a caller that proved nothing.
func (id Identity) Anonymous() bool { return id.Subject == "" && id.Service == "" }

// HasScope tells whether the caller holds scope s.
func (id Identity) HasScope(s string) bool { return slices.Contains(id.Scopes, s) }

// Operator tells a caller that may act on anyone's data.
func (id Identity) Operator() bool { return id.HasScope(OperatorScope) }

// IsService tells whether the caller is the named internal service.
func (id Identity) IsService(name string) bool { return id.Service != "" && id.Service == name }

// SignIn is what an anonymous caller is told where a signed-in one is needed.
const SignIn = "sign in first: this needs a bearer token"

// ErrSignIn refuses an anonymous caller (UNAUTHENTICATED).
func ErrSignIn() error { return apperr.New(apperr.Unauthenticated, SignIn) }

// RequireUser refuses anonymous callers with UNAUTHENTICATED and services
// with FORBIDDEN: what follows acts for a person.
func (id Identity) RequireUser() error {
	switch {
	case id.Subject != "":
		return nil
	case id.Service != "":
		return apperr.New(apperr.Forbidden, "a service identity cannot do this")
	default:
		return ErrSignIn()
	}
}

// FromHeader reads an identity from request headers. Only call it for
// requests that proved they come from the router or a service.
func FromHeader(h http.Header) Identity {
	id := Identity{Subject: strings.TrimSpace(h.Get(HeaderSubject)), Service: strings.TrimSpace(h.Get(HeaderService))}
	if s := h.Get(HeaderScopes); s != "" {
		id.Scopes = strings.Fields(s)
	}
	return id
}

// Strip removes every identity header: what a client sent is never passed on.
func Strip(h http.Header) {
	h.Del(HeaderSubject)
	h.Del(HeaderScopes)
	h.Del(HeaderService)
}

// SetHeader replaces the identity headers in h with id's.
func (id Identity) SetHeader(h http.Header) {
	Strip(h)
	if id.Subject != "" {
		h.Set(HeaderSubject, id.Subject)
	}
	if len(id.Scopes) > 0 {
		h.Set(HeaderScopes, strings.Join(id.Scopes, " "))
	}
	if id.Service != "" {
		h.Set(HeaderService, id.Service)
	}
}

type ctxKey struct{}

// With returns ctx carrying id.
func With(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// From returns the identity in ctx; anonymous when there is none.
func From(ctx context.Context) Identity {
	id, _ := ctx.Value(ctxKey{}).(Identity)
	return id
}

// Middleware puts the identity headers of each request into its context.
// It must run behind the check of the router's secret (subgraphauth.Require).
func Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(With(r.Context(), FromHeader(r.Header))))
	})
}

// Transport sends an identity on every request through base (nil:
// http.DefaultTransport): the fixed one when service is set (a service
// calling with its own identity), otherwise the one in the request's
// context (a subgraph passing its caller on).
func Transport(service string, base http.RoundTripper) http.RoundTripper {
	return HeaderTransport(base, func(r *http.Request) {
		if service != "" {
			Identity{Service: service}.SetHeader(r.Header)
		} else {
			From(r.Context()).SetHeader(r.Header)
		}
	})
}

// HeaderTransport sends every request through base (nil:
// http.DefaultTransport) with the headers set writes on a copy of it: the
// caller's request is left as it was, as http.RoundTripper requires.
func HeaderTransport(base http.RoundTripper, set func(r *http.Request)) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return headerTransport{set: set, base: base}
}

type headerTransport struct {
	set  func(r *http.Request)
	base http.RoundTripper
}

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	t.set(r)
	return t.base.RoundTrip(r)
}

// userNamespace makes the ids of users bound to a subject: a fixed, random
// UUID namespace, never to change (ids derived from it are stored).
var userNamespace = uuid.MustParse("5f0c7a6e-2b1d-4d4e-9a57-0c6f2f3e8b41")

// UserID is the id of the user bound to subject: a name-based UUID (RFC
// 9562 version 5), so every service can tell who owns a user, an order or
// a status event from ids it already has, without a lookup. One subject has
// at most one user. Subjects are unique per issuer: Herald trusts one.
func UserID(subject string) string {
	return uuid.NewSHA1(userNamespace, []byte(subject)).String()
}

// OwnsUser tells whether the caller may act for the user with userID: an
// operator always, a user for their own.
func (id Identity) OwnsUser(userID string) bool {
	return id.Operator() || (id.Subject != "" && UserID(id.Subject) == userID)
}

// RequireUserOwner refuses a caller that may not act for userID.
func (id Identity) RequireUserOwner(userID string) error {
	if id.OwnsUser(userID) {
		return nil
	}
	if id.Anonymous() {
		return ErrSignIn()
	}
	return apperr.New(apperr.Forbidden, "this belongs to another user")
}
