#!/usr/bin/env bash
# The local cluster's OCI registry: CNCF Distribution (DISTRIBUTION_VERSION in ci/versions.env,
# built from the Go module proxy by ci/go-tools.sh) on loopback at LOCAL_REGISTRY
# (127.0.0.1:5001), plain HTTP, storage under $FAQ_CACHE/registry/storage (kept across cluster
# restarts and purges, like podman's images). It also writes the containerd hosts.toml that
# lets the kubelet pull from it (in REGISTRY_HOSTS_DIR, containerd's config_path; lib.sh).
#
#   bash ci/cluster/registry.sh          start it (idempotent); prints the registry host
#   bash ci/cluster/registry.sh stop     stop it (ci/cluster/down.sh does)
#
# Push with `podman push --tls-verify=false IMAGE docker://127.0.0.1:5001/NAME:TAG`
# (ci/images/push.sh does, and prints the pushed digest).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

REGISTRY_STORAGE=$FAQ_CACHE/registry/storage
REGISTRY_CONFIG=$STATE/etc/registry.yml

case "${1:-start}" in
  stop)
    stop_comp registry
    exit 0
    ;;
  start) ;;
  *) die "usage: registry.sh [start|stop]" ;;
esac

bin=$(bash "$repo_dir/ci/go-tools.sh" registry) || die "building the registry (ci/go-tools.sh registry) failed"
mkdir -p "$REGISTRY_STORAGE" "$STATE/etc" "$LOGS" "$PIDS" "$REGISTRY_HOSTS_DIR/$LOCAL_REGISTRY"

cat >"$REGISTRY_CONFIG.tmp" <<EOF
# faq-engine local cluster: CNCF Distribution on loopback (written by ci/cluster/registry.sh).
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $REGISTRY_STORAGE
  delete:
    enabled: true
http:
  addr: $LOCAL_REGISTRY
EOF
mv "$REGISTRY_CONFIG.tmp" "$REGISTRY_CONFIG"

# containerd (config_path): this host is plain HTTP; pull and resolve only.
cat >"$REGISTRY_HOSTS_DIR/$LOCAL_REGISTRY/hosts.toml.tmp" <<EOF
# Written by ci/cluster/registry.sh: the local registry speaks plain HTTP on loopback.
server = "http://$LOCAL_REGISTRY"

[host."http://$LOCAL_REGISTRY"]
  capabilities = ["pull", "resolve"]
  skip_verify = true
EOF
mv "$REGISTRY_HOSTS_DIR/$LOCAL_REGISTRY/hosts.toml.tmp" "$REGISTRY_HOSTS_DIR/$LOCAL_REGISTRY/hosts.toml"

start_comp registry "$(sha256sum "$REGISTRY_CONFIG" | cut -c1-16)" "$bin/registry" serve "$REGISTRY_CONFIG"
wait_comp registry 30 curl -fsS "http://$LOCAL_REGISTRY/v2/"
# The answer must come from this registry, not from another process holding the port (say one
# whose pid file was lost): then ours exits at once and pushes would land elsewhere.
owner=$(ss -Hltnp "sport = :${LOCAL_REGISTRY##*:}" | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2)
if [ "$owner" != "$(comp_pid registry)" ]; then
  die "$LOCAL_REGISTRY is held by another process (pid ${owner:-unknown}: $(ps -o args= -p "${owner:-0}" 2>/dev/null)), not this cluster's registry; stop it and run ci/cluster/registry.sh again"
fi
echo "$LOCAL_REGISTRY"
