package router

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/identity"
	"github.com/heraldhq/herald/router/auth/authtest"
)

// postAs sends query with the Authorization header auth ("" sends none).
func postAs(t *testing.T, url, auth, query string) httpResult {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/graphql", strings.NewReader(query))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := plainClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return httpResult{resp.StatusCode, resp.Header, string(b)}
}

// errorCodes lists the extensions.code of each error in body.
func errorCodes(t *testing.T, body string) []string {
	t.Helper()
	var r struct {
		Errors []struct {
			Extensions struct{ Code string } `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("%v in %s", err, body)
	}
	var out []string
	for _, e := range r.Errors {
		out = append(out, e.Extensions.Code)
	}
	return out
}

// A token the router refuses is answered 401 UNAUTHENTICATED before
// anything else: no subgraph hears of the request.
func TestRefusedTokensReachNoSubgraph(t *testing.T) {
	users := recordHeaders(t, newUsersFake(t))
	tr := startRouter(t, testConfig(Subgraph{Name: "users", URL: users.URL()}))
	tr.waitReady(t)
	other := authtest.NewIssuer(t, "https://other.example.test", authtest.Ed25519)
	unknown, err := testIssuer.NewKey(authtest.Ed25519).Mint("alice", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	query := `{"query":"{ user(id: \"u1\") { name } }"}`
	for name, auth := range map[string]string{
		"expired":               "Bearer " + testIssuer.TokenFor("alice", -time.Hour),
		"another issuer":        "Bearer " + other.Token("alice"),
		"unknown key":           "Bearer " + unknown,
		"not a token":           "Bearer abc",
		"not a bearer":          "Basic YWxpY2U6c2VjcmV0",
		"mutation with expired": "Bearer " + testIssuer.TokenFor("alice", -time.Minute),
	} {
		t.Run(name, func(t *testing.T) {
			r := postAs(t, tr.url, auth, query)
			if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") == "" ||
				strings.Join(errorCodes(t, r.body), ",") != "UNAUTHENTICATED" || strings.Contains(r.body, `"data"`) {
				t.Fatalf("%d %v %s", r.status, r.header, r.body)
			}
		})
	}
	if f := users.fetches("user(id:"); len(f) != 0 {
		t.Fatalf("refused requests reached the subgraph %d times", len(f))
	}
}

// @authenticated and @requiresScopes are decided before any fetch: a denied
// root field is not fetched and answers null with an error at its path
// (UNAUTHENTICATED anonymous, FORBIDDEN without the scope), and the rest
// of the operation is served. Client-sent identity headers are ignored.
func TestSchemaRulesBeforeFetch(t *testing.T) {
	fake := newUsersFake(t)
	fake.root["users"] = one(map[string]any{"count": 0})
	users := recordHeaders(t, fake)
	tr := startRouter(t, testConfig(Subgraph{Name: "users", URL: users.URL()}))
	tr.waitReady(t)
	alice := "Bearer " + testIssuer.Token("alice")
	op := "Bearer " + testIssuer.Operator("ops")

	type want struct {
		codes   string
		fetches int // of users(…)
	}
	cases := []struct {
		name, auth, query string
		forged            bool
		want              want
	}{
		{"anonymous", "", `{"query":"{ users(first: 1) { count } __typename }"}`, false, want{"UNAUTHENTICATED", 0}},
		{"anonymous claiming an operator", "", `{"query":"{ users(first: 1) { count } }"}`, true, want{"UNAUTHENTICATED", 0}},
		{"user without the scope", alice, `{"query":"{ users(first: 1) { count } }"}`, false, want{"FORBIDDEN", 0}},
		{"user claiming the scope in a header", alice, `{"query":"{ users(first: 1) { count } }"}`, true, want{"FORBIDDEN", 0}},
		{"anonymous mutation", "", `{"query":"mutation { deleteUser(id: \"u1\") { id } }"}`, false, want{"UNAUTHENTICATED", 0}},
		{"operator", op, `{"query":"{ users(first: 1) { count } }"}`, false, want{"", 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(users.fetches("users(")) + len(users.fetches("deleteUser"))
			req, _ := http.NewRequest(http.MethodPost, tr.url+"/graphql", strings.NewReader(tc.query))
			req.Header.Set("Content-Type", "application/json")
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			if tc.forged {
				req.Header.Set(identity.HeaderSubject, "ops")
				req.Header.Set(identity.HeaderScopes, identity.OperatorScope)
			}
			resp, err := plainClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			body := string(raw)
			if resp.StatusCode != http.StatusOK || strings.Join(errorCodes(t, body), ",") != tc.want.codes {
				t.Fatalf("%d %s, want codes %q", resp.StatusCode, body, tc.want.codes)
			}
			if tc.want.codes != "" && !strings.Contains(body, `"path":[`) {
				t.Errorf("error without a path: %s", body)
			}
			after := len(users.fetches("users(")) + len(users.fetches("deleteUser"))
			if after-before != tc.want.fetches {
				t.Errorf("subgraph fetched %d times, want %d", after-before, tc.want.fetches)
			}
		})
	}
}

// Each caller has a bucket: over it, 429 RATE_LIMITED with Retry-After;
// other callers are not affected.
func TestRateLimitPerCaller(t *testing.T) {
	cfg := testConfig(Subgraph{Name: "users", URL: newUsersFake(t).URL()})
	cfg.RateLimit = RateLimit{PerSecond: 0.01, Burst: 2}
	tr := startRouter(t, cfg)
	tr.waitReady(t)
	alice, bob := "Bearer "+testIssuer.Token("alice"), "Bearer "+testIssuer.Token("bob")
	q := `{"query":"{ __typename }"}`
	for i := range 2 {
		if r := postAs(t, tr.url, alice, q); r.status != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, r.status, r.body)
		}
	}
	r := postAs(t, tr.url, alice, q)
	retry, _ := strconv.Atoi(r.header.Get("Retry-After"))
	if r.status != http.StatusTooManyRequests || retry < 1 || strings.Join(errorCodes(t, r.body), ",") != "RATE_LIMITED" {
		t.Fatalf("over the limit: %d Retry-After %q %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	if r := postAs(t, tr.url, bob, q); r.status != http.StatusOK {
		t.Fatalf("another caller: %d %s", r.status, r.body)
	}
	// Anonymous callers share their address's bucket.
	for range 2 {
		postAs(t, tr.url, "", q)
	}
	if r := postAs(t, tr.url, "", q); r.status != http.StatusTooManyRequests {
		t.Fatalf("anonymous over the limit: %d %s", r.status, r.body)
	}
}

// Live status is private: a user's subscription without a filter receives
// only their own events, one naming another user is refused with
// FORBIDDEN; an operator may watch anyone. Over SSE and graphql-transport-ws
// (token in connection_init); a bad token in connection_init closes the
// connection with 4403.
func TestLiveStatusIsPrivate(t *testing.T) {
	broker := subscriptionBackends[1].open(t)
	tr, srv, topic := startStatusRouter(t, broker, Subgraph{Name: "users", URL: newUsersFake(t).URL()},
		Subgraph{Name: "orders", URL: newOrderEntitiesFake(t).URL()})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	aliceID, bobID := identity.UserID("alice"), identity.UserID("bob")
	alice := testIssuer.Token("alice")
	ws, ack := dialWSAs(t, ctx, tr.url, `{"Authorization":"Bearer `+alice+`"}`)
	if ack.Type != "connection_ack" {
		t.Fatalf("connection_init with alice's token: %+v", ack)
	}
	go ws.readLoop()
	mine := ws.subscribe("mine", statusQuery, nil)
	theirs := ws.subscribe("theirs", statusQuery, map[string]any{"userId": bobID})
	sseMine := sseSubscribeAs(t, ctx, alice, http.MethodPost, tr.url, statusQuery, map[string]any{"userId": aliceID})
	opAll := sseSubscribeAs(t, ctx, testIssuer.Operator("ops"), http.MethodPost, tr.url, statusQuery, nil)

	select {
	case m := <-theirs:
		if m.Type != "error" || !strings.Contains(string(m.Payload), "FORBIDDEN") {
			if m.Type == "next" && strings.Contains(string(m.Payload), "FORBIDDEN") {
				break // the refusal as a result with errors
			}
			t.Fatalf("subscribing to another user's status: %s %s", m.Type, m.Payload)
		}
	case <-ctx.Done():
		t.Fatal("no answer to a subscription of another user's status")
	}
	waitWatchers(t, srv, 3) // alice's over WS and over SSE, and the operator's

	pub, err := broker.Publisher()
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	evBob := statusEvent(1, "o3", bobID, events.ChannelEmail, events.StatusPending, 0, "", nil)
	evAlice := statusEvent(2, "o1", aliceID, events.ChannelEmail, events.StatusPending, 0, "", nil)
	evAlice2 := statusEvent(3, "o1", aliceID, events.ChannelEmail, events.StatusSent, 1, "", nil)
	publishStatuses(t, ctx, pub, topic, evBob, evAlice, evAlice2)

	// Events of one order arrive in order, and bob's came first: had it
	// leaked, it would be among what alice receives before her own.
	assertExact(t, "alice over ws", collect(t, "ws mine", mine, 2), expect(evAlice, evAlice2))
	assertExact(t, "alice over SSE", collect(t, "sse mine", sseMine, 2), expect(evAlice, evAlice2))
	assertPerOrder(t, "operator", collect(t, "sse op", opAll, 3), expect(evBob, evAlice, evAlice2))

	if _, ack := dialWSAs(t, ctx, tr.url, `{"Authorization":"Bearer not-a-token"}`); ack.Type != "closed" || !strings.Contains(string(ack.Payload), "4403") {
		t.Fatalf("connection_init with a bad token: %+v, want the connection closed with 4403", ack)
	}
}

// A subscription lives no longer than its token: at expiry the client is
// told UNAUTHENTICATED and the subscription ends (SSE: then complete; WS:
// an error for the operation, then the connection closes).
func TestSubscriptionEndsWhenTokenExpires(t *testing.T) {
	broker := subscriptionBackends[1].open(t)
	tr, _, _ := startStatusRouter(t, broker, Subgraph{Name: "orders", URL: newOrderEntitiesFake(t).URL()})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// Valid for a few seconds (the router allows a second of skew).
	short := testIssuer.TokenFor("alice", 3*time.Second)
	sse := sseSubscribeAs(t, ctx, short, http.MethodPost, tr.url, statusQuery, nil)
	ws, ack := dialWSAs(t, ctx, tr.url, `{"Authorization":"Bearer `+short+`"}`)
	if ack.Type != "connection_ack" {
		t.Fatalf("connection_init: %+v", ack)
	}
	go ws.readLoop()
	sub := ws.subscribe("s", statusQuery, nil)

	select {
	case ev := <-sse:
		if ev.event != "next" || !strings.Contains(ev.data, "UNAUTHENTICATED") || !strings.Contains(ev.data, "expired") {
			t.Fatalf("SSE at expiry: %q %s", ev.event, ev.data)
		}
		if ev := <-sse; ev.event != "complete" {
			t.Fatalf("SSE after the expiry error: %q %s, want complete", ev.event, ev.data)
		}
	case <-ctx.Done():
		t.Fatal("SSE subscription outlived its token")
	}
	select {
	case m := <-sub:
		if m.Type != "error" || !strings.Contains(string(m.Payload), "UNAUTHENTICATED") {
			t.Fatalf("WS at expiry: %s %s", m.Type, m.Payload)
		}
	case <-ctx.Done():
		t.Fatal("WS subscription outlived its token")
	}
}

// The identity provider rotates its key while requests flow: tokens of the
// old key keep working while it is published, tokens of the new key work
// from the first key set fetch their key id causes, and none fails after
// that.
func TestJWKSRotationWhileRequestsFlow(t *testing.T) {
	is := authtest.NewIssuer(t, "https://rotating.example.test", authtest.ES256)
	cfg := testConfig(Subgraph{Name: "users", URL: newUsersFake(t).URL()})
	cfg.Auth = is.Config()
	tr := startRouter(t, cfg)
	tr.waitReady(t)
	q := `{"query":"{ user(id: \"u1\") { name } }"}`
	oldTok := "Bearer " + is.Token("alice")

	ctx, cancel := context.WithCancel(context.Background())
	failures := make(chan string, 64)
	var wg sync.WaitGroup
	for range 4 { // old-key clients, through the whole rotation
		wg.Go(func() {
			for ctx.Err() == nil {
				if r := postAs(t, tr.url, oldTok, q); r.status != http.StatusOK || strings.Contains(r.body, "errors") {
					failures <- r.body
					return
				}
			}
		})
	}
	is.Rotate(authtest.Ed25519, true) // new key signs; the old one stays published
	newTok := "Bearer " + is.Token("alice")
	deadline := time.Now().Add(60 * time.Second)
	accepted := 0
	for accepted < 50 {
		r := postAs(t, tr.url, newTok, q)
		switch {
		case r.status == http.StatusOK && !strings.Contains(r.body, "errors"):
			accepted++
		case accepted > 0:
			t.Fatalf("new-key token refused after it was accepted: %d %s", r.status, r.body)
		case time.Now().After(deadline):
			t.Fatalf("new-key token still refused after 60s: %d %s", r.status, r.body)
		default:
			time.Sleep(20 * time.Millisecond) // before the key set fetch: refused, try again
		}
	}
	cancel()
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Errorf("an old-key request failed during the rotation: %s", f)
	}
}

// Refused tokens count against the client address: once its bucket is
// empty, the next token is answered 429 without being verified.
func TestRefusedTokensAreRateLimited(t *testing.T) {
	cfg := testConfig(Subgraph{Name: "users", URL: newUsersFake(t).URL()})
	cfg.RateLimit = RateLimit{PerSecond: 0.01, Burst: 2}
	tr := startRouter(t, cfg)
	tr.waitReady(t)
	q := `{"query":"{ __typename }"}`
	for i, want := range []int{http.StatusUnauthorized, http.StatusUnauthorized, http.StatusTooManyRequests} {
		if r := postAs(t, tr.url, "Bearer made.up.token", q); r.status != want {
			t.Fatalf("bad token %d: %d %s, want %d", i, r.status, r.body, want)
		}
	}
}
