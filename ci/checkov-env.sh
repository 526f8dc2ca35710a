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
  # Filled by uv (ci/uv.sh), byte-compiled below at the venv's final path (as in ci/python-env.sh).
  bash "$root/ci/uv.sh" pip install -q --python "$dir.tmp/venv/bin/python" --no-deps \
    -r "$root/ci/checkov-requirements.txt" >&2
  bash "$root/ci/uv.sh" pip check -q --python "$dir.tmp/venv/bin/python" >&2
  rm -rf "$dir"; mv "$dir.tmp" "$dir"
  # venv scripts carry their absolute path: rewrite it after the move.
  grep -lI -F "$dir.tmp" "$dir"/venv/bin/* 2>/dev/null | xargs -r sed -i "s|$dir.tmp|$dir|g"
  mkdir -p "$dir/bin"
  ln -s ../venv/bin/checkov "$dir/bin/checkov"
fi
# Byte-compiled once (why: ci/python-env.sh); checkov starts in 1.7 CPU-s instead of 4.
if [ ! -f "$dir/.compiled" ]; then
  "$dir/venv/bin/python" -m compileall -q -j 0 "$dir/venv/lib" >/dev/null 2>&1 || true
  touch "$dir/.compiled"
fi
echo "$dir/bin"
