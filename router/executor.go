package router

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/buger/jsonparser"
	"github.com/cespare/xxhash/v2"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/heraldhq/herald/internal/identity"
	"github.com/jensneuse/abstractlogger"
	"github.com/wundergraph/astjson"
	nodev1 "github.com/wundergraph/cosmo/router/gen/proto/wg/cosmo/node/v1"
	"github.com/wundergraph/graphql-go-tools/execution/engine"
	"github.com/wundergraph/graphql-go-tools/execution/graphql"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/ast"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/astnormalization"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/astparser"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/astprinter"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/astvalidation"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/datasource/introspection_datasource"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/plan"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/postprocess"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/resolve"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/graphqlerrors"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/operationreport"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/pool"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/variablesvalidation"
)

// executor runs client operations on one composed supergraph. It does what
// graphql-go-tools' engine.ExecutionEngine.Execute does (normalise, validate,
// extract variables, plan with a plan cache, resolve), built from the same
// library parts, with two differences that the engine cannot be told:
//
//   - Client operations are normalised and validated against the client
//     schema (the composition's graphqlClientSchema, without @inaccessible
//     elements), and introspection is served from it; planning still uses
//     the full supergraph schema, which the planner needs for key and
//     @requires fields that may be inaccessible.
//   - An operation cache skips parsing, normalising, validating and
//     planning for an operation seen before (see opCache for when that is
//     correct).
//
// One executor belongs to one composition: a reload builds a new one, so
// neither cache ever outlives the schema it was filled for.
type executor struct {
	full     *graphql.Schema // the supergraph: planning
	client   *graphql.Schema // without @inaccessible elements: validation, introspection
	planConf plan.Configuration
	resolver *resolve.Resolver
	plans    *lru.Cache[uint64, plan.Plan]
	ops      *lru.Cache[opKey, *operation]
	limits   Limits     // checked before parsing, measured after (limits.go)
	rules    fieldRules // @authenticated and @requiresScopes (authz.go)
	// Identical queries in flight (resolveShared).
	flightsMu sync.Mutex
	flights   map[string]*flight

	// postOptions configure the post-processor that makes each plan
	// executable (one per plan: processors keep state while they run).
	postOptions []postprocess.ProcessorOption

	// Lifetime (engine.go): ctx ends when the engine is released.
	ctx  context.Context
	stop context.CancelFunc
	refs atomic.Int64
}

// Cache sizes: entries, not bytes. A cached operation holds its normalised
// document and plan (a few kB to a few hundred kB for very large operations).
const (
	planCacheSize      = 1024
	operationCacheSize = 1024
)

// maxCachedQueryBytes keeps larger operations out of the operation cache: an
// entry keeps the query text (in its document), and 1024 entries of
// request-sized texts padded with comments would pin a gigabyte.
const maxCachedQueryBytes = 32 << 10

