package router

import (
	"strings"
	"testing"

	nodev1 "github.com/wundergraph/cosmo/router/gen/proto/wg/cosmo/node/v1"
)

func TestMarkInaccessible(t *testing.T) {
	full := `directive @inaccessible on OBJECT | ENUM_VALUE | FIELD_DEFINITION
type Query { products: [Product!]! hits: [Hit] }
enum Status { ACTIVE SECRET }
type Product { id: ID! status: Status code: String }
type Note { id: ID! }
union Hit = Product | Note
`
	client := `type Query { products: [Product!]! hits: [Hit] }
enum Status { ACTIVE }
type Product { id: ID! status: Status }
union Hit = Product
`
	rc := &nodev1.RouterConfig{EngineConfig: &nodev1.EngineConfiguration{GraphqlSchema: full, GraphqlClientSchema: &client}}
	out, err := markInaccessible(rc)
	if err != nil {
		t.Fatal(err)
	}
	if rc.EngineConfig.GraphqlSchema != full {
		t.Error("the input router config was changed")
	}
	got := out.EngineConfig.GraphqlSchema
	for _, want := range []string{"SECRET @inaccessible", "type Note @inaccessible"} {
		if !strings.Contains(got, want) {
			t.Errorf("marked schema lacks %q:\n%s", want, got)
		}
	}
	for _, not := range []string{"ACTIVE @inaccessible", "Product @inaccessible", "Query @inaccessible"} {
		if strings.Contains(got, not) {
			t.Errorf("marked schema has %q:\n%s", not, got)
		}
	}
	again, err := markInaccessible(out)
	if err != nil {
		t.Fatal(err)
	}
	if again != out || strings.Count(again.EngineConfig.GraphqlSchema, "@inaccessible") != strings.Count(got, "@inaccessible") {
		t.Errorf("marking twice changed the schema:\n%s", again.EngineConfig.GraphqlSchema)
	}
	// Without a client schema (or with nothing hidden) rc is served as it is.
	plain := &nodev1.RouterConfig{EngineConfig: &nodev1.EngineConfiguration{GraphqlSchema: full}}
	if same, err := markInaccessible(plain); err != nil || same != plain {
		t.Errorf("no client schema: got %v, %v; want rc itself", same, err)
	}
}
