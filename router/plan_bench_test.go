package router

// Go benchmarks of the router's per-request work on the standard federated
// workload of bench/router (accounts, products, inventory, reviews; the
// typical and deep queries):
//
//	go test -bench . -benchmem -run '^$' ./router/
//
// Subgraph answers are recorded once from the real gqlgen subgraphs and then
// replayed by an http.RoundTripper, so allocations per op are the router's
// and the engine's, not a subgraph's or the network stack's (the replay
// transport itself allocates about 3 objects per subgraph fetch). Nothing here
// asserts a time; results are recorded in docs/benchmarks.md.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jensneuse/abstractlogger"
	"github.com/wundergraph/astjson"
	nodev1 "github.com/wundergraph/cosmo/router/gen/proto/wg/cosmo/node/v1"
	"github.com/wundergraph/graphql-go-tools/execution/engine"
	"github.com/wundergraph/graphql-go-tools/execution/graphql"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/astnormalization"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/plan"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/postprocess"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/resolve"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/operationreport"

	"github.com/heraldhq/herald/bench/router/subgraphs"
	"github.com/heraldhq/herald/router/subscription"
)

var benchQueries = []string{"typical", "deep"}

// replayTransport answers subgraph fetches from recorded responses, keyed by
// URL and request body. While recording it forwards to the real subgraphs.
type replayTransport struct {
	recording atomic.Bool
	mu        sync.RWMutex
	answers   map[string][]byte
	misses    atomic.Int64
	bufs      sync.Pool
}

func newReplayTransport() *replayTransport {
	rt := &replayTransport{answers: map[string][]byte{}}
	rt.bufs.New = func() any { return new(bytes.Buffer) }
	rt.recording.Store(true)
	return rt
}

