#!/usr/bin/env bash
# Runs the whole platform in one process on embedded defaults (SQLite files
# and an embedded NATS JetStream under .run/), next to a local mailpit. The
# mail catcher's page is Herald's mail viewer at http://127.0.0.1:8025, served
# by bin/herald over mailpit's API on 127.0.0.1:8026 (a mailpit built with
# `go install` has no web UI of its own: see docs/operations.md). Ctrl-C stops
# everything.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .run

if [[ ! -x .bin/mailpit ]]; then
	echo "== building the pinned mailpit (the local mail catcher) into .bin/: a minute or two, once"
fi
mailpit=$(bash scripts/mailpit.sh)
"$mailpit" --smtp 127.0.0.1:1025 --listen 127.0.0.1:8026 --database .run/mailpit.db >.run/mailpit.log 2>&1 &
mailpit_pid=$!
trap 'kill "$mailpit_pid" 2>/dev/null || true' EXIT

echo "== starting Herald (users, orders, notifier, router, web app, mail viewer); it prints its URLs when ready"
bin/herald
