"""Render tests of labels and namespaces on every object."""

from __future__ import annotations

import pytest

from faqtest.chart import CHART_META, CI_VALUES


@pytest.mark.parametrize("values_file", CI_VALUES, ids=lambda p: p.name)
def test_every_object_names_its_namespace(render, values_file):
    """`helm template | kubectl apply` lands in the release namespace, not `default`."""
    for d in render(files=[values_file], kube_version="1.35.0"):
        assert d["metadata"].get("namespace") == "faq", f"{d['kind']}/{d['metadata']['name']}"


def test_recommended_labels_everywhere(render):
    m = render(files=[], values={"replicaCount": 2, "ingress": {"enabled": True},
                                 "autoscaling": {"enabled": True},
                                 "networkPolicy": {"enabled": True},
                                 "serviceMonitor": {"enabled": True},
                                 "model": {"volume": {"type": "pvc"}}})
    for d in m:
        labels = d["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == "rel", d["kind"]
        assert labels["app.kubernetes.io/managed-by"] == "Helm", d["kind"]
        assert labels["helm.sh/chart"] == f"faq-engine-{CHART_META['version']}", d["kind"]
        if d["kind"] != "Pod":
            assert labels["app.kubernetes.io/name"] == "faq-engine", d["kind"]
            assert labels["app.kubernetes.io/version"] == CHART_META["appVersion"], d["kind"]
