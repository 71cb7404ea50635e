# Herald developer entry points. `make run` and `make test` are the two a
# newcomer needs; see README.md.
GO       ?= go
BIN      := bin
SERVICES := herald users orders notifier router

.PHONY: all build run test test-stress test-unit generate check-generate web check-web lint fmt clean help

all: build

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

build: ## build every binary into bin/
	@echo "== building bin/ ($(SERVICES)); the first build compiles every dependency and takes minutes"
	$(GO) build -o $(BIN)/ $(addprefix ./cmd/,$(SERVICES))

run: build ## run the whole platform on embedded defaults (SQLite, embedded NATS, mailpit)
	bash scripts/run-dev.sh

test: ## every test, starting real Kafka, PostgreSQL, NATS and mailpit
	bash scripts/test.sh

test-stress: ## the whole suite with two CPU-burning processes beside it (a busy machine)
	bash scripts/test-stress.sh

test-unit: ## tests that need no infrastructure (they skip what needs it unless CI=true)
	$(GO) test -short ./...

generate: ## regenerate ent, gqlgen, genqlient, the composed router config and docs/configuration.md
	$(GO) generate ./...
	bash scripts/gen-config-docs.sh

check-generate: generate ## fail when generated code differs from what is committed
	@git diff --exit-code --stat -- . || (echo "generated code is stale: run make generate and commit" >&2; exit 1)
	@test -z "$$(git status --porcelain --untracked-files=all -- ent subgraphs notifier router schema docs)" || (git status --porcelain -- ent subgraphs notifier router schema docs; echo "make generate created files that are not committed" >&2; exit 1)

# The web app's built pages are committed (web/webapp/dist), so a Go build
# needs no Node.js; `make web` rebuilds them from web/ with the locked npm
# packages and `make check-web` fails when the committed copy is stale.
web: ## rebuild the web app's committed assets (web/webapp/dist) with npm
	cd web && npm ci --no-audit --no-fund && npm run build

check-web: web ## fail when web/webapp/dist differs from a fresh build of web/
	@git diff --exit-code --stat -- web/webapp/dist || (echo "web/webapp/dist is stale: run make web and commit" >&2; exit 1)
	@test -z "$$(git status --porcelain --untracked-files=all -- web/webapp/dist)" || (git status --porcelain -- web/webapp/dist; echo "make web created files that are not committed" >&2; exit 1)

lint: ## gofmt, go vet and staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt needed" >&2; exit 1)
	$(GO) vet ./...
	# gqlgen's generated federation code trips staticcheck; it is not ours to fix.
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $$($(GO) list ./... | grep -v '/generated$$')

fmt: ## format the code
	gofmt -w $$(git ls-files '*.go')

clean: ## remove build output and the dev stack's data
	rm -rf $(BIN) .run
