"""Fixtures for the tests of ci/: the repository root, ci/bump_tags.py as a module, a small
fixture chart written per test, and a runner for the real `ci/bump-tags` command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
  pullPolicy: IfNotPresent

# -- A list, indented the helm way.
imagePullSecrets:
  - name: regcred

model:
  repository: localhost/faq-engine-model
  # -- Model tag.
  tag: '1.0'


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
