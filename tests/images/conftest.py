from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "model-image" / "model-copy.sh"


def sh(*cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


@pytest.fixture(scope="session")
def podman():
    path = shutil.which("podman")
    if path is None:
        pytest.fail("podman is not installed: run ci/setup-host.sh")
    return path


@pytest.fixture(params=["busybox sh", "dash"])
def shell(request) -> list[str]:
    """The entrypoint must run under busybox sh (Alpine) and under dash (strict POSIX)."""
    cmd = request.param.split()
    if shutil.which(cmd[0]) is None:
        pytest.fail(f"{cmd[0]} is not installed: run ci/setup-host.sh")
    return cmd


@pytest.fixture
def run_copy(shell, tmp_path):
    """Run model-copy.sh on the host with busybox tools first on PATH."""
    bb = tmp_path / "bb"
    bb.mkdir()
    for applet in sh("busybox", "--list").stdout.split():
        (bb / applet).symlink_to(shutil.which("busybox"))

    def run(source: Path, target: Path, **env):
        e = {"PATH": f"{bb}:/usr/bin:/bin", "MODEL_SOURCE": str(source),
             "MODEL_TARGET": str(target), "HOSTNAME": "test"}
        e.update({k: str(v) for k, v in env.items()})
        return subprocess.run([*shell, str(ENTRYPOINT)], env=e, capture_output=True, text=True)

    return run
