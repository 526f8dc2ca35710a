"""Independent scanners on the rendered chart, in every mode: kube-score and checkov.

Every values file of chart/ci (lint-only included) is rendered as release `rel`; each scanner's
findings must all be accepted, with a reason, in chart/ci/scanner-allowlist.yaml, and every
entry there must still match a finding (a fixed finding leaves no stale excuse behind).
trivy's config scan is left out: building it from the Go module proxy took about 8 minutes here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from faqtest.chart import CHART, CI_VALUES, helm_template_raw, require_tool, run

ALLOWLIST = CHART / "ci" / "scanner-allowlist.yaml"
SCANNERS = ("kube-score", "checkov")
# image volumes (one mode) need Kubernetes >= 1.35.
KUBE_VERSION = "1.35.0"


@dataclass(frozen=True)
class Finding:
    scanner: str
    check: str
    object: str  # Kind/name
    values: str  # the values file's name
    detail: str

    def __str__(self):
        return f"{self.scanner} {self.check} {self.object} [{self.values}]: {self.detail}"


def kube_score(path: Path, values: str) -> list[Finding]:
    res = run(["kube-score", "score", "--kubernetes-version", "v" + KUBE_VERSION.rsplit(".", 1)[0],
               "--output-format", "json", str(path)])
    try:
        objects = json.loads(res.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"kube-score gave no JSON (exit {res.returncode}):\n{res.stdout}{res.stderr}")
    found = []
    for obj in objects:
        name = f"{obj['type_meta']['kind']}/{obj['object_meta']['name']}"
        for check in obj["checks"]:
            if check["skipped"] or check["grade"] >= 10:  # 10 = OK; 5 warning, 1 critical
                continue
            for c in check.get("comments") or [{"path": "", "summary": check["check"]["name"]}]:
                detail = f"({c['path']}) {c['summary']}" if c.get("path") else c["summary"]
                found.append(Finding("kube-score", check["check"]["id"], name, values, detail))
    return found


def checkov(paths: list[Path]) -> list[Finding]:
    cmd = ["checkov", "--framework", "kubernetes", "--output", "json", "--quiet", "--compact",
           "--skip-download"]  # no calls home: the check guidelines are not needed
    for p in paths:
        cmd += ["--file", str(p)]
    res = run(cmd)
    try:
        reports = json.loads(res.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov gave no JSON (exit {res.returncode}):\n{res.stdout}{res.stderr}")
    found = []
    for report in reports if isinstance(reports, list) else [reports]:
        assert report["check_type"] == "kubernetes", report.get("check_type")
        assert report["summary"]["passed"] > 0, "checkov ran no check"
        for f in report["results"]["failed_checks"]:
            kind, _namespace, name = f["resource"].split(".", 2)
            found.append(Finding("checkov", f["check_id"], f"{kind}/{name}",
                                 Path(f["file_path"]).name, f["check_name"]))
    return found


def load_allowlist() -> list[dict]:
    entries = yaml.safe_load(ALLOWLIST.read_text())
    for i, e in enumerate(entries):
        assert set(e) <= {"scanner", "check", "objects", "detail", "values", "reason"}, e
        assert e["scanner"] in SCANNERS and e["check"] and e["objects"], f"entry {i}: {e}"
        assert len(e.get("reason") or "") >= 20, f"entry {i} ({e['check']}) needs a reason"
    return entries


def allows(entry: dict, f: Finding) -> bool:
    return (entry["scanner"] == f.scanner and entry["check"] == f.check
            and f.object in entry["objects"]
            and entry.get("detail", "") in f.detail
            and f.values in entry.get("values", [f.values]))


def unexplained(findings: list[Finding], entries: list[dict]) -> list[str]:
    return [str(f) for f in findings if not any(allows(e, f) for e in entries)]


def render_to(tmp: Path, name: str, **kw) -> Path:
    res = helm_template_raw(kube_version=KUBE_VERSION, **kw)
    assert res.returncode == 0, res.stderr
    out = tmp / name
    out.write_text(res.stdout)
    return out


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> dict[str, list[Finding]]:
    """Every mode rendered, each scanner run once over all of them (kube-score per file)."""
    for tool in SCANNERS:
        require_tool(tool)
    tmp = tmp_path_factory.mktemp("scan")
    rendered = [render_to(tmp, f.name, files=[f]) for f in CI_VALUES]
    return {
        "kube-score": [x for p in rendered for x in kube_score(p, p.name)],
        "checkov": checkov(rendered),
    }


def test_every_mode_is_scanned(scans):
    for scanner, findings in scans.items():
        # Every mode renders a Deployment that both scanners look at.
        assert findings, f"{scanner} found nothing at all: is it scanning?"
    names = {f.name for f in CI_VALUES}
    assert {"default-values.yaml", "pvc-values.yaml", "image-values.yaml", "canary-values.yaml",
            "full-values.yaml", "pvc-existing-values.yaml"} <= names


@pytest.mark.parametrize("scanner", SCANNERS)
@pytest.mark.parametrize("values_file", CI_VALUES, ids=lambda p: p.name)
def test_no_finding_outside_the_allowlist(scans, scanner, values_file):
    findings = [f for f in scans[scanner] if f.values == values_file.name]
    bad = unexplained(findings, load_allowlist())
    assert not bad, ("findings not in chart/ci/scanner-allowlist.yaml (fix the chart, or add "
                     "them with a reason):\n  " + "\n  ".join(bad))


def test_no_stale_allowlist_entry(scans):
    every = [f for findings in scans.values() for f in findings]
    stale = [f"{e['scanner']} {e['check']} {e['objects']}" for e in load_allowlist()
             if not any(allows(e, f) for f in every)]
    assert not stale, f"allow-list entries that match no finding any more: {stale}"


def test_scanners_catch_a_weakened_chart(tmp_path):
    """The gate is real: a writable root filesystem and a privileged app container are reported
    by both scanners and are not excused by the allow-list."""
    require_tool("kube-score")
    require_tool("checkov")
    weak = {"securityContext": {"readOnlyRootFilesystem": False, "privileged": True,
                                "allowPrivilegeEscalation": True, "capabilities": None}}
    path = render_to(tmp_path, "weak-values.yaml", values=weak)
    entries = load_allowlist()
    ks = unexplained(kube_score(path, path.name), entries)
    assert any("container-security-context-readonlyrootfilesystem" in x for x in ks), ks
    assert any("container-security-context-privileged" in x for x in ks), ks
    ck = unexplained(checkov([path]), entries)
    for check in ("CKV_K8S_22", "CKV_K8S_16", "CKV_K8S_20"):  # read-only root, privileged, escalation
        assert any(f" {check} " in x for x in ck), ck
