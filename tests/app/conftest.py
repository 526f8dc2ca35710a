from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from faq_engine.web import create_app


@pytest.fixture
def model_copy(trained_model, tmp_path) -> Path:
    """A private copy of the trained model that a test may damage."""
    dst = tmp_path / "model"
    shutil.copytree(trained_model, dst)
    return dst


@pytest.fixture(scope="session")
def app(trained_model):
    return create_app({"MODEL_DIR": str(trained_model), "TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()