// newExecutor builds the planner configuration from conf (made by the
// federation factory from rc, with the built-in subscription data source
// installed) the way the engine does, adding introspection from the client
// schema.
func newExecutor(ctx context.Context, cfg Config, rc *nodev1.RouterConfig, conf engine.Configuration) (*executor, error) {
	full := conf.Schema()
	client := full
	if sdl := rc.GetEngineConfig().GetGraphqlClientSchema(); sdl != "" {
		s, err := graphql.NewSchemaFromString(sdl)
		if err != nil {
			return nil, fmt.Errorf("parse client schema: %w", err)
		}
		client = s
	}
	intro, err := introspection_datasource.NewIntrospectionConfigFactory(client.Document())
	if err != nil {
		return nil, fmt.Errorf("introspection: %w", err)
	}
	pc := plan.Configuration{
		Logger:                     abstractlogger.NoopLogger,
		DefaultFlushIntervalMillis: engine.DefaultFlushIntervalInMilliseconds,
		DataSources:                append(append([]plan.DataSource{}, conf.DataSources()...), intro.BuildDataSourceConfigurations()...),
		Fields:                     append(append(plan.FieldConfigurations{}, conf.FieldConfigurations()...), intro.BuildFieldConfigurations()...),
		// Entity fetches to one subgraph that run in the same wave go out
		// as one request (the planner marks them, the post-processor
		// merges them): fewer round trips for wide federated queries.
		EnableMultiFetch: true,
	}
	for _, t := range rc.GetEngineConfig().GetTypeConfigurations() {
		pc.Types = append(pc.Types, plan.TypeConfiguration{TypeName: t.GetTypeName(), RenameTo: t.GetRenameTo()})
	}
	seen := make(map[string]bool, len(pc.DataSources))
	for _, ds := range pc.DataSources {
		if seen[ds.Id()] {
			return nil, fmt.Errorf("duplicate data source id %s", ds.Id())
		}
		seen[ds.Id()] = true
	}
	plans, _ := lru.New[uint64, plan.Plan](planCacheSize)
	ops, _ := lru.New[opKey, *operation](operationCacheSize)
	return &executor{
		full: full, client: client, planConf: pc,
		resolver: resolve.New(ctx, resolverOptions(cfg)),
		plans:    plans, ops: ops,
		limits:      cfg.Limits.withDefaults(),
		rules:       newFieldRules(rc.GetEngineConfig()),
		flights:     map[string]*flight{},
		postOptions: []postprocess.ProcessorOption{postprocess.EnableMultiFetch()},
		ctx:         ctx, stop: func() {},
	}, nil
}

// opKey identifies an operation: the SHA-256 of its query text and the
// operation name asked for.
type opKey struct {
	query [sha256.Size]byte
	name  string
}

// operation is a client operation after parsing. Operations from the cache
// are shared by concurrent requests and never modified; a fresh one (doc
// set, plan nil) belongs to its request.
type operation struct {
	key   opKey // the cache key parse computed (zero for parseFresh copies, which are never cached)
	typ   ast.OperationType
	name  string // the operation's own name, "" when anonymous
	found bool   // false: no such operation (or several and no name); validation reports it
	stats opStats

	// A fresh operation's parsed document, normalised in place by run.
	doc *ast.Document
	// cacheable: normalisation does not depend on the variables' values
	// (see cacheable).
	cacheable bool
	declared  []string // variable names the operation declares

	// Set once prepared (cached operations): the normalised document as it
	// was before planning, for validating each request's variables (the
	// planner adds to the document it plans, e.g. @requires field sets that
	// may name types the client schema does not have), and the plan.
	normalized *ast.Document
	plan       plan.Plan
	// extracted holds the variables normalisation made from literal
	// arguments, as JSON members (`"a":5,"b":"x"`), added to each request's.
	extracted []byte
}

// parse returns the operation of req, from the cache when it was seen
// before. Parse errors are returned as an operationreport.Report.
func (x *executor) parse(req *graphql.Request) (*operation, error) {
	key := opKey{query: sha256.Sum256(unsafe.Slice(unsafe.StringData(req.Query), len(req.Query))), name: req.OperationName}
	if op, ok := x.ops.Get(key); ok {
		return op, nil
	}
	if err := x.limits.scan(req.Query); err != nil {
		return nil, err
	}
	doc, report := astparser.ParseGraphqlDocumentString(req.Query)
	if report.HasErrors() {
		return nil, reportError(report)
	}
	name, st, found := x.limits.measure(&doc, x.client.Document(), req.OperationName)
	op := &operation{key: key, name: name, stats: st, found: found, doc: &doc}
	if ref := selectedOperation(&doc, req.OperationName); ref != -1 {
		op.typ = doc.OperationDefinitions[ref].OperationType
		op.cacheable, op.declared = x.cacheable(&doc, ref)
	}
	return op, nil
}

