"""ci/uv.sh, the installer of every venv of ci/: it runs the uv that ci/requirements-uv.txt pins,
and a machine's pip settings (the index) reach it when uv's own are unset."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def uv(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(ROOT / "ci" / "uv.sh"), *args], capture_output=True,
                          text=True, timeout=300, env=env)


def test_runs_the_pinned_uv():
    pins = [line.split("==", 1)[1].strip()
            for line in (ROOT / "ci" / "requirements-uv.txt").read_text().splitlines()
            if line.startswith("uv==")]
    assert len(pins) == 1
    r = uv("--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[:2] == ["uv", pins[0]], r.stdout


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens there


def test_pip_index_reaches_uv_unless_uv_has_its_own(tmp_path):
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("UV_INDEX", "UV_DEFAULT_INDEX", "UV_EXTRA_INDEX", "PIP_INDEX"))}
    base.update(UV_CACHE_DIR=str(tmp_path / "cache"), UV_HTTP_RETRIES="0")
    pip_index = f"http://127.0.0.1:{closed_port()}/pip-simple"
    uv_index = f"http://127.0.0.1:{closed_port()}/uv-simple"
    args = ("pip", "install", "--dry-run", "--python", sys.executable, "--no-deps",
            "--reinstall", "six==1.16.0")
    r = uv(*args, env={**base, "PIP_INDEX_URL": pip_index})
    assert r.returncode != 0 and pip_index in r.stderr, r.stderr
    r = uv(*args, env={**base, "PIP_INDEX_URL": pip_index, "UV_INDEX_URL": uv_index})
    assert r.returncode != 0 and uv_index in r.stderr and pip_index not in r.stderr, r.stderr
