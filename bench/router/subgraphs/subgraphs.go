// Package subgraphs is the router benchmark's standard federated workload:
// four gqlgen Federation v2 subgraphs over fixed in-memory data.
//
//   - accounts:  User @key(id) with name and username
//   - products:  Product @key(upc) with name, price, weight; topProducts(first)
//   - inventory: Product.inStock and shippingEstimate @requires(price weight)
//   - reviews:   Review with body, author @provides(username), product;
//     User.reviews and Product.reviews; latestReviews(first)
//
// Start serves them in-process on free loopback ports.
package subgraphs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/heraldhq/herald/bench/router/subgraphs/accounts"
	"github.com/heraldhq/herald/bench/router/subgraphs/inventory"
	"github.com/heraldhq/herald/bench/router/subgraphs/products"
	"github.com/heraldhq/herald/bench/router/subgraphs/reviews"
)

// Names lists the subgraphs in composition order.
var Names = []string{"accounts", "products", "inventory", "reviews"}

// Handlers returns each subgraph's handler by name.
func Handlers() map[string]http.Handler {
	return map[string]http.Handler{
		"accounts":  accounts.Handler(),
		"products":  products.Handler(),
		"inventory": inventory.Handler(),
		"reviews":   reviews.Handler(),
	}
}

// Set is the four subgraphs, each on its own loopback listener.
type Set struct {
	// URLs maps each subgraph name to its GraphQL endpoint.
	URLs    map[string]string
	servers []*http.Server
	done    chan error
}

// Start listens on 127.0.0.1 free ports and serves every subgraph until Close.
func Start() (*Set, error) {
	s := &Set{URLs: map[string]string{}, done: make(chan error, len(Names))}
	hs := Handlers()
	for _, name := range Names {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("listen for subgraph %s: %w", name, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/graphql", hs[name])
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		s.servers = append(s.servers, srv)
		s.URLs[name] = "http://" + ln.Addr().String() + "/graphql"
		go func() { s.done <- srv.Serve(ln) }()
	}
	return s, nil
}

// RouterEnv is the HERALD_SUBGRAPHS value naming the four subgraphs.
func (s *Set) RouterEnv() string {
	pairs := make([]string, 0, len(Names))
	for _, name := range Names {
		pairs = append(pairs, name+"="+s.URLs[name])
	}
	return strings.Join(pairs, ",")
}

// Close stops every server, waiting for requests in flight up to 5s.
func (s *Set) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	for _, srv := range s.servers {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	for range s.servers {
		if err := <-s.done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	s.servers = nil
	return errors.Join(errs...)
}
