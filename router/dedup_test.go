package router

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/identity"
	"github.com/wundergraph/graphql-go-tools/execution/graphql"
)

// whoamiSubgraph answers { whoami } with the Authorization header it
// received. It holds every such request until want of them have arrived at
// once, so the requests the test sends are in flight together, where the
// engine's request deduplication would merge them.
type whoamiSubgraph struct {
	srv     *httptest.Server
	want    int
	mu      sync.Mutex
	arrived int
	all     chan struct{}
}

const whoamiSDL = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@shareable"])
type Query { whoami: String }
`

func startWhoami(t *testing.T, want int) *whoamiSubgraph {
	s := &whoamiSubgraph{want: want, all: make(chan struct{})}
	s.srv = httptest.NewServer(s)
	t.Cleanup(s.srv.Close)
	return s
}

func (s *whoamiSubgraph) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	if strings.Contains(string(body), "_service") {
		_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"_service": map[string]any{"sdl": whoamiSDL}}})
		return
	}
	s.mu.Lock()
	s.arrived++
	if s.arrived == s.want {
		close(s.all)
	}
	s.mu.Unlock()
	// A router that wrongly merged the requests sends fewer than want: the
	// timer only keeps that failure from hanging the test.
	select {
	case <-s.all:
	case <-time.After(10 * time.Second):
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"whoami": r.Header.Get(identity.HeaderSubject)}})
}

// Identical queries in flight at the same time are deduplicated by the
// engine, but never across different callers: each client's answer is the
// one its own verified identity produced.
func TestDeduplicationKeepsClientsApart(t *testing.T) {
	who := startWhoami(t, 2)
	cfg := testConfig(Subgraph{Name: "who", URL: who.srv.URL + "/graphql"})
	tr := startRouter(t, cfg)
	tr.waitReady(t)

	clients := []string{"alice", "bob"}
	got := make([]httpResult, len(clients))
	var wg sync.WaitGroup
	for i, auth := range clients {
		wg.Go(func() {
			req, err := http.NewRequest(http.MethodPost, tr.url+"/graphql", strings.NewReader(`{"query":"{ whoami }"}`))
			if err != nil {
				t.Error(err)
				return
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+testIssuer.Token(auth))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			got[i] = httpResult{status: resp.StatusCode, body: string(b)}
		})
	}
	wg.Wait()
	for i, auth := range clients {
		if want := `{"data":{"whoami":"` + auth + `"}}`; got[i].body != want {
			t.Errorf("client %q got %d %s, want %s", auth, got[i].status, got[i].body, want)
		}
	}
}

// requestKeys: the engine's request id stays within arenaSizeBuckets
// whatever the query text, while id and variables hash together still tell
// apart operations and variables.
func TestRequestKeys(t *testing.T) {
	type keys struct{ id, vars uint64 }
	key := func(query, name, vars string) keys {
		id, vh := requestKeys(&graphql.Request{Query: query, OperationName: name}, []byte(vars))
		if id >= arenaSizeBuckets {
			t.Errorf("request id %d of %q is not below %d", id, query, arenaSizeBuckets)
		}
		return keys{id, vh}
	}
	base := key(`query Q($id: ID!) { user(id: $id) { name } }`, "", `{"id":"u1"}`)
	if again := key(`query Q($id: ID!) { user(id: $id) { name } }`, "", `{"id":"u1"}`); again != base {
		t.Error("the same request got other keys")
	}
	for _, other := range []keys{
		key(`query Q($id: ID!) { user(id: $id) { name } }`, "", `{"id":"u2"}`),
		key(`query Q($id: ID!) { user(id: $id) { email } }`, "", `{"id":"u1"}`),
		key(`query Q($id: ID!) { user(id: $id) { name } }`, "Q", `{"id":"u1"}`),
	} {
		if other == base {
			t.Error("another operation or other variables got the same keys")
		}
	}
}

// Identical queries arriving while an earlier one finishes: every one is
// answered, each with the same answer. (The engine's own deduplication
// panicked on a request that joined a flight as it finished; the router
// deduplicates itself, executor.resolveShared.)
func TestDeduplicationUnderConstantArrivals(t *testing.T) {
	tr := startRouter(t, testConfig(Subgraph{Name: "users", URL: newUsersFake(t).URL()}))
	tr.waitReady(t)
	const workers, each = 16, 100
	q := `{"query":"{ user(id: \"u1\") { name email } }"}`
	want := postJSON(t, tr.url+"/graphql", q)
	if want.status != http.StatusOK || strings.Contains(want.body, "errors") {
		t.Fatalf("first answer %d %s", want.status, want.body)
	}
	var wg sync.WaitGroup
	failures := make(chan string, workers)
	for range workers {
		wg.Go(func() {
			for range each {
				req, _ := http.NewRequest(http.MethodPost, tr.url+"/graphql", strings.NewReader(q))
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					failures <- err.Error()
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || string(b) != want.body {
					failures <- fmt.Sprintf("%d %s", resp.StatusCode, b)
					return
				}
			}
		})
	}
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}
}
