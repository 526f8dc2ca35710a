#!/usr/bin/env bash
# Build the local cluster's binaries from the Go module proxy at the versions pinned in
# ci/versions.env: containerd + its runc shim, runc (cgo + libseccomp), the upstream Kubernetes
# components, etcd and CoreDNS; and the cluster's registry (ci/go-tools.sh registry) and
# metrics-server (ci/cluster/metrics-server.sh build). Binaries and the module/build caches
# (GOMODCACHE, GOCACHE: ci/versions.env) live under $FAQ_CACHE, outside the repository, one
# directory per version: a cold build takes many minutes on two cores, a warm run returns at once.
#
# Two lanes run side by side, so that one lane's downloads and links overlap the other's
# compiling: Kubernetes (its module graph resolved, then every command and etcd in ONE `go build`:
# one package graph, links in parallel), and the rest one after another (containerd, runc,
# CoreDNS, the registry, metrics-server). Each lane's output is prefixed with its name.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../versions.env
. "$here/versions.env"

k8s=$KUBERNETES_VERSION
root=$FAQ_CACHE/k8s/$k8s
bin=$root/bin
cmds=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl kubeadm)
pkgs=()
for c in "${cmds[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
k8s_cached() {
  for c in "${cmds[@]}" etcd; do [ -x "$bin/$c" ] || return 1; done
}

