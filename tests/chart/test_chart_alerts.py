"""The chart's PrometheusRule (`prometheusRule.enabled`): rendered, checked by promtool (lint
included), and unit-tested with `promtool test rules` on synthetic series that fire and that do
not fire each alert; thresholds come from values. promtool is Prometheus's own, pinned
(PROMETHEUS_VERSION) and built from the Go module proxy by `ci/go-tools.sh promtool`.
"""

from __future__ import annotations

import pytest
import yaml

from faqtest.chart import CHART, helm_template_raw, run
from faqtest.monitoring import NS, SELECTOR, kubeconform_with_crds, promtool_test, rule_groups

ALERTS = {"FaqEngineAnswerErrorRatioHigh", "FaqEngineAnswerLatencyHigh", "FaqEnginePodsNotReady",
          "FaqEngineModelLoadFailed", "FaqEngineModelAbsent", "FaqEngineCanaryErrorRatioHigh"}
CANARY = ["canary.enabled=true", "canary.model.tag=1.1"]


def series(metric: str, values: str, **labels: str) -> dict:
    """One input series of the release (namespace and job as the ServiceMonitor scrapes it)."""
    body = ",".join(f'{k}="{v}"' for k, v in {**SELECTOR, **labels}.items())
    return {"series": f"{metric}{{{body}}}", "values": values}


def answers(status: str, per_minute: int, track: str = "stable", pod: str = "rel-faq-engine-a") -> dict:
    return series("faq_http_requests_total", f"0+{per_minute}x40", method="POST",
                  route="/v1/answer", status=status, pod=pod, app_kubernetes_io_track=track)


def latency(bucket_counts: dict[str, int]) -> list[dict]:
    """faq_http_request_duration_seconds buckets of /v1/answer, each growing per minute."""
    return [series("faq_http_request_duration_seconds_bucket", f"0+{n}x40", route="/v1/answer",
                   le=le, pod="rel-faq-engine-a") for le, n in bucket_counts.items()]


def ksm(metric: str, values: str, **labels: str) -> dict:
    """A kube-state-metrics series (its own job, the release's namespace)."""
    body = ",".join(f'{k}="{v}"' for k, v in {"namespace": NS, "job": "kube-state-metrics",
                                               **labels}.items())
    return {"series": f"{metric}{{{body}}}", "values": values}


# name -> (alert, input series, labels of the expected alerts; [] = must not fire)
SCENARIOS = {
    "error-ratio-10pct-fires": ("FaqEngineAnswerErrorRatioHigh",
                                [answers("200", 90), answers("500", 10), answers("400", 50)],
                                [{"severity": "critical"}]),
    # 4xx are the clients' mistakes: a flood of them pages nobody.
    "error-ratio-2pct-and-4xx-silent": ("FaqEngineAnswerErrorRatioHigh",
                                        [answers("200", 98), answers("503", 2), answers("400", 500)],
                                        []),
    "latency-p99-above-1s-fires": ("FaqEngineAnswerLatencyHigh",
                                   latency({"0.1": 0, "0.5": 0, "1.0": 0, "2.5": 10, "+Inf": 10}),
                                   [{"severity": "warning"}]),
    "latency-p99-fast-silent": ("FaqEngineAnswerLatencyHigh",
                                latency({"0.1": 95, "0.5": 100, "1.0": 100, "2.5": 100, "+Inf": 100}),
                                []),
    "pods-not-ready-fires": ("FaqEnginePodsNotReady",
                             [ksm("kube_deployment_spec_replicas", "2x40", deployment="rel-faq-engine-canary"),
                              ksm("kube_deployment_status_replicas_available", "1x40",
                                  deployment="rel-faq-engine-canary")],
                             [{"severity": "warning", "namespace": NS, "job": "kube-state-metrics",
                               "deployment": "rel-faq-engine-canary"}]),
    # A short dip (a rollout's surge pod starting) stays under `for`; another release is not ours.
    "pods-not-ready-short-dip-silent": ("FaqEnginePodsNotReady",
                                        [ksm("kube_deployment_spec_replicas", "2x40", deployment="rel-faq-engine"),
                                         ksm("kube_deployment_status_replicas_available", "1x5 2x35",
                                             deployment="rel-faq-engine"),
                                         ksm("kube_deployment_spec_replicas", "2x40", deployment="other"),
                                         ksm("kube_deployment_status_replicas_available", "0x40",
                                             deployment="other")],
                                        []),
    "model-not-ready-fires": ("FaqEngineModelLoadFailed",
                              [series("faq_model_ready", "0x40", pod="rel-faq-engine-a"),
                               series("faq_model_ready", "1x40", pod="rel-faq-engine-b")],
                              [{"severity": "critical", "namespace": NS, "pod": "rel-faq-engine-a"}]),
    "model-init-restarts-fire": ("FaqEngineModelLoadFailed",
                                 [ksm("kube_pod_init_container_status_restarts_total", "0+1x40",
                                      pod="rel-faq-engine-canary-7d9f-x2", container="model")],
                                 [{"severity": "critical", "namespace": NS,
                                   "pod": "rel-faq-engine-canary-7d9f-x2"}]),
    "model-ready-silent": ("FaqEngineModelLoadFailed",
                           [series("faq_model_ready", "1x40", pod="rel-faq-engine-a"),
                            ksm("kube_pod_init_container_status_restarts_total", "3x40",
                                pod="rel-faq-engine-a", container="model")],
                           []),
    # The release's pods report no model, whatever another release reports.
    "model-absent-fires": ("FaqEngineModelAbsent",
                           [{"series": 'faq_model_info{namespace="other",job="other-faq-engine",version="1.0"}',
                             "values": "1x40"}],
                           [{"severity": "critical", **SELECTOR}]),
    "model-present-silent": ("FaqEngineModelAbsent",
                             [series("faq_model_info", "1x40", pod="rel-faq-engine-a", version="1.0")],
                             []),
    "canary-worse-than-stable-fires": ("FaqEngineCanaryErrorRatioHigh",
                                       [answers("200", 99), answers("500", 1),
                                        answers("200", 9, "canary", "rel-faq-engine-canary-a"),
                                        answers("500", 1, "canary", "rel-faq-engine-canary-a")],
                                       [{"severity": "warning"}]),
    "canary-errors-stable-clean-fires": ("FaqEngineCanaryErrorRatioHigh",
                                         [answers("200", 100),
                                          answers("200", 24, "canary", "rel-faq-engine-canary-a"),
                                          answers("500", 1, "canary", "rel-faq-engine-canary-a")],
                                         [{"severity": "warning"}]),
    # Within the margin of the stable track's own errors.
    "canary-like-stable-silent": ("FaqEngineCanaryErrorRatioHigh",
                                  [answers("200", 95), answers("500", 5),
                                   answers("200", 93, "canary", "rel-faq-engine-canary-a"),
                                   answers("500", 7, "canary", "rel-faq-engine-canary-a")],
                                  []),
}


