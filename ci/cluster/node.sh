#!/usr/bin/env bash
# More nodes for the local cluster (ci/cluster/up.sh runs the first): node N gets its own
# containerd, kubelet and kube-proxy, in a network namespace and a mount namespace of its own on
# this machine, joined to the same control plane.
#
#   bash ci/cluster/node.sh add N [--taint KEY=VALUE:EFFECT]...
#                                      # node "<first node>-N" Ready (N = 2..9); prints its name;
#                                      # the taints are on it from its registration on (a test's
#                                      # node that only its own pods tolerate)
#   bash ci/cluster/node.sh remove N   # drain nothing: delete the Node, stop it, drop its state
#   bash ci/cluster/node.sh kill N     # node loss: every process of the node (containers
#                                      # included) SIGKILLed, packets to its pods dropped
#                                      # silently; the Node object stays
#   bash ci/cluster/node.sh list       # the numbers of the nodes added
#
# Network: a veth pair links the node's namespace (10.243.N.2) to the host (10.243.N.1); the
# node's pods get 10.244.N.0/24 (the first node has 10.244.0.0/24) on a bridge of their own,
# and the host routes that range to the node, so pods reach each other, the API server and
# CoreDNS on the first node's IP, and the host reaches every pod. The node pulls from the same
# local registry (127.0.0.1:5001 there is the host's, through a DNAT on the link).
# Mounts: the node's kubelet and containerd share one mount namespace (a slave of the host's), so
# the kubelet's volume mounts stay on the node; cgroups: the node's pods live under /faq-node-N.
# State under $STATE/nodes/N, logs in $STATE/logs/node-N-*.log; ci/cluster/down.sh removes them.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

usage() { die "usage: node.sh add N [--taint KEY=VALUE:EFFECT]... | node.sh remove|kill N (N = 2..9) | node.sh list"; }
cmd=${1:-}
if [ "$cmd" = list ]; then
  for d in "$STATE"/nodes/[2-9]; do [ -d "$d" ] && basename "$d"; done
  exit 0
