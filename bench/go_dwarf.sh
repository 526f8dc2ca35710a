#!/usr/bin/env bash
# What the compiler's DWARF costs a cold Go build. Every Go build of ci/ links with -s -w (no
# debug information in the binary), and ci/versions.env adds -gcflags=all=-dwarf=false to
# GOFLAGS so the compiler does not produce the DWARF the linker then drops. This compiles helm
# (ci/versions.env's HELM_VERSION, a wrapper module like ci/go-tools.sh's) from an EMPTY build
# cache, with and without the compiler's DWARF, in pairs (ABAB), and prints user+sys CPU seconds,
# wall seconds and the ratio of each pair. Modules come from the shared module cache (a first
# run downloads them). About 8 minutes on 2 cores.
#
#   bash bench/go_dwarf.sh [PAIRS]      # default 2 pairs
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../ci/versions.env
. "$repo/ci/versions.env"
pairs=${1:-2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export CGO_ENABLED=0
base_flags=${GOFLAGS//-gcflags=all=-dwarf=false/}
cd "$work"
printf 'module faq-engine.local/dwarfbench\n\ngo 1.24\n\nrequire helm.sh/helm/v4 %s\n' "$HELM_VERSION" >go.mod
printf '//go:build tools\n\npackage tools\n\nimport _ "helm.sh/helm/v4/cmd/helm"\n' >tools.go
GOFLAGS="$base_flags -mod=mod" go mod tidy 2>/dev/null

# cold FLAGS: CPU and wall seconds of one build from an empty GOCACHE
cold() {
  rm -rf "$work/cache"
  GOCACHE=$work/cache GOFLAGS="$1 -mod=mod" /usr/bin/time -f '%U %S %e' -o "$work/time" \
    go build -trimpath -ldflags "-s -w" -o "$work/helm" helm.sh/helm/v4/cmd/helm
  awk '{printf "%.1f %.1f", $1 + $2, $3}' "$work/time"
}
echo "helm $HELM_VERSION from an empty build cache (CPU-s = user + sys), $(nproc) cores"
printf '%-6s %-26s %-26s %s\n' pair "compiler DWARF (CPU / wall)" "-dwarf=false (CPU / wall)" "CPU ratio"
for i in $(seq "$pairs"); do
  read -r a_cpu a_wall <<<"$(cold "$base_flags")"
  read -r b_cpu b_wall <<<"$(cold "$base_flags -gcflags=all=-dwarf=false")"
  printf '%-6s %-26s %-26s %s\n' "$i" "$a_cpu / $a_wall" "$b_cpu / $b_wall" \
    "$(awk -v a="$a_cpu" -v b="$b_cpu" 'BEGIN {printf "%.2fx", b / a}')"
done