@pytest.fixture
def rules(render) -> list[dict]:
    return rule_groups(render(sets=["prometheusRule.enabled=true", *CANARY]))


def test_rule_renders_every_alert_with_runbook(rules):
    alerts = {r["alert"]: r for g in rules for r in g["rules"]}
    assert set(alerts) == ALERTS
    readme = (CHART / "README.md").read_text()
    for name, rule in alerts.items():
        assert rule["labels"]["severity"]
        anchor = rule["annotations"]["runbook_url"].rsplit("#", 1)[1]
        assert anchor == name.lower()
        assert f"### {name}\n" in readme, f"no runbook section for {name} in chart/README.md"


def test_off_by_default_and_canary_alert_only_with_canary(render):
    assert not render().kind("PrometheusRule")
    alerts = {r["alert"] for g in rule_groups(render(sets=["prometheusRule.enabled=true"]))
              for r in g["rules"]}
    assert alerts == ALERTS - {"FaqEngineCanaryErrorRatioHigh"}


def test_promtool_check_rules_with_lint(rules, tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rules}))
    res = run(["promtool", "check", "rules", "--lint=all", "--lint-fatal", str(path)])
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in res.stdout, res.stdout


def test_promtool_check_rules_catches_a_broken_rule(rules, tmp_path):
    """The check is real: one unbalanced parenthesis fails it."""
    broken = yaml.safe_load(yaml.safe_dump(rules))
    broken[0]["rules"][0]["expr"] += ")"
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": broken}))
    res = run(["promtool", "check", "rules", str(path)])
    assert res.returncode != 0 and "parse error" in res.stdout + res.stderr, res.stdout + res.stderr


def test_every_alert_has_a_firing_and_a_silent_scenario():
    fires = {alert for alert, _, exp in SCENARIOS.values() if exp}
    silent = {alert for alert, _, exp in SCENARIOS.values() if not exp}
    assert fires == ALERTS and silent == ALERTS


@pytest.mark.parametrize("name", SCENARIOS)
def test_promtool_unit(rules, tmp_path, name):
    alert, inputs, expected = SCENARIOS[name]
    res = promtool_test(rules, tmp_path, inputs, alert, expected, eval_time="30m")
    assert res.returncode == 0, res.stdout + res.stderr


def test_promtool_unit_catches_a_wrong_expectation(rules, tmp_path):
    """promtool compares for real: the firing error-ratio case expected silent fails."""
    alert, inputs, _ = SCENARIOS["error-ratio-10pct-fires"]
    res = promtool_test(rules, tmp_path, inputs, alert, [], eval_time="30m")
    assert res.returncode != 0, res.stdout


