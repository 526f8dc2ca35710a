"""Fixtures shared by every test folder."""

from __future__ import annotations

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
