#!/usr/bin/env bash
# Bring up a one-node Kubernetes cluster as plain host processes (the way Kubernetes'
# hack/local-up-cluster.sh does): containerd (own config, root and socket), etcd, kube-apiserver,
# kube-controller-manager (+ hostpath provisioner and a default StorageClass), kube-scheduler,
# kubelet, kube-proxy (iptables), a CNI bridge and CoreDNS as a host process behind the usual
# kube-dns Service (10.96.0.10). Idempotent: a second run while the cluster is up only checks it.
#
#   bash ci/cluster/up.sh                      # prints the kubeconfig path on stdout
#   export KUBECONFIG=$HOME/.cache/faq-engine/cluster/kubeconfig
#   FAQ_CLUSTER=existing bash ci/cluster/up.sh # only check the cluster KUBECONFIG points at
#
# State: $FAQ_CLUSTER_STATE (default /var/lib/faq-engine-cluster; logs in its logs/ folder) and
# $FAQ_CLUSTER_RUN (default /run/faq-engine-cluster). Binaries: ci/cluster/build.sh. Tear down
# with ci/cluster/down.sh [--purge].
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

WAIT_API=${FAQ_CLUSTER_WAIT_API:-120}
WAIT_NODE=${FAQ_CLUSTER_WAIT_NODE:-180}
WAIT_DNS=${FAQ_CLUSTER_WAIT_DNS:-90}

# --- an existing cluster: check it, change nothing ---------------------------------------------
if [ "${FAQ_CLUSTER:-}" = existing ]; then
  command -v kubectl >/dev/null || die "FAQ_CLUSTER=existing needs kubectl on PATH"
  ctx=$(kubectl config current-context 2>/dev/null) || die "FAQ_CLUSTER=existing: no current context (set KUBECONFIG)"
  kubectl get --raw /readyz --request-timeout=10s >/dev/null 2>&1 \
    || die "FAQ_CLUSTER=existing: the API server of context '$ctx' is not reachable"
  ready=$(kubectl get nodes -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True || true)
  [ "$ready" -ge 1 ] || die "FAQ_CLUSTER=existing: context '$ctx' has no Ready node"
  log "using the existing cluster of context '$ctx' ($ready Ready node(s))"
  echo "${KUBECONFIG:-$HOME/.kube/config}"
  exit 0
fi

[ "$(id -u)" = 0 ] || die "up.sh runs the cluster as host processes and must run as root"
take_lock
for t in conntrack iptables iptables-restore ip podman catatonit busybox curl jq; do
  command -v "$t" >/dev/null || die "'$t' is missing: run ci/setup-host.sh"
done
for p in bridge host-local portmap loopback; do
  [ -x "/usr/lib/cni/$p" ] || die "CNI plugin /usr/lib/cni/$p missing: run ci/setup-host.sh (containernetworking-plugins)"
done

# --- binaries (seconds when cached, tens of minutes on a fresh machine) --------------------------
"$repo_dir/ci/phase" cluster-binaries --cache "$K8S_BIN/kubelet" -- bash "$cluster_dir/build.sh" >&2 \
  || die "ci/cluster/build.sh failed"
for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl kubeadm etcd coredns; do
  [ -x "$K8S_BIN/$b" ] || die "$K8S_BIN/$b missing after build.sh"
done

