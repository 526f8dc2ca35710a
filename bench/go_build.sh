#!/usr/bin/env bash
# What two settings of ci/versions.env save a cold Go build. Compiles helm (ci/versions.env's
# HELM_VERSION, in a wrapper module like ci/go-tools.sh's) from an EMPTY build cache, in pairs
# (ABAB), and prints user+sys CPU seconds, wall seconds and the ratio of each pair:
#
#   dwarf  the compiler's DWARF (Go's default) against -gcflags=all=-dwarf=false, which
#          ci/versions.env adds to GOFLAGS: every build links with -s -w, so the linker drops
#          the DWARF anyway. Both at GOGC=$GO_BUILD_GOGC GOMEMLIMIT=$GO_BUILD_GOMEMLIMIT.
#   gc     the compiler and linker at Go's GOGC=100 against GOGC=$GO_BUILD_GOGC with
#          GOMEMLIMIT=$GO_BUILD_GOMEMLIMIT, which every `go build` / `go install` of ci/ runs
#          with. Both without the compiler's DWARF.
#
# Modules come from the shared module cache (a first run downloads them). About 4 minutes a
# pair on 2 cores. Each build's largest process is printed too (max RSS, MB).
#
#   shared what helm's build leaves the Kubernetes build to compile: helm built as
#          ci/go-tools.sh builds it, into an empty build cache (timed), then, for the wrapper
#          module of ci/cluster/build.sh in its own graph (--own-graph) and in the one that
#          also requires helm's module (what it builds in), the packages and Go source bytes
#          `go build -n` still has to compile, against all of them. Counts, not timings:
#          the cold `make up` phase table gives the seconds (docs/benchmarks.md).
#
#   inline promtool (PROMETHEUS_VERSION, as ci/go-tools.sh builds it) from an empty build
#          cache with Go's inlining and without it (-l, which ci/go-tools.sh adds for the tools
#          a run uses a handful of times), in pairs; then what each binary costs to run:
#          `promtool check rules --lint=all` of 400 rules, CPU per call over 20 calls.
#
#   bash bench/go_build.sh dwarf|gc|inline [PAIRS]   # default 2 pairs
#   bash bench/go_build.sh shared
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../ci/versions.env
. "$repo/ci/versions.env"
what=${1:?usage: bash bench/go_build.sh dwarf|gc|inline|shared [PAIRS]}
pairs=${2:-2}
if [ "$what" = inline ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  export CGO_ENABLED=0
  cd "$work"
  pkg=github.com/prometheus/prometheus/cmd/promtool
  printf 'module faq-engine.local/gobuildbench\n\ngo 1.24\n\nrequire github.com/prometheus/prometheus %s\n' \
    "$PROMETHEUS_VERSION" >go.mod
  printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$pkg" >tools.go
  go mod tidy 2>/dev/null
  inlined=$GOFLAGS
  noinline=${GOFLAGS/-gcflags=all=-dwarf=false/\'-gcflags=all=-dwarf=false -l\'}
  # build NAME GOFLAGS: "CPU-s wall-s" of promtool from an empty build cache, into ./NAME
  build() {
    rm -rf "$work/cache"
    GOCACHE=$work/cache GOFLAGS=$2 GOGC=$GO_BUILD_GOGC GOMEMLIMIT=$GO_BUILD_GOMEMLIMIT \
      /usr/bin/time -f '%U %S %e' -o "$work/time" \
      go build -trimpath -tags remove_all_sd -ldflags "-s -w" -o "$work/$1" "$pkg"
    awk '{printf "%.1f %.0f", $1 + $2, $3}' "$work/time"
  }
  echo "promtool $PROMETHEUS_VERSION from an empty build cache (CPU-s = user + sys), $(nproc) cores"
  printf '%-6s %-26s %-26s %s\n' pair "inlining (CPU / wall)" "-l (CPU / wall)" "CPU ratio"
  for i in $(seq "$pairs"); do
    read -r a a_wall <<<"$(build promtool-inlined "$inlined")"
    read -r b b_wall <<<"$(build promtool-l "$noinline")"
    printf '%-6s %-26s %-26s %s\n' "$i" "$a / $a_wall" "$b / $b_wall" \
      "$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2fx", b / a}')"
  done
  { echo "groups:"; echo "- name: bench"; echo "  rules:"
    for r in $(seq 400); do
      echo "  - alert: Bench$r"
      echo "    expr: sum by (pod) (rate(http_requests_total{code=~\"5..\",job=\"j$r\"}[5m])) / sum by (pod) (rate(http_requests_total{job=\"j$r\"}[5m])) > 0.05"
      echo "    for: 5m"
      echo "    labels: {severity: warning}"
      echo "    annotations: {summary: \"errors $r\", description: \"{{ \$value }} of requests fail\"}"
    done; } >rules.yaml
  # run BINARY: CPU ms per `check rules` call over 20 calls (the children's rusage)
  run() {
    /usr/bin/time -f '%U %S' -o "$work/time" \
      sh -c 'for i in $(seq 20); do "$0" check rules --lint=all rules.yaml >/dev/null; done' "$work/$1"
    awk '{printf "%.1f", ($1 + $2) * 1000 / 20}' "$work/time"
  }
  a=0 b=0
  for _ in 1 2; do  # ABAB
    a=$(awk -v x="$a" -v y="$(run promtool-inlined)" 'BEGIN {print x + y / 2}')
    b=$(awk -v x="$b" -v y="$(run promtool-l)" 'BEGIN {print x + y / 2}')
  done
  echo "promtool check rules --lint=all (400 rules): inlining $a ms CPU per call, -l $b ms" \
    "($(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2fx", b / a}'))"
  exit 0
