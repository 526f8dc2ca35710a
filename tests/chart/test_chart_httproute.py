"""httpRoute: the Gateway API HTTPRoute (`helm create`'s block), publishing only POST /v1/answer
by default; schema rejections naming the key; kubeconform against schemas generated from the
pinned Gateway API CRDs (ci/gateway-api-crds.sh, ci/crd_schemas.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from faqtest.chart import INTERNAL_ROUTES, ROOT, helm_template_raw, render_notes, run

ROUTE = {"httpRoute": {"enabled": True}}


def test_no_route_by_default(render):
    assert not render().kind("HTTPRoute")


def test_default_route_publishes_only_post_answer(render):
    m = render(values=ROUTE)
    route = m.one("HTTPRoute", "rel-faq-engine")
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["metadata"]["namespace"] == "faq"
    spec = route["spec"]
    assert spec["parentRefs"] == [{"name": "gateway", "sectionName": "http"}]
    assert spec["hostnames"] == ["faq-engine.local"]
    assert len(spec["rules"]) == 1
    rule = spec["rules"][0]
    assert rule["matches"] == [{"path": {"type": "Exact", "value": "/v1/answer"}, "method": "POST"}]
    service = m.one("Service", "rel-faq-engine")
    assert rule["backendRefs"] == [{"name": "rel-faq-engine", "port": service["spec"]["ports"][0]["port"],
                                    "weight": 1}]
    # The same public surface as the Ingress: one exact path, none of the internal routes.
    ingress = render(values={"ingress": {"enabled": True}}).one("Ingress", "rel-faq-engine")
    ingress_paths = [p["path"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]]
    assert ingress_paths == [rule["matches"][0]["path"]["value"]]


def test_route_settings_are_rendered(render):
    values = {"httpRoute": {
        "enabled": True,
        "annotations": {"team": "faq"},
        "parentRefs": [{"name": "edge", "namespace": "gateways", "sectionName": "https",
                        "port": 443}],
        "hostnames": ["faq.example.com", "*.faq.example.com"],
        "rules": [
            {"matches": [{"path": {"type": "Exact", "value": "/v1/answer"}, "method": "POST"}],
             "filters": [{"type": "RequestHeaderModifier",
                          "requestHeaderModifier": {"set": [{"name": "X-Route", "value": "gw"}]}}]},
            {"matches": [{"path": {"type": "Exact", "value": "/openapi.json"}, "method": "GET"}]},
        ],
    }, "service": {"port": 8080}}
    route = render(values=values).one("HTTPRoute")
    assert route["metadata"]["annotations"] == {"team": "faq"}
    spec = route["spec"]
    assert spec["parentRefs"] == values["httpRoute"]["parentRefs"]
    assert spec["hostnames"] == values["httpRoute"]["hostnames"]
    assert [r["matches"] for r in spec["rules"]] == [r["matches"] for r in values["httpRoute"]["rules"]]
    assert spec["rules"][0]["filters"] == values["httpRoute"]["rules"][0]["filters"]
    assert "filters" not in spec["rules"][1]
    assert all(r["backendRefs"][0]["port"] == 8080 for r in spec["rules"])


def test_a_rule_without_matches_renders_and_is_warned_about(render):
    """A rule with no matches is valid Gateway API (it matches every path): rendered as such, and
    NOTES.txt warns that it publishes the internal routes, as it does for an Ingress `/`."""
    route = render(values={"httpRoute": {"enabled": True, "rules": [{}]}}).one("HTTPRoute")
    assert route["spec"]["rules"] == [{"backendRefs": [{"name": "rel-faq-engine", "port": 80,
                                                        "weight": 1}]}]


@pytest.mark.parametrize("rules, warned", [
    ([{"matches": [{"path": {"type": "Exact", "value": "/v1/answer"}, "method": "POST"}]}], []),
    ([{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}]}], list(INTERNAL_ROUTES)),
    ([{"matches": [{"path": {"type": "PathPrefix", "value": "/v1"}}]}], ["/v1/model"]),
    ([{}], ["every route"]),
])
def test_notes_warn_when_the_route_publishes_internal_paths(tmp_path, rules, warned):
    notes = render_notes(tmp_path, {"httpRoute": {"enabled": True, "rules": rules}})
    assert "HTTPRoute rel-faq-engine on faq-engine.local (Gateways: faq/gateway)" in notes, notes
    warnings = [line for line in notes.splitlines() if "WARNING" in line]
    assert len(warnings) == len(warned), warnings
    for w, path in zip(warnings, warned):
        assert path in w, warnings


@pytest.mark.parametrize("values, key", [
    ({"httpRoute": {"enabled": "yes"}}, "/httpRoute/enabled"),
    ({"httpRoute": {"parentRefs": [{"sectionName": "http"}]}}, "/httpRoute/parentRefs/0"),
    ({"httpRoute": {"parentRefs": [{"name": "gw", "port": 0}]}}, "/httpRoute/parentRefs/0/port"),
    ({"httpRoute": {"hostnames": ["Faq Engine"]}}, "/httpRoute/hostnames/0"),
    ({"httpRoute": {"rules": []}}, "/httpRoute/rules"),
    ({"httpRoute": {"rules": [{"matches": [{"path": {"type": "Prefix", "value": "/v1"}}]}]}},
     "/httpRoute/rules/0/matches/0/path/type"),
    ({"httpRoute": {"rules": [{"matches": [{"path": {"value": "v1/answer"}}]}]}},
     "/httpRoute/rules/0/matches/0/path/value"),
    ({"httpRoute": {"rules": [{"matches": [{"method": "post"}]}]}},
     "/httpRoute/rules/0/matches/0/method"),
    ({"httpRoute": {"annotations": {"a": 1}}}, "/httpRoute/annotations/a"),
])
def test_bad_route_value_rejected_naming_the_key(render_error, values, key):
    err = render_error(values=values)
    assert "values don't meet the specifications of the schema" in err, err
    assert f"'{key}'" in err, f"{key} not named in:\n{err}"


@pytest.mark.parametrize("values, key", [
    ({"httpRoute": {"className": "x"}}, "className"),  # an Ingress key, not a route's
    ({"httpRoute": {"rules": [{"backendRefs": []}]}}, "backendRefs"),  # the chart's Service
    ({"httpRoute": {"rules": [{"matches": [{"path": {"type": "Exact", "value": "/",
                                                     "pathType": "Exact"}}]}]}}, "pathType"),
])
def test_unknown_route_key_rejected(render_error, values, key):
    err = render_error(values=values)
    assert f"additional properties '{key}' not allowed" in err, err


# --- kubeconform with the Gateway API CRDs' own schemas ---------------------------------------

@pytest.fixture(scope="session")
def gateway_schemas(tmp_path_factory):
    """kubeconform schemas made from the pinned standard-channel CRDs."""
    crds = subprocess.run(["bash", str(ROOT / "ci" / "gateway-api-crds.sh")],
                          capture_output=True, text=True, timeout=300)
    assert crds.returncode == 0, crds.stderr
    out = tmp_path_factory.mktemp("gateway-schemas")
    res = subprocess.run([sys.executable, str(ROOT / "ci" / "crd_schemas.py"), crds.stdout.strip(),
                          str(out)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert (out / "gateway.networking.k8s.io" / "httproute_v1.json").is_file(), res.stdout
    return out


def kubeconform_routes(manifests: str, schemas):
    location = f"{schemas}/{{{{ .Group }}}}/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json"
    routes = [d for d in yaml.safe_load_all(manifests) if d and d["kind"] == "HTTPRoute"]
    return run(["kubeconform", "-strict", "-summary", "-schema-location", location, "-"],
               input=yaml.safe_dump_all(routes))


@pytest.mark.parametrize("values", [
    ROUTE,
    {"httpRoute": {"enabled": True, "rules": [{}],
                   "parentRefs": [{"name": "edge", "namespace": "gw", "port": 443}]}},
    {"httpRoute": {"enabled": True, "hostnames": [], "rules": [
        {"matches": [{"path": {"type": "PathPrefix", "value": "/v1/answer"},
                      "headers": [{"name": "X-Tenant", "value": "a"}]}],
         "filters": [{"type": "RequestHeaderModifier",
                      "requestHeaderModifier": {"remove": ["Cookie"]}}]}]}},
], ids=["default", "catch-all", "filters"])
def test_kubeconform_accepts_the_rendered_route(gateway_schemas, values):
    res = helm_template_raw(values=values)
    assert res.returncode == 0, res.stderr
    out = kubeconform_routes(res.stdout, gateway_schemas)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Valid: 1, Invalid: 0, Errors: 0" in out.stdout, out.stdout


def test_kubeconform_rejects_what_the_crd_forbids(gateway_schemas):
    """The generated schemas are strict and typed: a filter the schema of values.yaml passes
    through unchecked is caught by the CRD's own schema."""
    res = helm_template_raw(values={"httpRoute": {"enabled": True, "rules": [
        {"filters": [{"type": "Rewrite", "urlRewrite": {"bogus": 1}}]}]}})
    assert res.returncode == 0, res.stderr
    out = kubeconform_routes(res.stdout, gateway_schemas)
    assert out.returncode != 0 and "Invalid: 1" in out.stdout, out.stdout
