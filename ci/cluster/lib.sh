# shellcheck shell=bash disable=SC2034
# Shared settings and helpers for ci/cluster/{up,down,load-images}.sh. Sourced, not run.
# Everything the local cluster owns lives under $STATE (persistent) and $RUN (runtime sockets,
# pid files), so it never touches the host's own containerd, CNI or kubelet directories.

cluster_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(cd "$cluster_dir/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../versions.env
. "$repo_dir/ci/versions.env"

K8S_VERSION=$KUBERNETES_VERSION
K8S_BIN=$FAQ_CACHE/k8s/$K8S_VERSION/bin
# containerd, ctr, containerd-shim-runc-v2 and runc built by build.sh (never the host's).
CONTAINERD_BIN=$FAQ_CACHE/containerd/$CONTAINERD_VERSION/bin
RUNC=$FAQ_CACHE/runc/$RUNC_VERSION/bin/runc
STATE=${FAQ_CLUSTER_STATE:-/var/lib/faq-engine-cluster}
RUN=${FAQ_CLUSTER_RUN:-/run/faq-engine-cluster}
LOGS=$STATE/logs
PIDS=$RUN/pids
PKI=$STATE/pki
KCDIR=$STATE/kubeconfig
CONTAINERD_SOCK=$RUN/containerd/containerd.sock
CNI_CONF_DIR=$STATE/cni/net.d
CNI_DATA_DIR=$STATE/cni/networks
CNI_NETWORK=faq-engine
BRIDGE=faqbr0
POD_SUBNET=10.244.0.0/24       # the only node's pod range (host-local IPAM)
CLUSTER_CIDR=10.244.0.0/16     # what kube-proxy treats as "inside the cluster"
SERVICE_CIDR=10.96.0.0/16
DNS_SERVICE_IP=10.96.0.10
CLUSTER_DOMAIN=cluster.local
API_PORT=6443
PAUSE_IMAGE=localhost/faq-engine-cluster/pause:catatonit
HOSTPATH_PV_DIR=/tmp/hostpath_pv  # fixed by the in-tree kubernetes.io/host-path provisioner
CONTAINER_LOG_LINKS=/var/log/containers  # fixed by the kubelet: its links to the logs in $STATE/pod-logs
# containerd's registry hosts (config_path of its CRI image plugin): <host[:port]>/hosts.toml
REGISTRY_HOSTS_DIR=$STATE/etc/containerd/certs.d
OUT_KUBECONFIG=$FAQ_CACHE/cluster/kubeconfig
export PATH=$CONTAINERD_BIN:$K8S_BIN:$PATH

# take_lock: one up.sh/down.sh at a time (CI and a developer may call them concurrently).
take_lock() {
  [ -z "${FAQ_CLUSTER_LOCKED:-}" ] || return 0 # our caller (up.sh -> down.sh) holds it
  mkdir -p "$(dirname "$RUN")"
  exec 9>"$RUN.lock"
  flock -w "${FAQ_CLUSTER_LOCK_WAIT:-900}" 9 || die "another up.sh/down.sh holds $RUN.lock"
  export FAQ_CLUSTER_LOCKED=1
}

log() { printf '%s cluster: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { printf 'cluster: error: %s\n' "$*" >&2; exit 1; }

# ctr without containerd 2's cgroup v1 deprecation notice on every call (see README.md)
ctr_() { ctr --address "$CONTAINERD_SOCK" "$@" 2> >(grep -vF 'support for cgroup v1 is deprecated' >&2); }
kc_admin() { kubectl --kubeconfig "$KCDIR/admin.conf" "$@"; }

# write_if_changed FILE: stdin to FILE, keeping its mtime when the content is the same (kube-proxy
# exits when its configuration file is rewritten, even with the same content).
write_if_changed() {
  local tmp
  tmp=$(mktemp)
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; fi
}

# cni_conflist POD_SUBNET DATA_DIR: a node's CNI network (one bridge, host-local IPAM keeping its
# state in DATA_DIR, portmap for hostPorts), for up.sh's node and node.sh's.
cni_conflist() {
  cat <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$CNI_NETWORK",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$2",
        "ranges": [[{"subnet": "$1"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
}

# pid of a running component, or nothing. A pid file is trusted only when that process is still
# alive and is the binary we started (pids get reused).
comp_pid() {
  local name=$1 pid exe
  [ -f "$PIDS/$name.pid" ] || return 0
  pid=$(cat "$PIDS/$name.pid" 2>/dev/null || true)
  [ -n "$pid" ] && alive "$pid" || return 0
  exe=$(cat "$PIDS/$name.exe" 2>/dev/null || true)
  # " (deleted)": the binary was rebuilt while it ran; it is still ours.
  if [ -n "$exe" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null | sed 's/ (deleted)$//')" != "$exe" ]; then
    return 0
  fi
  echo "$pid"
}

alive() { # alive PID: running and not a zombie waiting for its (re)parent to reap it
  [ -d "/proc/$1" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

# stop_comp [-t SECONDS] NAME...: SIGTERM them all, wait, then SIGKILL what is left.
stop_comp() {
  local t=20 name pid i left
  local -a pids=()
  if [ "${1:-}" = -t ]; then t=$2; shift 2; fi
  for name in "$@"; do
    pid=$(comp_pid "$name")
    if [ -n "$pid" ]; then
      log "stopping $name (pid $pid)"
      kill "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
  done
  for ((i = 0; i < t * 10; i++)); do
    left=0
    for pid in "${pids[@]}"; do alive "$pid" && left=1; done
    [ "$left" = 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do
    if alive "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
  done
  for name in "$@"; do rm -f "$PIDS/$name.pid" "$PIDS/$name.exe" "$PIDS/$name.args"; done
}

# start_comp NAME CONFIG_HASH CMD...: run CMD in its own session with its log and pid file,
# unless it already runs with the same command line and config; restart it when they changed.
# CMD may be `nsenter OPTIONS -- BINARY ARGS` (a second node's components, ci/cluster/node.sh):
# nsenter enters the namespaces and execs BINARY in place, so the pid file names BINARY.
start_comp() {
  local name=$1 hash=$2 pid want exe bin=$3 a after=
  shift 2
  want="$(printf '%q ' "$@")# $hash"
  pid=$(comp_pid "$name")
  if [ -n "$pid" ]; then
    [ "$(cat "$PIDS/$name.args" 2>/dev/null)" = "$want" ] && return 0
    log "$name: command line or config changed, restarting"
    stop_comp "$name"
  fi
  if [ "$bin" = nsenter ]; then
    for a in "$@"; do
      if [ -n "$after" ]; then bin=$a; break; fi
      [ "$a" = -- ] && after=1
    done
  fi
  exe=$(readlink -f "$(command -v "$bin")")
  log "starting $name (log: $LOGS/$name.log)"
  # keep one previous log once a log passes 50 MB
  if [ "$(stat -c %s "$LOGS/$name.log" 2>/dev/null || echo 0)" -gt 52428800 ]; then
    mv -f "$LOGS/$name.log" "$LOGS/$name.log.1"
  fi
  printf '=== %s %s\n' "$(date -u +%FT%TZ)" "$want" >>"$LOGS/$name.log"
  # The inner shell writes its own pid, then execs: the pid file names the component itself.
  # shellcheck disable=SC2016
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$PIDS/$name.pid" "$@" \
    >>"$LOGS/$name.log" 2>&1 </dev/null 9>&- &
  for _ in $(seq 100); do [ -s "$PIDS/$name.pid" ] && break; sleep 0.05; done
  pid=$(cat "$PIDS/$name.pid" 2>/dev/null || true)
  for _ in $(seq 100); do # until the exec has happened
    [ -n "$pid" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" != "$exe" ] && [ -d "/proc/$pid" ] || break
    sleep 0.02
  done
  echo "$exe" >"$PIDS/$name.exe"
  echo "$want" >"$PIDS/$name.args"
}
# must_run NAME: fail with the log's tail when a component died.
must_run() {
  [ -n "$(comp_pid "$1")" ] && return 0
  tail -n 30 "$LOGS/$1.log" >&2 || true
  die "$1 exited (log above: $LOGS/$1.log)"
}
wait_comp() { # wait_comp NAME TIMEOUT CMD...
  local name=$1 t=$2 end
  shift 2
  end=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do
    must_run "$name"
    ((SECONDS < end)) || { tail -n 30 "$LOGS/$name.log" >&2; die "$name not ready after ${t}s (log: $LOGS/$name.log)"; }
    sleep 0.5
  done
}

# --- what the cluster state was created with -----------------------------------------------------
# $STATE/created-with records the Kubernetes, containerd and runc versions the state was created
# with. State from another Kubernetes minor or containerd minor (etcd data, certificates, the
# kubelet's and containerd's directories) is never reused: up.sh purges it, images included.
# State from before this stamp existed was made by Kubernetes v1.34 on Debian's containerd 1.6.
STAMP=$STATE/created-with
state_stamp() { printf 'kubernetes=%s containerd=%s runc=%s\n' "$K8S_VERSION" "$CONTAINERD_VERSION" "$RUNC_VERSION"; }
# minor_of NAME STAMP: vMAJOR.MINOR of NAME=... in STAMP ("" when absent)
minor_of() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=\\(v[0-9]*\\.[0-9]*\\).*/\\1/p"; }
# state_mismatch: prints why the state in $STATE must not be reused, or nothing when there is
# none yet or it was created by the same Kubernetes and containerd minors.
state_mismatch() {
  local have want d k found=
  for d in etcd pki kubelet containerd kubeconfig; do [ -e "$STATE/$d" ] && found=1; done
  [ -n "$found" ] || return 0
  if [ ! -f "$STAMP" ]; then
    echo "the state in $STATE has no $(basename "$STAMP") stamp (made before containerd 2: Kubernetes v1.34 on containerd 1.6)"
    return 0
  fi
  have=$(cat "$STAMP")
  want=$(state_stamp)
  for k in kubernetes containerd; do
    if [ "$(minor_of "$k" "$have")" != "$(minor_of "$k" "$want")" ]; then
      echo "the state in $STATE was created with '$have', this checkout pins '$want'"
      return 0
    fi
  done
}

# remove_log_links: the kubelet's links in $CONTAINER_LOG_LINKS to this cluster's pod logs, which
# a purge leaves dangling (the next kubelet would drop them itself, logging every old container
# as not found). Links to anything else there are left alone.
remove_log_links() {
  [ -d "$CONTAINER_LOG_LINKS" ] || return 0
  find "$CONTAINER_LOG_LINKS" -maxdepth 1 -type l -lname "$STATE/pod-logs/*" -delete
}
