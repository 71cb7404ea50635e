package federation

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/identity"
	"github.com/heraldhq/herald/internal/subgraphauth"
	"github.com/heraldhq/herald/router/auth/authtest"
)

// subgraphSecret is what the router (and services) prove themselves to the
// subgraphs with.
const subgraphSecret = "federation-test-secret-0123456789"

// The authorization matrix: every query, mutation and subscription of the
// graph against every kind of caller, through the router on the real
// subgraphs, each with the answer expected; every refusal also proves that
// nothing changed (the whole observable state, read by an operator, is the
// same before and after). docs/security.md has the same table in words.
func TestAuthorizationMatrix(t *testing.T) {
	g := startGraph(t)
	is := g.issuer
	other := authtest.NewIssuer(t, "https://other.federation.test", authtest.RS256)
	unknownKey, err := is.NewKey(authtest.RS256).Mint("alice", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tok := map[string]string{
		"anonymous": "",
		"alice":     is.Token("alice"),
		"bob":       is.Token("bob"),
		"operator":  is.Operator("ops"),
		"expired":   is.TokenFor("alice", -time.Hour),
		"foreign":   other.Token("alice"),
		"unknown":   unknownKey,
	}
	as := func(who string) graph { return g.as(tok[who]) }

	// Alice and Bob register themselves; Alice has a webhook; each has an
	// order, Alice a second one to cancel.
	register := func(who, email string) string {
		var r struct{ RegisterUser struct{ ID string } }
		as(who).must(t, `mutation($in: RegisterUserInput!){ registerUser(input: $in){ id } }`,
			map[string]any{"in": map[string]any{"name": who, "email": email}}, &r)
		if r.RegisterUser.ID != identity.UserID(who) {
			t.Fatalf("%s registered as %s, want the subject's id %s", who, r.RegisterUser.ID, identity.UserID(who))
		}
		return r.RegisterUser.ID
	}
	alice, bob := register("alice", "alice.authz@example.com"), register("bob", "bob.authz@example.com")
	var hook struct {
		UpdateUser struct{ WebhookSigningSecret *string }
	}
	as("alice").must(t, `mutation($id: ID!){ updateUser(id: $id, input: {webhook: {url: "https://hooks.example.com/alice"}}){ webhookSigningSecret } }`,
		map[string]any{"id": alice}, &hook)
	if hook.UpdateUser.WebhookSigningSecret == nil {
		t.Fatal("the owner was not shown the new webhook's signing secret")
	}
	order := func(who, userID string) string {
		var r struct{ CreateOrder struct{ ID string } }
		as(who).must(t, createOrderMutation, map[string]any{"in": orderIn(userID)}, &r)
		return r.CreateOrder.ID
	}
	aliceOrder, bobOrder, aliceSpare := order("alice", alice), order("bob", bob), order("alice", alice)

	// snapshot is everything a refused call could have changed.
	snapshot := func() string {
		r := as("operator").post(t, `query($a: ID!, $b: ID!, $o: ID!, $s: ID!){
			a: user(id: $a){ name email phone preferences { email sms webhook inApp locale } orders { id status } }
			b: user(id: $b){ name email phone preferences { email sms webhook inApp locale } orders { id status } }
			o: order(id: $o){ status } s: order(id: $s){ status }
			users(first: 100){ count } all: orders(first: 100){ edges { node { id userId status } } } }`,
			map[string]any{"a": alice, "b": bob, "o": aliceOrder, "s": aliceSpare})
		if len(r.Errors) > 0 {
			t.Fatalf("snapshot: %+v", r.Errors)
		}
		return string(r.Data)
	}

	type call struct {
		op, query string
		vars      map[string]any
		// who → expected: "ok", an extensions.code, or "401" (refused
		// before execution). check, when set, looks at an "ok" answer.
		want  map[string]string
		check func(t *testing.T, who string, data json.RawMessage)
	}
	bad := map[string]string{"expired": "401", "foreign": "401", "unknown": "401"}
	with := func(m map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range bad {
			out[k] = v
		}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	calls := []call{
		{op: "me", query: `{ me { id } }`, want: with(map[string]string{"anonymous": "UNAUTHENTICATED", "alice": "ok", "bob": "ok", "operator": "ok"}),
			check: func(t *testing.T, who string, d json.RawMessage) {
				want := map[string]string{"alice": alice, "bob": bob}[who]
				if (want == "" && !strings.Contains(string(d), `"me":null`)) || (want != "" && !strings.Contains(string(d), want)) {
					t.Errorf("me as %s = %s", who, d)
				}
			}},
		{op: "user", query: `query($id: ID!){ user(id: $id){ id email } }`, vars: map[string]any{"id": alice},
			want: with(map[string]string{"anonymous": "UNAUTHENTICATED", "alice": "ok", "bob": "FORBIDDEN", "operator": "ok"})},
		{op: "users", query: `{ users(first: 10){ count } }`,
			want: with(map[string]string{"anonymous": "UNAUTHENTICATED", "alice": "FORBIDDEN", "bob": "FORBIDDEN", "operator": "ok"})},
		{op: "notificationPolicy", query: `query($id: ID!){ notificationPolicy(userId: $id, category: ORDER_UPDATES){ status deliveries { channel address } } }`,
			vars: map[string]any{"id": alice},
			want: with(map[string]string{"anonymous": "UNAUTHENTICATED", "alice": "FORBIDDEN", "bob": "FORBIDDEN", "operator": "ok"})},
		{op: "order", query: `query($id: ID!){ order(id: $id){ id user { email } } }`, vars: map[string]any{"id": aliceOrder},
			want: with(map[string]string{"anonymous": "UNAUTHENTICATED", "alice": "ok", "bob": "FORBIDDEN", "operator": "ok"})},
		{op: "orders of a user", query: `query($u: ID){ orders(userId: $u){ edges { node { id } } } }`, vars: map[string]any{"u": alice},
			want: with(map[string]string{"anonymous": "UNAUTHENTICATED", "alice": "ok", "bob": "FORBIDDEN", "operator": "ok"})},
		{op: "orders", query: `{ orders(first: 100){ edges { node { id userId } } } }`,
			want: with(map[string]string{"anonymous": "UNAUTHENTICATED", "alice": "ok", "bob": "ok", "operator": "ok"}),
			check: func(t *testing.T, who string, d json.RawMessage) {
				s := string(d)
				switch who {
				case "alice":
					if !strings.Contains(s, aliceOrder) || strings.Contains(s, bobOrder) {
						t.Errorf("alice's orders: %s", s)
					}
				case "bob":
					if strings.Contains(s, aliceOrder) || !strings.Contains(s, bobOrder) {
						t.Errorf("bob's orders: %s", s)
					}
				case "operator":
					if !strings.Contains(s, aliceOrder) || !strings.Contains(s, bobOrder) {
						t.Errorf("the operator's orders: %s", s)
					}
				}
			}},
		{op: "registerUser again", query: `mutation { registerUser(input: {name: "Again", email: "again.authz@example.com"}){ id } }`,
			want: with(map[string]string{"anonymous": "UNAUTHENTICATED", "alice": "CONFLICT", "bob": "CONFLICT"})},
		{op: "registerUser for someone else", query: `mutation { registerUser(input: {name: "Carol", email: "carol.authz@example.com", subject: "carol"}){ id } }`,
			want: with(map[string]string{"anonymous": "UNAUTHENTICATED", "alice": "FORBIDDEN", "operator": "ok"})},
		{op: "updateNotificationPreferences", query: `mutation($id: ID!){ updateNotificationPreferences(userId: $id, input: {sms: false}){ id } }`,
			vars: map[string]any{"id": alice},
			want: with(map[string]string{"anonymous": "UNAUTHENTICATED", "bob": "FORBIDDEN", "alice": "ok", "operator": "ok"})},
		{op: "updateUser", query: `mutation($id: ID!){ updateUser(id: $id, input: {name: "Alice"}){ user { name } } }`,
			vars: map[string]any{"id": alice},
			want: with(map[string]string{"anonymous": "UNAUTHENTICATED", "bob": "FORBIDDEN", "alice": "ok", "operator": "ok"})},
		{op: "updateUser rotating the webhook secret", query: `mutation($id: ID!){ updateUser(id: $id, input: {webhook: {rotateSecret: true}}){ webhookSigningSecret } }`,
			vars: map[string]any{"id": alice},
			want: with(map[string]string{"anonymous": "UNAUTHENTICATED", "bob": "FORBIDDEN", "operator": "ok", "alice": "ok"}),
			check: func(t *testing.T, who string, d json.RawMessage) {
				shown := !strings.Contains(string(d), `"webhookSigningSecret":null`)
				if shown != (who == "alice") {
					t.Errorf("rotation as %s showed the secret: %v (%s); only its owner may see it", who, shown, d)
				}
			}},
		{op: "createOrder", query: createOrderMutation, vars: map[string]any{"in": orderIn(alice)},
			want: with(map[string]string{"anonymous": "UNAUTHENTICATED", "bob": "FORBIDDEN", "alice": "ok", "operator": "ok"})},
		{op: "cancelOrder", query: `mutation($id: ID!){ cancelOrder(id: $id){ status } }`, vars: map[string]any{"id": aliceSpare},
			want: with(map[string]string{"anonymous": "UNAUTHENTICATED", "bob": "FORBIDDEN", "alice": "ok"})},
		{op: "deleteUser", query: `mutation($id: ID!){ deleteUser(id: $id){ id } }`, vars: map[string]any{"id": bob},
			want: with(map[string]string{"anonymous": "UNAUTHENTICATED", "alice": "FORBIDDEN", "bob": "ok"})},
	}
	callers := []string{"expired", "foreign", "unknown", "anonymous", "bob", "alice", "operator"}
	for _, c := range calls {
		for _, who := range callers {
			want, ok := c.want[who]
			if !ok {
				continue
			}
			t.Run(c.op+"/"+who, func(t *testing.T) {
				before := snapshot()
				r := as(who).post(t, c.query, c.vars)
				switch want {
				case "401":
					if r.Status != http.StatusUnauthorized || len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "UNAUTHENTICATED" || len(r.Data) > 0 {
						t.Fatalf("HTTP %d %s %+v, want 401 UNAUTHENTICATED and no data", r.Status, r.Data, r.Errors)
					}
				case "ok":
					if r.Status != http.StatusOK || len(r.Errors) > 0 {
						t.Fatalf("HTTP %d %s %+v, want an answer", r.Status, r.Data, r.Errors)
					}
					if c.check != nil {
						c.check(t, who, r.Data)
					}
					return
				default:
					if r.Status != http.StatusOK || len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != want {
						t.Fatalf("HTTP %d %s %+v, want one %s error", r.Status, r.Data, r.Errors, want)
					}
				}
				if after := snapshot(); after != before {
					t.Fatalf("a refused call changed the graph:\nbefore %s\nafter  %s", before, after)
				}
			})
		}
	}

	t.Run("forged identity headers are ignored", func(t *testing.T) {
		for who, wantCode := range map[string]string{"anonymous": "UNAUTHENTICATED", "bob": "FORBIDDEN"} {
			forged := http.Header{}
			forged.Set(identity.HeaderSubject, "alice")
			forged.Set(identity.HeaderScopes, identity.OperatorScope)
			forged.Set(identity.HeaderService, identity.ServiceNotifier)
			forged.Set(subgraphauth.Header, subgraphSecret) // even with the secret itself
			r, err := g.as(tok[who]).client(g.url, forged).Post(context.Background(), `query($id: ID!){ user(id: $id){ email } }`, map[string]any{"id": alice})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != wantCode {
				t.Errorf("%s with forged headers: %+v, want %s", who, r.Errors, wantCode)
			}
		}
	})

	t.Run("subgraphs refuse callers without the router's secret", func(t *testing.T) {
		before := snapshot()
		for _, url := range []string{g.usersURL, g.ordersURL} {
			h := http.Header{}
			identity.Identity{Subject: "alice", Scopes: []string{identity.OperatorScope}}.SetHeader(h)
			r, err := g.as("").client(url, h).Post(context.Background(), `mutation { deleteUser(id: "`+alice+`"){ id } }`, nil)
			if err != nil && r.Status == 0 {
				t.Fatal(err)
			}
			if r.Status != http.StatusUnauthorized {
				t.Errorf("%s called directly with identity headers: HTTP %d, want 401", url, r.Status)
			}
		}
		if snapshot() != before {
			t.Fatal("a direct call changed the graph")
		}
	})

	t.Run("the notifier's service identity reads signing secrets and nothing else", func(t *testing.T) {
		direct := func(query string) response {
			h := http.Header{}
			h.Set(subgraphauth.Header, subgraphSecret)
			identity.Identity{Service: identity.ServiceNotifier}.SetHeader(h)
			r, err := g.as("").client(g.usersURL, h).Post(context.Background(), query, nil)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		r := direct(`{ notificationPolicy(userId: "` + alice + `", category: ORDER_UPDATES){ deliveries { channel signingSecret } } }`)
		if len(r.Errors) > 0 || !strings.Contains(string(r.Data), "whsec_") {
			t.Errorf("notifier's policy: %s %+v, want the signing secret", r.Data, r.Errors)
		}
		before := snapshot()
		r = direct(`mutation { updateUser(id: "` + alice + `", input: {name: "Mallory"}){ user { id } } }`)
		if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "FORBIDDEN" || snapshot() != before {
			t.Errorf("notifier changing a user: %+v", r.Errors)
		}
		// Through the router the field does not exist, for anyone.
		op := as("operator").post(t, `query($id: ID!){ notificationPolicy(userId: $id, category: ORDER_UPDATES){ deliveries { channel signingSecret } } }`,
			map[string]any{"id": alice})
		if len(op.Errors) != 1 || op.Errors[0].Extensions["code"] != "GRAPHQL_VALIDATION_FAILED" || strings.Contains(string(op.Data), "whsec_") {
			t.Errorf("operator asking for the signing secret: %s %+v, want a validation error", op.Data, op.Errors)
		}
	})

	t.Run("live status of another user is refused", func(t *testing.T) {
		for who, want := range map[string]string{"anonymous": "UNAUTHENTICATED", "bob": "FORBIDDEN"} {
			if got := firstSSE(t, g.as(tok[who]), map[string]any{"u": alice}); !strings.Contains(got, want) {
				t.Errorf("%s watching alice: %s, want %s", who, got, want)
			}
		}
		if got := firstSSE(t, g.as(tok["expired"]), map[string]any{"u": alice}); !strings.Contains(got, "401") {
			t.Errorf("expired token watching alice: %s, want 401", got)
		}
	})
}

const createOrderMutation = `mutation($in: CreateOrderInput!){ createOrder(input: $in){ id } }`

func orderIn(userID string) map[string]any {
	return map[string]any{"userId": userID, "currency": "EUR",
		"items": []map[string]any{{"sku": "TEA-1", "name": "Green tea", "quantity": 1, "unitPriceMinor": 450}}}
}

// firstSSE subscribes to notificationStatus(userId: $u) over SSE and
// returns the HTTP status when refused before streaming, else the first
// event's data (a refusal arrives as one event with errors).
func firstSSE(t *testing.T, g graph, vars map[string]any) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	body, _ := json.Marshal(map[string]any{"query": `subscription($u: ID){ notificationStatus(userId: $u){ orderId status } }`, "variables": vars})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, g.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	if g.token != nil {
		req.Header.Set("Authorization", "Bearer "+g.token())
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.Status
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			return d
		}
	}
	return "stream ended: " + ctx.Err().Error()
}
