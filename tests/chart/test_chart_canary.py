"""Render tests of the canary Deployment beside the stable one."""

from __future__ import annotations

import pytest

from faqtest.chart import container, env

DIGEST = "sha256:" + "ab" * 32
DIGEST2 = "sha256:" + "cd" * 32
SELECTOR = {"app.kubernetes.io/name": "faq-engine", "app.kubernetes.io/instance": "rel"}


def test_canary_deployment(render):
    m = render(sets=["replicaCount=3", "canary.enabled=true", "canary.replicaCount=1",
                     "canary.model.tag=1.1"])
    deps = m.deployments()
    assert set(deps) == {"rel-faq-engine", "rel-faq-engine-canary"}
    stable, canary = deps["rel-faq-engine"], deps["rel-faq-engine-canary"]
    assert stable["spec"]["replicas"] == 3 and canary["spec"]["replicas"] == 1
    for dep, track in ((stable, "stable"), (canary, "canary")):
        sel = dep["spec"]["selector"]["matchLabels"]
        assert sel == {**SELECTOR, "app.kubernetes.io/track": track}
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert all(labels[k] == v for k, v in sel.items())
    assert container(stable["spec"]["template"]["spec"], "model", True)["image"].endswith(":1.0")
    assert container(canary["spec"]["template"]["spec"], "model", True)["image"].endswith(":1.1")
    # Same pod spec otherwise.
    s, c = stable["spec"]["template"]["spec"], canary["spec"]["template"]["spec"]
    assert env(container(s, "app"))["MODEL_TAG"] == "1.0"
    assert env(container(c, "app"))["MODEL_TAG"] == "1.1"
    for spec in (s, c):
        container(spec, "app")["env"] = [e for e in container(spec, "app")["env"]
                                         if e["name"] != "MODEL_TAG"]
    assert s["containers"] == c["containers"]
    # The Service selects both tracks.
    assert m.one("Service")["spec"]["selector"] == {**SELECTOR, "app.kubernetes.io/component": "server"}
    # The test pod accepts either version: each read from its model image.
    assert [(i["name"], i["image"].rsplit(":", 1)[1]) for i in m.test_pod["spec"]["initContainers"]] \
        == [("expect-stable", "1.0"), ("expect-canary", "1.1")]


def test_canary_with_autoscaling_keeps_its_replicas(render):
    deps = render(sets=["autoscaling.enabled=true", "canary.enabled=true",
                        "canary.replicaCount=2"]).deployments()
    assert "replicas" not in deps["rel-faq-engine"]["spec"]
    assert deps["rel-faq-engine-canary"]["spec"]["replicas"] == 2
    m = render(sets=["autoscaling.enabled=true", "canary.enabled=true"])
    hpa = m.one("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "rel-faq-engine"


@pytest.mark.parametrize("values, stable, canary", [
    ({"canary": {"enabled": True}}, ":1.0", ":1.0"),  # nothing set: the stable model
    ({"model": {"tag": f"1.0@{DIGEST}"}, "canary": {"enabled": True, "model": {"tag": "1.1"}}},
     f":1.0@{DIGEST}", ":1.1"),  # the canary's tag is not overridden by the stable digest
    ({"canary": {"enabled": True, "model": {"tag": f"1.1@{DIGEST2}"}}},
     ":1.0", f":1.1@{DIGEST2}"),
    ({"canary": {"enabled": True, "model": {"repository": "other/model", "tag": "9"}}},
     ":1.0", "other/model:9"),
])
def test_canary_model_reference(render, values, stable, canary):
    deps = render(values=values).deployments()
    img = {n: container(d["spec"]["template"]["spec"], "model", True)["image"]
           for n, d in deps.items()}
    assert img["rel-faq-engine"].endswith(stable)
    assert img["rel-faq-engine-canary"].endswith(canary)


def test_canary_off_by_default(render):
    assert list(render().deployments()) == ["rel-faq-engine"]


def test_canary_name_fits_63_chars(render):
    m = render(sets=["fullnameOverride=" + "x" * 70, "canary.enabled=true"])
    names = list(m.deployments())
    assert all(len(n) <= 63 for n in names) and any(n.endswith("-canary") for n in names)
