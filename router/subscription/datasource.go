package subscription

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/cespare/xxhash/v2"
	"github.com/jensneuse/abstractlogger"
	nodev1 "github.com/wundergraph/cosmo/router/gen/proto/wg/cosmo/node/v1"
	"github.com/wundergraph/graphql-go-tools/execution/engine"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/ast"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/plan"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/resolve"

	"github.com/heraldhq/herald/internal/apperr"
	"github.com/heraldhq/herald/internal/identity"
	"github.com/heraldhq/herald/router/internal/gqlwire"
)

// Serves tells whether rc composes the built-in notifications subgraph, so
// that the router must read the notification status stream.
func Serves(rc *nodev1.RouterConfig) bool { return builtinDataSource(rc) != nil }

func builtinDataSource(rc *nodev1.RouterConfig) *nodev1.DataSourceConfiguration {
	for _, s := range rc.GetSubgraphs() {
		if s.GetName() != SubgraphName {
			continue
		}
		for _, ds := range rc.GetEngineConfig().GetDatasourceConfigurations() {
			if ds.GetId() == s.GetId() {
				return ds
			}
		}
	}
	return nil
}

// Install replaces the data source of the built-in notifications subgraph in
// conf (built from rc by the federation config factory, which made it a
// GraphQL data source pointing nowhere) with the stream-fed data source.
// hub may be nil on a router without a broker: subscribing then fails with
// UNAVAILABLE. ctx is the engine's: the data source's watchers end with it.
// rc without the notifications subgraph is left alone. Starting the hub is
// the caller's (it outlives engines; see Serves).
func Install(ctx context.Context, conf *engine.Configuration, rc *nodev1.RouterConfig, hub *Hub) error {
	in := builtinDataSource(rc)
	if in == nil {
		return nil
	}
	ds, err := plan.NewDataSourceConfiguration[dsConfig](in.GetId(), &factory{ctx: ctx, source: &source{hub: hub}}, metadata(in), dsConfig{})
	if err != nil {
		return fmt.Errorf("subscription: data source: %w", err)
	}
	list := conf.DataSources()
	out := make([]plan.DataSource, 0, len(list))
	replaced := false
	for _, d := range list {
		if d.Id() == in.GetId() {
			out = append(out, ds)
			replaced = true
			continue
		}
		out = append(out, d)
	}
	if !replaced {
		return fmt.Errorf("subscription: the engine configuration has no data source %s", in.GetId())
	}
	conf.SetDataSources(out)
	return nil
}

// metadata carries the composed nodes of the subgraph over to the new data
// source. Only Subscription fields stay root nodes: the entities the events
// reference (Order, resolvable: false) become child nodes, so the planner
// reads their key fields from the event payload instead of planning an
// entity fetch against this data source (which resolves no entities). The
// orders data source keeps the @key that resolves them.
func metadata(in *nodev1.DataSourceConfiguration) *plan.DataSourceMetadata {
	out := &plan.DataSourceMetadata{}
	for _, n := range in.GetRootNodes() {
		tf := plan.TypeField{TypeName: n.GetTypeName(), FieldNames: n.GetFieldNames()}
		if n.GetTypeName() == "Subscription" {
			out.RootNodes = append(out.RootNodes, tf)
		} else {
			out.ChildNodes = append(out.ChildNodes, tf)
		}
	}
	for _, n := range in.GetChildNodes() {
		out.ChildNodes = append(out.ChildNodes, plan.TypeField{TypeName: n.GetTypeName(), FieldNames: n.GetFieldNames()})
	}
	for _, k := range in.GetKeys() {
		out.FederationMetaData.Keys = append(out.FederationMetaData.Keys, plan.FederationFieldConfiguration{
			TypeName: k.GetTypeName(), FieldName: k.GetFieldName(), SelectionSet: k.GetSelectionSet(),
			DisableEntityResolver: k.GetDisableEntityResolver(),
		})
	}
	return out
}

// dsConfig is the data source's custom configuration; all it needs lives in
// the factory.
type dsConfig struct{}

type factory struct {
	ctx    context.Context
	source *source
}

func (f *factory) Planner(abstractlogger.Logger) plan.DataSourcePlanner[dsConfig] {
	return &planner{source: f.source}
}

func (f *factory) Context() context.Context { return f.ctx }

func (f *factory) UpstreamSchema(plan.DataSourceConfiguration[dsConfig]) (*ast.Document, bool) {
	return nil, false
}

// PlanningBehavior: the payload carries fields under their schema names, so
// aliases are applied by the engine, not the data source.
func (f *factory) PlanningBehavior() plan.DataSourcePlanningBehavior {
	return plan.DataSourcePlanningBehavior{AllowPlanningTypeName: true}
}

// planner plans Subscription.notificationStatus: the field's arguments
// become the subscription input {"orderId":…,"userId":…}; the payload holds
// every field of the event, so nested fields need no planning.
type planner struct {
	id        int
	source    *source
	visitor   *plan.Visitor
	rootField int
	fieldName string
	input     []byte
	variables resolve.Variables
}

func (p *planner) SetID(id int) { p.id = id }
func (p *planner) ID() int      { return p.id }

func (p *planner) Register(v *plan.Visitor, _ plan.DataSourceConfiguration[dsConfig], _ plan.DataSourcePlannerConfiguration) error {
	p.visitor = v
	v.Walker.RegisterEnterDocumentVisitor(p)
	v.Walker.RegisterEnterFieldVisitor(p)
	return nil
}

func (p *planner) EnterDocument(_, _ *ast.Document) {
	p.rootField = -1
	p.input = nil
	p.variables = nil
}