fi
n=${2:-}
[[ "$n" =~ ^[2-9]$ ]] || usage
shift 2
taints=()
while [ $# -gt 0 ]; do
  if [ "$cmd" != add ] || [ "$1" != --taint ] || [ $# -lt 2 ]; then usage; fi
  [[ "$2" =~ ^([A-Za-z0-9./-]+)=([A-Za-z0-9._-]*):(NoSchedule|PreferNoSchedule|NoExecute)$ ]] \
    || die "--taint $2: not KEY=VALUE:EFFECT (EFFECT NoSchedule, PreferNoSchedule or NoExecute)"
  taints+=("${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "${BASH_REMATCH[3]}")
  shift 2
done
[ "$(id -u)" = 0 ] || die "node.sh runs cluster processes on the host and must run as root"
read -r FIRST_NODE NODE_IP <"$STATE/node" 2>/dev/null || die "no $STATE/node: run ci/cluster/up.sh first"

node_name=$FIRST_NODE-$n
netns=faq-node-$n
host_if=faqn${n}h
node_if=faqn${n}n
host_ip=10.243.$n.1
node_ip=10.243.$n.2
pod_subnet=10.244.$n.0/24
nstate=$STATE/nodes/$n
nrun=$RUN/nodes/$n
mntns=$nrun/ns/mnt
sock=$nrun/containerd/containerd.sock
cgroup_root=/faq-node-$n
comps=("node-$n-kube-proxy" "node-$n-kubelet" "node-$n-containerd")
dnat_rule=(PREROUTING -i "$host_if" -p tcp -d "$host_ip" --dport "${LOCAL_REGISTRY##*:}"
  -j DNAT --to-destination "$LOCAL_REGISTRY" -m comment --comment "faq-engine node $n: local registry")

stop_node() { # every process of the node, containers included, then its namespaces and link
  local sig=${1:-TERM}
  if [ "$sig" = TERM ]; then
    stop_comp "${comps[@]}"
  fi
  # containerd, the kubelet, kube-proxy and the shims share the node's network namespace; the
  # containers have their own, but live in the node's cgroups.
  local i
  for i in 1 2 3; do
    { [ -e "/run/netns/$netns" ] && ip netns pids "$netns" 2>/dev/null
      find /sys/fs/cgroup/pids"$cgroup_root" /sys/fs/cgroup/memory"$cgroup_root" -name cgroup.procs \
        -exec cat {} + 2>/dev/null; } | sort -u | xargs -r kill -9 2>/dev/null || true
    sleep 0.2
  done
  for c in "${comps[@]}"; do rm -f "$PIDS/$c.pid" "$PIDS/$c.exe" "$PIDS/$c.args"; done
}

teardown() {
  stop_node TERM
  # the mounts the kubelet and containerd made live in the node's mount namespace: gone with it
  if mountpoint -q "$nrun/ns"; then umount "$mntns" 2>/dev/null || true; umount -l "$nrun/ns" || true; fi
  ip netns del "$netns" 2>/dev/null || true
  ip link del "$host_if" 2>/dev/null || true
  ip route del "$pod_subnet" 2>/dev/null || true
  iptables -t nat -D "${dnat_rule[@]}" 2>/dev/null || true
  local d
  for d in /sys/fs/cgroup/*"$cgroup_root"; do
    if [ -d "$d" ]; then find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true; fi
  done
  if [ -d "$CONTAINER_LOG_LINKS" ]; then
    find "$CONTAINER_LOG_LINKS" -maxdepth 1 -type l -lname "$nstate/pod-logs/*" -delete
  fi
  rm -rf "$nstate" "$nrun"
}

case "$cmd" in
  remove)
    take_lock
    kc_admin delete node "$node_name" --ignore-not-found --wait=false >/dev/null 2>&1 || true
    teardown
    log "node $node_name removed"
    exit 0
    ;;
  kill)
    # A machine gone silent: no heartbeat, and packets to it and its pods vanish without an
    # answer (dropped in its namespace; a link taken down instead would let them fall back to
    # the host's default route, and whatever answers there would answer for the pods).
    ip netns exec "$netns" iptables -I INPUT -j DROP
    ip netns exec "$netns" iptables -I FORWARD -j DROP
    stop_node KILL
    log "node $node_name killed (every process SIGKILLed, its pods' traffic dropped); its Node object stays"
    exit 0
    ;;
  add) ;;
  *) usage ;;
esac

take_lock
kc_admin get --raw /readyz >/dev/null 2>&1 || die "the cluster is not up: run ci/cluster/up.sh first"
# A node killed earlier is started again from scratch (its Node object is replaced).
if [ -e "/run/netns/$netns" ] && [ -z "$(comp_pid "node-$n-kubelet")" ]; then
  log "node $node_name: stale state from an earlier run, starting it over"
  kc_admin delete node "$node_name" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  teardown
fi
mkdir -p "$nstate"/{etc,pki,kubelet,pod-logs,cni/net.d,cni/networks,certs.d} "$nrun/containerd" "$nrun/ns"

# --- network: a namespace, a veth to the host, routes both ways ---------------------------------
if [ ! -e "/run/netns/$netns" ]; then
  ip netns add "$netns"
  ip link add "$host_if" type veth peer name "$node_if" netns "$netns"
  ip addr add "$host_ip/24" dev "$host_if"
  ip link set "$host_if" up
  ip -n "$netns" addr add "$node_ip/24" dev "$node_if"
  ip -n "$netns" link set lo up
  ip -n "$netns" link set "$node_if" up
  ip -n "$netns" route add default via "$host_ip"
fi
ip link set "$host_if" up
ip route replace "$pod_subnet" via "$node_ip"
ip netns exec "$netns" sysctl -qw net.ipv4.ip_forward=1
if [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then
  ip netns exec "$netns" sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
fi
# The local registry listens on the host's loopback: let the node reach it through its link.
sysctl -qw "net.ipv4.conf.$host_if.route_localnet=1"
iptables -t nat -C "${dnat_rule[@]}" 2>/dev/null || iptables -t nat -A "${dnat_rule[@]}"

# --- mount namespace: one for the node's kubelet and containerd, a slave of the host's -----------
if ! mountpoint -q "$nrun/ns"; then
  mount --bind "$nrun/ns" "$nrun/ns"
  mount --make-private "$nrun/ns"
fi
if [ ! -e "$mntns" ] || ! mountpoint -q "$mntns"; then
  touch "$mntns"
  unshare --mount="$mntns" --propagation slave true
fi

# --- cgroups: the node's pods under /faq-node-N in every hierarchy -------------------------------
for d in /sys/fs/cgroup/*/; do
  [ -f "$d/cgroup.procs" ] || continue
  mkdir -p "$d$cgroup_root"
  if [ -f "$d/cpuset.cpus" ]; then # a new cpuset cgroup starts empty: take the root's
    [ -n "$(cat "$d$cgroup_root/cpuset.cpus")" ] || cat "$d/cpuset.cpus" >"$d$cgroup_root/cpuset.cpus"
    [ -n "$(cat "$d$cgroup_root/cpuset.mems")" ] || cat "$d/cpuset.mems" >"$d$cgroup_root/cpuset.mems"
  fi
done

# --- identities: the kubelet (system:node:NAME) and its serving certificate from the cluster CA --
server=https://$NODE_IP:$API_PORT
if [ ! -s "$nstate/kubelet.conf" ]; then
  kubeadm kubeconfig user --config "$STATE/etc/kubeadm-cluster.yaml" --client-name "system:node:$node_name" \
    --org system:nodes 2>>"$LOGS/kubeadm.log" | sed "s|server: https://.*|server: $server|" \
    >"$nstate/kubelet.conf.tmp" || die "kubeadm kubeconfig user system:node:$node_name failed"
  mv "$nstate/kubelet.conf.tmp" "$nstate/kubelet.conf"
fi
sed "s|server: https://.*|server: $server|" "$KCDIR/kube-proxy.conf" | write_if_changed "$nstate/kube-proxy.conf"
if [ ! -s "$nstate/pki/kubelet.crt" ]; then
  openssl req -new -newkey rsa:2048 -nodes -keyout "$nstate/pki/kubelet.key" -subj "/CN=$node_name" \
    -out "$nstate/pki/kubelet.csr" 2>/dev/null
  printf 'subjectAltName=DNS:%s,IP:%s\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' \
    "$node_name" "$node_ip" >"$nstate/pki/kubelet.ext"
  openssl x509 -req -in "$nstate/pki/kubelet.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 365 -extfile "$nstate/pki/kubelet.ext" \
    -out "$nstate/pki/kubelet.crt" 2>/dev/null
  chmod 0600 "$nstate/pki/kubelet.key"
fi

# --- containerd: the first node's settings with the node's own root, socket, CNI and registry ------
cni_conflist "$pod_subnet" "$nstate/cni/networks" | write_if_changed "$nstate/cni/net.d/10-faq-engine.conflist"
mkdir -p "$nstate/certs.d/$LOCAL_REGISTRY"
write_if_changed "$nstate/certs.d/$LOCAL_REGISTRY/hosts.toml" <<EOF
# node $n reaches the host's local registry through its link (a DNAT to $LOCAL_REGISTRY)
server = "http://$host_ip:${LOCAL_REGISTRY##*:}"

[host."http://$host_ip:${LOCAL_REGISTRY##*:}"]
  capabilities = ["pull", "resolve"]
  skip_verify = true
EOF
sed -e "s|^root = .*|root = \"$nstate/containerd\"|" \
  -e "s|^state = .*|state = \"$nrun/containerd\"|" \
  -e "s|$RUN/containerd/containerd.sock|$sock|g" \
  -e "s|config_path = .*|config_path = \"$nstate/certs.d\"|" \
  -e "s|conf_dir = .*|conf_dir = \"$nstate/cni/net.d\"|" \
  "$STATE/etc/containerd.toml" | write_if_changed "$nstate/etc/containerd.toml"
grep -q "$nstate/containerd" "$nstate/etc/containerd.toml" || die "could not derive node $n's containerd.toml"
start_comp "node-$n-containerd" "$(sha256sum <"$nstate/etc/containerd.toml" | cut -c1-16)" \
  nsenter --net="/run/netns/$netns" --mount="$mntns" -- containerd --config "$nstate/etc/containerd.toml"
wait_comp "node-$n-containerd" 30 ctr --address "$sock" version
# The pause image is built locally (up.sh), never pulled: give the node a copy.
if ! ctr --address "$sock" -n k8s.io images ls -q "name==$PAUSE_IMAGE" 2>/dev/null | grep . >/dev/null; then
  podman save --format docker-archive "$PAUSE_IMAGE" \
    | ctr --address "$sock" -n k8s.io images import - >/dev/null 2>&1 || die "importing $PAUSE_IMAGE into node $n failed"
fi

# --- kubelet: the first node's configuration with the node's own runtime, logs, cgroups, cert -----
{
  sed -e "s|^containerRuntimeEndpoint: .*|containerRuntimeEndpoint: unix://$sock|" \
    -e "s|^podLogsDir: .*|podLogsDir: $nstate/pod-logs|" "$STATE/etc/kubelet.yaml"
  printf 'cgroupRoot: %s\ntlsCertFile: %s\ntlsPrivateKeyFile: %s\n' \
    "$cgroup_root" "$nstate/pki/kubelet.crt" "$nstate/pki/kubelet.key"
  if [ ${#taints[@]} -gt 0 ]; then
    echo "registerWithTaints:"
    printf '  - {key: "%s", value: "%s", effect: %s}\n' "${taints[@]}"
  fi
} | write_if_changed "$nstate/etc/kubelet.yaml"
start_comp "node-$n-kubelet" "$(sha256sum <"$nstate/etc/kubelet.yaml" | cut -c1-16)" \
  nsenter --net="/run/netns/$netns" --mount="$mntns" -- kubelet \
  --config "$nstate/etc/kubelet.yaml" --kubeconfig "$nstate/kubelet.conf" \
  --root-dir "$nstate/kubelet" --cert-dir "$nstate/pki" \
  --hostname-override "$node_name" --node-ip "$node_ip" --v 1

# --- kube-proxy (iptables, in the node's network namespace) ---------------------------------------
sed -e "s|kubeconfig: .*}|kubeconfig: $nstate/kube-proxy.conf}|" \
  -e "s|^hostnameOverride: .*|hostnameOverride: $node_name|" \
  "$STATE/etc/kube-proxy.yaml" | write_if_changed "$nstate/etc/kube-proxy.yaml"
start_comp "node-$n-kube-proxy" "$(sha256sum <"$nstate/etc/kube-proxy.yaml" | cut -c1-16)" \
  nsenter --net="/run/netns/$netns" --mount="$mntns" -- kube-proxy --config "$nstate/etc/kube-proxy.yaml"

node_ready() {
  [ "$(kc_admin get node "$node_name" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}
wait_comp "node-$n-kubelet" "${FAQ_CLUSTER_WAIT_NODE:-180}" node_ready
for c in "${comps[@]}"; do must_run "$c"; done
# registerWithTaints applies when the Node registers; a node already up (`make up NODES=2`
# before) gets the taints asked for now on its existing Node object
for ((i = 0; i < ${#taints[@]}; i += 3)); do
  kc_admin taint node "$node_name" --overwrite \
    "${taints[i]}=${taints[i + 1]}:${taints[i + 2]}" >/dev/null || die "tainting $node_name failed"
done
log "node $node_name ($node_ip, pods $pod_subnet) Ready"
echo "$node_name"
