#!/usr/bin/env bash
# Install the pinned Go tools (helm, ct, kubeconform, helm-docs, actionlint, kube-score) from the
# Go module proxy into $FAQ_CACHE/bin, outside the repository. A tool already at its pinned
# version is kept, so a warm run takes a second. Prints the bin directory.
#
#   bash ci/go-tools.sh               the tools every target needs
#   bash ci/go-tools.sh registry      only the named ones; `registry` (CNCF Distribution, the
#                                     local cluster's OCI registry) is built only when asked for
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

# helm's default Kubernetes version (template, lint, ct lint without --kube-version): the
# minor of the local cluster's pin, so a KUBERNETES_VERSION bump moves it too.
k8s_minor=${KUBERNETES_VERSION#v1.}
k8s_minor=${k8s_minor%%.*}
helm_k8s="-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$k8s_minor"
helm_k8s="$helm_k8s -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$k8s_minor"
# name|module|version|package|extra ldflags
tools=(
  "helm|helm.sh/helm/v3|$HELM_VERSION|helm.sh/helm/v3/cmd/helm|-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION $helm_k8s"
  "ct|github.com/helm/chart-testing/v3|$CHART_TESTING_VERSION|github.com/helm/chart-testing/v3/ct|-X github.com/helm/chart-testing/v3/ct/cmd.Version=$CHART_TESTING_VERSION"
  "kubeconform|github.com/yannh/kubeconform|$KUBECONFORM_VERSION|github.com/yannh/kubeconform/cmd/kubeconform|"
  "helm-docs|github.com/norwoodj/helm-docs|$HELM_DOCS_VERSION|github.com/norwoodj/helm-docs/cmd/helm-docs|"
  "actionlint|github.com/rhysd/actionlint|$ACTIONLINT_VERSION|github.com/rhysd/actionlint/cmd/actionlint|"
  "kube-score|github.com/zegl/kube-score|$KUBE_SCORE_VERSION|github.com/zegl/kube-score/cmd/kube-score|-X main.version=$KUBE_SCORE_VERSION"
  "registry|github.com/distribution/distribution/v3|$DISTRIBUTION_VERSION|github.com/distribution/distribution/v3/cmd/registry|-X github.com/distribution/distribution/v3/version.version=$DISTRIBUTION_VERSION"
)
wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(helm ct kubeconform helm-docs actionlint kube-score)
known=" ${tools[*]%%|*} "
for w in "${wanted[@]}"; do
  [[ "$known" == *" $w "* ]] || { echo "go-tools.sh: unknown tool '$w' (known:$known)" >&2; exit 2; }
done
for t in "${tools[@]}"; do
  IFS='|' read -r name mod version pkg ld <<<"$t"
  [[ " ${wanted[*]} " == *" $name "* ]] || continue
  stamp="$pkg@$version $ld"
  if [ -x "$bin/$name" ] && [ "$(cat "$bin/.$name.version" 2>/dev/null)" = "$stamp" ]; then continue; fi
  echo "building $pkg@$version" >&2
  work=$(mktemp -d)
  (
    cd "$work"
    printf 'module toolwrap\n\ngo 1.24\n\nrequire %s %s\n' "$mod" "$version" > go.mod
    printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$pkg" > tools.go
    go mod tidy >&2
    go build -trimpath -ldflags "-s -w $ld" -o "$bin/$name.tmp" "$pkg" >&2
  )
  rm -rf "$work"
  mv "$bin/$name.tmp" "$bin/$name"
  echo "$stamp" > "$bin/.$name.version"
done
echo "$bin"
