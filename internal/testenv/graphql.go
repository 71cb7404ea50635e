package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// GraphQLClient posts operations to a GraphQL endpoint over HTTP, as a web app would: the
// one client of the end-to-end tests, e2e/federation and the benchmarks.
type GraphQLClient struct {
	URL string
	// Token is sent as a bearer token; "" calls anonymously.
	Token string
	// Header is added to every request (nil: none).
	Header http.Header
	// HTTP is the client to use (nil: http.DefaultClient).
	HTTP *http.Client
}

// GraphQLError is one entry of a response's errors.
type GraphQLError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path,omitempty"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

// Code is extensions.code ("" without one).
func (e GraphQLError) Code() string {
	c, _ := e.Extensions["code"].(string)
	return c
}

// GraphQLResponse is one answer with its HTTP status.
type GraphQLResponse struct {
	Status int             `json:"-"`
	Data   json.RawMessage `json:"data"`
	Errors []GraphQLError  `json:"errors"`
}

// Post sends one operation and returns the whole answer. The error is for transport and
// decoding problems only; it never ends a test, so Post may run on any goroutine.
func (c *GraphQLClient) Post(ctx context.Context, query string, vars map[string]any) (GraphQLResponse, error) {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return GraphQLResponse{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return GraphQLResponse{}, err
	}
	for k, vs := range c.Header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return GraphQLResponse{}, fmt.Errorf("POST %s: %w", c.URL, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	r := GraphQLResponse{Status: resp.StatusCode}
	if err != nil {
		return r, fmt.Errorf("read response (HTTP %d): %w", resp.StatusCode, err)
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		if len(raw) > 512 {
			raw = raw[len(raw)-512:]
		}
		return r, fmt.Errorf("decode response (HTTP %d): %w: %s", resp.StatusCode, err, raw)
	}
	return r, nil
}

// Do posts one operation and decodes its data (when there is any) into out. GraphQL errors
// come back as the slice, transport and decoding problems as the error.
func (c *GraphQLClient) Do(ctx context.Context, query string, vars map[string]any, out any) ([]GraphQLError, error) {
	r, err := c.Post(ctx, query, vars)
	if err != nil {
		return nil, err
	}
	if out != nil && len(r.Data) > 0 && string(r.Data) != "null" {
		if err := json.Unmarshal(r.Data, out); err != nil {
			return r.Errors, fmt.Errorf("decode data %s: %w", r.Data, err)
		}
	}
	return r.Errors, nil
}

// Try is Do with GraphQL errors folded into the error.
func (c *GraphQLClient) Try(ctx context.Context, query string, vars map[string]any, out any) error {
	errs, err := c.Do(ctx, query, vars, out)
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return fmt.Errorf("graphql errors: %+v", errs)
	}
	return nil
}