NODE_IP=${FAQ_CLUSTER_NODE_IP:-$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')}
[ -n "$NODE_IP" ] || die "cannot find the node IP (no IPv4 default route); set FAQ_CLUSTER_NODE_IP"
NODE_NAME=${FAQ_CLUSTER_NODE_NAME:-$(hostname | tr '[:upper:]' '[:lower:]')}

# A changed node IP or name invalidates certificates and node objects: start over.
if [ -f "$STATE/node" ] && [ "$(cat "$STATE/node")" != "$NODE_NAME $NODE_IP" ]; then
  log "node changed from '$(cat "$STATE/node")' to '$NODE_NAME $NODE_IP': purging the old cluster state"
  bash "$cluster_dir/down.sh" --purge
fi
# State made by another Kubernetes minor or container runtime (e.g. v1.34 on containerd 1.6 before
# a pull) is moved out of the way whole, never half-used: stop it all, drop it with its images.
why=$(state_mismatch)
if [ -n "$why" ]; then
  log "$why: purging the old cluster state and its images"
  bash "$cluster_dir/down.sh" --purge-images
fi
mkdir -p "$STATE" "$LOGS" "$PIDS" "$PKI" "$KCDIR" "$CNI_CONF_DIR" "$CNI_DATA_DIR" "$STATE/etc" \
  "$RUN/containerd" "$HOSTPATH_PV_DIR" "$(dirname "$OUT_KUBECONFIG")"
echo "$NODE_NAME $NODE_IP" >"$STATE/node"
[ -f "$STAMP" ] || state_stamp >"$STAMP"

fhash() { cat "$@" | sha256sum | cut -c1-16; }

# --- host settings ------------------------------------------------------------------------------
# The kubelet rewrites kernel.panic, kernel.panic_on_oops and vm.overcommit_memory; down.sh puts
# back the values recorded here before the first start.
if [ ! -f "$STATE/sysctl.orig" ]; then
  sysctl -e kernel.panic kernel.panic_on_oops vm.overcommit_memory >"$STATE/sysctl.orig" 2>/dev/null || true
fi
sysctl -qw net.ipv4.ip_forward=1
[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] && sysctl -qw net.bridge.bridge-nf-call-iptables=1
[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] \
  || log "warning: br_netfilter is not loaded; Service traffic between pods on the bridge may fail"

# --- CNI: one bridge, host-local IPAM in our own data dir, portmap for hostPorts ---------------
cni_conflist "$POD_SUBNET" "$CNI_DATA_DIR" | write_if_changed "$CNI_CONF_DIR/10-faq-engine.conflist"

# --- containerd -------------------------------------------------------------------------------
mkdir -p "$REGISTRY_HOSTS_DIR"
write_if_changed "$STATE/etc/containerd.toml" <<EOF
# faq-engine local cluster: its own containerd $CONTAINERD_VERSION and runc $RUNC_VERSION
# (ci/cluster/build.sh), separate from any other on this host. Config version 3 (containerd 2.x).
version = 3
root = "$STATE/containerd"
state = "$RUN/containerd"
oom_score = 0
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]