def test_error_ratio_annotations(rules, tmp_path):
    """The annotation templates expand: 10 of 150 answers a minute failing (the 4xx count as
    answers, not as failures) reads as 6.667%."""
    alert, inputs, labels = SCENARIOS["error-ratio-10pct-fires"]
    rule = next(r for g in rules for r in g["rules"] if r["alert"] == alert)
    annotations = dict(rule["annotations"],
                       description=f"{NS}/rel-faq-engine: 6.667% of POST /v1/answer answered 5xx over the last 5m.")
    res = promtool_test(rules, tmp_path, inputs, alert, labels, eval_time="30m",
                        annotations=annotations)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize(("override", "scenario"), [
    ({"answerErrorRatio": {"threshold": 0.2}}, "error-ratio-10pct-fires"),
    ({"answerLatency": {"p99Seconds": 2.49}}, "latency-p99-above-1s-fires"),
    ({"canaryErrorRatio": {"margin": 0.1}}, "canary-worse-than-stable-fires"),
    ({"podsNotReady": {"for": "45m"}}, "pods-not-ready-fires"),
], ids=lambda x: x if isinstance(x, str) else next(iter(x)))
def test_thresholds_are_values(render, tmp_path, override, scenario):
    """Raise a threshold (or the `for`) above what the firing scenario shows: it stays silent.
    (Fractions are numbers: `--set-json`, or a values file; `--set` would pass a string.)"""
    values = {"prometheusRule": {"enabled": True, **override}}
    rules = rule_groups(render(values=values, sets=CANARY))
    alert, inputs, _ = SCENARIOS[scenario]
    res = promtool_test(rules, tmp_path, inputs, alert, [], eval_time="30m")
    assert res.returncode == 0, res.stdout + res.stderr


def test_severity_and_labels_are_values(render):
    m = render(sets=["prometheusRule.enabled=true", "prometheusRule.labels.release=prom",
                     "prometheusRule.modelAbsent.severity=page"])
    rule = m.one("PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "prom"
    absent = next(r for g in rule["spec"]["groups"] for r in g["rules"] if r["alert"] == "FaqEngineModelAbsent")
    assert absent["labels"]["severity"] == "page"


@pytest.mark.parametrize(("key", "value"), [
    ("prometheusRule.answerErrorRatio.threshold", "1.5"),
    ("prometheusRule.answerLatency.p99Seconds", "3"),  # above the top bucket: could never fire
    ("prometheusRule.rateWindow", "5 minutes"),
    ("prometheusRule.canaryErrorRatio.for", "10"),
])
def test_bad_values_rejected_naming_the_key(render_error, key, value):
    err = render_error(sets=["prometheusRule.enabled=true", f"{key}={value}"])
    assert key.rsplit(".", 1)[1] in err, err


def test_latency_threshold_limit_is_the_top_bucket():
    """The schema's p99Seconds limit is the top finite bucket of the app's histogram."""
    import json

    from faq_engine import metrics

    schema = json.loads((CHART / "values.schema.json").read_text())
    limit = schema["properties"]["prometheusRule"]["properties"]["answerLatency"]["properties"][
        "p99Seconds"]["exclusiveMaximum"]
    assert limit == max(metrics.LATENCY._upper_bounds[:-1])


def test_rules_use_the_apps_metric_names(rules):
    """Every faq_* metric an alert reads is one app/faq_engine/metrics.py exports."""
    import re

    from faqtest.monitoring import app_metric_names

    used = {m for g in rules for r in g["rules"] for m in re.findall(r"\bfaq_[a-z_]+", r["expr"])}
    assert used and used <= app_metric_names(), used - app_metric_names()


def _kubeconform_verbose(manifests: str, tmp_path) -> dict[str, str]:
    """{Kind/name: status} of every object kubeconform validated (CRD schemas included)."""
    import json

    res = kubeconform_with_crds(manifests, tmp_path, "-output", "json", "-verbose")
    report = json.loads(res.stdout)
    return {f"{r['kind']}/{r['name']}": r["status"] + (f": {r['msg']}" if r.get("msg") else "")
            for r in report["resources"]}


def test_kubeconform_validates_rule_and_service_monitor_against_the_crds(tmp_path):
    """Every object of the full example plus the canary, the PrometheusRule and ServiceMonitor
    against the Prometheus Operator's CRD schemas (strict: no unknown field)."""
    res = helm_template_raw(files=[CHART / "ci" / "lint-only" / "full-values.yaml"], sets=CANARY)
    assert res.returncode == 0, res.stderr
    statuses = _kubeconform_verbose(res.stdout, tmp_path)
    assert statuses["PrometheusRule/rel-faq-engine"] == "statusValid", statuses
    assert statuses["ServiceMonitor/rel-faq-engine"] == "statusValid", statuses
    assert statuses["ConfigMap/rel-faq-engine-dashboard"] == "statusValid", statuses
    bad = {k: v for k, v in statuses.items() if v != "statusValid"}
    assert not bad, bad


def test_kubeconform_crd_schema_rejects_a_bad_rule(render, tmp_path):
    """The CRD schema is in use and strict: an unknown field and a wrong type in a rule fail."""
    rule = render(sets=["prometheusRule.enabled=true"]).one("PrometheusRule")
    rule["spec"]["groups"][0]["rules"][0]["severity"] = "critical"  # belongs under labels
    rule["spec"]["groups"][0]["rules"][1]["for"] = 5
    statuses = _kubeconform_verbose(yaml.safe_dump(rule), tmp_path)
    status = statuses["PrometheusRule/rel-faq-engine"]
    assert status.startswith("statusInvalid") and "severity" in status and "for" in status, status
