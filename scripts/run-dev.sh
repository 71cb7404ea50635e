#!/usr/bin/env bash
# Runs the whole platform in one process on embedded defaults (SQLite files
# and an embedded NATS JetStream under .run/), next to a local mailpit whose
# inbox is at http://127.0.0.1:8025. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .run

mailpit=$(bash scripts/mailpit.sh)
"$mailpit" --smtp 127.0.0.1:1025 --listen 127.0.0.1:8025 --database .run/mailpit.db >.run/mailpit.log 2>&1 &
mailpit_pid=$!
trap 'kill "$mailpit_pid" 2>/dev/null || true' EXIT

echo "mail catcher (mailpit): http://127.0.0.1:8025"
bin/herald