// selectedOperation is graphql.Request.OperationType's choice: the first
// operation with the name asked for, or the first of all without one.
func selectedOperation(doc *ast.Document, name string) int {
	for _, n := range doc.RootNodes {
		if n.Kind != ast.NodeKindOperationDefinition {
			continue
		}
		if name != "" && doc.OperationDefinitionNameString(n.Ref) != name {
			continue
		}
		return n.Ref
	}
	return -1
}

// cacheable tells whether normalising the operation gives the same document
// and plan whatever the values of its variables, so that one prepared copy
// can serve every request with the same query text and operation name.
// Normalisation reads variable values in four places, each excluded here:
// @skip/@include with a variable condition (the branch is removed using
// the value), variable default values (injected when the value is absent),
// list-typed variables (a single value is coerced into a list) and
// input-object variables (input field defaults are injected into the value).
// A fifth is a variable inside a literal argument (`input: {userId: $u}`,
// `ids: [$id]`): extraction turns the whole literal into a new variable
// whose value is built from this request's values (and merges literals
// whose values happen to be equal), so it is excluded too.
// A variable of a scalar or enum type, without a default, used directly as
// an argument, is only passed through. Such operations are cached; the
// others are prepared for every request, as before.
func (x *executor) cacheable(doc *ast.Document, op int) (bool, []string) {
	for i := range doc.Arguments {
		if v := doc.Arguments[i].Value; v.Kind != ast.ValueKindVariable && doc.ValueContainsVariable(v) {
			return false, nil
		}
	}
	for i := range doc.Directives {
		n := doc.DirectiveNameString(i)
		if n != "skip" && n != "include" {
			continue
		}
		for _, a := range doc.Directives[i].Arguments.Refs {
			if doc.ValueContainsVariable(doc.Arguments[a].Value) {
				return false, nil
			}
		}
	}
	def := doc.OperationDefinitions[op]
	if !def.HasVariableDefinitions {
		return true, nil
	}
	names := make([]string, 0, len(def.VariableDefinitions.Refs))
	schema := x.client.Document()
	for _, ref := range def.VariableDefinitions.Refs {
		vd := doc.VariableDefinitions[ref]
		if vd.DefaultValue.IsDefined {
			return false, nil
		}
		t := vd.Type
		if doc.Types[t].TypeKind == ast.TypeKindNonNull {
			t = doc.Types[t].OfType
		}
		if doc.Types[t].TypeKind != ast.TypeKindNamed {
			return false, nil // a list
		}
		node, ok := schema.Index.FirstNodeByNameBytes(doc.TypeNameBytes(t))
		if !ok || (node.Kind != ast.NodeKindScalarTypeDefinition && node.Kind != ast.NodeKindEnumTypeDefinition) ||
			doc.TypeNameString(t) == "Upload" {
			return false, nil
		}
		names = append(names, doc.VariableDefinitionNameString(ref))
	}
	return true, names
}

// Normalisation options, as engine.Execute uses them: first without
// extracting variables, so that validation reports bad arguments where
// they are, then extracting them for the planner. A named operation is
// normalised with the other operations of its document removed.
var (
	normalizeOptions = []astnormalization.Option{
		astnormalization.WithRemoveFragmentDefinitions(),
		astnormalization.WithRemoveUnusedVariables(),
		astnormalization.WithInlineFragmentSpreads(),
	}
	extractOptions = []astnormalization.Option{astnormalization.WithExtractVariables()}
)

// normalizerPool holds reusable normalisers made with one set of options:
// each run resets what its walkers keep, and making one sets up every
// walker and visitor again, which operations that are prepared for every
// request (not in the operation cache) would otherwise pay twice per request.
type normalizerPool struct{ anonymous, named sync.Pool }

func newNormalizerPool(opts []astnormalization.Option) *normalizerPool {
	named := append(opts[:len(opts):len(opts)], astnormalization.WithRemoveNotMatchingOperationDefinitions())
	return &normalizerPool{
		anonymous: sync.Pool{New: func() any { return astnormalization.NewWithOpts(opts...) }},
		named:     sync.Pool{New: func() any { return astnormalization.NewWithOpts(named...) }},
	}
}

