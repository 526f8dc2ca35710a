"""Render tests of replicas, the PodDisruptionBudget and the HPA taking over replicas."""

from __future__ import annotations

SELECTOR = {"app.kubernetes.io/name": "faq-engine", "app.kubernetes.io/instance": "rel"}


def test_no_pdb_for_one_replica(render):
    assert not render().kind("PodDisruptionBudget")


def test_pdb_when_more_than_one_replica(render):
    m = render(sets=["replicaCount=2"])
    pdb = m.one("PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == {**SELECTOR,
                                                      "app.kubernetes.io/track": "stable"}
    pdb = render(sets=["replicaCount=3", "pdb.minAvailable=2"]).one("PodDisruptionBudget")
    assert pdb["spec"] == {**pdb["spec"], "minAvailable": 2} and "maxUnavailable" not in pdb["spec"]
    assert not render(sets=["replicaCount=3", "pdb.enabled=false"]).kind("PodDisruptionBudget")


def test_pdb_lets_drain_evict_unready_pods(render):
    """With every pod unready (e.g. a model that fails to load) `kubectl drain` must not block."""
    pdb = render(sets=["replicaCount=2"]).one("PodDisruptionBudget")
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    pdb = render(sets=["replicaCount=2", "pdb.unhealthyPodEvictionPolicy=IfHealthyBudget"]).one(
        "PodDisruptionBudget")
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "IfHealthyBudget"


def test_hpa_drops_replicas(render):
    m = render(sets=["autoscaling.enabled=true", "replicaCount=4",
                     "autoscaling.minReplicas=2", "autoscaling.maxReplicas=7"])
    assert "replicas" not in m.deployment["spec"]
    hpa = m.one("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["minReplicas"] == 2 and hpa["spec"]["maxReplicas"] == 7
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": "rel-faq-engine"}
    assert [x["resource"]["name"] for x in hpa["spec"]["metrics"]] == ["cpu"]
    assert m.kind("PodDisruptionBudget")  # autoscaled: a PDB
    assert not render().kind("HorizontalPodAutoscaler")
    assert render().deployment["spec"]["replicas"] == 1
