#!/usr/bin/env python3
"""What filling ci/'s venvs with uv (ci/uv.sh) instead of pip saves: each requirement set
installed into a fresh `python3 -m venv` by pip and by uv, both from the network with an empty
cache (pip --no-cache-dir, uv in a fresh UV_CACHE_DIR; no byte-compiling, which ci/ does
afterwards either way), which goes first alternating per set; wall seconds and user + sys CPU from the children's
rusage, and the ratios. uv itself is installed first (ci/uv.sh), outside the measurement.

    python bench/venv_install.py [SET...]     # sets: test (default), checkov, reference
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETS = {  # name: the pip install argument lists ci/ runs for it
    "test": [["-r", "requirements-dev.txt"], ["--no-deps", "-r", "requirements-embedding.txt"]],
    "checkov": [["--no-deps", "-r", "ci/checkov-requirements.txt"]],
    "reference": [["-r", "ci/requirements-embedding-reference.txt"]],
}


def _children() -> float:
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def timed(cmds: list[list[str]], env: dict[str, str]) -> tuple[float, float]:
    wall, cpu = time.monotonic(), _children()
    for cmd in cmds:
        subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - wall, _children() - cpu


def main() -> int:
    names = sys.argv[1:] or ["test"]
    for n in names:
        if n not in SETS:
            sys.exit(f"unknown set {n!r} (known: {', '.join(SETS)})")
    subprocess.run(["bash", "ci/uv.sh", "--version"], cwd=ROOT, check=True)
    env = {k: v for k, v in os.environ.items() if k != "PIP_CACHE_DIR"}
    # Nothing is deleted until the end: ext4 scans recently deleted inodes when it creates a
    # file, so an install right after a venv's removal pays for it (up to 5x the system time).
    with tempfile.TemporaryDirectory(prefix="venv-bench-") as tmp:
        for i, name in enumerate(names):
            res = {}
            for tool in ("pip", "uv") if i % 2 == 0 else ("uv", "pip"):
                venv = Path(tmp) / f"{name}-{tool}"
                subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
                py = str(venv / "bin" / "python")
                if tool == "pip":
                    cmds = [[py, "-m", "pip", "install", "-q", "--no-cache-dir", "--no-compile",
                             *args] for args in SETS[name]]
                    res[tool] = timed(cmds, env)
                else:
                    cmds = [["bash", "ci/uv.sh", "pip", "install", "-q", "--python", py, *args]
                            for args in SETS[name]]
                    res[tool] = timed(cmds, {**env, "UV_CACHE_DIR": f"{tmp}/uv-cache-{name}"})
            (pw, pc), (uw, uc) = res["pip"], res["uv"]
            print(f"{name}: pip {pw:.1f} s wall, {pc:.1f} CPU-s; uv {uw:.1f} s wall, "
                  f"{uc:.1f} CPU-s; uv/pip: wall {uw / pw:.2f}x, CPU {uc / pc:.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
