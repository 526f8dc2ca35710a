#!/usr/bin/env bash
# The Gateway API CRDs of GATEWAY_API_VERSION, standard channel, from the Go module proxy: the
# module zip holds config/crd/standard/*.yaml. Prints their directory (in Go's module cache,
# outside the repository). ci/cluster/up.sh applies them; the chart tests turn their schemas into
# kubeconform's (ci/crd_schemas.py).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=versions.env
. "$root/ci/versions.env"
mod=sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION
# Outside any module (the repository has no go.mod): a plain module download.
dir=$(cd "${TMPDIR:-/tmp}" && go mod download -json "$mod" \
  | python3 -c 'import json, sys; d = json.load(sys.stdin); print(d.get("Dir") or sys.exit(d.get("Error", "no Dir")))')
crds=$dir/config/crd/standard
ls "$crds"/gateway.networking.k8s.io_httproutes.yaml >/dev/null
echo "$crds"
