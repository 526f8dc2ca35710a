#!/usr/bin/env bash
# Install the pinned Go tools (helm, helm3, ct, kubeconform, helm-docs, actionlint, kube-score)
# from the Go module proxy into $FAQ_CACHE/bin, outside the repository. A tool already at its pinned
# version is kept, so a warm run takes a second. Prints the bin directory.
#
#   bash ci/go-tools.sh               the tools of the tests, lint and the workflows
#   bash ci/go-tools.sh helm          only the named ones: `make up` needs helm alone (and oras,
#                                     which `ci/release chart` builds when it pushes); `registry`
#                                     (CNCF Distribution, the local cluster's OCI registry) is
#                                     built only when asked for, and so is `promtool` (Prometheus:
#                                     the chart's alert tests, built by `make test` and
#                                     `make test-chart`, not `make up`), and so are `cosign`
#                                     and `syft` (image signatures and SBOMs: ci/images/sign.sh,
#                                     i.e. ci/release of an image, and the image tests)
#   bash ci/go-tools.sh +promtool +cosign +syft
#                                     the tools of the first form and these (`make test-tools`:
#                                     every tool a test runs, in one go)
#
# Tools to build are resolved (modules downloaded) all at once, then built two at a time, the
# largest first (so that the last builds to end are short ones), all in the one module and build
# cache of ci/versions.env (GOMODCACHE, GOCACHE under $FAQ_CACHE).
#
# Each tool is built inside a throwaway wrapper module that requires the pinned version:
# `go install pkg@version` would also read the module's version list, which the proxy refuses
# (403) for some modules (chart-testing).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=versions.env
. "$root/ci/versions.env"
bin=$FAQ_CACHE/bin
mkdir -p "$bin"
export CGO_ENABLED=0

