#!/usr/bin/env bash
# `make bench`: the set-up of `make test`, then every bench/NN_*.sh in order.
# Each prints its figures as ratios measured side by side in one run.
set -euo pipefail
. "$(dirname "$0")/../test/lib.sh"
privacy_setup
for b in "$TOP"/bench/[0-9]*.sh; do
	[ -e "$b" ] || continue
	echo "################ $(basename "$b" .sh)"
	bash "$b"
done
