#!/usr/bin/env bash
# metrics-server for the local cluster, as a host process like the other components: built
# from the Go module proxy at the pinned version, serving the metrics.k8s.io API through an
# APIService + Service + EndpointSlice that point at this host (as kube-dns does for CoreDNS).
#
#   bash ci/cluster/metrics-server.sh build   # only build/reuse the binary
#   bash ci/cluster/metrics-server.sh         # build, then start (up.sh calls this)
#
# Security posture: the kubelet's serving certificate is issued by the cluster CA for this node's
# name and IP (see step 1), and metrics-server verifies the kubelet against that CA
# (--kubelet-certificate-authority), never --kubelet-insecure-tls. The API
# server reaches metrics-server over TLS verified against metrics-server's own serving cert
# (signed by the cluster CA, caBundle in the APIService), and metrics-server authenticates the
# API server's front-proxy client certificate (requestheader flags from the extension-apiserver
# configmap) and authorizes through SubjectAccessReviews.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

MS_VERSION=$METRICS_SERVER_VERSION
MS_BIN=$FAQ_CACHE/metrics-server/$MS_VERSION/metrics-server
MS_PORT=${FAQ_METRICS_SERVER_PORT:-4443} # on the node IP; the kubelet has 10250

build() {
  [ -x "$MS_BIN" ] && return 0
  log "building metrics-server $MS_VERSION (Go module proxy)"
  local work
  work=$(mktemp -d)
  (
    cd "$work"
    printf 'module faq-engine.local/msbuild\n\ngo 1.26\n\nrequire sigs.k8s.io/metrics-server %s\n' "$MS_VERSION" >go.mod
    printf '//go:build tools\n\npackage tools\n\nimport _ "sigs.k8s.io/metrics-server/cmd/metrics-server"\n' >tools.go
    go mod tidy
    mkdir -p "$(dirname "$MS_BIN")"
    GOGC=$GO_BUILD_GOGC GOMEMLIMIT=$GO_BUILD_GOMEMLIMIT CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X k8s.io/client-go/pkg/version.gitVersion=$MS_VERSION" \
      -o "$MS_BIN.tmp" sigs.k8s.io/metrics-server/cmd/metrics-server
  ) >&2
  rm -rf "$work"
  mv "$MS_BIN.tmp" "$MS_BIN"
}

build
[ "${1:-}" = build ] && exit 0

# --- everything below runs against the cluster up.sh has just brought up -------------------------
[ "$(id -u)" = 0 ] || die "metrics-server.sh runs a host process of the local cluster and must run as root"
take_lock # a no-op under up.sh, which holds it
read -r NODE_NAME NODE_IP <"$STATE/node" || die "no $STATE/node: run ci/cluster/up.sh"
MS_DIR=$STATE/metrics-server
mkdir -p "$MS_DIR"

# 1. The kubelet's serving certificate, from the cluster CA. With no certificate configured the
#    kubelet serves a self-signed one from its cert dir (kubelet.crt / kubelet.key), keeps
#    using those files across restarts, and reloads them when they change
#    (ReloadKubeletServerCertificateFile, on by default since 1.31). So this replaces them with
#    a certificate the cluster CA signs for this node's name and IP: no kubelet setting and no
#    restart change, and anything verifying against the cluster CA trusts the kubelet.
kubelet_pki=$STATE/kubelet/pki
kubelet_cert_from_ca() { # the kubelet serves, on its node IP, a certificate the cluster CA verifies
  local out
  out=$(timeout 5 openssl s_client -connect "$NODE_IP:10250" -CAfile "$PKI/ca.crt" \
    -verify_ip "$NODE_IP" -verify_return_error </dev/null 2>/dev/null) || return 1
  [[ "$out" == *"Verify return code: 0 (ok)"* ]]
}
# issue_cert NAME CN SUBJECT_ALT_NAMES: $MS_DIR/NAME.{key,crt} signed by the cluster CA, unless a
# valid one for the same names is there (renewed 30 days before it expires).
issue_cert() {
  local name=$1 cn=$2 sans=$3 crt=$MS_DIR/$1.crt
  if openssl x509 -in "$crt" -noout -checkend 2592000 >/dev/null 2>&1 \
    && openssl verify -CAfile "$PKI/ca.crt" "$crt" >/dev/null 2>&1 \
    && [ "$(cat "$MS_DIR/$name.sans" 2>/dev/null)" = "$sans" ]; then
    return 1
  fi
  log "issuing the $name serving certificate from the cluster CA ($sans)"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$MS_DIR/$name.key" -subj "/CN=$cn" \
    -out "$MS_DIR/$name.csr" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' \
    "$sans" >"$MS_DIR/$name.ext"
  openssl x509 -req -in "$MS_DIR/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 365 -extfile "$MS_DIR/$name.ext" -out "$crt" 2>/dev/null
  chmod 0600 "$MS_DIR/$name.key"
  echo "$sans" >"$MS_DIR/$name.sans"
}
if issue_cert kubelet "$NODE_NAME" "DNS:$NODE_NAME,IP:$NODE_IP" || ! kubelet_cert_from_ca; then
  [ -d "$kubelet_pki" ] || die "no $kubelet_pki: is the kubelet running with --cert-dir $kubelet_pki?"
  install -m 0600 "$MS_DIR/kubelet.key" "$kubelet_pki/.kubelet.key.new"
  install -m 0644 "$MS_DIR/kubelet.crt" "$kubelet_pki/.kubelet.crt.new"
  mv -f "$kubelet_pki/.kubelet.key.new" "$kubelet_pki/kubelet.key"
  mv -f "$kubelet_pki/.kubelet.crt.new" "$kubelet_pki/kubelet.crt"