# --- the rest: containerd, runc, CoreDNS, the registry, metrics-server ------------------------
lane_runtime() {
  # --- container runtime: containerd 2.x and runc ------------------------------------------------
  # go install PKG@VERSION builds each at exactly the pinned module version (neither has replace
  # directives). containerd: pure Go like its release builds (no btrfs snapshotter, which needs
  # cgo); the version ldflags make `containerd --version` and the CRI's RuntimeVersion true.
  ctrd_bin=$FAQ_CACHE/containerd/$CONTAINERD_VERSION/bin
  if [ -x "$ctrd_bin/containerd" ] && [ -x "$ctrd_bin/containerd-shim-runc-v2" ] && [ -x "$ctrd_bin/ctr" ]; then
    echo "containerd $CONTAINERD_VERSION: binaries cached in $ctrd_bin"
  else
    echo "building containerd $CONTAINERD_VERSION ..."
    mkdir -p "$ctrd_bin"
    pkg=github.com/containerd/containerd/v2
    GOGC=$GO_BUILD_GOGC GOMEMLIMIT=$GO_BUILD_GOMEMLIMIT GOBIN="$ctrd_bin.tmp" CGO_ENABLED=0 GOFLAGS="$GOFLAGS -mod=mod" go install -trimpath \
      -tags "urfave_cli_no_docs no_btrfs" \
      -ldflags "-s -w -X $pkg/version.Version=$CONTAINERD_VERSION -X $pkg/version.Package=$pkg" \
      "$pkg/cmd/containerd@$CONTAINERD_VERSION" "$pkg/cmd/ctr@$CONTAINERD_VERSION"
    # the shim as upstream builds it: static, no gRPC
    GOGC=$GO_BUILD_GOGC GOMEMLIMIT=$GO_BUILD_GOMEMLIMIT GOBIN="$ctrd_bin.tmp" CGO_ENABLED=0 GOFLAGS="$GOFLAGS -mod=mod" go install -trimpath \
      -tags "urfave_cli_no_docs no_grpc" \
      -ldflags "-s -w -X $pkg/version.Version=$CONTAINERD_VERSION -X $pkg/version.Package=$pkg" \
      "$pkg/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION"
    mv "$ctrd_bin.tmp"/* "$ctrd_bin/" && rmdir "$ctrd_bin.tmp"
  fi
  # runc: cgo for its nsenter and libseccomp (libseccomp-dev, ci/setup-host.sh). Not the
  # `libpathrs` tag of its Makefile (that needs the Rust libpathrs); runc then uses its pure-Go
  # pathrs-lite, as it documents.
  runc_bin=$FAQ_CACHE/runc/$RUNC_VERSION/bin
  if [ -x "$runc_bin/runc" ]; then
    echo "runc $RUNC_VERSION: binary cached in $runc_bin"
  else
    echo "building runc $RUNC_VERSION ..."
    pkg-config --exists libseccomp || { echo "libseccomp-dev is missing: run ci/setup-host.sh" >&2; exit 1; }
    mkdir -p "$runc_bin"
    GOGC=$GO_BUILD_GOGC GOMEMLIMIT=$GO_BUILD_GOMEMLIMIT GOBIN="$runc_bin.tmp" CGO_ENABLED=1 GOFLAGS="$GOFLAGS -mod=mod" go install -trimpath -buildmode=pie \
      -tags "seccomp urfave_cli_no_docs" -ldflags "-s -w" \
      "github.com/opencontainers/runc@$RUNC_VERSION"
    mv "$runc_bin.tmp/runc" "$runc_bin/runc" && rmdir "$runc_bin.tmp"
  fi

  if [ ! -x "$bin/coredns" ]; then
    echo "building coredns $COREDNS_VERSION ..."
    mkdir -p "$bin"
    GOGC=$GO_BUILD_GOGC GOMEMLIMIT=$GO_BUILD_GOMEMLIMIT GOBIN="$root/gobin" CGO_ENABLED=0 GOFLAGS="$GOFLAGS -mod=mod" go install -trimpath -ldflags "-s -w" \
      "github.com/coredns/coredns@$COREDNS_VERSION"
    mv "$root/gobin/coredns" "$bin/coredns"
  fi
  bash "$here/go-tools.sh" registry >/dev/null
  bash "$here/cluster/metrics-server.sh" build
}

# --- Kubernetes and etcd: one `go build` ------------------------------------------------------
# k8s_module DIR [--own-graph]: the wrapper module the Kubernetes commands and etcd build in,
# resolved. Without --own-graph it also requires helm's module (below: why); bench/go_build.sh
# shared builds in both (`bash ci/cluster/build.sh --module DIR [--own-graph]`).
k8s_module() {
  local dir=$1 share=${2:-}
  mkdir -p "$dir/etcd"
  cd "$dir"
  export GOFLAGS="$GOFLAGS -mod=mod" CGO_ENABLED=0
  # k8s.io/kubernetes replaces its staging modules with local paths at v0.0.0; a wrapper module
  # pins each of them to the published v0.MINOR.PATCH instead.
  local staging_version="v0.${k8s#v1.}" gomod etcd
  gomod=$(go mod download -json "k8s.io/kubernetes@$k8s" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
  if [ ! -f go.mod ]; then
    {
      echo "module faq-engine.local/k8sbuild"
      echo
      echo "go 1.24"
      echo
      echo "require k8s.io/kubernetes $k8s"
      echo
      grep -E '^\s*k8s.io/[a-z0-9-]+ => \./staging/' "$gomod" \
        | awk -v v="$staging_version" '{print "replace " $1 " => " $1 " " v}'
    } > go.mod
    # etcd from the version Kubernetes itself requires, through etcd's own main package.
    cat > etcd/main.go <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  fi
  echo "resolving modules for kubernetes $k8s ..."
  # Every package at the pinned version (a bare `go get` would upgrade to the newest release),
  # and etcd at the version Kubernetes' own go.mod requires. And helm's module (HELM_VERSION,
  # required, not built here): the dependencies Kubernetes shares with helm (k8s.io/api,
  # apimachinery, client-go, kubectl, golang.org/x/*, protobuf, gRPC, ...) resolve to the versions
  # of helm's own build (ci/go-tools.sh: helm at client-go v0.MINOR of this Kubernetes), the newer
  # patch or minor of each where the two differ, so each of those packages compiles once for
  # both: `make up` builds helm first and the cluster build finds them compiled (about half of
  # its source; bench/go_build.sh shared prints what is left to compile).
  etcd=$(awk '$1 == "go.etcd.io/etcd/server/v3" {print $2}' "$gomod")
  local get=("${pkgs[@]/%/@$k8s}" "go.etcd.io/etcd/server/v3/etcdmain@$etcd")
  [ "$share" = --own-graph ] || get+=("helm.sh/helm/v4@$HELM_VERSION")
  go get "${get[@]}"
}

lane_kubernetes() {
  if k8s_cached; then echo "kubernetes $k8s: binaries cached in $bin"; return 0; fi
  mkdir -p "$bin"
  k8s_module "$root/src"
  local minor ld p
  minor=${k8s#v1.}; minor=${minor%%.*}
  ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=$k8s -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
    ld="$ld -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  # One invocation: one package graph, every package compiled once, the links in parallel.
  # (etcd links none of the version packages the -X flags name; they leave it as it was.)
  echo "building ${cmds[*]} etcd (one go build) ..."
  rm -rf "$root/bin.tmp" && mkdir -p "$root/bin.tmp"
  GOGC=$GO_BUILD_GOGC GOMEMLIMIT=$GO_BUILD_GOMEMLIMIT go build -trimpath -ldflags "$ld" -o "$root/bin.tmp/" "${pkgs[@]}" ./etcd
  mv -f "$root/bin.tmp"/* "$bin/" && rmdir "$root/bin.tmp"
  echo "kubernetes $k8s: built into $bin"
}

if [ "${1:-}" = --module ]; then k8s_module "${2:?usage: build.sh --module DIR [--own-graph]}" "${3:-}" >&2; exit 0; fi

# prefix NAME: stdin to stderr, every line prefixed by [NAME] (the lanes' output interleaves).
prefix() { sed -u "s/^/[$1] /" >&2; }
lane_kubernetes 2>&1 | prefix kubernetes &
k8s_pid=$!
lane_runtime 2>&1 | prefix runtime &
runtime_pid=$!
rc=0
wait "$k8s_pid" || { echo "ci/cluster/build.sh: building Kubernetes failed (above)" >&2; rc=1; }
wait "$runtime_pid" || { echo "ci/cluster/build.sh: building the runtime, CoreDNS, registry or metrics-server failed (above)" >&2; rc=1; }
exit $rc
