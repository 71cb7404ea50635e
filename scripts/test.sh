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
$has_pkg || args+=(./...)

# gotestsum prints one line per test (PASS/FAIL/SKIP), so a run shows which
# suites executed; the full JSON stream is kept for digging.
[[ -x .bin/gotestsum ]] || GOBIN="$PWD/.bin" GOFLAGS= go install gotest.tools/gotestsum@v1.13.0
mkdir -p .cache
# Not exec: the benchmark pass below runs after the suite.
# shellcheck disable=SC2086 # GOTESTFLAGS is a list of flags
.bin/testinfra run -- .bin/gotestsum --format testname --jsonfile .cache/test-output.json \
	-- -count=1 -timeout 30m ${GOTESTFLAGS:-} "${args[@]}"

# The whole suite also runs every Go benchmark once (they need no
# infrastructure), so one that stops working fails it instead of waiting
# for the next measurement. Plain go test: gotestsum reports a benchmark
# that passed as failed. Only the packages that hold benchmarks are built.
if ! $has_pkg; then
	mapfile -t bench_pkgs < <(grep -rl --include='*_test.go' '^func Benchmark' . | xargs -r -n1 dirname | sort -u)
	if ((${#bench_pkgs[@]})); then
		go test -count=1 -run '^$' -bench . -benchtime 1x "${bench_pkgs[@]}"
	fi
fi
