#!/usr/bin/env bash
# Build the local cluster's binaries from the Go module proxy at the versions pinned in
# ci/versions.env: containerd + its runc shim, runc (cgo + libseccomp), the upstream Kubernetes
# components, etcd and CoreDNS. Binaries and the module/build caches live under $FAQ_CACHE,
# outside the repository, one directory per version: a cold build takes tens of minutes on two
# cores, a warm run returns at once.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../versions.env
. "$here/versions.env"

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
  GOBIN="$ctrd_bin.tmp" CGO_ENABLED=0 GOFLAGS=-mod=mod go install -trimpath \
    -tags "urfave_cli_no_docs no_btrfs" \
    -ldflags "-s -w -X $pkg/version.Version=$CONTAINERD_VERSION -X $pkg/version.Package=$pkg" \
    "$pkg/cmd/containerd@$CONTAINERD_VERSION" "$pkg/cmd/ctr@$CONTAINERD_VERSION"
  # the shim as upstream builds it: static, no gRPC
  GOBIN="$ctrd_bin.tmp" CGO_ENABLED=0 GOFLAGS=-mod=mod go install -trimpath \
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
  GOBIN="$runc_bin.tmp" CGO_ENABLED=1 GOFLAGS=-mod=mod go install -trimpath -buildmode=pie \
    -tags "seccomp urfave_cli_no_docs" -ldflags "-s -w" \
    "github.com/opencontainers/runc@$RUNC_VERSION"
  mv "$runc_bin.tmp/runc" "$runc_bin/runc" && rmdir "$runc_bin.tmp"
fi

# --- Kubernetes, etcd, CoreDNS -------------------------------------------------------------------
k8s=$KUBERNETES_VERSION
root=$FAQ_CACHE/k8s/$k8s
bin=$root/bin
cmds=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl kubeadm)

have_all() {
  for c in "${cmds[@]}" etcd coredns; do [ -x "$bin/$c" ] || return 1; done
}
if have_all; then echo "kubernetes $k8s: binaries cached in $bin"; exit 0; fi

mkdir -p "$root/src/etcd" "$bin"
cd "$root/src"
export GOFLAGS=-mod=mod CGO_ENABLED=0

# k8s.io/kubernetes replaces its staging modules with local paths at v0.0.0; a wrapper module
# pins each of them to the published v0.MINOR.PATCH instead.
staging_version="v0.${k8s#v1.}"
if [ ! -f go.mod ]; then
  gomod=$(go mod download -json "k8s.io/kubernetes@$k8s" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
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

pkgs=()
for c in "${cmds[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
echo "resolving modules for kubernetes $k8s ..."
# Every package at the pinned version (a bare `go get` would upgrade to the newest release),
# and etcd at the version Kubernetes' own go.mod requires.
etcd=$(go mod download -json "k8s.io/kubernetes@$k8s" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p' \
  | xargs awk '$1 == "go.etcd.io/etcd/server/v3" {print $2}')
go get "${pkgs[@]/%/@$k8s}" "go.etcd.io/etcd/server/v3/etcdmain@$etcd"

minor=${k8s#v1.}; minor=${minor%%.*}
ld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld="$ld -X $p.gitVersion=$k8s -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  ld="$ld -X $p.buildDate=1970-01-01T00:00:00Z"
done
for c in "${cmds[@]}"; do
  [ -x "$bin/$c" ] && continue
  echo "building $c ..."
  go build -trimpath -ldflags "$ld" -o "$bin/$c.tmp" "k8s.io/kubernetes/cmd/$c"
  mv "$bin/$c.tmp" "$bin/$c"
done
if [ ! -x "$bin/etcd" ]; then
  echo "building etcd ..."
  go build -trimpath -ldflags "-s -w" -o "$bin/etcd.tmp" ./etcd
  mv "$bin/etcd.tmp" "$bin/etcd"
fi
if [ ! -x "$bin/coredns" ]; then
  echo "building coredns $COREDNS_VERSION ..."
  GOBIN="$root/gobin" go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION"
  mv "$root/gobin/coredns" "$bin/coredns"
fi
echo "kubernetes $k8s: built into $bin"
