#!/usr/bin/env bash
# `make test`: starts Kafka, PostgreSQL, NATS and mailpit once (internal/testenv/cmd/testinfra),
# runs every test against them, then stops them. Extra arguments go to `go test`, e.g.
#   bash scripts/test.sh -run TestKafka ./internal/testenv/
# (the package list defaults to ./...). GOTESTFLAGS adds flags too.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .bin
go build -o .bin/testinfra ./internal/testenv/cmd/testinfra

args=("$@")
has_pkg=false
for a in "${args[@]}"; do
	[[ $a == ./* ]] && has_pkg=true
done
# The whole suite also runs every Go benchmark once, in the same test
# binaries after their tests, so a benchmark that stops working fails it
# instead of waiting for the next measurement.
$has_pkg || args+=(-bench . -benchtime 1x ./...)

# gotestsum prints one line per test (PASS/FAIL/SKIP), so a run shows which
# suites executed; the full JSON stream is kept for digging.
[[ -x .bin/gotestsum ]] || GOBIN="$PWD/.bin" GOFLAGS= go install gotest.tools/gotestsum@v1.13.0
mkdir -p .cache
# shellcheck disable=SC2086 # GOTESTFLAGS is a list of flags
exec .bin/testinfra run -- .bin/gotestsum --format testname --jsonfile .cache/test-output.json \
	-- -count=1 -timeout 30m ${GOTESTFLAGS:-} "${args[@]}"