fi
if [ "$what" = shared ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  export GOCACHE=$work/cache CGO_ENABLED=0
  /usr/bin/time -f '%U %S %e' -o "$work/time" \
    env FAQ_CACHE="$work/faq" bash "$repo/ci/go-tools.sh" helm >/dev/null
  echo "helm $HELM_VERSION (ci/go-tools.sh) into an empty build cache:" \
    "$(awk '{printf "%.1f CPU-s, %.0f s wall", $1 + $2, $3}' "$work/time")"
  cmds=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl kubeadm)
  # to_compile DIR CACHE: "PACKAGES BYTES" that `go build -n` in DIR would compile with CACHE
  to_compile() {
    (cd "$1" && GOCACHE=$2 GOFLAGS="$GOFLAGS -mod=mod" go build -n -trimpath -o "$work/out/" \
       "${cmds[@]/#/k8s.io/kubernetes/cmd/}" ./etcd 2>&1 \
     | sed -n 's/.*compile -o .* -p \([^ ]*\) .*/\1/p' | sort -u | grep -vx main >"$work/pkgs"
     xargs go list -f '{{.Dir}} {{join .GoFiles " "}}' <"$work/pkgs" 2>/dev/null \
     | python3 -c 'import os, sys
n = b = 0
for line in sys.stdin:
    d, *files = line.split()
    n += 1
    b += sum(os.path.getsize(os.path.join(d, f)) for f in files)
print(n, b)')
  }
  printf '%-38s %-28s %s\n' "Kubernetes $KUBERNETES_VERSION + etcd in" "left to compile after helm" "source MB left"
  for graph in --own-graph shared; do
    dir=$work/$graph
    bash "$repo/ci/cluster/build.sh" --module "$dir" "${graph/shared/}" 2>/dev/null
    read -r all_n all_b <<<"$(to_compile "$dir" "$work/empty")"
    read -r n b <<<"$(to_compile "$dir" "$GOCACHE")"
    label="its own module graph"; [ "$graph" = shared ] && label="one graph with helm's module"
    printf '%-38s %-28s %s\n' "$label" \
      "$n of $all_n packages" \
      "$(awk -v b="$b" -v a="$all_b" 'BEGIN {printf "%.0f of %.0f (%.2fx)", b / 1e6, a / 1e6, b / a}')"
  done
  exit 0
fi
nodwarf=$GOFLAGS
withdwarf=${GOFLAGS//-gcflags=all=-dwarf=false/}
case $what in
  dwarf) a=("$GO_BUILD_GOGC" "$GO_BUILD_GOMEMLIMIT" "$withdwarf" "compiler DWARF")
         b=("$GO_BUILD_GOGC" "$GO_BUILD_GOMEMLIMIT" "$nodwarf" "-dwarf=false") ;;
  gc) a=(100 "" "$nodwarf" "GOGC=100")
      b=("$GO_BUILD_GOGC" "$GO_BUILD_GOMEMLIMIT" "$nodwarf" "GOGC=$GO_BUILD_GOGC GOMEMLIMIT=$GO_BUILD_GOMEMLIMIT") ;;
  *) echo "usage: bash bench/go_build.sh dwarf|gc [PAIRS]" >&2; exit 2 ;;
esac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export CGO_ENABLED=0
cd "$work"
printf 'module faq-engine.local/gobuildbench\n\ngo 1.24\n\nrequire helm.sh/helm/v4 %s\n' "$HELM_VERSION" >go.mod
printf '//go:build tools\n\npackage tools\n\nimport _ "helm.sh/helm/v4/cmd/helm"\n' >tools.go
GOFLAGS="$nodwarf -mod=mod" go mod tidy 2>/dev/null

# cold GOGC GOMEMLIMIT GOFLAGS: CPU seconds, wall seconds and the largest process's MB of one
# build from an empty GOCACHE (GOMEMLIMIT empty: Go's default, none)
cold() {
  rm -rf "$work/cache"
  GOGC=$1 GOMEMLIMIT=${2:-off} GOCACHE=$work/cache GOFLAGS="$3 -mod=mod" \
    /usr/bin/time -f '%U %S %e %M' -o "$work/time" \
    go build -trimpath -ldflags "-s -w" -o "$work/helm" helm.sh/helm/v4/cmd/helm
  awk '{printf "%.1f %.1f %.0f", $1 + $2, $3, $4 / 1024}' "$work/time"
}
echo "helm $HELM_VERSION from an empty build cache (CPU-s = user + sys), $(nproc) cores"
printf '%-6s %-32s %-44s %s\n' pair "${a[3]} (CPU / wall / MB)" "${b[3]} (CPU / wall / MB)" "CPU ratio"
for i in $(seq "$pairs"); do
  read -r a_cpu a_wall a_mb <<<"$(cold "${a[0]}" "${a[1]}" "${a[2]}")"
  read -r b_cpu b_wall b_mb <<<"$(cold "${b[0]}" "${b[1]}" "${b[2]}")"
  printf '%-6s %-32s %-44s %s\n' "$i" "$a_cpu / $a_wall / $a_mb" "$b_cpu / $b_wall / $b_mb" \
    "$(awk -v a="$a_cpu" -v b="$b_cpu" 'BEGIN {printf "%.2fx", b / a}')"
done
