#!/usr/bin/env bash
# Build chart-testing (ct) at the pinned version into $FAQ_CACHE/bin, with the stamp
# ci/go-tools.sh checks, so go-tools.sh then keeps it.
# Why not `go install ...ct@vX`: the Go module proxy answers 403 for the module's version list
# (github.com/helm/chart-testing/v3/@v/list), which `go install pkg@version` reads to look for
# deprecations, so it fails. A throwaway wrapper module that requires the pinned version builds
# the same sources without that lookup.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../versions.env
. "$root/ci/versions.env"
bin=$FAQ_CACHE/bin
mod=github.com/helm/chart-testing/v3/ct@$CHART_TESTING_VERSION
if [ -x "$bin/ct" ] && [ "$(cat "$bin/.ct.version" 2>/dev/null)" = "$mod" ]; then
  echo "$bin/ct"; exit 0
fi
mkdir -p "$bin"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$work"
printf 'module ctwrap\n\ngo 1.24\n\nrequire github.com/helm/chart-testing/v3 %s\n' \
  "$CHART_TESTING_VERSION" > go.mod
printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/helm/chart-testing/v3/ct"\n' \
  > tools.go
go mod tidy >&2
CGO_ENABLED=0 go build -trimpath -o "$bin/ct" \
  -ldflags "-s -w -X github.com/helm/chart-testing/v3/ct/cmd.Version=$CHART_TESTING_VERSION" \
  github.com/helm/chart-testing/v3/ct >&2
echo "$mod" > "$bin/.ct.version"
echo "$bin/ct"
