#!/usr/bin/env bash
# Measure how long ci/cluster/up.sh takes to bring the local cluster to "node Ready + DNS":
#   cold    after `down.sh --purge` (binaries and imported images cached, all cluster state new)
#   restart after `down.sh` (state kept: etcd, certificates, images)
#   warm    up.sh while the cluster is already up (the "second run")
# The cluster is left up. The cold case DELETES everything deployed on the cluster.
#
#   bash bench/cluster_bringup.sh            # all three, warm repeated 3 times
#   bash bench/cluster_bringup.sh --warm     # only the non-destructive warm case
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
up=$repo/ci/cluster/up.sh
down=$repo/ci/cluster/down.sh
log=${BENCH_LOG:-/tmp/logs/cluster-bringup-bench.log}
mkdir -p "$(dirname "$log")"
: >"$log"

only_warm=0
case "${1:-}" in
  --warm) only_warm=1 ;;
  "") ;;
  *) echo "usage: $0 [--warm]" >&2; exit 2 ;;
esac

now() { date +%s.%N; }
# timed LABEL CMD...: run CMD with its output in the log, print the seconds it took.
timed() {
  local label=$1 t0 t1
  shift
  echo "=== $label: $*" >>"$log"
  t0=$(now)
  "$@" >>"$log" 2>&1 || { echo "bench: '$*' failed; see $log" >&2; exit 1; }
  t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }'
}

bash "$up" >>"$log" 2>&1 || { echo "bench: up.sh failed; see $log" >&2; exit 1; }
results=()
if [ "$only_warm" = 0 ]; then
  bash "$down" --purge >>"$log" 2>&1
  results+=("cold (after down.sh --purge; binaries cached)|$(timed cold bash "$up")")
  bash "$down" >>"$log" 2>&1
  results+=("restart (after down.sh; state kept)|$(timed restart bash "$up")")
fi
warm=()
for i in 1 2 3; do warm+=("$(timed "warm $i" bash "$up")"); done
results+=("warm (up.sh while up), 3 runs|${warm[*]}")

printf '%-48s %s\n' "cluster bring-up ($(date -u +%FT%TZ), $(nproc) cores)" "seconds"
for r in "${results[@]}"; do printf '%-48s %s\n' "${r%%|*}" "${r#*|}"; done
echo "(log: $log)"
