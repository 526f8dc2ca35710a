#!/usr/bin/env bash
# Host packages and container-runtime settings every other ci/ script relies on (Debian 12,
# root). Idempotent: a second run only checks. See shared notes on containers for the why.
set -euo pipefail

# runc here is podman's; the cluster runs its own containerd 2 and runc (ci/cluster/build.sh),
# whose runc build needs cgo: gcc, libc6-dev, pkg-config, libseccomp-dev. gnupg: the chart's
# signing key (ci/chart-key.sh, Helm provenance).
pkgs=(podman buildah runc debootstrap busybox-static catatonit dash conntrack
      containernetworking-plugins iptables iproute2 wrk python3.11-doc debian-faq uidmap shellcheck
      gcc libc6-dev pkg-config libseccomp-dev gnupg)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
# npm installs the pinned Renovate (ci/renovate/install.sh); any npm will do (a NodeSource
# nodejs ships its own, Debian's comes as the npm package).
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# podman: runc (crun refuses hybrid cgroups), cgroupfs, ulimits within this VM's hard limits.
conf=/etc/containers/containers.conf
marker="# faq-engine settings"
if ! grep -qF "$marker" "$conf" 2>/dev/null; then
  mkdir -p /etc/containers
  cat >> "$conf" <<CONF
$marker
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
fi
echo "host ready: podman $(podman --version | awk '{print $3}')"
