#!/usr/bin/env bash
# Run the pinned uv (ci/requirements-uv.txt, from PyPI), installing it first when needed: pip
# puts it in a venv of its own under $FAQ_CACHE, once. Every venv of ci/ is filled by it
# (`bash ci/uv.sh pip install --python VENV/bin/python ...`): the same pins as pip would install,
# in a fraction of pip's CPU (bench/venv_install.py prints the ratios).
#
#   bash ci/uv.sh pip install --python VENV/bin/python -r requirements-dev.txt
#
# Its cache is UV_CACHE_DIR, under $FAQ_CACHE like every other cache of ci/ (ci/versions.env), so
# an empty FAQ_CACHE is a cold install. Settings a machine gives pip in its environment reach uv
# too when uv's own are unset: the index (PIP_INDEX_URL, PIP_EXTRA_INDEX_URL) and the trusted
# CAs (PIP_CERT). Not PIP_FIND_LINKS: uv scans a --find-links directory on every request (an
# empty one made the test venv's install 3x slower here), and the pins all come from the index.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=versions.env
. "$root/ci/versions.env"
req=$root/ci/requirements-uv.txt
dir=$FAQ_CACHE/uv/tool-$(sha256sum "$req" | cut -c1-12)
if [ ! -x "$dir/bin/uv" ]; then
  mkdir -p "$FAQ_CACHE/uv"
  # One installer at a time (several checkouts share the cache); the others wait and reuse it.
  exec 9>"$FAQ_CACHE/uv/.install.lock"
  flock 9
  if [ ! -x "$dir/bin/uv" ]; then
    rm -rf "$dir.tmp"
    python3 -m venv "$dir.tmp" >&2
    "$dir.tmp/bin/pip" install -q --no-compile -r "$req" >&2
    rm -rf "$dir"; mv "$dir.tmp" "$dir"  # uv is one static binary: the move leaves it working
  fi
  exec 9>&-
fi
[ -n "${UV_INDEX_URL:-}${UV_DEFAULT_INDEX:-}" ] || [ -z "${PIP_INDEX_URL:-}" ] || export UV_INDEX_URL=$PIP_INDEX_URL
[ -n "${UV_EXTRA_INDEX_URL:-}${UV_INDEX:-}" ] || [ -z "${PIP_EXTRA_INDEX_URL:-}" ] || export UV_EXTRA_INDEX_URL=$PIP_EXTRA_INDEX_URL
[ -n "${SSL_CERT_FILE:-}" ] || [ -z "${PIP_CERT:-}" ] || export SSL_CERT_FILE=$PIP_CERT
export UV_PYTHON_DOWNLOADS=never UV_NO_PROGRESS=1
exec "$dir/bin/uv" "$@"