func (p *planner) EnterField(ref int) {
	if p.rootField != -1 {
		return
	}
	p.rootField = ref
	op := p.visitor.Operation
	p.fieldName = op.FieldNameString(ref)
	in := []byte{'{'}
	for i, arg := range op.FieldArguments(ref) {
		if i > 0 {
			in = append(in, ',')
		}
		name, _ := json.Marshal(op.ArgumentNameString(arg))
		in = append(in, name...)
		in = append(in, ':')
		value := op.ArgumentValue(arg)
		if value.Kind != ast.ValueKindVariable {
			// The engine extracts every argument into a variable before
			// planning; a literal here means that changed.
			p.visitor.Walker.StopWithInternalErr(fmt.Errorf("subscription: argument %s is not a variable", name))
			return
		}
		placeholder, _ := p.variables.AddVariable(&resolve.ContextVariable{
			Path:     []string{op.VariableValueNameString(value.Ref)},
			Renderer: resolve.NewJSONVariableRenderer(),
		})
		in = append(in, placeholder...)
	}
	p.input = append(in, '}')
}

func (p *planner) ConfigureFetch() resolve.FetchConfiguration {
	p.visitor.Walker.StopWithInternalErr(fmt.Errorf("subscription: notifications only serves Subscription.notificationStatus (asked to fetch %s at %v)", p.fieldName, p.rootField))
	return resolve.FetchConfiguration{}
}

func (p *planner) ConfigureSubscription() plan.SubscriptionConfiguration {
	return plan.SubscriptionConfiguration{
		Input:          string(p.input),
		Variables:      p.variables,
		DataSource:     p.source,
		PostProcessing: resolve.PostProcessingConfiguration{MergePath: []string{p.fieldName}},
	}
}

func (p *planner) DownstreamResponseFieldAlias(int) (string, bool) { return "", false }

// source starts one engine trigger: a Hub watcher for one filter.
type source struct {
	hub *Hub
}

type startInput struct {
	OrderID *string `json:"orderId"`
	UserID  *string `json:"userId"`
}

// HashTriggerInput makes subscriptions with the same arguments share one
// trigger (and one Hub watcher).
func (s *source) HashTriggerInput(input []byte, xxh *xxhash.Digest) error {
	_, err := xxh.Write(input)
	return err
}

// Start registers the watcher and returns; it is removed when the engine
// cancels the trigger (its last subscriber left, or the engine stopped).
//
// The engine resolves an update synchronously inside updater.Update (the
// orders fetch included), while the Hub calls watchers on its one stream
// reader. So each trigger gets a bounded queue, drained by its own
// goroutine: a slow orders subgraph delays only the subscriptions that wait
// for it. A trigger whose queue overflows ends its subscriptions with
// SUBSCRIBER_TOO_SLOW rather than block the reader or skip events silently.
func (s *source) Start(ctx *resolve.Context, _ http.Header, input []byte, updater resolve.SubscriptionUpdater) error {
	if s.hub == nil {
		return apperr.New(apperr.Unavailable, "live notification status is not available on this router (no stream configured)")
	}
	var in startInput
	if err := json.Unmarshal(input, &in); err != nil {
		return fmt.Errorf("subscription: input %s: %w", input, err)
	}
	var f Filter
	if in.OrderID != nil {
		f.OrderID = *in.OrderID
	}
	if in.UserID != nil {
		f.UserID = *in.UserID
	}
	// Live status is private: a user watches only their own events, an
	// operator any. Triggers are shared only between subscriptions of the
	// same caller (the router mixes the identity into the trigger's hash),
	// so the filter decided here holds for every subscription it feeds.
	id := identity.From(ctx.Context())
	if !id.Operator() {
		if id.Subject == "" {
			return apperr.New(apperr.Unauthenticated, "sign in first: live notification status needs a bearer token")
		}
		own := identity.UserID(id.Subject)
		if f.UserID != "" && f.UserID != own {
			return apperr.New(apperr.Forbidden, "you may only watch your own notifications")
		}
		f.UserID = own
	}
	q := make(chan []byte, s.hub.buffer)
	overflow := make(chan struct{})
	var once sync.Once
	stop := s.hub.Watch(f, func(data []byte) {
		select {
		case q <- data:
		default:
			once.Do(func() { close(overflow) })
		}
	})
	done := ctx.Context().Done()
	go func() {
		defer stop()
		for {
			select {
			case <-overflow: // before any queued event: the trigger is over
				updater.Error(tooSlowResponse)
				updater.Done()
				return
			default:
			}
			select {
			case <-done:
				return
			case <-overflow:
				updater.Error(tooSlowResponse)
				updater.Done()
				return
			case data := <-q:
				updater.Update(data)
			}
		}
	}()
	return nil
}

var tooSlowResponse = gqlwire.Response(tooSlowErrors)

// AsyncErrorWriter writes the errors the engine meets outside a request
// (a trigger that cannot start, an update that cannot be resolved) as one
// GraphQL response to the subscription's writer. The engine requires one
// (a nil writer panics) and does not flush after it.
type AsyncErrorWriter struct{}

func (AsyncErrorWriter) WriteError(_ *resolve.Context, err error, _ *resolve.GraphQLResponse, w io.Writer) {
	errs := gqlwire.Internal()
	var ae *apperr.Error
	if errors.As(err, &ae) {
		errs = []gqlwire.Error{gqlwire.Coded(string(ae.Code), ae.Message)}
	}
	if _, werr := w.Write(gqlwire.Response(errs)); werr != nil {
		return
	}
	if f, ok := w.(interface{ Flush() error }); ok {
		_ = f.Flush()
	}
}
