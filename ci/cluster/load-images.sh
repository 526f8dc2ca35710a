#!/usr/bin/env bash
# Import podman images into the local cluster's containerd (namespace k8s.io), so pods can use
# them with imagePullPolicy IfNotPresent/Never. Images whose podman image ID is already there
# (recorded as a label at import) are skipped. Imported images are pinned (containerd's CRI
# label io.cri-containerd.pinned): no registry can give them back, so the kubelet's image
# garbage collection must leave them.
#
#   bash ci/cluster/load-images.sh localhost/faq-engine:1.0.0 localhost/faq-engine-model:1.0 ...
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] || die "usage: load-images.sh IMAGE..."
[ -S "$CONTAINERD_SOCK" ] && ctr_ version >/dev/null 2>&1 \
  || die "the cluster's containerd is not running ($CONTAINERD_SOCK): run ci/cluster/up.sh"
label=faq-engine.podman-image-id

for img in "$@"; do
  id=$(podman image inspect --format '{{.Id}}' "$img" 2>/dev/null) \
    || die "podman has no image '$img' (build it first)"
  # podman's short names (no registry) are localhost/...; containerd wants the full name.
  name=$(podman image inspect --format '{{index .RepoTags 0}}' "$img" 2>/dev/null || true)
  case "$img" in
    */*:* | *@*) name=$img ;;
  esac
  case "$name" in
    */*) ;;
    *) name=localhost/$name ;;
  esac
  have=$(ctr_ -n k8s.io images ls "name==$name" 2>/dev/null | awk -v l="$label=" 'NR > 1 {
    n = split($NF, a, ","); for (i = 1; i <= n; i++) if (index(a[i], l) == 1) print substr(a[i], length(l) + 1) }')
  if [ "$have" = "$id" ]; then
    log "image $name: already in the cluster ($(cut -c1-12 <<<"$id"))"
    continue
  fi
  log "image $name: importing ($(cut -c1-12 <<<"$id"))"
  podman save --format docker-archive "$img" | ctr_ -n k8s.io images import - >/dev/null \
    || die "importing $img into containerd failed"
  # docker-archive keeps the name podman knows; make sure the requested one exists too.
  if ! ctr_ -n k8s.io images ls -q "name==$name" | grep . >/dev/null; then
    die "image $name not found in containerd after import (names: $(ctr_ -n k8s.io images ls -q | tr '\n' ' '))"
  fi
  ctr_ -n k8s.io images label "$name" "$label=$id" io.cri-containerd.pinned=pinned >/dev/null
done