var (
	normalizers = newNormalizerPool(normalizeOptions)
	extractors  = newNormalizerPool(extractOptions)
)

// normalize runs a pooled normaliser on doc. A normaliser whose run ended
// with an error goes back to no pool: a walk stopped half-way can leave
// state behind in its visitors (the list-coercion visitor keeps the path of
// the variable it was in, and the next run writes under that path), so
// only normalisers that finished cleanly are reused.
func normalize(doc, schema *ast.Document, opName string, pool *normalizerPool, report *operationreport.Report) {
	p := &pool.anonymous
	if opName != "" {
		p = &pool.named
	}
	n := p.Get().(*astnormalization.OperationNormalizer)
	if opName != "" {
		n.NormalizeNamedOperation(doc, schema, []byte(opName), report)
	} else {
		n.NormalizeOperation(doc, schema, report)
	}
	if !report.HasErrors() {
		p.Put(n)
	}
}

// Operation validators are reusable too: Validate resets the walker.
var operationValidatorPool = sync.Pool{New: func() any { return astvalidation.DefaultOperationValidator() }}

// Execute prepares and runs req (the subscription transports' entry).
func (x *executor) Execute(ctx context.Context, req *graphql.Request, w resolve.SubscriptionResponseWriter) error {
	op, err := x.parse(req)
	if err != nil {
		return err
	}
	return x.run(ctx, op, req, w)
}

// run executes op for req, writing the response to w. Errors are what the
// engine would return: an operationreport.Report or graphqlerrors for a
// document that does not normalise or validate, an
// *variablesvalidation.InvalidVariableError for bad variables.
func (x *executor) run(ctx context.Context, op *operation, req *graphql.Request, w resolve.SubscriptionResponseWriter) error {
	var (
		p    plan.Plan
		doc  *ast.Document
		vars []byte
		err  error
	)
	if op.plan != nil && declaredOnly(req.Variables, op.declared) {
		p, doc = op.plan, op.normalized
		vars = mergeVariables(req.Variables, op.extracted)
	} else {
		if op.plan != nil {
			// A cached operation whose request carries variables it does
			// not declare: prepare a fresh copy (normalisation keeps them).
			if op, err = x.parseFresh(req); err != nil {
				return err
			}
		}
		if p, err = x.prepare(op, req); err != nil {
			return err
		}
		vars = op.doc.Input.Variables // validated by prepare
	}
	// A cached operation that declares no variables has only the ones
	// extracted from its literals, validated with the document: nothing
	// of the request's own to check.
	if doc != nil && len(op.declared) > 0 {
		if err := x.validateVariables(doc, vars); err != nil {
			return err
		}
	}
	rctx := resolve.NewContext(ctx)
	if len(vars) > 0 {
		if rctx.Variables, err = astjson.ParseBytes(vars); err != nil {
			return fmt.Errorf("variables: %w", err)
		}
	}
	rctx.Request = req.InternalRequest()
	rctx.Request.ID, rctx.VariablesHash = requestKeys(req, vars)
	if o := outboundFrom(ctx); o != nil {
		rctx.SubgraphHeadersBuilder = o
	}
	if len(x.rules) > 0 {
		rctx.SetPreFetchFieldAuthorizer(authorizer{rules: x.rules, id: identity.From(ctx)})
	}
	switch p := p.(type) {
	case *plan.SynchronousResponsePlan:
		// Identical queries in flight at once are resolved once, by the
		// router rather than by the engine: the engine's inbound
		// deduplication (v2.16.0) lets a request that joins as its leader
		// finishes resolve again as a leader and then close the finished
		// flight a second time, which panics.
		rctx.ExecutionOptions.DisableInboundRequestDeduplication = true
		if !p.Response.SingleFlightAllowed() {
			_, err := x.resolver.ArenaResolveGraphQLResponse(rctx, p.Response, w)
			return err
		}
		err := x.resolveShared(ctx, rctx, p.Response, w)
		if err != nil && ctx.Err() == nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
			// A deduplicated request shares its leader's failure, and the
			// leader's client may have left or run out of time: resolve
			// this one on its own instead.
			_, err = x.resolver.ArenaResolveGraphQLResponse(rctx, p.Response, w)
		}
		return err
	case *plan.SubscriptionResponsePlan:
		return x.resolver.ResolveGraphQLSubscription(rctx, p.Response, &annotatingWriter{w: w})
	default:
		return errors.New("execution of operation is not possible")
	}
}

