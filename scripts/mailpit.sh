#!/usr/bin/env bash
# Prints the path of the pinned mailpit binary (<repo>/.bin/mailpit), building it first if it is
# missing. The pinned version lives in internal/testenv (mailpitVersion).
set -euo pipefail
cd "$(dirname "$0")/.."
go run ./internal/testenv/cmd/testinfra mailpit-path