func (rt *replayTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	buf := rt.bufs.Get().(*bytes.Buffer)
	defer rt.bufs.Put(buf)
	buf.Reset()
	buf.WriteString(req.URL.String())
	buf.WriteByte(' ')
	if req.Body != nil {
		if _, err := buf.ReadFrom(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
	}
	if rt.recording.Load() {
		body := bytes.TrimPrefix(buf.Bytes(), []byte(req.URL.String()+" "))
		fwd, err := http.NewRequestWithContext(req.Context(), req.Method, req.URL.String(), bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		fwd.Header = req.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(fwd)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		answer, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("recording %s: HTTP %d: %s", req.URL, resp.StatusCode, answer)
		}
		rt.mu.Lock()
		rt.answers[buf.String()] = answer
		rt.mu.Unlock()
		return replayResponse(req, answer), nil
	}
	rt.mu.RLock()
	answer, ok := rt.answers[string(buf.Bytes())]
	rt.mu.RUnlock()
	if !ok {
		rt.misses.Add(1)
		return nil, errors.New("replay: no recorded answer for this fetch")
	}
	return replayResponse(req, answer), nil
}

func replayResponse(req *http.Request, body []byte) *http.Response {
	return &http.Response{
		StatusCode:    http.StatusOK,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

// benchEnv is the composed workload with an engine whose fetches replay.
type benchEnv struct {
	cfg    Config
	rc     *nodev1.RouterConfig
	rt     *replayTransport
	client *http.Client
	conf   engine.Configuration
	eng    *executor
	// lib is graphql-go-tools' own engine on the same configuration: the
	// reference the router's executor is measured against.
	lib *engine.ExecutionEngine
}

var (
	benchOnce sync.Once
	benchVal  *benchEnv
	benchErr  error
)

// loadBenchEnv composes the four subgraphs once per test binary, records
// every fetch of the benchmark queries, and switches the transport to replay.
func loadBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	benchOnce.Do(func() { benchVal, benchErr = newBenchEnv() })
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchVal
}

func newBenchEnv() (*benchEnv, error) {
	ctx := context.Background()
	set, err := subgraphs.Start()
	if err != nil {
		return nil, err
	}
	defer set.Close() // only needed while recording

	sgs, err := ParseSubgraphs(strings.Split(set.RouterEnv(), ","))
	if err != nil {
		return nil, err
	}
	for i := range sgs {
		if sgs[i].SDL, err = FetchSDL(ctx, http.DefaultClient, sgs[i]); err != nil {
			return nil, err
		}
	}
	rc, err := Compose(ctx, sgs)
	if err != nil {
		return nil, err
	}
	env := &benchEnv{cfg: testConfig(sgs...), rc: rc, rt: newReplayTransport()}
	// As in bench/router: the deep query's worst-case estimate is about 5
	// million values, far over the default cost limit; these benchmarks
	// measure execution, not the limit.
	env.cfg.Limits.MaxCost = 10_000_000
	env.client = &http.Client{Transport: env.rt}
	factory := engine.NewFederationEngineConfigFactory(ctx, engine.WithFederationHttpClient(env.client))
	if env.conf, err = factory.BuildEngineConfiguration(rc); err != nil {
		return nil, err
	}
	if env.eng, err = benchEngine(ctx, env.cfg, rc, env.client); err != nil {
		return nil, err
	}
	if env.lib, err = engine.NewExecutionEngine(ctx, abstractlogger.NoopLogger, env.conf, resolverOptions(env.cfg)); err != nil {
		return nil, err
	}
	// The library's engine batches the deep query's entity fetches
	// differently from the router's executor, so both paths are recorded.
	for _, name := range benchQueries {
		for path, execute := range map[string]func(*benchEnv, context.Context, string, *bytes.Buffer) error{
			"router": (*benchEnv).execute, "library": (*benchEnv).executeLib,
		} {
			var out bytes.Buffer
			if err := execute(env, ctx, name, &out); err != nil {
				return nil, fmt.Errorf("record %s (%s): %w", name, path, err)
			}
			if bytes.Contains(out.Bytes(), []byte(`"errors"`)) {
				return nil, fmt.Errorf("record %s (%s): %s", name, path, out.String())
			}
		}
	}
	env.rt.recording.Store(false)
	return env, nil
}

// benchEngine and benchHandler are the only places these benchmarks call
// router internals; keep them in step with Run.
func benchEngine(ctx context.Context, cfg Config, rc *nodev1.RouterConfig, client *http.Client) (*executor, error) {
	return newEngine(ctx, cfg, rc, client, nil)
}

func benchHandler(ctx context.Context, cfg Config, eng *executor) *handler {
	logger := slog.New(slog.DiscardHandler)
	h := newRouterHandler(logger, cfg, subscription.NewServer(ctx, cfg.Subscriptions, nil, logger), nil)
	h.engine.Store(eng)
	return h
}

func (env *benchEnv) execute(ctx context.Context, name string, out *bytes.Buffer) error {
	q := subgraphs.Queries[name]
	req := graphql.Request{Query: q.Router}
	rw := graphql.NewEngineResultWriterFromBuffer(out)
	return env.eng.Execute(ctx, &req, &rw)
}

func (env *benchEnv) executeLib(ctx context.Context, name string, out *bytes.Buffer) error {
	q := subgraphs.Queries[name]
	req := graphql.Request{Query: q.Router}
	rw := graphql.NewEngineResultWriterFromBuffer(out)
	return env.lib.Execute(ctx, &req, &rw)
}

// plannerConfig rebuilds the planner configuration the engine holds
// privately: data sources and fields from the engine configuration, type
// renames from the router config, as the federation factory does.
func (env *benchEnv) plannerConfig() plan.Configuration {
	pc := plan.Configuration{
		DefaultFlushIntervalMillis: engine.DefaultFlushIntervalInMilliseconds,
		DataSources:                env.conf.DataSources(),
		Fields:                     env.conf.FieldConfigurations(),
	}
	for _, tc := range env.rc.GetEngineConfig().GetTypeConfigurations() {
		pc.Types = append(pc.Types, plan.TypeConfiguration{TypeName: tc.GetTypeName(), RenameTo: tc.GetRenameTo()})
	}
	return pc
}

// prepare does what Execute does to every request before the plan cache:
// parse, normalise, validate, extract variables.
func (env *benchEnv) prepare(b *testing.B, query string) *graphql.Request {
	req := &graphql.Request{Query: query}
	schema := env.conf.Schema()
	res, err := req.Normalize(schema, astnormalization.WithRemoveFragmentDefinitions(),
		astnormalization.WithRemoveUnusedVariables(), astnormalization.WithInlineFragmentSpreads())
	if err != nil || !res.Successful {
		b.Fatalf("normalize: %v %v", err, res.Errors)
	}
	if v, err := req.ValidateForSchema(schema); err != nil || !v.Valid {
		b.Fatalf("validate: %v %v", err, v.Errors)
	}
	if res, err = req.Normalize(schema, astnormalization.WithExtractVariables()); err != nil || !res.Successful {
		b.Fatalf("normalize variables: %v %v", err, res.Errors)
	}
	return req
}

// planOnce plans a prepared request as the engine does on a cache miss.
func (env *benchEnv) planOnce(b *testing.B, req *graphql.Request) *plan.SynchronousResponsePlan {
	planner, err := plan.NewPlanner(env.plannerConfig())
	if err != nil {
		b.Fatal(err)
	}
	var report operationreport.Report
	p := planner.Plan(req.Document(), env.conf.Schema().Document(), req.OperationName, &report)
	if report.HasErrors() {
		b.Fatal(report.Error())
	}
	postprocess.NewProcessor().Process(p)
	sp, ok := p.(*plan.SynchronousResponsePlan)
	if !ok {
		b.Fatalf("plan is %T, want a synchronous response plan", p)
	}
	return sp
}

// BenchmarkPrepare: parse, normalise and validate, which Execute repeats for
// every request, plan cache hit or not.
func BenchmarkPrepare(b *testing.B) {
	benchEachQuery(b, func(b *testing.B, env *benchEnv, q string) { env.prepare(b, q) })
}

// BenchmarkPlan: planning a prepared operation (planner creation, plan,
// post-processing): what a plan cache miss adds to Prepare.
func BenchmarkPlan(b *testing.B) {
	benchEachQuery(b, func(b *testing.B, env *benchEnv, q string) {
		b.StopTimer()
		req := env.prepare(b, q) // planning adds required fields to the document: a fresh one each time
		b.StartTimer()
		env.planOnce(b, req)
	})
}

// benchEachQuery runs op as the operation of a sub-benchmark per query, q
// the query's text.
func benchEachQuery(b *testing.B, op func(b *testing.B, env *benchEnv, q string)) {
	env := loadBenchEnv(b)
	for _, name := range benchQueries {
		b.Run(name, func(b *testing.B) {
			q := subgraphs.Queries[name].Router
			b.ReportAllocs()
			for b.Loop() {
				op(b, env, q)
			}
		})
	}
}

// BenchmarkResolve: response assembly alone for a ready plan: the fetches
// (replayed), merging the subgraph answers and rendering the response.
func BenchmarkResolve(b *testing.B) {
	env := loadBenchEnv(b)
	ctx := context.Background()
	resolver := resolve.New(ctx, resolverOptions(env.cfg))
	for _, name := range benchQueries {
		req := env.prepare(b, subgraphs.Queries[name].Router)
		p := env.planOnce(b, req)
		vars := req.Variables // extracted from arguments (first: 5), as Execute passes them
		env.benchAnswer(b, name, name, func(out *bytes.Buffer) error {
			rctx := resolve.NewContext(ctx)
			rctx.Variables = astjson.MustParseBytes(vars)
			_, err := resolver.ResolveGraphQLResponse(rctx, p.Response, nil, out)
			return err
		})
	}
}

// BenchmarkExecute: the router executor's whole per-request path with warm
// caches: operation cache lookup (parse, normalise, validate and plan are
// skipped), variables, Resolve.
func BenchmarkExecute(b *testing.B) {
	benchExecute(b, (*benchEnv).execute)
}

// BenchmarkEngineExecute: graphql-go-tools' engine.Execute with a warm plan
// cache (Prepare, plan cache lookup, Resolve), the path the router used
// before its own executor.
func BenchmarkEngineExecute(b *testing.B) {
	benchExecute(b, (*benchEnv).executeLib)
}

func benchExecute(b *testing.B, execute func(*benchEnv, context.Context, string, *bytes.Buffer) error) {
	env := loadBenchEnv(b)
	ctx := context.Background()
	for _, name := range benchQueries {
		env.benchAnswer(b, name, name, func(out *bytes.Buffer) error { return execute(env, ctx, name, out) })
	}
}

// benchAnswer runs the sub-benchmark label, whose every operation writes
// the answer to query name into out, and checks the last answer.
func (env *benchEnv) benchAnswer(b *testing.B, label, name string, op func(out *bytes.Buffer) error) {
	b.Run(label, func(b *testing.B) {
		var out bytes.Buffer
		b.ReportAllocs()
		for b.Loop() {
			out.Reset()
			if err := op(&out); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		env.checkAnswer(b, name, out.Bytes())
	})
}

// BenchmarkServeHTTP: the router's HTTP handler around Execute (request
// decoding, pooled buffers, response writing), without the network.
func BenchmarkServeHTTP(b *testing.B) {
	env := loadBenchEnv(b)
	ctx := b.Context() // ends the subscription server with the benchmark
	h := benchHandler(ctx, env.cfg, env.eng)
	for _, name := range benchQueries {
		b.Run(name, func(b *testing.B) {
			body, err := json.Marshal(map[string]string{"query": subgraphs.Queries[name].Router})
			if err != nil {
				b.Fatal(err)
			}
			var rec *httptest.ResponseRecorder
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				rec = httptest.NewRecorder()
				h.ServeHTTP(rec, req)
			}
			b.StopTimer()
			if rec.Code != http.StatusOK {
				b.Fatalf("HTTP %d: %s", rec.Code, rec.Body.String())
			}
			env.checkAnswer(b, name, rec.Body.Bytes())
		})
	}
}

// checkAnswer fails the benchmark when a fetch missed the recording or the
// answer is not the golden one of bench/router.
func (env *benchEnv) checkAnswer(b *testing.B, name string, got []byte) {
	b.Helper()
	if n := env.rt.misses.Load(); n > 0 {
		b.Fatalf("%d subgraph fetches had no recorded answer", n)
	}
	want := readGoldenAnswer(b, name)
	var gotV, wantV any
	if err := json.Unmarshal(got, &gotV); err != nil {
		b.Fatalf("answer is not JSON: %v: %s", err, got)
	}
	if err := json.Unmarshal(want, &wantV); err != nil {
		b.Fatal(err)
	}
	g, _ := json.Marshal(gotV)
	w, _ := json.Marshal(wantV)
	if !bytes.Equal(g, w) {
		b.Fatalf("%s answer differs from the golden one:\n%s", name, got)
	}
}
