package router

import (
	"context"
	"fmt"
	"net/http"

	"github.com/wundergraph/cosmo/router/gen/proto/wg/cosmo/common"
	nodev1 "github.com/wundergraph/cosmo/router/gen/proto/wg/cosmo/node/v1"
	"github.com/wundergraph/graphql-go-tools/execution/engine"
	"github.com/wundergraph/graphql-go-tools/execution/graphql"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/datasource/graphql_datasource"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/plan"
)

// engineConfiguration turns a composed router config into the planner's
// data sources and field configurations. It does what the execution
// module's federation config factory does, with two differences that
// matter here:
//
//   - Every key keeps its composed metadata, resolvable: false included
//     (DisableEntityResolver) and the conditions of implicit keys, and root
//     and child nodes keep their external fields. The factory drops them,
//     and the planner then sends _entities to a subgraph that declares it
//     cannot resolve the entity.
//   - All subgraphs share one data source factory, so the engine has one
//     subscription client (and one HTTP client), all ending with ctx.
func engineConfiguration(ctx context.Context, rc *nodev1.RouterConfig, client *http.Client) (engine.Configuration, error) {
	ec := rc.GetEngineConfig()
	schema, err := graphql.NewSchemaFromString(ec.GetGraphqlSchema())
	if err != nil {
		return engine.Configuration{}, fmt.Errorf("parse supergraph schema: %w", err)
	}
	subs := graphql_datasource.NewGraphQLSubscriptionClient(ctx,
		graphql_datasource.WithUpgradeClient(client),
		// Streams must not be cut by the fetch timeout.
		graphql_datasource.WithStreamingClient(&http.Client{Transport: client.Transport}),
	)
	factory, err := graphql_datasource.NewFactory(ctx, client, subs)
	if err != nil {
		return engine.Configuration{}, fmt.Errorf("data source factory: %w", err)
	}
	names := make(map[string]string, len(rc.GetSubgraphs()))
	for _, s := range rc.GetSubgraphs() {
		names[s.GetId()] = s.GetName()
	}
	conf := engine.NewConfiguration(schema)
	dss := make([]plan.DataSource, 0, len(ec.GetDatasourceConfigurations()))
	for _, in := range ec.GetDatasourceConfigurations() {
		ds, err := graphqlDataSource(ec, in, names[in.GetId()], factory)
		if err != nil {
			return engine.Configuration{}, fmt.Errorf("data source %s: %w", in.GetId(), err)
		}
		dss = append(dss, ds)
	}
	conf.SetDataSources(dss)
	conf.SetFieldConfigurations(fieldConfigurations(ec))
	return conf, nil
}

func graphqlDataSource(ec *nodev1.EngineConfiguration, in *nodev1.DataSourceConfiguration, name string, factory plan.PlannerFactory[graphql_datasource.Configuration]) (plan.DataSource, error) {
	if in.GetKind() != nodev1.DataSourceKind_GRAPHQL {
		return nil, fmt.Errorf("kind %s is not served (only GraphQL subgraphs)", in.GetKind())
	}
	gql := in.GetCustomGraphql()
	header := http.Header{}
	for k, vs := range gql.GetFetch().GetHeader() {
		for _, v := range vs.GetValues() {
			s, err := variable(v)
			if err != nil {
				return nil, fmt.Errorf("header %s: %w", k, err)
			}
			header.Add(k, s)
		}
	}
	fetchURL, err := variable(gql.GetFetch().GetUrl())
	if err != nil {
		return nil, fmt.Errorf("fetch URL: %w", err)
	}
	subURL, err := variable(gql.GetSubscription().GetUrl())
	if err != nil {
		return nil, fmt.Errorf("subscription URL: %w", err)
	}
	if subURL == "" {
		subURL = fetchURL
	}
	var sse, ssePost bool
	switch gql.GetSubscription().GetProtocol() {
	case common.GraphQLSubscriptionProtocol_GRAPHQL_SUBSCRIPTION_PROTOCOL_SSE:
		sse = true
	case common.GraphQLSubscriptionProtocol_GRAPHQL_SUBSCRIPTION_PROTOCOL_SSE_POST:
		sse, ssePost = true, true
	}
	upstream, ok := ec.GetStringStorage()[gql.GetUpstreamSchema().GetKey()]
	if !ok {
		return nil, fmt.Errorf("no upstream schema under key %q", gql.GetUpstreamSchema().GetKey())
	}
	schema, err := graphql_datasource.NewSchemaConfiguration(upstream, &graphql_datasource.FederationConfiguration{
		Enabled:    gql.GetFederation().GetEnabled(),
		ServiceSDL: gql.GetFederation().GetServiceSdl(),
	})
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	scalars := make([]graphql_datasource.SingleTypeField, 0, len(gql.GetCustomScalarTypeFields()))
	for _, f := range gql.GetCustomScalarTypeFields() {
		scalars = append(scalars, graphql_datasource.SingleTypeField{TypeName: f.GetTypeName(), FieldName: f.GetFieldName()})
	}
	custom, err := graphql_datasource.NewConfiguration(graphql_datasource.ConfigurationInput{
		Fetch:                  &graphql_datasource.FetchConfiguration{URL: fetchURL, Method: gql.GetFetch().GetMethod().String(), Header: header},
		Subscription:           &graphql_datasource.SubscriptionConfiguration{URL: subURL, UseSSE: sse, SSEMethodPost: ssePost},
		SchemaConfiguration:    schema,
		CustomScalarTypeFields: scalars,
	})
	if err != nil {
		return nil, err
	}
	if name == "" {
		name = in.GetId()
	}
	return plan.NewDataSourceConfigurationWithName(in.GetId(), name, factory, dataSourceMetadata(in), custom)
}