// resolveShared resolves response once for all identical requests in
// flight: same operation, variables and forwarded headers with the caller's
// identity (outbound.HashAll), the key the engine's own deduplication uses.
// The first request resolves and writes its answer straight to its client;
// while it writes, the flight is closed to newcomers and the answer copied
// for those who joined (only when someone did). They get the copy, or its
// error.
func (x *executor) resolveShared(ctx context.Context, rctx *resolve.Context, response *resolve.GraphQLResponse, w io.Writer) error {
	var k [24]byte
	binary.LittleEndian.PutUint64(k[0:8], rctx.Request.ID)
	binary.LittleEndian.PutUint64(k[8:16], rctx.VariablesHash)
	if rctx.SubgraphHeadersBuilder != nil {
		binary.LittleEndian.PutUint64(k[16:24], rctx.SubgraphHeadersBuilder.HashAll())
	}
	key := string(k[:])
	x.flightsMu.Lock()
	if f, ok := x.flights[key]; ok {
		f.followers++
		x.flightsMu.Unlock()
		select {
		case <-f.done:
			if f.err != nil {
				return f.err
			}
			_, err := w.Write(f.data)
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f := &flight{done: make(chan struct{})}
	x.flights[key] = f
	x.flightsMu.Unlock()

	fw := &flightWriter{x: x, key: key, f: f, w: w}
	_, err := x.resolver.ArenaResolveGraphQLResponse(rctx, response, fw)
	fw.close() // no Write: the flight failed
	if f.data == nil && err == nil && f.followers > 0 {
		err = errors.New("the shared request wrote no answer")
	}
	f.err = err
	close(f.done)
	return err
}

// flight is one deduplicated query in flight.
type flight struct {
	done      chan struct{}
	followers int    // guarded by executor.flightsMu until the flight closes
	data      []byte // the answer, copied for followers
	err       error
}

// flightWriter passes the leader's answer to its client, copying it for
// the followers; the engine writes an answer in one Write, from a buffer it
// reuses as soon as Write returns.
type flightWriter struct {
	x      *executor
	key    string
	f      *flight
	w      io.Writer
	closed bool
}

// close takes the flight out of the map: nobody joins it any more.
func (fw *flightWriter) close() {
	if fw.closed {
		return
	}
	fw.closed = true
	fw.x.flightsMu.Lock()
	delete(fw.x.flights, fw.key)
	fw.x.flightsMu.Unlock()
}

func (fw *flightWriter) Write(p []byte) (int, error) {
	fw.close()
	if fw.f.followers > 0 {
		fw.f.data = append(fw.f.data, p...)
	}
	return fw.w.Write(p)
}

// validateVariables checks a request's variables (an object, or none) against
// the variable definitions of doc. A request without variables is checked as
// {}: a required variable that is missing altogether must be refused like one
// sent as null.
func (x *executor) validateVariables(doc *ast.Document, vars []byte) error {
	if len(vars) == 0 {
		vars = emptyObject
	}
	if vars[0] != '{' {
		return nil // not an object: the request reader refuses it before
	}
	v := validatorPool.Get().(*variablesvalidation.VariablesValidator)
	err := v.Validate(doc, x.client.Document(), vars)
	validatorPool.Put(v)
	return err
}

var emptyObject = []byte("{}")

// arenaSizeBuckets bounds the request ids the engine sees. The resolver
// keeps an arena size estimate per request id for as long as it lives, so
// ids taken straight from client-chosen query texts would let a client
// grow that map without end.
const arenaSizeBuckets = 4096

// requestKeys returns the engine's request id and variables hash. Request
// deduplication (see resolverOptions) shares an answer between requests
// with the same id, variables hash and forwarded headers, so together they
// must identify the operation (its text and the name asked for, which with
// the variables fix the plan) and the variables: the operation's hash goes
// into the variables hash, and the id is a bucket of it (a size hint only).
func requestKeys(req *graphql.Request, vars []byte) (id, varsHash uint64) {
	d := xxhash.New()
	_, _ = d.WriteString(req.Query)
	_, _ = d.Write([]byte{0})
	_, _ = d.WriteString(req.OperationName)
	op := d.Sum64()
	d.Reset()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], op)
	_, _ = d.Write(b[:])
	_, _ = d.Write(vars)
	return op % arenaSizeBuckets, d.Sum64()
}

