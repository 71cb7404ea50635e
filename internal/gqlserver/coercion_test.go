package gqlserver_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/heraldhq/herald/subgraphs/orders"
)

// Coercion errors of variables name the field and say what is expected,
// as BAD_USER_INPUT, instead of gqlparser's "cannot use string as Int".
// The orders subgraph's real schema and handler are used; no resolver runs.
func TestVariableCoercionErrors(t *testing.T) {
	srv := httptest.NewServer(orders.NewHandler(&orders.Resolver{}, nil))
	defer srv.Close()
	const q = `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }`
	item := func(qty any) map[string]any {
		return map[string]any{"sku": "S", "name": "N", "quantity": qty, "unitPriceMinor": 100}
	}
	tests := []struct {
		name       string
		input      map[string]any
		field, msg string
	}{
		{"float quantity", map[string]any{"userId": "u", "currency": "EUR", "items": []any{item(1.5)}},
			"input.items[0].quantity", "quantity must be a whole number"},
		{"string quantity", map[string]any{"userId": "u", "currency": "EUR", "items": []any{item(2), item("three")}},
			"input.items[1].quantity", "quantity must be a whole number"},
		{"boolean as currency", map[string]any{"userId": "u", "currency": true, "items": []any{item(1)}},
			"input.currency", "currency must be a string"},
		{"missing items", map[string]any{"userId": "u", "currency": "EUR"},
			"input.items", "items is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body, _ := json.Marshal(map[string]any{"query": q, "variables": map[string]any{"input": tc.input}})
			resp, err := http.Post(srv.URL+"/graphql", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out struct {
				Errors []struct {
					Message    string         `json:"message"`
					Extensions map[string]any `json:"extensions"`
				} `json:"errors"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
				t.Fatal(err)
			}
			if len(out.Errors) != 1 {
				t.Fatalf("errors %+v, want one", out.Errors)
			}
			e := out.Errors[0]
			if e.Message != tc.msg || e.Extensions["code"] != "BAD_USER_INPUT" || e.Extensions["field"] != tc.field {
				t.Errorf("error %+v, want %q BAD_USER_INPUT on %s", e, tc.msg, tc.field)
			}
		})
	}
}
