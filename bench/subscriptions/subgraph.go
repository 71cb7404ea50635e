package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// benchSubgraphSDL is the subgraph the composition needs besides the
// built-in notifications one: a federated graph must have a query root
// field, and the notifications subgraph has none. It also resolves Order
// entities (a fixed total), for -selection order; with -selection status it
// is never called while events fan out.
const benchSubgraphSDL = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])

type Query {
  "Answers pong: a federated graph needs a query root field."
  benchPing: String
}

"Every order has the same total: the benchmark measures the fetch, not the data."
type Order @key(fields: "id") {
  id: ID!
  totalMinor: Int!
  currency: String!
}
`

// The bench subgraph's order.
const (
	benchOrderTotal    = 4200
	benchOrderCurrency = "EUR"
)

// benchSubgraph serves benchSubgraphSDL on 127.0.0.1, counting Order entity
// fetches.
type benchSubgraph struct {
	url           string
	entityFetches atomic.Int64
	srv           *http.Server
}

func startBenchSubgraph() (*benchSubgraph, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	sg := &benchSubgraph{url: "http://" + ln.Addr().String() + "/graphql"}
	sdl, _ := json.Marshal(benchSubgraphSDL)
	sg.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Query     string `json:"query"`
			Variables struct {
				Representations []struct {
					Typename string `json:"__typename"`
					ID       string `json:"id"`
				} `json:"representations"`
			} `json:"variables"`
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.Contains(req.Query, "_entities"):
			sg.entityFetches.Add(1)
			out := make([]map[string]any, len(req.Variables.Representations))
			for i, rep := range req.Variables.Representations {
				out[i] = map[string]any{"__typename": rep.Typename, "id": rep.ID, "totalMinor": benchOrderTotal, "currency": benchOrderCurrency}
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"_entities": out}})
		case strings.Contains(req.Query, "_service"):
			fmt.Fprintf(w, `{"data":{"_service":{"sdl":%s}}}`, sdl)
		default:
			io.WriteString(w, `{"data":{"benchPing":"pong"}}`)
		}
	})}
	go func() { _ = sg.srv.Serve(ln) }()
	return sg, nil
}

func (sg *benchSubgraph) close() { _ = sg.srv.Close() }
