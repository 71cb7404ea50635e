#!/usr/bin/env bash
# `make test-stress`: the whole suite (scripts/test.sh, same arguments) with
# two CPU-burning processes beside it, as on a busy CI machine. The burners
# are ended by their own process ids when the suite ends, however it ends.
# STRESS_BURNERS changes how many run.
set -euo pipefail
cd "$(dirname "$0")/.."
burners=()
stop_burners() {
	for pid in "${burners[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${burners[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
}
trap stop_burners EXIT
for _ in $(seq "${STRESS_BURNERS:-2}"); do
	# A busy loop in a child shell: one core's worth of load, nothing else.
	bash -c 'while :; do :; done' &
	burners+=("$!")
done
echo "test-stress: ${#burners[@]} CPU burners running (pids ${burners[*]})"
# Not exec: the trap must run after the suite.
bash scripts/test.sh "$@"
