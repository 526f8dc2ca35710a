"""Fixtures shared by every test folder."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_FAQ = ROOT / "app" / "faq_engine" / "data" / "sample-faq.jsonl"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def sample_faq() -> Path:
    return SAMPLE_FAQ


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory) -> Path:
    """The sample FAQ trained once per session (version 1.0). Treat it as read-only."""
    from faq_engine.trainer import train

    out = tmp_path_factory.mktemp("model") / "1.0"
    train(SAMPLE_FAQ, out, version="1.0")
    return out


@pytest.fixture(scope="session")
def embedding_model(tmp_path_factory) -> Path:
    """The sample FAQ as an embedding model (version 2.0, default weights). Read-only."""
    from faq_engine.trainer import train

    out = tmp_path_factory.mktemp("embedding") / "2.0"
    train(SAMPLE_FAQ, out, version="2.0", kind="embedding")
    return out


@pytest.fixture(scope="session")
def images() -> dict[str, str]:
    """Build the app image and model images 1.0 and 1.1 through the project's own script.

    Returns {"app": ref, "model-1.0": ref, "model-1.1": ref}.
    """
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: run ci/setup-host.sh (make setup)")
    r = subprocess.run(["bash", str(ROOT / "ci" / "images" / "build.sh")], cwd=ROOT,
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"ci/images/build.sh failed:\n{r.stderr[-3000:]}")
    built = r.stdout.split()
    app = next(i for i in built if "/faq-engine:" in i)
    models = {i.rsplit(":", 1)[1]: i for i in built if "/faq-engine-model:" in i}
    return {"app": app, **{f"model-{v}": ref for v, ref in models.items()}}
