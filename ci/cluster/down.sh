#!/usr/bin/env bash
# Stop the local cluster started by ci/cluster/up.sh. Idempotent.
#
#   bash ci/cluster/down.sh                 # stop processes and pods; keep state (next up.sh is quick)
#   bash ci/cluster/down.sh --purge         # also remove cluster state (etcd, certs, kubelet, PV data)
#   bash ci/cluster/down.sh --purge-images  # --purge, and drop the images imported into containerd
#
# Binaries ($FAQ_CACHE/k8s) and podman's images are never touched.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

purge=0 purge_images=0
for a in "$@"; do
  case "$a" in
    --purge) purge=1 ;;
    --purge-images) purge=1 purge_images=1 ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    *) die "unknown argument '$a' (use --purge or --purge-images)" ;;
  esac
done
[ "$(id -u)" = 0 ] || die "down.sh must run as root"
take_lock

# 0. Nodes added by ci/cluster/node.sh: stopped and their state dropped (they are added per use).
for n in $(bash "$cluster_dir/node.sh" list); do bash "$cluster_dir/node.sh" remove "$n"; done

# 1. The kubelet first (so it restarts nothing), then the rest of the control plane.
stop_comp kubelet
stop_comp metrics-server coredns kube-proxy kube-scheduler kube-controller-manager pv-perms
stop_comp kube-apiserver
stop_comp etcd
stop_comp registry # ci/cluster/registry.sh (its storage, under $FAQ_CACHE, stays)

# 2. Pods' containers. containerd is needed to find and remove them; start it if it is not running
#    but has state (after a crash or a reboot).
cri_root=$STATE/containerd/io.containerd.grpc.v1.cri
if [ -z "$(comp_pid containerd)" ] && [ -f "$STATE/etc/containerd.toml" ] \
  && [ -n "$(find "$cri_root/sandboxes" "$cri_root/containers" -mindepth 1 -maxdepth 1 2>/dev/null)" ]; then
  mkdir -p "$PIDS" "$LOGS" "$RUN/containerd"
  start_comp containerd cleanup containerd --config "$STATE/etc/containerd.toml"
  wait_comp containerd 30 ctr_ version || true
fi
netns=()
if [ -n "$(comp_pid containerd)" ] && ctr_ version >/dev/null 2>&1; then
  mapfile -t ids < <(ctr_ -n k8s.io containers ls -q 2>/dev/null || true)
  for id in "${ids[@]}"; do
    [ -n "$id" ] || continue
    ns=$(ctr_ -n k8s.io containers info "$id" 2>/dev/null \
      | jq -r '.Spec.linux.namespaces[]? | select(.type == "network") | .path // empty' 2>/dev/null || true)
    case "$ns" in /var/run/netns/* | /run/netns/*) netns+=("$ns") ;; esac
    ctr_ -n k8s.io tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
  done
  [ ${#ids[@]} -eq 0 ] || log "removing ${#ids[@]} container(s)"
  for id in "${ids[@]}"; do
    [ -n "$id" ] || continue
    for _ in 1 2 3 4 5; do
      ctr_ -n k8s.io tasks rm -f "$id" >/dev/null 2>&1 || true
      ctr_ -n k8s.io tasks ls -q 2>/dev/null | grep -x "$id" >/dev/null || break
      sleep 0.5
    done
    ctr_ -n k8s.io containers rm "$id" >/dev/null 2>&1 || log "warning: could not remove container $id"
  done
  # the CRI plugin's files of the containers removed above (nothing is mounted there)
  rm -rf --one-file-system "$cri_root/sandboxes" "$cri_root/containers"
fi
stop_comp -t 30 containerd
# Shims of our containerd that outlived it (identified by our socket path).
for pid in $(pgrep -f -- "-address $CONTAINERD_SOCK" || true); do
  log "killing leftover shim $pid"
  kill -9 "$pid" 2>/dev/null || true
done

# 3. Network: the pods' namespaces, the CNI bridge, CNI's iptables rules, kube-proxy's rules.
for ns in "${netns[@]}"; do
  umount "$ns" 2>/dev/null || true
  # `ip netns add` (ci/cluster/node.sh) bind-mounts /run/netns over itself, which hides the pod
  # namespaces mounted before it: such a file stays busy until the host's /run/netns mount goes.
  # Leave it (it holds no process any more) rather than stop before the purge.
  rm -f "$ns" 2>/dev/null || log "warning: $ns is still mounted under a later /run/netns mount; left in place"
done
if ip link show "$BRIDGE" >/dev/null 2>&1; then
  log "deleting bridge $BRIDGE"
  ip link del "$BRIDGE" || true
fi
for table in nat filter; do
  chains=()
  # Rules the bridge (ipMasq) and portmap plugins tagged with our network's name.
  while IFS= read -r rule; do
    [ -n "$rule" ] || continue
    t=$(sed -n 's/.* -j \(CNI-[A-Za-z0-9-]*\).*/\1/p' <<<"$rule")
    [ -n "$t" ] && case "$t" in CNI-HOSTPORT-*) ;; *) chains+=("$t") ;; esac
    eval "iptables -w -t $table -D ${rule#-A }" 2>/dev/null || true
  done < <(iptables -w -t "$table" -S 2>/dev/null | grep -F "name: \\\"$CNI_NETWORK\\\"" | grep '^-A ' || true)
  for c in "${chains[@]}"; do
    iptables -w -t "$table" -F "$c" 2>/dev/null || true
    iptables -w -t "$table" -X "$c" 2>/dev/null || true
  done
