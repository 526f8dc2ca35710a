#!/usr/bin/env bash
# Install the pinned Go tools (helm, ct, kubeconform, helm-docs, actionlint) from the Go module
# proxy into $FAQ_CACHE/bin, outside the repository. A tool already at its pinned version is
# kept, so a warm run takes a second. Prints the bin directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=versions.env
. "$root/ci/versions.env"
bin=$FAQ_CACHE/bin
mkdir -p "$bin"
export GOBIN=$bin CGO_ENABLED=0 GOFLAGS=-trimpath

# name|module path@version|extra ldflags
tools=(
  "helm|helm.sh/helm/v3/cmd/helm@$HELM_VERSION|-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  "ct|github.com/helm/chart-testing/v3/ct@$CHART_TESTING_VERSION|-X github.com/helm/chart-testing/v3/ct/cmd.Version=$CHART_TESTING_VERSION"
  "kubeconform|github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION|"
  "helm-docs|github.com/norwoodj/helm-docs/cmd/helm-docs@$HELM_DOCS_VERSION|"
  "actionlint|github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION|"
)
for t in "${tools[@]}"; do
  IFS='|' read -r name mod ld <<<"$t"
  stamp=$bin/.$name.version
  if [ -x "$bin/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$mod" ]; then continue; fi
  echo "installing $mod" >&2
  go install -ldflags "-s -w $ld" "$mod" >&2
  echo "$mod" > "$stamp"
done
echo "$bin"
