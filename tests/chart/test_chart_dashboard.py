"""The chart's Grafana dashboard (`grafanaDashboard.enabled`): a ConfigMap with the Grafana
sidecar's label, holding a dashboard whose every query promtool parses, that reads only the app's
own metric names, and whose key queries evaluate to the right numbers on synthetic series
(`promtool test rules`, promql_expr_test)."""

from __future__ import annotations

import re

import pytest
import yaml

from faqtest.chart import run
from faqtest.monitoring import SELECTOR, app_metric_names, dashboard, dashboard_queries

# Grafana's own variables in the queries, as Grafana fills them in before sending a query.
GRAFANA_VARS = {"$__rate_interval": "5m"}
PANELS = ["requests", "error", "latency", "model version", "canary split"]


def promql(expr: str) -> str:
    for var, value in GRAFANA_VARS.items():
        expr = expr.replace(var, value)
    return expr


@pytest.fixture
def board(render) -> dict:
    return dashboard(render(sets=["grafanaDashboard.enabled=true"]))[1]


def test_configmap_carries_the_sidecar_label(render):
    cm, board = dashboard(render(sets=["grafanaDashboard.enabled=true"]))
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["namespace"] == "faq"
    assert board["uid"] and len(board["uid"]) <= 40
    assert not render().kind("ConfigMap") or all(
        c["metadata"]["name"] != "rel-faq-engine-dashboard" for c in render().kind("ConfigMap"))


def test_label_annotations_and_namespace_are_values(render):
    cm, _ = dashboard(render(sets=["grafanaDashboard.enabled=true",
                                   "grafanaDashboard.label=dashboards.example.com/load",
                                   "grafanaDashboard.labelValue=yes",
                                   "grafanaDashboard.annotations.grafana_folder=Search",
                                   "grafanaDashboard.namespace=monitoring"]))
    assert cm["metadata"]["labels"]["dashboards.example.com/load"] == "yes"
    assert "grafana_dashboard" not in cm["metadata"]["labels"]
    assert cm["metadata"]["annotations"] == {"grafana_folder": "Search"}
    assert cm["metadata"]["namespace"] == "monitoring"


def test_bad_label_rejected_naming_the_key(render_error):
    err = render_error(sets=["grafanaDashboard.enabled=true", "grafanaDashboard.label=not a label"])
    assert "label" in err, err


def test_panels_cover_requests_errors_latency_model_and_canary(board):
    titles = " | ".join(p["title"].lower() for p in board["panels"])
    for what in PANELS:
        assert what in titles, f"no {what} panel in: {titles}"
    # Every panel reads the data source the user picks.
    assert {p["datasource"]["uid"] for p in board["panels"]} == {"${datasource}"}
    assert board["templating"]["list"][0]["type"] == "datasource"


def test_queries_select_this_release(board):
    queries = dashboard_queries(board)
    assert queries
    for q in queries:
        for metric_selector in re.findall(r"faq_[a-z_]+\{([^}]*)\}", q):
            for k, v in SELECTOR.items():
                assert f'{k}="{v}"' in metric_selector, q


def test_queries_use_the_apps_metric_names(board):
    used = {m for q in dashboard_queries(board) for m in re.findall(r"\bfaq_[a-z_]+", q)}
    assert used <= app_metric_names(), used - app_metric_names()
    assert {"faq_http_requests_total", "faq_http_request_duration_seconds_bucket",
            "faq_model_info"} <= used


def test_promtool_parses_every_query(board):
    for q in dashboard_queries(board):
        res = run(["promtool", "--experimental", "promql", "format", promql(q)])
        assert res.returncode == 0, f"{q}\n{res.stdout}{res.stderr}"


def test_promtool_rejects_a_broken_query():
    res = run(["promtool", "--experimental", "promql", "format", "sum(rate(faq_http_requests_total[5m])"])
    assert res.returncode != 0


def _query(board: dict, title_part: str, legend: str | None = None) -> str:
    for p in board["panels"]:
        if title_part in p["title"].lower():
            for t in p["targets"]:
                if legend is None or t.get("legendFormat") == legend:
                    return promql(t["expr"])
    raise AssertionError(f"no query {title_part!r} {legend!r}")


def test_queries_compute_split_model_versions_and_error_ratio(board, tmp_path):
    """Evaluated by promtool on synthetic series: 3 stable pods and 1 canary pod answering 30
    and 10 a minute (canary share 0.25), 1 of 10 answers failing; two model versions."""
    track = "app_kubernetes_io_track"

    def s(metric, values, **labels):
        body = ",".join(f'{k}="{v}"' for k, v in {**SELECTOR, **labels}.items())
        return {"series": f"{metric}{{{body}}}", "values": values}

    inputs = [s("faq_http_requests_total", "0+27x20", route="/v1/answer", status="200", method="POST",
                pod="rel-faq-engine-a", **{track: "stable"}),
              s("faq_http_requests_total", "0+3x20", route="/v1/answer", status="500", method="POST",
                pod="rel-faq-engine-a", **{track: "stable"}),
              s("faq_http_requests_total", "0+9x20", route="/v1/answer", status="200", method="POST",
                pod="rel-faq-engine-canary-a", **{track: "canary"}),
              s("faq_http_requests_total", "0+1x20", route="/v1/answer", status="500", method="POST",
                pod="rel-faq-engine-canary-a", **{track: "canary"}),
              s("faq_model_info", "1x20", pod="rel-faq-engine-a", version="1.0", **{track: "stable"}),
              s("faq_model_info", "1x20", pod="rel-faq-engine-b", version="1.0", **{track: "stable"}),
              s("faq_model_info", "1x20", pod="rel-faq-engine-canary-a", version="1.1", **{track: "canary"})]
    checks = [
        (_query(board, "canary split", "{{app_kubernetes_io_track}}"),
         [{"labels": f'{{{track}="stable"}}', "value": 0.75},
          {"labels": f'{{{track}="canary"}}', "value": 0.25}]),
        (_query(board, "error ratio", "5xx"), [{"labels": "{}", "value": 0.1}]),
        (_query(board, "pods serving"), [{"labels": '{version="1.0"}', "value": 2},
                                         {"labels": '{version="1.1"}', "value": 1}]),
    ]
    test = {"rule_files": [], "evaluation_interval": "1m",
            "tests": [{"interval": "1m", "input_series": inputs,
                       "promql_expr_test": [{"expr": q, "eval_time": "15m", "exp_samples": exp}
                                            for q, exp in checks]}]}
    path = tmp_path / "test.yaml"
    path.write_text(yaml.safe_dump(test))
    res = run(["promtool", "test", "rules", str(path)])
    assert res.returncode == 0, res.stdout + res.stderr
