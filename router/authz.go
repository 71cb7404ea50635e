package router

import (
	"strings"

	nodev1 "github.com/wundergraph/cosmo/router/gen/proto/wg/cosmo/node/v1"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/resolve"

	"github.com/heraldhq/herald/internal/identity"
	"github.com/heraldhq/herald/router/internal/gqlwire"
)

// Authorization declared in the schema (@authenticated, @requiresScopes)
// arrives composed in the router configuration's field configurations. The
// planner marks those fields, and the engine asks fieldRules for one
// decision per protected field before any fetch: a denied root field is
// not fetched at all (for a mutation or subscription, nothing of it runs),
// and a denied field is answered null with an error at its path. The
// engine codes those errors UNAUTHORIZED_FIELD_OR_TYPE; the router
// rewrites them to UNAUTHENTICATED or FORBIDDEN from the reason
// (authzCode), so clients meet the same two codes as everywhere else.

// fieldRule is what one field requires.
type fieldRule struct {
	authenticated bool
	// anyOf lists alternatives; each alternative's scopes are all required.
	anyOf [][]string
}

// fieldRules maps "Type.field" to its rule.
type fieldRules map[resolve.GraphCoordinate]fieldRule

// Reasons the router gives for a denial; authzCode reads them back.
const (
	reasonUnauthenticated = identity.SignIn
	reasonMissingScope    = "a scope is missing: "
)

func newFieldRules(ec *nodev1.EngineConfiguration) fieldRules {
	rules := fieldRules{}
	for _, f := range ec.GetFieldConfigurations() {
		a := f.GetAuthorizationConfiguration()
		if a == nil || (!a.GetRequiresAuthentication() && len(a.GetRequiredOrScopes()) == 0) {
			continue
		}
		r := fieldRule{authenticated: a.GetRequiresAuthentication() || len(a.GetRequiredOrScopes()) > 0}
		for _, alt := range a.GetRequiredOrScopes() {
			r.anyOf = append(r.anyOf, alt.GetRequiredAndScopes())
		}
		rules[resolve.GraphCoordinate{TypeName: f.GetTypeName(), FieldName: f.GetFieldName()}] = r
	}
	return rules
}

// decide is the rule applied to a caller.
func (r fieldRule) decide(id identity.Identity) resolve.AuthorizationDecision {
	if r.authenticated && id.Subject == "" {
		return resolve.AuthorizationDecision{Reason: reasonUnauthenticated}
	}
	if len(r.anyOf) == 0 {
		return resolve.AuthorizationDecision{Allowed: true}
	}
	for _, all := range r.anyOf {
		ok := true
		for _, s := range all {
			if !id.HasScope(s) {
				ok = false
				break
			}
		}
		if ok {
			return resolve.AuthorizationDecision{Allowed: true}
		}
	}
	alts := make([]string, len(r.anyOf))
	for i, all := range r.anyOf {
		alts[i] = strings.Join(all, " and ")
	}
	return resolve.AuthorizationDecision{Reason: reasonMissingScope + strings.Join(alts, " or ")}
}

// authorizer decides for one request's caller.
type authorizer struct {
	rules fieldRules
	id    identity.Identity
}

// AuthorizeFields answers the engine's one batch call per operation.
func (a authorizer) AuthorizeFields(_ *resolve.Context, coords []resolve.GraphCoordinate) ([]resolve.AuthorizationDecision, error) {
	out := make([]resolve.AuthorizationDecision, len(coords))
	for i, c := range coords {
		r, ok := a.rules[c]
		if !ok {
			// The planner only asks about fields with a rule; one it asks
			// about that has none (a rule removed by a reload mid-plan) is
			// allowed, as the schema now says.
			out[i] = resolve.AuthorizationDecision{Allowed: true}
			continue
		}
		out[i] = r.decide(a.id)
	}
	return out, nil
}

// authzCode is the code for an engine authorization error's message.
func authzCode(msg []byte) string {
	if strings.Contains(string(msg), reasonUnauthenticated) {
		return gqlwire.CodeUnauthenticated
	}
	return gqlwire.CodeForbidden
}
