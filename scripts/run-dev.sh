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

mailpit=$(bash scripts/mailpit.sh)
"$mailpit" --smtp 127.0.0.1:1025 --listen 127.0.0.1:8026 --database .run/mailpit.db >.run/mailpit.log 2>&1 &
mailpit_pid=$!
trap 'kill "$mailpit_pid" 2>/dev/null || true' EXIT

echo "mail catcher: http://127.0.0.1:8025 (mailpit's API: http://127.0.0.1:8026/api/v1)"
bin/herald