# helm's default Kubernetes version (template, lint, ct lint without --kube-version) is the
# minor of the local cluster's pin, so a KUBERNETES_VERSION bump moves it too. Helm 4 derives it
# from the k8s.io/client-go compiled in (v0.N.x -> 1.N), so its wrapper module requires the
# client-go of KUBERNETES_VERSION and the build fails when Helm needs another minor; Helm 3
# (the second binary, `helm3`, for the chart suite until its end of life) takes -X ldflags.
k8s_minor=${KUBERNETES_VERSION#v1.}
k8s_minor=${k8s_minor%%.*}
client_go=k8s.io/client-go@v0.${KUBERNETES_VERSION#v1.}
helm3_k8s="-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$k8s_minor"
helm3_k8s="$helm3_k8s -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$k8s_minor"
# name|module|version|package|extra ldflags|build tags|module@version the wrapper also requires
# (held to its minor)
tools=(
  "helm|helm.sh/helm/v4|$HELM_VERSION|helm.sh/helm/v4/cmd/helm|-X helm.sh/helm/v4/internal/version.version=$HELM_VERSION||$client_go"
  "helm3|helm.sh/helm/v3|$HELM3_VERSION|helm.sh/helm/v3/cmd/helm|-X helm.sh/helm/v3/internal/version.version=$HELM3_VERSION $helm3_k8s||"
  "ct|github.com/helm/chart-testing/v3|$CHART_TESTING_VERSION|github.com/helm/chart-testing/v3/ct|-X github.com/helm/chart-testing/v3/ct/cmd.Version=$CHART_TESTING_VERSION||"
  "kubeconform|github.com/yannh/kubeconform|$KUBECONFORM_VERSION|github.com/yannh/kubeconform/cmd/kubeconform|||"
  "helm-docs|github.com/norwoodj/helm-docs|$HELM_DOCS_VERSION|github.com/norwoodj/helm-docs/cmd/helm-docs|||"
  "actionlint|github.com/rhysd/actionlint|$ACTIONLINT_VERSION|github.com/rhysd/actionlint/cmd/actionlint|||"
  "kube-score|github.com/zegl/kube-score|$KUBE_SCORE_VERSION|github.com/zegl/kube-score/cmd/kube-score|-X main.version=$KUBE_SCORE_VERSION||"
  "oras|oras.land/oras|$ORAS_VERSION|oras.land/oras/cmd/oras|||"
  "registry|github.com/distribution/distribution/v3|$DISTRIBUTION_VERSION|github.com/distribution/distribution/v3/cmd/registry|-X github.com/distribution/distribution/v3/version.version=$DISTRIBUTION_VERSION||"
  # cosign (image signatures and attestations) and syft (SBOMs): ci/release and the image tests.
  "cosign|github.com/sigstore/cosign/v3|$COSIGN_VERSION|github.com/sigstore/cosign/v3/cmd/cosign|-X sigs.k8s.io/release-utils/version.gitVersion=$COSIGN_VERSION||"
  "syft|github.com/anchore/syft|$SYFT_VERSION|github.com/anchore/syft/cmd/syft|-X main.version=${SYFT_VERSION#v}||"
  # remove_all_sd leaves out Prometheus's service-discovery plugins (cloud SDKs): the tests
  # check and unit-test rules and parse PromQL, which need none of them.
  "promtool|github.com/prometheus/prometheus|$PROMETHEUS_VERSION|github.com/prometheus/prometheus/cmd/promtool|-X github.com/prometheus/common/version.Version=$PROMETHEUS_VERSION|remove_all_sd|"
)
# Built with Go's inlining, as upstream builds them: the tools a `make test` runs hundreds of
# times (helm, helm3, kubeconform) and the cluster's registry, which serves every push and pull.
# Every other tool runs a handful of times per run (ct, helm-docs, actionlint, kube-score, oras,
# cosign, syft, promtool), and is compiled without it (-gcflags=all=-l, beside ci/versions.env's
# -dwarf=false): the same program, a fifth less CPU to build cold, more per call to run (a few
# CPU-seconds over a whole `make test`); bench/go_build.sh inline prints both ratios. The
# version stamp leaves it out: a tool built either way is the same program and is kept.
inlined=" helm helm3 kubeconform registry "
noinline_goflags=${GOFLAGS/-gcflags=all=-dwarf=false/\'-gcflags=all=-dwarf=false -l\'}
# The order builds start in: by the CPU each takes to build cold, the largest first.
largest_first=(syft cosign helm3 helm promtool ct oras registry kube-score helm-docs actionlint kubeconform)
default=(helm helm3 ct kubeconform helm-docs actionlint kube-score)
wanted=("$@")
if [ ${#wanted[@]} -eq 0 ]; then
  wanted=("${default[@]}")
elif [[ "${wanted[0]}" == +* ]]; then
  for w in "${wanted[@]}"; do
    [[ "$w" == +* ]] || { echo "go-tools.sh: give either names or +names, not both" >&2; exit 2; }
  done
  wanted=("${default[@]}" "${wanted[@]#+}")
fi
known=" ${tools[*]%%|*} "
for w in "${wanted[@]}"; do
  [[ "$known" == *" $w "* ]] || { echo "go-tools.sh: unknown tool '$w' (known:$known)" >&2; exit 2; }
done
[ "$(printf '%s\n' "${largest_first[@]}" | sort)" = "$(printf '%s\n' "${tools[@]%%|*}" | sort)" ] \
  || { echo "go-tools.sh: largest_first must name every tool once" >&2; exit 2; }
# find_todo: the wanted tools not built at their stamp, into todo (largest first)
find_todo() {
  todo=()
  local first t name mod version pkg ld tags pin stamp
  for first in "${largest_first[@]}"; do
    for t in "${tools[@]}"; do
      IFS='|' read -r name mod version pkg ld tags pin <<<"$t"
      [ "$name" = "$first" ] || continue
      [[ " ${wanted[*]} " == *" $name "* ]] || continue
      stamp="$pkg@$version $ld${tags:+ tags=$tags}${pin:+ $pin}"
      if [ -x "$bin/$name" ] && [ "$(cat "$bin/.$name.version" 2>/dev/null)" = "$stamp" ]; then continue; fi
      todo+=("$t")
    done
  done
}
find_todo
if [ ${#todo[@]} -gt 0 ]; then
  # One installer at a time (several checkouts share the cache); the others wait and reuse.
  # Taken only when something is to build: a run whose tools are all built never waits for
  # another run's build of other tools (the cluster's `go-tools.sh registry` beside `make
  # test-tools`).
  exec 9>"$bin/.go-tools.lock"
  flock 9
  find_todo
fi
if [ ${#todo[@]} -gt 0 ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # wait_all PID...: wait for each, fail when any failed (after all have ended).
  wait_all() { local p rc=0; for p in "$@"; do wait "$p" || rc=1; done; return $rc; }
  # pinned MODULE@VERSION PIN: MVS may pick a newer patch of PIN's module; a newer minor is an error.
  pinned() {
    [ -n "$2" ] || return 0
    local got want=${2#*@}
    got=$(go list -m -f '{{.Version}}' "${2%@*}")
    [ "${got%.*}" = "${want%.*}" ] && return 0
    echo "go-tools.sh: $1 needs ${2%@*} $got, not the ${want%.*} minor of KUBERNETES_VERSION" >&2
    return 1
  }
  pids=()
  for t in "${todo[@]}"; do
    IFS='|' read -r name mod version pkg ld tags pin <<<"$t"
    mkdir "$work/$name"
    printf 'module toolwrap\n\ngo 1.24\n\nrequire %s %s\n' "$mod" "$version" > "$work/$name/go.mod"
    printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$pkg" > "$work/$name/tools.go"
    [ -z "$pin" ] || printf 'require %s %s\n' "${pin%@*}" "${pin#*@}" >> "$work/$name/go.mod"
    (cd "$work/$name" && go mod tidy >&2 && pinned "$mod@$version" "$pin") &
    pids+=($!)
  done
  wait_all "${pids[@]}" || { echo "go-tools.sh: resolving the tools' modules failed" >&2; exit 1; }
  build() { # build TOOL-LINE: one tool into $bin, then its version stamp
    local name mod version pkg ld tags pin
    IFS='|' read -r name mod version pkg ld tags pin <<<"$1"
    local goflags=$GOFLAGS
    [[ "$inlined" == *" $name "* ]] || goflags=$noinline_goflags
    echo "building $pkg@$version" >&2
    (cd "$work/$name" && GOFLAGS=$goflags GOGC=$GO_BUILD_GOGC GOMEMLIMIT=$GO_BUILD_GOMEMLIMIT go build -trimpath -tags "$tags" -ldflags "-s -w $ld" -o "$bin/$name.tmp" "$pkg" >&2)
    mv "$bin/$name.tmp" "$bin/$name"
    echo "$pkg@$version $ld${tags:+ tags=$tags}${pin:+ $pin}" > "$bin/.$name.version"
  }
  running=0 failed=0
  for t in "${todo[@]}"; do
    if [ $running -ge 2 ]; then wait -n || failed=1; running=$((running - 1)); fi
    build "$t" &
    running=$((running + 1))
  done
  while [ $running -gt 0 ]; do wait -n || failed=1; running=$((running - 1)); done
  [ $failed = 0 ] || { echo "go-tools.sh: a build failed (above)" >&2; exit 1; }
fi
echo "$bin"
