#!/usr/bin/env bash
# Push podman images to a registry and print each pushed reference with the digest the registry
# stored (podman push --digestfile), one `REPOSITORY:TAG@sha256:...` a line on stdout.
#
#   ci/images/push.sh localhost/faq-engine:1.0.0 localhost/faq-engine-model:1.0
#   REGISTRY=ghcr.io/OWNER ci/images/push.sh localhost/faq-engine:1.2.0
#
# The destination is $REGISTRY/<name>:<tag>, <name> being the image's last path part
# (faq-engine, faq-engine-model); REGISTRY defaults to the local cluster's registry
# (LOCAL_REGISTRY in ci/versions.env, ci/cluster/registry.sh), which is plain HTTP on loopback.
# Any other registry is TLS: log in first (podman login). Each push's seconds go to stderr.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../versions.env
. "$root/ci/versions.env"
REGISTRY=${REGISTRY:-$LOCAL_REGISTRY}
[ $# -ge 1 ] || { echo "usage: push.sh IMAGE:TAG..." >&2; exit 2; }
tls=()
case "$REGISTRY" in 127.0.0.1:* | localhost:* | "[::1]":*) tls=(--tls-verify=false) ;; esac

digest_file=$(mktemp)
trap 'rm -f "$digest_file"' EXIT
for src in "$@"; do
  case "$src" in
    *@*) echo "push.sh: push a tag, not a digest: $src" >&2; exit 2 ;;
    *:*) ;;
    *) echo "push.sh: '$src' has no tag" >&2; exit 2 ;;
  esac
  podman image exists "$src" || { echo "push.sh: podman has no image '$src' (ci/images/build.sh)" >&2; exit 1; }
  name=${src##*/}
  dest=$REGISTRY/$name
  start=$EPOCHREALTIME
  podman push -q "${tls[@]}" --digestfile "$digest_file" "$src" "docker://$dest" >&2 \
    || { echo "push.sh: pushing $src to $dest failed" >&2; exit 1; }
  digest=$(cat "$digest_file")
  [[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]] || { echo "push.sh: no digest for $dest (got '$digest')" >&2; exit 1; }
  awk -v d="$dest" -v s="$start" -v e="$EPOCHREALTIME" 'BEGIN { printf "push.sh: %s pushed in %.2fs\n", d, e - s }' >&2
  echo "$dest@$digest"
done