[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$RUN/containerd/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "$PAUSE_IMAGE"
  # Registry hosts, one directory per registry with a hosts.toml (containerd's docs/hosts.md).
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = "$REGISTRY_HOSTS_DIR"

[plugins.'io.containerd.cri.v1.runtime']
  # runc would write a negative oom_score_adj (the kubelet asks -998 for sandboxes), which this
  # VM forbids (no CAP_SYS_RESOURCE): clamp it to containerd's own (0). containerd 2.x applies
  # this to sandboxes too (internal/cri/server/podsandbox: WithPodOOMScoreAdj).
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "$RUNC"
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "$CNI_CONF_DIR"
    max_conf_num = 1

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
EOF
# Pods' network namespaces live in /run/netns (the CNI plugins mount one file each there). The
# first `ip netns add` on a host (ci/cluster/node.sh's second node) makes that directory a shared
# bind mount of itself, which hides every namespace mounted before it: their pods can then never
# be torn down (`unlinkat ...: device or resource busy`) and hold their node's resources. So make
# the mount now, as iproute2 does, before containerd creates any; with namespaces already there
# (a cluster restarted over running pods) leave it to the next clean start.
mkdir -p /run/netns
if ! mountpoint -q /run/netns; then
  if [ -z "$(ls -A /run/netns)" ]; then
    mount --bind /run/netns /run/netns
  else
    log "warning: /run/netns holds namespaces but is not a mount point; a second node's \`ip netns add\` will hide them"
  fi
fi
mountpoint -q /run/netns && mount --make-shared /run/netns
start_comp containerd "$(fhash "$STATE/etc/containerd.toml" "$CNI_CONF_DIR/10-faq-engine.conflist")" containerd --config "$STATE/etc/containerd.toml"
wait_comp containerd 30 ctr_ version
bash "$cluster_dir/registry.sh" >/dev/null # the local OCI registry + its containerd hosts.toml

# --- pause image: FROM scratch + static catatonit -----------------------------------------------
if ! ctr_ -n k8s.io images ls -q "name==$PAUSE_IMAGE" | grep . >/dev/null; then
  if ! podman image exists "$PAUSE_IMAGE"; then
    log "building $PAUSE_IMAGE"
    ctx=$(mktemp -d)
    cp "$(readlink -f "$(command -v catatonit)")" "$ctx/pause"
    printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause", "-P"]\n' >"$ctx/Containerfile"
    podman build -q -t "$PAUSE_IMAGE" -f "$ctx/Containerfile" "$ctx" >/dev/null
    rm -rf "$ctx"
  fi
  bash "$cluster_dir/load-images.sh" "$PAUSE_IMAGE"
fi

# --- certificates and kubeconfigs (kubeadm phases) ----------------------------------------------
cat >"$STATE/etc/kubeadm.yaml" <<EOF
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: $NODE_IP
  bindPort: $API_PORT
nodeRegistration:
  name: $NODE_NAME
  criSocket: unix://$CONTAINERD_SOCK
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: $K8S_VERSION
clusterName: faq-engine
controlPlaneEndpoint: 127.0.0.1:$API_PORT
certificatesDir: $PKI
networking:
  serviceSubnet: $SERVICE_CIDR
  podSubnet: $CLUSTER_CIDR
  dnsDomain: $CLUSTER_DOMAIN
apiServer:
  certSANs: [127.0.0.1, localhost, $NODE_IP, $NODE_NAME]
etcd:
  local:
    dataDir: $STATE/etcd
    serverCertSANs: [127.0.0.1, localhost]
EOF
if [ ! -f "$PKI/apiserver.crt" ] || [ ! -f "$PKI/sa.key" ]; then
  log "creating certificates (kubeadm init phase certs all)"
  kubeadm init phase certs all --config "$STATE/etc/kubeadm.yaml" >>"$LOGS/kubeadm.log" 2>&1 \
    || { tail -n 20 "$LOGS/kubeadm.log" >&2; die "kubeadm init phase certs all failed"; }
fi
if [ ! -f "$KCDIR/admin.conf" ] || [ ! -f "$KCDIR/kubelet.conf" ]; then
  log "creating kubeconfigs (kubeadm init phase kubeconfig all)"
  kubeadm init phase kubeconfig all --config "$STATE/etc/kubeadm.yaml" --kubeconfig-dir "$KCDIR" >>"$LOGS/kubeadm.log" 2>&1 \
    || { tail -n 20 "$LOGS/kubeadm.log" >&2; die "kubeadm init phase kubeconfig all failed"; }
fi
# Client identities for kube-proxy (bound by the default system:node-proxier binding) and CoreDNS.
sed -n '/^kind: ClusterConfiguration/,$p' "$STATE/etc/kubeadm.yaml" | sed '1i apiVersion: kubeadm.k8s.io/v1beta4' \
  >"$STATE/etc/kubeadm-cluster.yaml"
for u in kube-proxy coredns; do
  [ -s "$KCDIR/$u.conf" ] && continue
  kubeadm kubeconfig user --config "$STATE/etc/kubeadm-cluster.yaml" --client-name "system:$u" \
    >"$KCDIR/$u.conf.tmp" 2>>"$LOGS/kubeadm.log" || die "kubeadm kubeconfig user system:$u failed"
  mv "$KCDIR/$u.conf.tmp" "$KCDIR/$u.conf"
done

# --- etcd ---------------------------------------------------------------------------------------
start_comp etcd "" etcd --name "$NODE_NAME" --data-dir "$STATE/etcd" \
  --listen-client-urls https://127.0.0.1:2379 --advertise-client-urls https://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster "$NODE_NAME=http://127.0.0.1:2380" --listen-metrics-urls http://127.0.0.1:2381 \
  --cert-file "$PKI/etcd/server.crt" --key-file "$PKI/etcd/server.key" \
  --client-cert-auth --trusted-ca-file "$PKI/etcd/ca.crt" \
  --snapshot-count 10000 --quota-backend-bytes 2147483648 --log-level warn
wait_comp etcd 60 curl -fsS http://127.0.0.1:2381/health

# --- kube-apiserver ---------------------------------------------------------------------------
start_comp kube-apiserver "" kube-apiserver \
  --advertise-address "$NODE_IP" --bind-address 0.0.0.0 --secure-port "$API_PORT" \
  --etcd-servers https://127.0.0.1:2379 --etcd-cafile "$PKI/etcd/ca.crt" \
  --etcd-certfile "$PKI/apiserver-etcd-client.crt" --etcd-keyfile "$PKI/apiserver-etcd-client.key" \
  --client-ca-file "$PKI/ca.crt" --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
  --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
  --kubelet-preferred-address-types InternalIP,Hostname \
  --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction --allow-privileged=true \
  --service-cluster-ip-range "$SERVICE_CIDR" \
  --service-account-issuer "https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
  --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
  --proxy-client-cert-file "$PKI/front-proxy-client.crt" --proxy-client-key-file "$PKI/front-proxy-client.key" \
  --requestheader-client-ca-file "$PKI/front-proxy-ca.crt" --requestheader-allowed-names front-proxy-client \
  --requestheader-extra-headers-prefix X-Remote-Extra- --requestheader-group-headers X-Remote-Group \
  --requestheader-username-headers X-Remote-User --enable-bootstrap-token-auth=false --profiling=false
wait_comp kube-apiserver "$WAIT_API" kubectl --kubeconfig "$KCDIR/super-admin.conf" get --raw /readyz

# --- cluster objects the components and tests rely on --------------------------------------------
manifest=$(cat <<EOF
# admin.conf (kubeadm >= 1.29) is in group kubeadm:cluster-admins; kubeadm init would bind it.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "kubeadm:cluster-admins"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: "kubeadm:cluster-admins"}]
---
# The API server's client certificate for the kubelets (logs, exec, port-forward) has no group
# (kubeadm 1.37 issues it with CN only); kubeadm init binds that user to the kubelet API role.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "kubeadm:apiserver-kubelet-client"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:kubelet-api-admin"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: kube-apiserver-kubelet-client}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:coredns"}
rules:
- {apiGroups: [""], resources: [endpoints, services, pods, namespaces], verbs: [list, watch]}
- {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:coredns"}]
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: kubernetes.io/host-path
reclaimPolicy: Delete
volumeBindingMode: Immediate
---
# CoreDNS runs on the host; the usual kube-dns Service points at it.
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {k8s-app: kube-dns, kubernetes.io/name: CoreDNS}
spec:
  clusterIP: $DNS_SERVICE_IP
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: 53}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-host
  namespace: kube-system
  labels: {kubernetes.io/service-name: kube-dns, endpointslice.kubernetes.io/managed-by: faq-engine-cluster}
addressType: IPv4
endpoints:
- addresses: ["$NODE_IP"]
  conditions: {ready: true}
  nodeName: $NODE_NAME
ports:
- {name: dns, port: 53, protocol: UDP}
- {name: dns-tcp, port: 53, protocol: TCP}
EOF
)
mhash=$(printf '%s' "$manifest" | sha256sum | cut -c1-16)
if [ "$(cat "$STATE/manifest.applied" 2>/dev/null)" != "$mhash" ] \
  || ! kc_admin get storageclass standard -o name >/dev/null 2>&1; then
  printf '%s\n' "$manifest" | kubectl --kubeconfig "$KCDIR/super-admin.conf" apply --server-side --force-conflicts -f - >/dev/null
  echo "$mhash" >"$STATE/manifest.applied"
fi

# --- controller-manager and scheduler -------------------------------------------------------------
start_comp kube-controller-manager "" kube-controller-manager \
  --kubeconfig "$KCDIR/controller-manager.conf" \
  --authentication-kubeconfig "$KCDIR/controller-manager.conf" --authorization-kubeconfig "$KCDIR/controller-manager.conf" \
  --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
  --root-ca-file "$PKI/ca.crt" --service-account-private-key-file "$PKI/sa.key" \
  --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
  --requestheader-client-ca-file "$PKI/front-proxy-ca.crt" --client-ca-file "$PKI/ca.crt" \
  --service-cluster-ip-range "$SERVICE_CIDR" --cluster-cidr "$CLUSTER_CIDR" --allocate-node-cidrs=false \
  --enable-hostpath-provisioner=true --profiling=false
start_comp kube-scheduler "" kube-scheduler \
  --kubeconfig "$KCDIR/scheduler.conf" \
  --authentication-kubeconfig "$KCDIR/scheduler.conf" --authorization-kubeconfig "$KCDIR/scheduler.conf" \
  --bind-address 127.0.0.1 --leader-elect=false --profiling=false

# The in-tree hostpath provisioner creates each volume 0750 root:root, and the kubelet applies no
# fsGroup to hostPath volumes, so non-root pods could not write them. Open new ones up at once.
start_comp pv-perms "" bash -c "while :; do find '$HOSTPATH_PV_DIR' -mindepth 1 -maxdepth 1 -type d ! -perm 0777 -exec chmod 0777 {} + 2>/dev/null; sleep 0.3; done"

# --- kubelet --------------------------------------------------------------------------------
mkdir -p "$STATE/kubelet" "$STATE/pod-logs"
write_if_changed "$STATE/etc/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
podLogsDir: $STATE/pod-logs
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
# This VM has no CAP_SYS_RESOURCE: no negative oom_score_adj, no rlimit above nofile 20000.
oomScoreAdj: 0
maxOpenFiles: 20000
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
address: 0.0.0.0
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
clusterDomain: $CLUSTER_DOMAIN
clusterDNS: [$DNS_SERVICE_IP]
resolvConf: /etc/resolv.conf
rotateCertificates: false
serializeImagePulls: false
# Image garbage collection as on a real node (the disk is shared with podman, the Go caches and
# the registry): unused images go when the disk passes 85 % and after an hour unused. Every
# image but the imported ones is pulled from the local registry and can be pulled again; the
# imported ones (the pause image, ci/cluster/load-images.sh) are pinned, which the kubelet
# never collects.
# And let every pod use any image on the node: by default (KubeletEnsureSecretPulledImages, on
# since 1.35) an image the kubelet once pulled from the local registry is re-pulled to verify
# access when a pod names it by another repository (an imported localhost/... tag with the same
# ID), which fails here. This is a single-tenant test cluster with no private images.
imagePullCredentialsVerificationPolicy: NeverVerify
imageGCHighThresholdPercent: 85
imageGCLowThresholdPercent: 80
imageMaximumGCAge: 1h
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
evictionPressureTransitionPeriod: 30s
maxPods: 110
EOF
start_comp kubelet "$(fhash "$STATE/etc/kubelet.yaml")" kubelet \
  --config "$STATE/etc/kubelet.yaml" --kubeconfig "$KCDIR/kubelet.conf" \
  --root-dir "$STATE/kubelet" --cert-dir "$STATE/kubelet/pki" \
  --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --v 1

# --- kube-proxy (iptables) --------------------------------------------------------------------
write_if_changed "$STATE/etc/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $KCDIR/kube-proxy.conf}
mode: iptables
clusterCIDR: $CLUSTER_CIDR
hostnameOverride: $NODE_NAME
bindAddress: 0.0.0.0
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# leave the host's conntrack table size alone
conntrack: {maxPerCore: 0, min: 0}
EOF
start_comp kube-proxy "$(fhash "$STATE/etc/kube-proxy.yaml")" kube-proxy --config "$STATE/etc/kube-proxy.yaml"

# --- CoreDNS on the host, on the node IP, behind the kube-dns Service ----------------------------
write_if_changed "$STATE/etc/Corefile" <<EOF
.:53 {
    bind $NODE_IP
    errors
    health 127.0.0.1:10054
    ready 127.0.0.1:10055
    kubernetes $CLUSTER_DOMAIN in-addr.arpa ip6.arpa {
        kubeconfig $KCDIR/coredns.conf
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    forward . /etc/resolv.conf
    cache 30
    loop
    loadbalance
}
EOF
start_comp coredns "$(fhash "$STATE/etc/Corefile")" coredns -conf "$STATE/etc/Corefile"

# --- wait until usable ----------------------------------------------------------------------------
for c in containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy coredns pv-perms; do
  must_run "$c"
done
node_ready() {
  [ "$(kc_admin get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}
wait_comp kubelet "$WAIT_NODE" node_ready
dns_ok() {
  busybox nslookup "kubernetes.default.svc.$CLUSTER_DOMAIN" "$DNS_SERVICE_IP" 2>/dev/null \
    | grep -E '^Address:[[:space:]]*10\.96\.0\.1$' >/dev/null
}
wait_comp coredns "$WAIT_DNS" dns_ok
# Wait for the default ServiceAccount, which every pod needs.
wait_comp kube-controller-manager 60 kc_admin -n default get serviceaccount default
bash "$cluster_dir/metrics-server.sh" >&2 || die "ci/cluster/metrics-server.sh failed"
# The Gateway API CRDs (standard channel, GATEWAY_API_VERSION) for the chart's httpRoute; applied
# again only when they change.
crds=$(bash "$cluster_dir/../gateway-api-crds.sh") || die "ci/gateway-api-crds.sh failed"
ghash=$(cat "$crds"/*.yaml | sha256sum | cut -c1-16)
if [ "$(cat "$STATE/gateway-api.applied" 2>/dev/null)" != "$ghash" ] \
  || ! kc_admin get crd httproutes.gateway.networking.k8s.io -o name >/dev/null 2>&1; then
  kc_admin apply --server-side --force-conflicts --field-manager faq-engine-cluster -f "$crds" >/dev/null
  echo "$ghash" >"$STATE/gateway-api.applied"
fi

# --- kubeconfig for users and tests --------------------------------------------------------------
if ! cmp -s "$KCDIR/admin.conf" "$OUT_KUBECONFIG"; then
  install -m 0600 "$KCDIR/admin.conf" "$OUT_KUBECONFIG"
fi
log "cluster up: node $NODE_NAME ($NODE_IP) Ready, DNS $DNS_SERVICE_IP resolves; $K8S_VERSION"
log "export KUBECONFIG=$OUT_KUBECONFIG"
echo "$OUT_KUBECONFIG"
