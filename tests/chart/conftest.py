"""Fixtures for the chart tests (helpers live in faqtest/chart.py)."""

from __future__ import annotations

import os

import pytest

from faqtest.chart import KUBE_VERSION, Manifests, helm_template_raw, parse_manifests, require_tool

# The Helm the suite runs: Helm 4 (`helm`, the default) or, in the Helm 3 job
# (`make test-chart-helm3`), FAQ_HELM=helm3: `helm` on PATH is then the pinned Helm 3, for every
# test and for ct, which calls `helm` itself.
FAQ_HELM = os.environ.get("FAQ_HELM", "helm")


@pytest.fixture(scope="session", autouse=True)
def _tools_present(tmp_path_factory):
    if FAQ_HELM not in ("helm", "helm3"):
        pytest.fail(f"FAQ_HELM={FAQ_HELM!r}: helm (Helm 4) or helm3", pytrace=False)
    if FAQ_HELM == "helm3":
        shim = tmp_path_factory.mktemp("helm3-as-helm")
        (shim / "helm").symlink_to(require_tool("helm3"))
        os.environ["PATH"] = f"{shim}{os.pathsep}{os.environ['PATH']}"
    require_tool("helm")
    require_tool("helm3")
    yield
    if FAQ_HELM == "helm3":
        os.environ["PATH"] = os.environ["PATH"].split(os.pathsep, 1)[1]


@pytest.fixture
def render():
    """render(values=dict, files=[...], sets=[...]) -> Manifests; fails on a helm error."""

    def _render(values=None, files=None, sets=None, set_strings=None, kube_version=KUBE_VERSION):
        res = helm_template_raw(values, files, sets, set_strings, kube_version)
        assert res.returncode == 0, f"helm template failed:\n{res.stderr}"
        return Manifests(parse_manifests(res.stdout))

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