// Variables validators are reusable: Validate resets what it keeps.
var validatorPool = sync.Pool{New: func() any {
	return variablesvalidation.NewVariablesValidator(variablesvalidation.VariablesValidatorOptions{})
}}

func (x *executor) parseFresh(req *graphql.Request) (*operation, error) {
	doc, report := astparser.ParseGraphqlDocumentString(req.Query)
	if report.HasErrors() {
		return nil, reportError(report)
	}
	return &operation{doc: &doc}, nil
}

// prepare normalises, validates and plans a fresh operation in place, and
// caches it when that is correct for later requests.
func (x *executor) prepare(op *operation, req *graphql.Request) (plan.Plan, error) {
	doc := op.doc
	var (
		report operationreport.Report
		err    error
	)
	doc.Input.Variables = req.Variables
	normalize(doc, x.client.Document(), req.OperationName, normalizers, &report)
	if report.HasErrors() {
		return nil, reportError(report)
	}
	v := operationValidatorPool.Get().(*astvalidation.OperationValidator)
	v.Validate(doc, x.client.Document(), &report)
	operationValidatorPool.Put(v)
	if report.HasErrors() {
		return nil, reportError(report)
	}
	vars := bytes.Clone(req.Variables)
	normalize(doc, x.client.Document(), req.OperationName, extractors, &report)
	if report.HasErrors() {
		// Extraction reads the variables (defaults injected into input
		// objects, lists coerced) and fails on a value of the wrong shape
		// with an internal error ("Unknown value type"): say which variable
		// is wrong instead. (Not checked before extraction, because there
		// the validator does not yet see variable defaults.)
		if err := x.validateVariables(doc, vars); err != nil {
			return nil, err
		}
		return nil, reportError(report)
	}
	// Variables are validated here, on the document as the client sent it
	// (normalised), not after planning: see operation.normalized.
	if err := x.validateVariables(doc, doc.Input.Variables); err != nil {
		return nil, err
	}
	store := op.cacheable && len(req.Query) <= maxCachedQueryBytes && declaredOnly(req.Variables, op.declared)
	var before *ast.Document
	if store {
		if before, err = copyDocument(doc); err != nil {
			return nil, err
		}
	}
	p := x.plan(doc, req.OperationName, &report)
	if report.HasErrors() {
		return nil, report
	}
	if store {
		x.store(op, before, p)
	}
	return p, nil
}

// copyDocument returns a deep copy of an operation document (printed and
// parsed again; it happens once per cached operation), without variables.
func copyDocument(doc *ast.Document) (*ast.Document, error) {
	text, err := astprinter.PrintString(doc)
	if err != nil {
		return nil, fmt.Errorf("copy operation: %w", err)
	}
	c, report := astparser.ParseGraphqlDocumentString(text)
	if report.HasErrors() {
		return nil, fmt.Errorf("copy operation: %w", report)
	}
	return &c, nil
}

