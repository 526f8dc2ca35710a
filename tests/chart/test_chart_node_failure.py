"""Render tests of `nodeFailureTolerationSeconds`: how long a serving pod stays bound to a lost
node (tests/cluster/test_nodes.py measures a node loss with it)."""

from __future__ import annotations

import pytest

KEYS = ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"]


def node_failure(pod) -> dict:
    return {t["key"]: t for t in pod.get("tolerations", []) if t.get("key") in KEYS}


def test_default_replaces_a_pod_of_a_lost_node_after_30_seconds(render):
    m = render()
    assert node_failure(m.pod) == {k: {"key": k, "operator": "Exists", "effect": "NoExecute",
                                       "tolerationSeconds": 30} for k in KEYS}


def test_the_canary_gets_them_too_but_not_the_prepull_daemonset(render):
    m = render(sets=["canary.enabled=true", "canary.model.tag=1.1", "model.prepull.enabled=true"])
    canary = m.one("Deployment", "rel-faq-engine-canary")["spec"]["template"]["spec"]
    assert node_failure(canary)[KEYS[1]]["tolerationSeconds"] == 30
    # A DaemonSet's pods tolerate both for ever (the DaemonSet controller adds that): no bound.
    (ds,) = m.kind("DaemonSet")
    assert node_failure(ds["spec"]["template"]["spec"]) == {}


def test_null_leaves_kubernetes_default_and_a_value_is_used(render):
    assert "tolerations" not in render(sets=["nodeFailureTolerationSeconds=null"]).pod
    m = render(sets=["nodeFailureTolerationSeconds=120"])
    assert {t["tolerationSeconds"] for t in node_failure(m.pod).values()} == {120}


def test_a_users_toleration_for_the_key_wins(render):
    mine = {"key": KEYS[1], "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 600}
    m = render(values={"tolerations": [mine, {"key": "gpu", "operator": "Exists"}]})
    assert [t for t in m.pod["tolerations"] if t["key"] == KEYS[1]] == [mine]
    assert node_failure(m.pod)[KEYS[0]]["tolerationSeconds"] == 30
    assert {"key": "gpu", "operator": "Exists"} in m.pod["tolerations"]


@pytest.mark.parametrize("value", [-1, "soon", 1.5])
def test_bad_values_are_rejected_naming_the_key(render_error, value):
    assert "nodeFailureTolerationSeconds" in render_error(
        values={"nodeFailureTolerationSeconds": value})
