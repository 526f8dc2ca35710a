#!/usr/bin/env bash
# Remove this project's superseded images from podman's store. Each rebuild under the same tag
# (a new clone, a changed FAQ, the tests' variants) leaves the previous image dangling (no tag,
# no container, no child) with its layers, and nothing else removes them: about 14 GB a day of
# `make test` runs here. Only images carrying one of the titles (label
# org.opencontainers.image.title, owned by Dockerfile.app and Dockerfile.model) go, with the
# untagged parents they alone kept; tagged images, images in use and other projects' images stay.
#
#   bash ci/images/prune.sh              the titles of Dockerfile.app and Dockerfile.model
#   bash ci/images/prune.sh TITLE...     other titles
#   bash ci/images/prune.sh --titles     print the default titles, one a line
#
# `make test` runs it after the tests and ci/up.sh after its build: never beside a running
# build, whose newest layer is untagged and childless for a moment.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)

titles() {
  sed -n 's/.*org\.opencontainers\.image\.title="\([^"]*\)".*/\1/p' "$root/Dockerfile.app" "$root/Dockerfile.model"
}

case "${1:-}" in
  --titles) titles; exit 0 ;;
  -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
  -*) echo "prune.sh: unknown option '$1'" >&2; exit 2 ;;
esac
if [ $# -eq 0 ]; then
  mapfile -t wanted < <(titles)
  [ ${#wanted[@]} -gt 0 ] || { echo "prune.sh: no org.opencontainers.image.title label in the Dockerfiles" >&2; exit 1; }
else
  wanted=("$@")
fi
removed=0
for t in "${wanted[@]}"; do
  n=$(podman image prune --force --filter "label=org.opencontainers.image.title=$t" | grep -c . || true)
  removed=$((removed + n))
done
echo "prune.sh: removed $removed superseded image(s) and layer(s) of ${wanted[*]}" >&2