done
# kube-proxy's and the kubelet's chains (KUBE-*): nothing else on this host makes them.
if iptables-save 2>/dev/null | grep '^:KUBE-' >/dev/null || ip6tables-save 2>/dev/null | grep '^:KUBE-' >/dev/null; then
  log "removing the KUBE-* iptables chains of kube-proxy and the kubelet"
  kube-proxy --cleanup >>"$LOGS/kube-proxy.log" 2>&1 || true
  for ipt in iptables ip6tables; do
    for table in filter nat mangle; do
      # rules in the built-in chains that jump into KUBE-* chains
      while IFS= read -r rule; do
        eval "$ipt -w -t $table -D ${rule#-A }" 2>/dev/null || true
      done < <($ipt -w -t "$table" -S 2>/dev/null | grep -E '^-A [A-Z]+ .*-j KUBE-' | grep -vE '^-A KUBE-' || true)
      mapfile -t kube_chains < <($ipt -w -t "$table" -S 2>/dev/null | sed -n 's/^-N \(KUBE-[A-Za-z0-9-]*\)$/\1/p')
      for c in "${kube_chains[@]}"; do $ipt -w -t "$table" -F "$c" 2>/dev/null || true; done
      for c in "${kube_chains[@]}"; do $ipt -w -t "$table" -X "$c" 2>/dev/null || true; done
    done
  done
fi
rm -f "$CNI_DATA_DIR/$CNI_NETWORK"/[0-9]* "$CNI_DATA_DIR/$CNI_NETWORK"/last_reserved_ip.* 2>/dev/null || true

# 4. Mounts the kubelet and containerd left under our directories, deepest first.
unmount_ours() {
  findmnt -rn -o TARGET | awk -v s="$STATE/" -v r="$RUN/" -v s0="$STATE" -v r0="$RUN" \
    'index($0, s) == 1 || index($0, r) == 1 || $0 == s0 || $0 == r0' | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "warning: cannot unmount $m"
  done
}
unmount_ours
unmount_ours

# 5. Kernel settings the kubelet changed.
if [ -f "$STATE/sysctl.orig" ]; then
  sysctl -q -p "$STATE/sysctl.orig" >/dev/null 2>&1 || true
fi

if [ "$purge" = 1 ]; then
  if findmnt -rn -o TARGET | grep -e "^$STATE/" -e "^$RUN/" >/dev/null; then
    die "mounts remain under $STATE or $RUN; not deleting state (unmount them and rerun)"
  fi
  log "purging cluster state in $STATE (binaries and podman images are kept)"
  keep=()
  # the image store stays with the stamp saying which containerd made it (lib.sh: state_mismatch)
  [ "$purge_images" = 1 ] || keep=(-not -name containerd -not -name "$(basename "$STAMP")")
  [ ! -d "$STATE" ] || find "$STATE" -mindepth 1 -maxdepth 1 "${keep[@]}" -exec rm -rf --one-file-system {} +
  # containerd's image store stays; its CRI bookkeeping of removed pods goes.
  rm -rf --one-file-system "$STATE/containerd/io.containerd.grpc.v1.cri" 2>/dev/null || true
  rm -rf --one-file-system "$RUN" "$HOSTPATH_PV_DIR" "$OUT_KUBECONFIG"
  remove_log_links
fi
log "cluster down$([ "$purge" = 1 ] && echo ' (state purged)')"
