from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from faqtest.common import ci_setting

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "model-image" / "model-copy.sh"


def sh(*cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


@pytest.fixture(scope="session")
def busybox() -> str:
    """The busybox of the model image's base (pinned in ci/versions.env)."""
    path = ci_setting("BUSYBOX")
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is missing: run ci/images/bases.sh")
    return path


@pytest.fixture(params=["busybox sh", "dash"])
def shell(request, busybox) -> list[str]:
    """The entrypoint must run under busybox sh (Alpine) and under dash (strict POSIX)."""
    if request.param == "dash":
        if shutil.which("dash") is None:
            pytest.fail("dash is not installed: run ci/setup-host.sh")
        return ["dash"]
    return [busybox, "sh"]


@pytest.fixture
def run_copy(shell, busybox, tmp_path):
    """Run model-copy.sh on the host with the image's busybox tools first on PATH."""
    bb = tmp_path / "bb"
    bb.mkdir()
    for applet in sh(busybox, "--list").stdout.split():
        (bb / applet).symlink_to(busybox)

    def run(source: Path, target: Path, **env):
        e = {"PATH": f"{bb}:/usr/bin:/bin", "MODEL_SOURCE": str(source),
             "MODEL_TARGET": str(target), "HOSTNAME": "test"}
        e.update({k: str(v) for k, v in env.items()})
        return subprocess.run([*shell, str(ENTRYPOINT)], env=e, capture_output=True, text=True)

    return run
