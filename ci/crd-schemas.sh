#!/usr/bin/env bash
# JSON schemas of the Prometheus Operator's CRDs (PrometheusRule, ServiceMonitor, ...) for
# kubeconform, generated from the CRDs' openAPIV3Schema. The CRDs come from the pinned Go module
# (PROMETHEUS_OPERATOR_VERSION, example/prometheus-operator-crd/) that `go mod download` takes
# from the Go module proxy; the schemas are cached in $FAQ_CACHE, outside the repository, keyed
# by that version. Prints the schema directory, laid out for kubeconform's
#   -schema-location '<dir>/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json'
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=versions.env
. "$root/ci/versions.env"
out=$FAQ_CACHE/crd-schemas/prometheus-operator-$PROMETHEUS_OPERATOR_VERSION
if [ ! -f "$out/.done" ]; then
  py=$(bash "$root/ci/python-env.sh")/bin/python
  mod=github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION
  # Outside any module: `go mod download` then fetches exactly the pinned version.
  dir=$(cd "$(mktemp -d)" && go mod download -json "$mod" \
    | "$py" -c 'import json, sys; d = json.load(sys.stdin); sys.exit(d["Error"]) if d.get("Error") else print(d["Dir"])')
  rm -rf "$out.tmp"
  "$py" "$root/ci/crd_schemas.py" "$dir/example/prometheus-operator-crd" "$out.tmp" >&2
  rm -rf "$out"; mv "$out.tmp" "$out"
  touch "$out/.done"
fi
echo "$out"
