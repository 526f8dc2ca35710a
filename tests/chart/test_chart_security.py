"""Render tests of the security defaults: Pod Security restricted in every mode."""

from __future__ import annotations

import pytest

from faqtest.chart import assert_restricted, container


@pytest.mark.parametrize("sets", [[], ["model.volume.type=pvc"], ["canary.enabled=true"]])
def test_restricted_security_context_everywhere(render, sets):
    m = render(sets=sets)
    for d in m.kind("Deployment"):
        assert_restricted(d["spec"]["template"]["spec"], d["metadata"]["name"])
        assert container(d["spec"]["template"]["spec"], "model", init=True)
    assert_restricted(m.test_pod["spec"], "test")


def test_pod_security_context(render):
    m = render()
    psc = m.pod["securityContext"]
    assert psc["runAsNonRoot"] is True
    assert psc["runAsUser"] == psc["runAsGroup"] == psc["fsGroup"] == 10001
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
    for c in m.pod["initContainers"] + m.pod["containers"]:
        assert c["securityContext"]["runAsUser"] == 10001
    assert m.pod["automountServiceAccountToken"] is False
    assert m.pod["serviceAccountName"] == "rel-faq-engine"
    sa = m.one("ServiceAccount")
    assert sa["automountServiceAccountToken"] is False
    assert m.test_pod["spec"]["automountServiceAccountToken"] is False


def test_restricted_in_image_mode(render):
    m = render(sets=["model.volume.type=image"], kube_version="1.35.0")
    assert_restricted(m.pod, "image-mode")


def test_service_account_not_created(render):
    m = render(sets=["serviceAccount.create=false"])
    assert not m.kind("ServiceAccount")
    assert m.pod["serviceAccountName"] == "default"
    m = render(sets=["serviceAccount.name=faq", "serviceAccount.annotations.a=b"])
    assert m.one("ServiceAccount", "faq")["metadata"]["annotations"] == {"a": "b"}
    assert m.pod["serviceAccountName"] == "faq"