// reportError returns what engine.Execute returns for a report from
// parsing, normalising or validating: the first internal error, or the
// external ones as graphqlerrors.RequestErrors.
func reportError(report operationreport.Report) error {
	if len(report.InternalErrors) > 0 {
		return report.InternalErrors[0]
	}
	return graphqlerrors.RequestErrorsFromOperationReport(report)
}

// plan returns the plan of a normalised document from the plan cache (keyed
// by a hash of the printed document, like the engine's), planning against
// the full supergraph on a miss.
func (x *executor) plan(doc *ast.Document, opName string, report *operationreport.Report) plan.Plan {
	h := pool.Hash64.Get()
	h.Reset()
	defer pool.Hash64.Put(h)
	if err := astprinter.Print(doc, h); err != nil {
		report.AddInternalError(err)
		return nil
	}
	key := h.Sum64()
	if p, ok := x.plans.Get(key); ok {
		return p
	}
	planner, err := plan.NewPlanner(x.planConf)
	if err != nil {
		report.AddInternalError(err)
		return nil
	}
	pre := planner.Plan(doc, x.full.Document(), opName, report)
	if report.HasErrors() {
		return nil
	}
	postprocess.NewProcessor(x.postOptions...).Process(pre) // in place
	x.plans.Add(key, pre)
	return pre
}

// store caches a prepared operation. Cacheable operations pass the
// request's declared variables through unchanged, so the variables
// normalisation produced are the request's own plus the ones extracted
// from literal arguments: only those are kept, and added to every later
// request's variables.
func (x *executor) store(op *operation, before *ast.Document, p plan.Plan) {
	var extracted []byte
	if vars := op.doc.Input.Variables; len(vars) > 0 {
		err := jsonparser.ObjectEach(vars, func(k, v []byte, vt jsonparser.ValueType, _ int) error {
			if slices.Contains(op.declared, string(k)) {
				return nil
			}
			if len(extracted) > 0 {
				extracted = append(extracted, ',')
			}
			// GraphQL names need no escaping; string values keep theirs.
			extracted = append(append(append(extracted, '"'), k...), '"', ':')
			if vt == jsonparser.String {
				extracted = append(append(append(extracted, '"'), v...), '"')
			} else {
				extracted = append(extracted, v...)
			}
			return nil
		})
		if err != nil {
			return // not an object: do not cache what cannot be reproduced
		}
	}
	cached := &operation{
		typ: op.typ, name: op.name, found: op.found, stats: op.stats,
		cacheable: true, declared: op.declared,
		normalized: before, plan: p, extracted: extracted,
	}
	x.ops.Add(op.key, cached)
}

// declaredOnly tells whether the request's variables name only variables
// the operation declares (always true without variables).
func declaredOnly(vars []byte, declared []string) bool {
	if len(vars) == 0 || vars[0] != '{' {
		return true
	}
	ok := true
	_ = jsonparser.ObjectEach(vars, func(k, _ []byte, _ jsonparser.ValueType, _ int) error {
		if !slices.Contains(declared, string(k)) {
			ok = false
			return errStop
		}
		return nil
	})
	return ok
}

var errStop = errors.New("stop")

// mergeVariables adds the extracted members to the request's variables
// object (nil or {} when it sent none). The names never clash: extracted
// names are not declared, and declaredOnly admitted only declared ones.
func mergeVariables(vars, extracted []byte) []byte {
	if len(extracted) == 0 {
		return vars
	}
	vars = bytes.TrimSpace(vars)
	out := make([]byte, 0, len(vars)+len(extracted)+2)
	if len(vars) < 2 || vars[0] != '{' || len(bytes.TrimSpace(vars[1:len(vars)-1])) == 0 {
		out = append(out, '{')
	} else {
		out = append(out, vars[:len(vars)-1]...)
		out = append(out, ',')
	}
	out = append(out, extracted...)
	return append(out, '}')
}
