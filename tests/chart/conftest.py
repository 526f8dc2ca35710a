"""Fixtures for the chart tests (helpers live in chart_helpers.py)."""

from __future__ import annotations

import pytest
import yaml

from chart_helpers import KUBE_VERSION, Manifests, helm_template_raw, require_tool


@pytest.fixture(scope="session", autouse=True)
def _tools_present():
    require_tool("helm")


@pytest.fixture
def render():
    """render(values=dict, files=[...], sets=[...]) -> Manifests; fails on a helm error."""

    def _render(values=None, files=None, sets=None, set_strings=None, kube_version=KUBE_VERSION):
        res = helm_template_raw(values, files, sets, set_strings, kube_version)
        assert res.returncode == 0, f"helm template failed:\n{res.stderr}"
        return Manifests(d for d in yaml.safe_load_all(res.stdout) if d)

    return _render


@pytest.fixture
def render_error():
    """render_error(...) -> helm's stderr; fails if helm accepted the values."""

    def _render_error(values=None, files=None, sets=None, set_strings=None,
                      kube_version=KUBE_VERSION):
        res = helm_template_raw(values, files, sets, set_strings, kube_version)
        assert res.returncode != 0, "helm template accepted values it should reject"
        return res.stderr

    return _render_error
