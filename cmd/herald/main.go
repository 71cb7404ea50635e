// Command herald runs the whole platform in one process for development:
// the services of the stack table (internal/stack: users, orders, notifier
// and router), on SQLite files and an embedded NATS JetStream under .run/.
// Each service reads the same variables as its own binary;
// HERALD_<SERVICE>_<NAME> overrides HERALD_<NAME> for one service (for
// example HERALD_ORDERS_HTTP_ADDR, which the others then call it at). Run
// with --help to list them. It
// also serves the mail viewer (internal/mailview) over the local mailpit's
// API at http://127.0.0.1:8025/, and the web app (web/webapp) at
// http://127.0.0.1:8080/ with a development sign-in.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/httpserver"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/mailview"
	"github.com/heraldhq/herald/internal/stack"
	"github.com/heraldhq/herald/internal/stack/inproc"
	"github.com/heraldhq/herald/internal/stream/backend"
	"github.com/heraldhq/herald/router"
	"github.com/heraldhq/herald/web/webapp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	os.Exit(code)
}

// parts are the configuration sections of the stack, in --help order: the
// stream, the services of the stack table (internal/stack) in start order,
// the mail viewer and the web app.
var parts = append(append([]string{"stream"}, stack.Names()...), "mailview", "webapp")

// devWiring connects the table's services on fixed loopback ports, SQLite
// files under .run/, the local mail catcher and the stack's own signing key
// (token.go) unless another provider is configured.
var devWiring = stack.Wiring{
	Addr: map[string]string{"router": "127.0.0.1:4000", "users": "127.0.0.1:4001", "orders": "127.0.0.1:4002", "notifier": "127.0.0.1:4003"},
	DSN:  map[string]string{"users": ".run/users.db", "orders": ".run/orders.db", "notifier": ".run/notifier.db"},
	// The local mail catcher speaks plain SMTP; real relays keep the
	// binary's default, starttls-required.
	SMTP:     stack.SMTP{Addr: "127.0.0.1:1025", TLS: "none"},
	Auth:     map[string]string{"HERALD_AUTH_PUBLIC_KEY_FILE": devPublicKey},
	Statuses: true,
}

// devDefaults are the embedded-stack values used when neither the
// service-prefixed nor the plain variable is set: the table's wiring of
// devWiring, at the listen addresses given per service
// (HERALD_<SERVICE>_HTTP_ADDR), so that the others follow a moved service.
func devDefaults(getenv func(string) string) map[string]map[string]string {
	w := devWiring
	w.Addr = map[string]string{}
	for name, addr := range devWiring.Addr {
		if v := getenv("HERALD_" + strings.ToUpper(name) + "_HTTP_ADDR"); v != "" {
			addr = v
		}
		w.Addr[name] = addr
	}
	out := map[string]map[string]string{
		"stream": {
			"HERALD_STREAM":            "nats",
			"HERALD_NATS_URL":          "nats://127.0.0.1:4222",
			"HERALD_NATS_EMBEDDED_DIR": ".run/nats",
		},
	}
	for _, name := range stack.Names() {
		out[name] = w.Env(name)
	}
	return out
}

