"""ci/images/build.sh builds once more when podman's layer-cache lookup lost a race with an image
removal (buildah before 1.43, containers/buildah#5674), and only then. The race cannot be
forced on demand, so a `podman` first on PATH answers the first build with the error podman
gives, and records every call; build.sh itself runs as the tests and `make up` run it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RACE = ("Error: checking if cached image exists from a previous build: getting top layer info: "
        "layer not known")

FAKE = """#!/bin/sh
echo "$*" >> "$CALLS"
if [ "$1" = build ] && [ ! -e "$CALLS.failed" ]; then
  touch "$CALLS.failed"
  echo "$FIRST_ERROR" >&2
  exit 125
fi
echo sha256:0123
"""


@pytest.mark.parametrize("error, retried", [(RACE, True), ("Error: no space left on device", False)])
def test_a_lost_cache_lookup_race_is_built_once_more(tmp_path, error, retried):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "podman").write_text(FAKE)
    (bin_dir / "podman").chmod(0o755)
    calls = tmp_path / "calls"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLS": str(calls),
           "FIRST_ERROR": error, "BASES": "public", "APP_IMAGE": "localhost/retry-test"}
    r = subprocess.run(["bash", "ci/images/build.sh", "app"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
    builds = [c for c in calls.read_text().splitlines() if c.startswith("build ")]
    assert error in r.stderr
    if retried:
        assert r.returncode == 0, r.stderr
        assert "once more" in r.stderr and len(builds) == 2 and builds[0] == builds[1], builds
        assert len(r.stdout.split()) == 1 and r.stdout.startswith("localhost/retry-test:")
    else:
        assert r.returncode != 0 and "once more" not in r.stderr and len(builds) == 1, builds