// variable reads a configuration variable. Composed configs carry static
// values only (SetRoutingURLs writes static ones too); environment
// variables are not read below main.
func variable(v *nodev1.ConfigurationVariable) (string, error) {
	if v == nil {
		return "", nil
	}
	if v.GetKind() != nodev1.ConfigurationVariableKind_STATIC_CONFIGURATION_VARIABLE {
		return "", fmt.Errorf("configuration variable of kind %s is not supported", v.GetKind())
	}
	return v.GetStaticVariableContent(), nil
}

func typeFields(in []*nodev1.TypeField) []plan.TypeField {
	out := make([]plan.TypeField, 0, len(in))
	for _, n := range in {
		out = append(out, plan.TypeField{TypeName: n.GetTypeName(), FieldNames: n.GetFieldNames(), ExternalFieldNames: n.GetExternalFieldNames()})
	}
	return out
}

func fieldSets(in []*nodev1.RequiredField) []plan.FederationFieldConfiguration {
	out := make([]plan.FederationFieldConfiguration, 0, len(in))
	for _, f := range in {
		c := plan.FederationFieldConfiguration{
			TypeName: f.GetTypeName(), FieldName: f.GetFieldName(), SelectionSet: f.GetSelectionSet(),
			DisableEntityResolver: f.GetDisableEntityResolver(),
		}
		for _, cond := range f.GetConditions() {
			kc := plan.KeyCondition{FieldPath: cond.GetFieldPath()}
			for _, fc := range cond.GetFieldCoordinatesPath() {
				kc.Coordinates = append(kc.Coordinates, plan.FieldCoordinate{TypeName: fc.GetTypeName(), FieldName: fc.GetFieldName()})
			}
			c.Conditions = append(c.Conditions, kc)
		}
		out = append(out, c)
	}
	return out
}

func entityInterfaces(in []*nodev1.EntityInterfaceConfiguration) []plan.EntityInterfaceConfiguration {
	out := make([]plan.EntityInterfaceConfiguration, 0, len(in))
	for _, e := range in {
		out = append(out, plan.EntityInterfaceConfiguration{InterfaceTypeName: e.GetInterfaceTypeName(), ConcreteTypeNames: e.GetConcreteTypeNames()})
	}
	return out
}

func dataSourceMetadata(in *nodev1.DataSourceConfiguration) *plan.DataSourceMetadata {
	directives := make(plan.DirectiveConfigurations, 0, len(in.GetDirectives()))
	for _, d := range in.GetDirectives() {
		directives = append(directives, plan.DirectiveConfiguration{DirectiveName: d.GetDirectiveName(), RenameTo: d.GetDirectiveName()})
	}
	return &plan.DataSourceMetadata{
		RootNodes:  typeFields(in.GetRootNodes()),
		ChildNodes: typeFields(in.GetChildNodes()),
		Directives: &directives,
		FederationMetaData: plan.FederationMetaData{
			Keys:             fieldSets(in.GetKeys()),
			Requires:         fieldSets(in.GetRequires()),
			Provides:         fieldSets(in.GetProvides()),
			EntityInterfaces: entityInterfaces(in.GetEntityInterfaces()),
			InterfaceObjects: entityInterfaces(in.GetInterfaceObjects()),
		},
	}
}

func fieldConfigurations(ec *nodev1.EngineConfiguration) plan.FieldConfigurations {
	out := make(plan.FieldConfigurations, 0, len(ec.GetFieldConfigurations()))
	for _, f := range ec.GetFieldConfigurations() {
		fc := plan.FieldConfiguration{TypeName: f.GetTypeName(), FieldName: f.GetFieldName()}
		if a := f.GetAuthorizationConfiguration(); a != nil {
			// Asked of the authorizer before any fetch (authz.go).
			fc.HasAuthorizationRule = a.GetRequiresAuthentication() || len(a.GetRequiredOrScopes()) > 0
		}
		for _, a := range f.GetArgumentsConfiguration() {
			arg := plan.ArgumentConfiguration{Name: a.GetName()}
			switch a.GetSourceType() {
			case nodev1.ArgumentSource_FIELD_ARGUMENT:
				arg.SourceType = plan.FieldArgumentSource
			case nodev1.ArgumentSource_OBJECT_FIELD:
				arg.SourceType = plan.ObjectFieldSource
			}
			fc.Arguments = append(fc.Arguments, arg)
		}
		out = append(out, fc)
	}
	return out
}
