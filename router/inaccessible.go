package router

import (
	"fmt"
	"strings"

	nodev1 "github.com/wundergraph/cosmo/router/gen/proto/wg/cosmo/node/v1"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/ast"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/astparser"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/astprinter"
	"google.golang.org/protobuf/proto"
)

// markInaccessible returns rc with @inaccessible applied, in the schema the
// engine plans against (EngineConfig.graphqlSchema), to every object type
// and enum value that the client schema (graphqlClientSchema) leaves out.
//
// The engine keeps inaccessible values out of answers by itself: an enum
// value marked @inaccessible in its planning schema is answered as null with
// an error at its path, and an object type marked @inaccessible is no
// possible type of the unions and interfaces it belongs to (a subgraph
// answering one gets null and an error). But the composer's router schema
// carries no @inaccessible applications, so without this the hidden value
// reached clients. The client schema says exactly what is hidden: what is in
// the router schema and not in it. rc itself is not changed.
func markInaccessible(rc *nodev1.RouterConfig) (*nodev1.RouterConfig, error) {
	ec := rc.GetEngineConfig()
	clientSDL := ec.GetGraphqlClientSchema()
	if clientSDL == "" || ec.GetGraphqlSchema() == "" {
		return rc, nil
	}
	client, report := astparser.ParseGraphqlDocumentString(clientSDL)
	if report.HasErrors() {
		return nil, fmt.Errorf("parse client schema: %s", report.Error())
	}
	full, report := astparser.ParseGraphqlDocumentString(ec.GetGraphqlSchema())
	if report.HasErrors() {
		return nil, fmt.Errorf("parse router schema: %s", report.Error())
	}

	visibleTypes := map[string]bool{}
	for i := range client.ObjectTypeDefinitions {
		visibleTypes[client.ObjectTypeDefinitionNameString(i)] = true
	}
	visibleValues := map[string]bool{} // "Enum.VALUE"
	visibleEnums := map[string]bool{}
	for i, e := range client.EnumTypeDefinitions {
		name := client.EnumTypeDefinitionNameString(i)
		visibleEnums[name] = true
		for _, v := range e.EnumValuesDefinition.Refs {
			visibleValues[name+"."+client.EnumValueDefinitionNameString(v)] = true
		}
	}

	marked := 0
	mark := func(dirs *ast.DirectiveList, has *bool) {
		if *has && dirs.HasDirectiveByName(&full, "inaccessible") {
			return
		}
		dirs.Refs = append(dirs.Refs, full.ImportDirective("inaccessible", nil))
		*has = true
		marked++
	}
	for i := range full.ObjectTypeDefinitions {
		if !visibleTypes[full.ObjectTypeDefinitionNameString(i)] {
			d := &full.ObjectTypeDefinitions[i]
			mark(&d.Directives, &d.HasDirectives)
		}
	}
	for i, e := range full.EnumTypeDefinitions {
		name := full.EnumTypeDefinitionNameString(i)
		if !visibleEnums[name] {
			continue // a wholly inaccessible enum: no client field returns it
		}
		for _, v := range e.EnumValuesDefinition.Refs {
			if !visibleValues[name+"."+full.EnumValueDefinitionNameString(v)] {
				d := &full.EnumValueDefinitions[v]
				mark(&d.Directives, &d.HasDirectives)
			}
		}
	}
	if marked == 0 {
		return rc, nil
	}
	sdl, err := astprinter.PrintString(&full)
	if err != nil {
		return nil, fmt.Errorf("print router schema: %w", err)
	}
	if !strings.Contains(sdl, "directive @inaccessible") {
		sdl += "\ndirective @inaccessible on ARGUMENT_DEFINITION | ENUM | ENUM_VALUE | FIELD_DEFINITION | INPUT_FIELD_DEFINITION | INPUT_OBJECT | INTERFACE | OBJECT | SCALAR | UNION\n"
	}
	out := proto.Clone(rc).(*nodev1.RouterConfig)
	out.EngineConfig.GraphqlSchema = sdl
	return out, nil
}