fi
end=$((SECONDS + ${FAQ_METRICS_SERVER_WAIT_KUBELET:-60}))
until kubelet_cert_from_ca; do
  ((SECONDS < end)) || die "the kubelet still serves a certificate the cluster CA does not verify (it reloads $kubelet_pki/kubelet.crt unless tlsCertFile, serverTLSBootstrap or the ReloadKubeletServerCertificateFile gate say otherwise)"
  sleep 1
done

# 2. metrics-server's own identity (a client certificate, like kube-proxy's and CoreDNS's) and
#    serving certificate (for metrics-server.kube-system.svc, from the cluster CA).
if [ ! -s "$KCDIR/metrics-server.conf" ]; then
  kubeadm kubeconfig user --config "$STATE/etc/kubeadm-cluster.yaml" --client-name system:metrics-server \
    >"$KCDIR/metrics-server.conf.tmp" 2>>"$LOGS/kubeadm.log" || die "kubeadm kubeconfig user system:metrics-server failed"
  mv "$KCDIR/metrics-server.conf.tmp" "$KCDIR/metrics-server.conf"
fi
issue_cert metrics-server metrics-server \
  "DNS:metrics-server.kube-system.svc,DNS:metrics-server.kube-system.svc.$CLUSTER_DOMAIN,IP:$NODE_IP" || true

# 3. RBAC, and the metrics.k8s.io API served from this host (Service + EndpointSlice, as kube-dns).
manifest=$(cat <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:metrics-server"}
rules:
- {apiGroups: [""], resources: [nodes/metrics], verbs: [get]}
- {apiGroups: [""], resources: [pods, nodes], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:metrics-server"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:metrics-server"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:metrics-server"}]
---
# TokenReviews and SubjectAccessReviews for the requests the API server forwards.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "metrics-server:system:auth-delegator"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:auth-delegator"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:metrics-server"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: "metrics-server-auth-reader", namespace: kube-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: "extension-apiserver-authentication-reader"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:metrics-server"}]
---
# What kubectl top and the HPA read, aggregated into system:view/edit/admin (as upstream does).
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: "system:aggregated-metrics-reader"
  labels:
    rbac.authorization.k8s.io/aggregate-to-view: "true"
    rbac.authorization.k8s.io/aggregate-to-edit: "true"
    rbac.authorization.k8s.io/aggregate-to-admin: "true"
rules:
- {apiGroups: [metrics.k8s.io], resources: [pods, nodes], verbs: [get, list, watch]}
---
apiVersion: v1
kind: Service
metadata:
  name: metrics-server
  namespace: kube-system
  labels: {k8s-app: metrics-server}
spec:
  ports:
  - {name: https, port: 443, protocol: TCP, targetPort: $MS_PORT}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: metrics-server-host
  namespace: kube-system
  labels: {kubernetes.io/service-name: metrics-server, endpointslice.kubernetes.io/managed-by: faq-engine-cluster}
addressType: IPv4
endpoints:
- addresses: ["$NODE_IP"]
  conditions: {ready: true}
  nodeName: $NODE_NAME
ports:
- {name: https, port: $MS_PORT, protocol: TCP}
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1beta1.metrics.k8s.io
  labels: {k8s-app: metrics-server}
spec:
  service: {name: metrics-server, namespace: kube-system, port: 443}
  group: metrics.k8s.io
  version: v1beta1
  caBundle: $(base64 -w0 "$PKI/ca.crt")
  groupPriorityMinimum: 100
  versionPriority: 100
YAML
)
printf '%s\n' "$manifest" | kc_admin apply --server-side --force-conflicts --field-manager faq-engine-cluster -f - >/dev/null

# 4. The process. Scrapes every 15 s (the HPA controller syncs every 15 s too).
start_comp metrics-server "$(sha256sum <"$MS_DIR/metrics-server.crt" | cut -c1-16)" "$MS_BIN" \
  --kubeconfig "$KCDIR/metrics-server.conf" \
  --authentication-kubeconfig "$KCDIR/metrics-server.conf" --authorization-kubeconfig "$KCDIR/metrics-server.conf" \
  --requestheader-client-ca-file "$PKI/front-proxy-ca.crt" --requestheader-allowed-names front-proxy-client \
  --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
  --requestheader-extra-headers-prefix X-Remote-Extra- \
  --bind-address "$NODE_IP" --secure-port "$MS_PORT" \
  --tls-cert-file "$MS_DIR/metrics-server.crt" --tls-private-key-file "$MS_DIR/metrics-server.key" \
  --kubelet-certificate-authority "$PKI/ca.crt" \
  --kubelet-preferred-address-types InternalIP --kubelet-use-node-status-port \
  --metric-resolution 15s --profiling=false
metrics_ready() {
  [ "$(kc_admin get apiservice v1beta1.metrics.k8s.io -o jsonpath='{.status.conditions[?(@.type=="Available")].status}')" = True ] \
    && kc_admin get --raw "/apis/metrics.k8s.io/v1beta1/nodes/$NODE_NAME" >/dev/null
}
wait_comp metrics-server "${FAQ_METRICS_SERVER_WAIT:-90}" metrics_ready
log "metrics-server $MS_VERSION serving metrics.k8s.io (kubelet TLS verified against the cluster CA)"
