package gqlserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/netguard"
	"github.com/heraldhq/herald/internal/subgraphauth"
)

// Defaults of a subgraph's own limits. The router has its own; a subgraph
// enforces these too because it may be called directly (its port is
// internal, but "internal" is a deployment promise, not a check).
const (
	DefaultMaxBodyBytes = 1 << 20 // 1 MiB: a createOrder with 100 items is ~20 KiB
	DefaultMaxDepth     = 15      // the standard introspection query needs 13
	// DefaultMaxTokens bounds the lexer, before any depth is known.
	DefaultMaxTokens = 20000
)

// InsecureEnvVar lets a subgraph listen beyond loopback without a
// subgraph secret.
const InsecureEnvVar = "HERALD_SUBGRAPH_INSECURE"

// Edge is how a subgraph meets its callers: its request limits, and whether
// it may run open on a non-loopback address.
type Edge struct {
	// Insecure allows listening on a non-loopback address without
	// HERALD_SUBGRAPH_SECRET (a network that only the router can reach).
	Insecure bool
	// MaxBodyBytes bounds a request body (0: DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// MaxDepth bounds field nesting of an operation (0: DefaultMaxDepth).
	MaxDepth int
}

// LoadEdge declares and reads HERALD_SUBGRAPH_INSECURE,
// HERALD_SUBGRAPH_MAX_BODY_BYTES and HERALD_SUBGRAPH_MAX_DEPTH.
func LoadEdge(v *config.Vars) Edge {
	e := Edge{
		Insecure: v.Bool(InsecureEnvVar, false,
			"allow listening on a non-loopback address without "+subgraphauth.EnvVar+" (only on a network that only the router can reach)"),
		MaxBodyBytes: int64(v.Int("HERALD_SUBGRAPH_MAX_BODY_BYTES", DefaultMaxBodyBytes, "largest request body the subgraph reads (larger: HTTP 413)")),
		MaxDepth:     v.Int("HERALD_SUBGRAPH_MAX_DEPTH", DefaultMaxDepth, "deepest field nesting of an operation the subgraph executes"),
	}
	v.Check(e.MaxBodyBytes > 0, "HERALD_SUBGRAPH_MAX_BODY_BYTES: must be positive")
	v.Check(e.MaxDepth > 0, "HERALD_SUBGRAPH_MAX_DEPTH: must be positive")
	return e
}

func (e Edge) maxBody() int64 {
	if e.MaxBodyBytes <= 0 {
		return DefaultMaxBodyBytes
	}
	return e.MaxBodyBytes
}

func (e Edge) maxDepth() int {
	if e.MaxDepth <= 0 {
		return DefaultMaxDepth
	}
	return e.MaxDepth
}

// CheckListen refuses a listen address beyond loopback ("", 0.0.0.0, ::,
// an interface's address, a host name other than localhost) when no
// subgraph secret is set, unless e.Insecure: anyone reaching the port could
// then call the subgraph directly, bypassing the router's authentication,
// and read fields the router hides (@inaccessible), such as the webhook
// signing secret.
func CheckListen(addr, secret string, e Edge) error {
	if secret != "" || e.Insecure {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if host != "" && netguard.LoopbackHost(host) {
		return nil
	}
	return fmt.Errorf("refusing to listen on %q without %s: this address is reachable from other machines, "+
		"which could call the subgraph directly, bypassing the router's authentication; set %s (the same value on the router), "+
		"listen on 127.0.0.1, or set %s=true if only the router can reach this network",
		addr, subgraphauth.EnvVar, subgraphauth.EnvVar, InsecureEnvVar)
}

type edgeKey struct{}

var tooLarge = []byte(`{"errors":[{"message":"request body too large","extensions":{"code":"BAD_REQUEST"}}]}`)

// Limit serves next with e's limits: bodies above MaxBodyBytes are refused
// (413 when Content-Length says so, a GraphQL error when a chunked body
// runs over), and the depth limit is passed on to the executor (see New).
func Limit(e Edge, next http.Handler) http.Handler {
	limit := e.maxBody()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.Header().Set("Content-Length", strconv.Itoa(len(tooLarge)))
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			_, _ = w.Write(tooLarge)
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), edgeKey{}, e)))
	})
}

// depthLimit refuses operations nested deeper than the limit Limit put in
// the context (DefaultMaxDepth without one), after parsing and validation
// and before any resolver runs.
type depthLimit struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = depthLimit{}

func (depthLimit) ExtensionName() string                   { return "HeraldDepthLimit" }
func (depthLimit) Validate(graphql.ExecutableSchema) error { return nil }

func (depthLimit) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	limit := DefaultMaxDepth
	if e, ok := ctx.Value(edgeKey{}).(Edge); ok {
		limit = e.maxDepth()
	}
	if oc.Operation == nil {
		return nil
	}
	if d := depth(oc.Operation.SelectionSet, 0, limit, map[string]bool{}); d > limit {
		err := gqlerror.Errorf("operation is nested deeper than %d levels", limit)
		err.Extensions = map[string]any{"code": "QUERY_TOO_DEEP"}
		return err
	}
	return nil
}

// depth returns the field depth of set below level, stopping once it
// exceeds max. Fragments count where they are spread; inline fragments and
// spreads add no level themselves.
func depth(set ast.SelectionSet, level, limit int, spreading map[string]bool) int {
	deepest := level
	for _, s := range set {
		var d int
		switch s := s.(type) {
		case *ast.Field:
			d = level + 1
			if len(s.SelectionSet) > 0 {
				d = depth(s.SelectionSet, level+1, limit, spreading)
			}
		case *ast.InlineFragment:
			d = depth(s.SelectionSet, level, limit, spreading)
		case *ast.FragmentSpread:
			if s.Definition == nil || spreading[s.Name] {
				continue // validation refuses cycles; never loop on one
			}
			spreading[s.Name] = true
			d = depth(s.Definition.SelectionSet, level, limit, spreading)
			delete(spreading, s.Name)
		}
		deepest = max(deepest, d)
		if deepest > limit {
			return deepest
		}
	}
	return deepest
}
