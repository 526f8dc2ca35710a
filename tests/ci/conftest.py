"""Fixtures for the tests of ci/: the repository root, ci/bump_tags.py as a module, a small
fixture chart written per test, and a runner for the real `ci/bump-tags` command."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "ci"))

FIXTURE_VALUES = """\
# Fixture values for the bump-tags tests.
# A second header comment line.

nameOverride: ""

image:
  # -- App image repository.
  repository: localhost/faq-engine
  # -- App image tag; defaults to appVersion.
  tag: ""   # trailing comment on the tag
  # -- App image digest; wins over the tag.
  digest: ""
  pullPolicy: IfNotPresent

# -- A list, indented the helm way.
imagePullSecrets:
  - name: regcred

model:
  repository: localhost/faq-engine-model
  # -- Model tag.
  tag: '1.0'
  digest: ""


  # -- Two blank lines above must survive.
  keep: 3
  minAvailable: null
  limits: {memory: 128Mi}

zLast: true   # key order: this stays last
"""

FIXTURE_CHART = """\
apiVersion: v2
name: fixture
# -- The chart version comment.
description: >-
  A folded description that
  spans two lines.
version: 1.2.3
appVersion: "1.0.0"   # app version comment
keywords:
  - faq
"""


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def chart(tmp_path: Path) -> Path:
    """A small chart (values.yaml + Chart.yaml) in a fresh temporary directory."""
    d = tmp_path / "chart"
    d.mkdir()
    (d / "values.yaml").write_text(FIXTURE_VALUES)
    (d / "Chart.yaml").write_text(FIXTURE_CHART)
    return d


def tree_digest(d: Path) -> dict[str, str]:
    """Name -> sha256 of every file under d (to prove nothing was touched)."""
    return {
        str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(d.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def run_cli():
    """Run the real `ci/bump-tags` executable (its shebang picks the test's python3)."""

    def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        env = dict(os.environ)
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
        return subprocess.run(
            [str(ROOT / "ci" / "bump-tags"), *args],
            cwd=cwd or ROOT, env=env, capture_output=True, text=True, timeout=60,
        )

    return run


def _registry_binary() -> Path:
    """CNCF Distribution at the pin of ci/versions.env, built from the Go module proxy into
    $FAQ_CACHE (a throwaway wrapper module, as ci/go-tools.sh builds the other tools)."""
    from helpers import ci_setting

    version, cache = ci_setting("DISTRIBUTION_VERSION"), Path(ci_setting("FAQ_CACHE"))
    binary = cache / "registry" / version / "registry"
    if binary.is_file():
        return binary
    if not shutil.which("go"):
        pytest.fail("go is not installed: the test registry is built from the Go module proxy")
    mod, pkg = "github.com/distribution/distribution/v3", \
        "github.com/distribution/distribution/v3/cmd/registry"
    with tempfile.TemporaryDirectory() as work:
        Path(work, "go.mod").write_text(f"module toolwrap\n\ngo 1.24\n\nrequire {mod} {version}\n")
        Path(work, "tools.go").write_text(f'//go:build tools\n\npackage tools\n\nimport _ "{pkg}"\n')
        env = dict(os.environ, CGO_ENABLED="0")
        for cmd in (["go", "mod", "tidy"],
                    ["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", f"{binary}.tmp", pkg]):
            r = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True,
                               timeout=1200)
            assert r.returncode == 0, r.stderr
    os.replace(f"{binary}.tmp", binary)
    return binary


@pytest.fixture(scope="session")
def oci_registry(tmp_path_factory):
    """A CNCF Distribution registry on 127.0.0.1 (a free port), storage in a temporary
    directory; yields "127.0.0.1:<port>"."""
    binary = _registry_binary()
    d = tmp_path_factory.mktemp("registry")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (d / "config.yml").write_text(
        "version: 0.1\n"
        f"storage:\n  filesystem:\n    rootdirectory: {d / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
        "log:\n  level: warn\n")
    log = (d / "registry.log").open("w")
    proc = subprocess.Popen([str(binary), "serve", str(d / "config.yml")], stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/v2/", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the registry did not start: {(d / 'registry.log').read_text()}")
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
