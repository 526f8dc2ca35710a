#!/usr/bin/env bash
# Create (or reuse) checkov's own pinned venv outside the repository (its pins clash with the
# test venv's), keyed by ci/checkov-requirements.txt, and print a bin directory that holds only
# `checkov` (so the venv's python never shadows the test venv's on PATH).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=versions.env
. "$root/ci/versions.env"
key=$(sha256sum "$root/ci/checkov-requirements.txt" | cut -c1-12)
dir=$FAQ_CACHE/checkov-$key
mkdir -p "$FAQ_CACHE"
# One installer at a time (several checkouts share the cache); the others wait and reuse it.
exec 9>"$FAQ_CACHE/.checkov-env.lock"
flock 9
if [ ! -x "$dir/bin/checkov" ]; then
  echo "installing checkov into $dir" >&2
  rm -rf "$dir.tmp"
  python3 -m venv "$dir.tmp/venv" >&2
  # --no-compile: compiled below at the venv's final path (as in ci/python-env.sh).
  "$dir.tmp/venv/bin/pip" install -q --no-compile --no-deps -r "$root/ci/checkov-requirements.txt" >&2
  "$dir.tmp/venv/bin/pip" check >&2
  rm -rf "$dir"; mv "$dir.tmp" "$dir"
  # venv scripts carry their absolute path: rewrite the shebangs after the move.
  for f in "$dir"/venv/bin/*; do
    if [ -f "$f" ] && head -c 200 "$f" | grep -q "^#!$dir.tmp/venv/bin/python"; then
      sed -i "1s|$dir.tmp|$dir|" "$f"
    fi
  done
  mkdir -p "$dir/bin"
  ln -s ../venv/bin/checkov "$dir/bin/checkov"
fi
# Byte-compiled once (why: ci/python-env.sh); checkov starts in 1.7 CPU-s instead of 4.
if [ ! -f "$dir/.compiled" ]; then
  "$dir/venv/bin/python" -m compileall -q -j 0 "$dir/venv/lib" >/dev/null 2>&1 || true
  touch "$dir/.compiled"
fi
echo "$dir/bin"
