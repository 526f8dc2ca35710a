"""Render tests of the Service, Ingress, NetworkPolicy and ServiceMonitor."""

from __future__ import annotations

import pytest

from faqtest.chart import CHART, CI_VALUES, INTERNAL_ROUTES

SELECTOR = {"app.kubernetes.io/name": "faq-engine", "app.kubernetes.io/instance": "rel"}


def test_service(render):
    svc = render().one("Service", "rel-faq-engine")
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http",
                                     "protocol": "TCP"}]
    # server pods only (stable and canary): batch pods share the name and instance labels
    assert svc["spec"]["selector"] == {**SELECTOR, "app.kubernetes.io/component": "server"}


def test_ingress(render):
    m = render(values={"ingress": {"enabled": True, "className": "nginx",
                                   "annotations": {"x": "y"},
                                   "hosts": [{"host": "faq.example.com",
                                              "paths": [{"path": "/", "pathType": "Prefix"}]}],
                                   "tls": [{"secretName": "t", "hosts": ["faq.example.com"]}]}})
    ing = m.one("Ingress")
    assert ing["spec"]["ingressClassName"] == "nginx"
    assert ing["metadata"]["annotations"] == {"x": "y"}
    assert ing["spec"]["tls"] == [{"secretName": "t", "hosts": ["faq.example.com"]}]
    rule = ing["spec"]["rules"][0]
    assert rule["host"] == "faq.example.com"
    assert rule["http"]["paths"][0]["backend"] == {
        "service": {"name": "rel-faq-engine", "port": {"name": "http"}}}


def ingress_routes(rule_path: dict, request_path: str) -> bool:
    """Kubernetes Ingress path matching: Exact, or Prefix element-wise on `/`-split segments
    (ImplementationSpecific treated as Prefix, as ingress-nginx does)."""
    path = rule_path["path"]
    if rule_path["pathType"] == "Exact":
        return request_path == path
    want = [x for x in path.split("/") if x]
    return [x for x in request_path.split("/") if x][:len(want)] == want


def routed_paths(ing: dict, request_paths) -> set[str]:
    return {r for rule in ing["spec"]["rules"] for p in rule["http"]["paths"]
            for r in request_paths if ingress_routes(p, r)}


def test_ingress_path_matching_helper():
    assert ingress_routes({"path": "/", "pathType": "Prefix"}, "/metrics")
    assert ingress_routes({"path": "/v1", "pathType": "Prefix"}, "/v1/model")
    assert not ingress_routes({"path": "/v1/answer", "pathType": "Prefix"}, "/v1/answers")
    assert not ingress_routes({"path": "/v1/answer", "pathType": "Exact"}, "/v1/answer/x")


def test_ingress_publishes_only_the_api_by_default(render):
    ing = render(sets=["ingress.enabled=true"]).one("Ingress")
    assert ing["spec"]["rules"][0]["http"]["paths"] == [{
        "path": "/v1/answer", "pathType": "Exact",
        "backend": {"service": {"name": "rel-faq-engine", "port": {"name": "http"}}}}]
    assert routed_paths(ing, INTERNAL_ROUTES + ("/v1/answer",)) == {"/v1/answer"}


@pytest.mark.parametrize("values_file", CI_VALUES, ids=lambda p: p.name)
def test_ci_examples_keep_internal_routes_private(render, values_file):
    for ing in render(files=[values_file], kube_version="1.35.0").kind("Ingress"):
        assert not routed_paths(ing, INTERNAL_ROUTES), values_file.name


