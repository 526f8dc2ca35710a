"""Helpers for the monitoring tests (alerts, dashboard): the release's series selector, promtool
runs, the app's metric names and kubeconform with the Prometheus Operator's CRD schemas."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from faqtest.chart import KUBE_VERSION, ROOT, run

# The chart tests render release "rel" into namespace "faq" (faqtest.chart.helm_template_raw).
NS = "faq"
#: The labels every series of the release carries as the chart's ServiceMonitor scrapes it.
SELECTOR = {"namespace": NS, "job": "rel-faq-engine"}
# The Kubernetes schemas' $ref target (as in test_chart_lint.py), served from kubeconform's cache.
DEFINITIONS_URL = "https://kubernetes.io/api/_definitions.json"


def rule_groups(manifests) -> list[dict]:
    """The rule groups of the release's PrometheusRule (a promtool rule file's `groups`)."""
    return manifests.one("PrometheusRule")["spec"]["groups"]


def promtool_test(groups: list[dict], tmp: Path, inputs: list[dict], alert: str,
                  expected: list[dict], eval_time: str, annotations: dict | None = None,
                  ) -> subprocess.CompletedProcess:
    """`promtool test rules` of one alert at eval_time over inputs (1 m apart).

    expected: the label sets of the alerts that must fire ([] = none). promtool compares
    annotations too: unless `annotations` (the expected ones, for every alert) is given, the
    rules are tested without theirs (their templates are checked by `promtool check rules`).
    """
    if annotations is None:
        groups = [dict(g, rules=[{k: v for k, v in r.items() if k != "annotations"}
                                 for r in g["rules"]]) for g in groups]
    (tmp / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    exp = [{"exp_labels": labels, **({"exp_annotations": annotations} if annotations else {})}
           for labels in expected]
    test = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m",
            "tests": [{"interval": "1m", "input_series": inputs,
                       "alert_rule_test": [{"eval_time": eval_time, "alertname": alert,
                                            "exp_alerts": exp}]}]}
    (tmp / "test.yaml").write_text(yaml.safe_dump(test))
    return run(["promtool", "test", "rules", str(tmp / "test.yaml")])


def app_metric_names() -> set[str]:
    """The series names app/faq_engine/metrics.py exports (counters as *_total, histograms as
    *_bucket, *_sum and *_count)."""
    from prometheus_client.metrics import MetricWrapperBase

    from faq_engine import metrics

    names = set()
    for obj in vars(metrics).values():
        if not isinstance(obj, MetricWrapperBase):
            continue
        for m in obj.describe():
            names |= {"counter": {f"{m.name}_total"},
                      "histogram": {f"{m.name}_bucket", f"{m.name}_sum", f"{m.name}_count"},
                      }.get(m.type, {m.name})
    return names


def crd_schemas() -> Path:
    """The Prometheus Operator CRDs' JSON schemas (ci/crd-schemas.sh: pinned Go module, cached)."""
    res = subprocess.run(["bash", str(ROOT / "ci" / "crd-schemas.sh")], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr
    return Path(res.stdout.strip())


def kubeconform_with_crds(manifests: str, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    """kubeconform -strict, offline: Kubernetes' own schemas (kubernetes-validate's copy, as
    test_chart_lint.py uses) for core kinds, the operator CRDs' for monitoring.coreos.com."""
    try:
        import kubernetes_validate
    except ImportError:
        pytest.fail("kubernetes-validate is not installed (requirements-dev.txt)", pytrace=False)
    k8s = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    cache = tmp / "kubeconform-cache"
    cache.mkdir(exist_ok=True)
    shutil.copyfile(k8s / f"v{KUBE_VERSION}-local-strict" / "_definitions.json",
                    cache / hashlib.sha256(DEFINITIONS_URL.encode()).hexdigest())
    core = (f"{k8s}/{{{{ .NormalizedKubernetesVersion }}}}-local{{{{ .StrictSuffix }}}}"
            "/{{ .ResourceKind }}{{ .KindSuffix }}.json")
    crds = f"{crd_schemas()}/{{{{ .Group }}}}/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json"
    return run(["kubeconform", "-strict", "-summary", "-kubernetes-version", KUBE_VERSION,
                "-schema-location", core, "-schema-location", crds, "-cache", str(cache), *args, "-"],
               input=manifests)


def dashboard(manifests) -> tuple[dict, dict]:
    """(the dashboard ConfigMap, its dashboard JSON parsed)."""
    import json

    cm = manifests.one("ConfigMap", "rel-faq-engine-dashboard")
    (body,) = cm["data"].values()
    return cm, json.loads(body)


def dashboard_queries(board: dict) -> list[str]:
    return [t["expr"] for p in board["panels"] for t in p.get("targets", [])]



