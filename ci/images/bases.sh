#!/usr/bin/env bash
# Build the local stand-ins for the public base images (no registry is reachable here):
#   $PYTHON_BASE  a Debian 12 rootfs with Python 3.11 (stands in for python:3.11-slim)
#   $ALPINE_BASE  a static busybox ($BUSYBOX) with its applets (stands in for alpine)
# Both are imported into podman. The host's CA bundle goes into the Python base only, so pip
# inside `podman build` trusts this network's TLS-inspecting egress; the Dockerfiles stay standard.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../versions.env
. "$root/ci/versions.env"

exists() { podman image exists "$1"; }

# The pinned busybox, fetched with apt from the Debian suite that has it (private apt state, so
# the host's sources stay as they are).
if [ ! -x "$BUSYBOX" ]; then
  apt_dir=$FAQ_CACHE/apt-$BUSYBOX_SUITE
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial"
  echo "deb http://deb.debian.org/debian $BUSYBOX_SUITE main" > "$apt_dir/sources.list"
  apt_opts=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o Dir::Etc::sourceparts=/dev/null
            -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache::archives=$apt_dir/archives"
            -o APT::Sandbox::User=root)
  apt-get "${apt_opts[@]}" update -qq
  deb_dir=$(mktemp -d)
  (cd "$deb_dir" && apt-get "${apt_opts[@]}" download -qq "$BUSYBOX_DEB") \
    || { echo "cannot fetch $BUSYBOX_DEB from Debian $BUSYBOX_SUITE: update the pin in ci/versions.env" >&2; exit 1; }
  dpkg-deb -x "$deb_dir"/*.deb "$deb_dir/x"
  mkdir -p "$(dirname "$BUSYBOX")"
  cp "$deb_dir/x/usr/bin/busybox" "$BUSYBOX"
  rm -rf "$deb_dir"
fi

if ! exists "$ALPINE_BASE"; then
  dir=$(mktemp -d)
  mkdir -p "$dir"/{bin,etc,tmp,root} && chmod 1777 "$dir/tmp"
  cp "$BUSYBOX" "$dir/bin/busybox"
  for a in $("$dir/bin/busybox" --list); do [ -e "$dir/bin/$a" ] || ln -s busybox "$dir/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$dir/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' > "$dir/etc/group"
  tar -C "$dir" -c . | podman import --change 'ENV PATH=/bin' --change 'CMD ["/bin/sh"]' - "$ALPINE_BASE" >/dev/null
  rm -rf "$dir"
  echo "built $ALPINE_BASE"
fi

if ! exists "$PYTHON_BASE"; then
  dir=$(mktemp -d)
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$dir" http://deb.debian.org/debian >/dev/null
  cp /usr/local/share/ca-certificates/* "$dir/usr/local/share/ca-certificates/" 2>/dev/null || true
  cp /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/ca-certificates.crt"
  chroot "$dir" update-ca-certificates >/dev/null 2>&1 || true
  # Like the official slim images: no docs, man pages, locales or apt lists.
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* "$dir"/usr/share/doc/* \
    "$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/usr/share/locale/* "$dir"/var/log/*
  tar -C "$dir" -c . | podman import \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' - "$PYTHON_BASE" >/dev/null
  rm -rf "$dir"
  echo "built $PYTHON_BASE"
fi
