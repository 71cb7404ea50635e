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

# shellcheck disable=SC2086 # GOTESTFLAGS is a list of flags
exec .bin/testinfra run -- go test -count=1 ${GOTESTFLAGS:-} "${args[@]}"