def test_network_policy(render):
    np = render(sets=["networkPolicy.enabled=true"]).one("NetworkPolicy", "rel-faq-engine")
    assert np["spec"]["podSelector"]["matchLabels"] == SELECTOR
    assert np["spec"]["policyTypes"] == ["Ingress"]
    assert np["spec"]["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]
    peer = {"namespaceSelector": {"matchLabels": {"team": "web"}}}
    np = render(values={"networkPolicy": {"enabled": True, "from": [peer]}}).one("NetworkPolicy", "rel-faq-engine")
    frm = np["spec"]["ingress"][0]["from"]
    assert frm == [peer]  # the helm test pod's way in is a test hook (test_chart_hardening.py)


def _selects(selector: dict | None, labels: dict) -> bool:
    assert not (selector or {}).get("matchExpressions"), "evaluator knows matchLabels only"
    return all(labels.get(k) == v for k, v in ((selector or {}).get("matchLabels") or {}).items())


def np_admits(np: dict, port: str, pod: dict, ns: dict, policy_ns: str = "faq") -> bool:
    """Whether NetworkPolicy `np` admits a client pod (labels `pod`) in a namespace (labels
    `ns`, with kubernetes.io/metadata.name) to the named `port` (NetworkPolicy semantics)."""
    for rule in np["spec"].get("ingress") or []:
        if rule.get("ports") and port not in [p["port"] for p in rule["ports"]]:
            continue
        peers = rule.get("from")
        if not peers:
            return True
        for peer in peers:
            if "namespaceSelector" in peer:
                ns_ok = _selects(peer["namespaceSelector"], ns)
            else:
                ns_ok = ns["kubernetes.io/metadata.name"] == policy_ns
            if ns_ok and ("podSelector" not in peer or _selects(peer["podSelector"], pod)):
                return True
    return False


PROMETHEUS = ({"app.kubernetes.io/name": "prometheus"}, {"kubernetes.io/metadata.name": "monitoring"})


def test_full_example_lets_prometheus_scrape_through_the_network_policy(render):
    """The chart's full example restricts `from` to ingress-nginx and runs a ServiceMonitor:
    the Prometheus pods in their own namespace must still reach the scraped port."""
    m = render(files=[CHART / "ci" / "lint-only" / "full-values.yaml"])
    np, sm, svc = m.one("NetworkPolicy", "rel-faq-engine"), m.one("ServiceMonitor"), m.one("Service")
    scraped = [p["targetPort"] for p in svc["spec"]["ports"]
               if p["name"] == sm["spec"]["endpoints"][0]["port"]][0]
    assert np_admits(np, scraped, *PROMETHEUS)
    assert np_admits(np, scraped, {}, {"kubernetes.io/metadata.name": "ingress-nginx"})
    # Still restricted: other pods of the monitoring namespace and other namespaces are not.
    assert not np_admits(np, scraped, {"app": "grafana"}, PROMETHEUS[1])
    assert not np_admits(np, scraped, {}, {"kubernetes.io/metadata.name": "other"})


def test_metrics_from_only_adds_a_rule_when_from_is_restricted(render):
    peer = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    np = render(values={"networkPolicy": {"enabled": True, "metricsFrom": [peer]}}).one(
        "NetworkPolicy")
    assert np["spec"]["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]
    np = render(values={"networkPolicy": {"enabled": True, "metricsFrom": [peer], "from": [
        {"namespaceSelector": {"matchLabels": {"team": "web"}}}]}}).one("NetworkPolicy", "rel-faq-engine")
    assert np["spec"]["ingress"][1] == {"ports": [{"port": "http", "protocol": "TCP"}],
                                        "from": [peer]}
    assert np_admits(np, "http", {}, {"kubernetes.io/metadata.name": "monitoring"})


def test_service_monitor_behind_restricted_policy_needs_metrics_from(render_error):
    err = render_error(values={"serviceMonitor": {"enabled": True}, "networkPolicy": {
        "enabled": True, "from": [{"namespaceSelector": {"matchLabels": {"team": "web"}}}]}})
    assert "networkPolicy.metricsFrom" in err and "serviceMonitor.enabled" in err, err


def test_network_policy_egress(render):
    np = render(sets=["networkPolicy.enabled=true"]).one("NetworkPolicy", "rel-faq-engine")
    assert "egress" not in np["spec"]  # open unless asked
    np = render(values={"networkPolicy": {"enabled": True, "egress": []}}).one("NetworkPolicy", "rel-faq-engine")
    assert np["spec"]["policyTypes"] == ["Ingress", "Egress"] and np["spec"]["egress"] == []
    rule = {"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"port": 443}]}
    np = render(values={"networkPolicy": {"enabled": True, "egress": [rule]}}).one("NetworkPolicy", "rel-faq-engine")
    assert np["spec"]["egress"] == [rule]


def test_service_monitor(render):
    sm = render(sets=["serviceMonitor.enabled=true", "serviceMonitor.labels.release=prom",
                      "serviceMonitor.interval=15s"]).one("ServiceMonitor")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["metadata"]["labels"]["release"] == "prom"
    assert sm["spec"]["selector"]["matchLabels"] == SELECTOR
    assert sm["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "15s",
                                        "scrapeTimeout": "10s"}]