// perService reads HERALD_<SERVICE>_X, then HERALD_X, then the dev default.
// Listen addresses and databases never fall back to the plain variable: one
// HERALD_HTTP_ADDR cannot serve four services.
func perService(service string, getenv func(string) string, defaults map[string]map[string]string) func(string) string {
	prefix := "HERALD_" + strings.ToUpper(service) + "_"
	return func(name string) string {
		if v := getenv(prefix + strings.TrimPrefix(name, "HERALD_")); v != "" {
			return v
		}
		if name != "HERALD_HTTP_ADDR" && name != "HERALD_DB_DSN" {
			if v := getenv(name); v != "" {
				return v
			}
		}
		return defaults[service][name]
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) int {
	if len(args) > 0 && args[0] == "token" {
		return runToken(args[1:], stdout, stdout)
	}
	common := config.New(getenv)
	level := logging.LoadLevel(common)

	defaults := devDefaults(getenv)
	if !config.WantsHelp(args) && perService("router", getenv, defaults)("HERALD_SUBGRAPH_SECRET") == "" {
		// Identity headers are believed only with the router's secret:
		// the stack makes one for this run unless one is configured.
		secret, set := rand.Text(), map[string]string{}
		for _, name := range stack.Names() {
			set["HERALD_"+strings.ToUpper(name)+"_SUBGRAPH_SECRET"] = secret
		}
		getenv = withVars(getenv, set)
	}
	vars := map[string]*config.Vars{}
	for _, s := range parts {
		vars[s] = config.New(perService(s, getenv, defaults))
	}
	streamCfg := backend.LoadConfig(vars["stream"])
	services := make([]inproc.Part, 0, len(stack.Services))
	var routerCfg *router.Config
	for _, name := range stack.Names() {
		part, err := inproc.Load(name, vars[name])
		if err != nil {
			fmt.Fprintln(stdout, err)
			return 2
		}
		if name == "router" {
			routerCfg = part.Config.(*router.Config) // the playground's demo sign-in below
		}
		services = append(services, part)
	}
	mailviewCfg := mailview.LoadConfig(vars["mailview"]) // HERALD_MAILVIEW_HTTP_ADDR, HERALD_MAILPIT_URL
	webappCfg := webapp.LoadConfig(vars["webapp"])       // HERALD_WEBAPP_HTTP_ADDR

	if config.WantsHelp(args) {
		fmt.Fprintln(stdout, "herald: the whole Herald platform in one process, for development.")
		fmt.Fprintln(stdout, "Each variable below may be set per service as HERALD_<SERVICE>_<NAME>, e.g. HERALD_ORDERS_HTTP_ADDR.")
		fmt.Fprintln(stdout, "Defaults shown are the embedded-stack defaults.")
		fmt.Fprintln(stdout)
		common.Usage(stdout, "herald", "shared")
		for _, s := range parts {
			fmt.Fprintln(stdout)
			vars[s].Usage(stdout, s, "variables of the "+s+" part")
		}
		return 0
	}
	var problems []error
	all := []*config.Vars{common}
	for _, s := range parts {
		all = append(all, vars[s])
	}
	for _, v := range all {
		if err := v.Err(); err != nil {
			problems = append(problems, err)
		}
	}
	if len(problems) > 0 {
		fmt.Fprintln(stdout, errors.Join(problems...))
		return 2
	}

	logger := logging.New(stdout, level, "herald")
	demoToken := ""
	var devSignIn http.Handler // the web app's development sign-in; nil with another identity provider
	if routerCfg.Auth.PublicKeyFile == devPublicKey {
		signer, err := devSigner(devSigningKey, devPublicKey)
		if err == nil {
			demoToken, err = signer.Mint(devSubject, nil, devTTL)
		}
		if err != nil {
			logger.Error("development signing key", "err", err.Error())
			return 1
		}
		// The playground starts signed in as the demo user.
		routerCfg.PlaygroundHeaders = map[string]string{"Authorization": "Bearer " + demoToken}
		devSignIn = devTokenHandler(signer)
	}
	var mailView http.Handler // nil: the mail viewer is off
	if mailviewCfg.Enabled() {
		var err error
		if mailView, err = mailview.Handler(mailviewCfg, logger.With("part", "mailview")); err != nil {
			logger.Error("mail viewer", "err", err.Error())
			return 1
		}
	}
	var webApp http.Handler // nil: the web app is off
	if webappCfg.Enabled() {
		var err error
		if webApp, err = webapp.Handler(stack.BaseURL(routerCfg.Addr), devSignIn, logger.With("part", "webapp")); err != nil {
			logger.Error("web app", "err", err.Error())
			return 1
		}
	}
	broker, err := backend.Open(ctx, streamCfg, logger.With("part", "stream"))
	if err != nil {
		logger.Error("open stream backend", "err", err.Error())
		return 1
	}
	defer broker.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	start := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				logger.Error("service stopped", "part", name, "err", err.Error())
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("%s: %w", name, err)
				}
				mu.Unlock()
				cancel() // one part down takes the dev stack down, loudly
			}
		}()
	}
	for _, p := range services {
		start(p.Service.Name, func(ctx context.Context) error {
			return p.Run(ctx, inproc.Deps{Logger: logger.With("part", p.Service.Name), Broker: broker})
		})
	}

	mailAt := ""
	if mailView != nil {
		mailAt = "http://" + mailviewCfg.Addr + "/"
		start("mailview", func(ctx context.Context) error {
			return httpserver.Serve(ctx, logger.With("part", "mailview"), mailviewCfg.Addr, mailView, nil)
		})
	}

	appAt := ""
	if webApp != nil {
		appAt = stack.BaseURL(webappCfg.Addr) + "/"
		start("webapp", func(ctx context.Context) error {
			return httpserver.Serve(ctx, logger.With("part", "webapp"), webappCfg.Addr, webApp, nil)
		})
	}

	go announce(ctx, stdout, routerCfg.Addr, mailAt, appAt, demoToken)

	wg.Wait()
	if firstErr != nil {
		return 1
	}
	return 0
}

// announce prints the playground URL once the router answers /healthz, so a
// person knows when the stack is usable, and the mail viewer's when it is
// served.
func announce(ctx context.Context, w io.Writer, addr, mailAt, appAt, token string) {
	base := stack.BaseURL(addr)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
		resp, err := client.Get(base + "/healthz")
		if err != nil {
			continue
		}
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			fmt.Fprintf(w, "\nHerald is up.\n  GraphQL playground: %s/\n  GraphQL endpoint:   %s/graphql\n", base, base)
			if appAt != "" {
				fmt.Fprintf(w, "  Web app:            %s\n", appAt)
			}
			if mailAt != "" {
				fmt.Fprintf(w, "  Mail catcher:       %s\n", mailAt)
			}
			if token != "" {
				fmt.Fprintf(w, "  Signed in as %q in the playground. The same token, valid %v hours, for curl and apps:\n    Authorization: Bearer %s\n", devSubject, devTTL.Hours(), token)
				fmt.Fprintln(w, "  Other users and operators: bin/herald token -sub alice   |   bin/herald token -sub ops -scope herald:admin")
			}
			fmt.Fprintln(w)
			return
		}
	}
}

// baseURL is the http URL of a listen address.
// withVars is getenv with vars in front.
func withVars(getenv func(string) string, vars map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := vars[k]; ok {
			return v
		}
		return getenv(k)
	}
}
