"""The Helm binaries the chart suite runs: `helm` is Helm 4 at HELM_VERSION (or, in the Helm 3
job, FAQ_HELM=helm3, Helm 3 at HELM3_VERSION), and each one's default Kubernetes version (what
`helm template` and `helm lint` assume without --kube-version) is the pinned cluster's minor."""

from __future__ import annotations

import os

import pytest

from faqtest.chart import run
from faqtest.common import ci_setting, kube_minor

EXPECTED = {"helm": ci_setting("HELM_VERSION"), "helm3": ci_setting("HELM3_VERSION")}


def version(binary: str) -> str:
    res = run([binary, "version", "--template", "{{ .Version }}"])
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def test_helm_is_the_pinned_major():
    """`helm` on PATH (what ct and every test call) is the binary this run is about."""
    which = os.environ.get("FAQ_HELM", "helm")
    assert version("helm") == EXPECTED[which]
    assert EXPECTED["helm"].startswith("v4.") and EXPECTED["helm3"].startswith("v3.")


@pytest.mark.parametrize("binary", ["helm", "helm3"])
def test_default_kubernetes_version_is_the_pinned_minor(binary, tmp_path):
    chart = tmp_path / "caps"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: caps\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: caps\ndata:\n"
        "  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n")
    res = run([binary, "template", "caps", str(chart)])
    assert res.returncode == 0, res.stderr
    assert f'kube: "v1.{kube_minor()}.0"' in res.stdout, res.stdout
