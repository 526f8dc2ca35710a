#!/usr/bin/env bash
# The independent reference implementation for the embedding kind's tests: Hugging Face
# transformers' BERT on JAX (CPU) and the `tokenizers` package, pinned in
# ci/requirements-embedding-reference.txt, in a venv of their own outside the repository (about
# 900 MB, kept in $FAQ_CACHE and reused). Prints the venv's python.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=versions.env
. "$root/ci/versions.env"
req=$root/ci/requirements-embedding-reference.txt
venv=$FAQ_CACHE/embedding-ref-$(sha256sum "$req" | cut -c1-12)
if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  # Filled by uv (ci/uv.sh), and not byte-compiled (unlike ci/python-env.sh): the tests import
  # a small part of transformers and jax, less than compiling all of them would cost.
  bash "$root/ci/uv.sh" pip install -q --python "$venv/bin/python" -r "$req" >&2
  touch "$venv/.complete"
fi
echo "$venv/bin/python"
