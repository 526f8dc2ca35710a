"""helm lint, ct lint, kubeconform (every Kubernetes minor the chart supports, offline) and README
drift."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from faqtest.chart import (CHART, CI_VALUES, KUBE_VERSION, ROOT, helm_template_raw, parse_manifests,
                           require_tool, run)
from faqtest.common import chart_min_kube_minor, kube_minor

# Every minor from chart/Chart.yaml's kubeVersion floor to the pinned KUBERNETES_VERSION's.
KUBE_VERSIONS = [f"1.{minor}.0" for minor in range(chart_min_kube_minor(), kube_minor() + 1)]
# Image volumes (model.volume.type=image) need Kubernetes >= 1.35; the chart refuses older ones.
IMAGE_VOLUME_MIN = (1, 35)
# The schemas' $ref target (resolved against their $id); served from kubeconform's cache.
DEFINITIONS_URL = "https://kubernetes.io/api/_definitions.json"


def test_ci_values_files_exist():
    names = {p.name for p in CI_VALUES}
    assert {"default-values.yaml", "pvc-values.yaml", "image-values.yaml",
            "canary-values.yaml", "full-values.yaml"} <= names, names


@pytest.mark.parametrize("values_file", CI_VALUES, ids=lambda p: p.name)
def test_helm_lint(values_file):
    res = run(["helm", "lint", "--strict", "--kube-version", KUBE_VERSION, str(CHART),
               "-f", str(values_file)])
    assert res.returncode == 0, res.stdout + res.stderr
    assert "[ERROR]" not in res.stdout and "[WARNING]" not in res.stdout, res.stdout


def test_ct_lint():
    for tool in ("ct", "helm", "git", "yamllint", "yamale"):
        require_tool(tool)
    res = run(["ct", "lint", "--config", "ci/ct/ct.yaml", "--charts", "chart",
               "--validate-maintainers=false"])
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "All charts linted successfully" in out
    # Every ci values file that ct picks up (the top level of chart/ci) was linted.
    for f in CI_VALUES:
        if f.parent.name == "ci":
            assert f"chart/ci/{f.name}" in out, f"{f.name} not linted:\n{out}"


@pytest.fixture(scope="session")
def schema_root() -> Path:
    try:
        import kubernetes_validate
    except ImportError:
        pytest.fail("kubernetes-validate is not installed (requirements-dev.txt)", pytrace=False)
    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    missing = [v for v in KUBE_VERSIONS if not (root / f"v{v}-local-strict").is_dir()]
    assert not missing, f"no offline schemas for {missing} in {root}"
    return root


@pytest.fixture(scope="session")
def kubeconform_cache(schema_root, tmp_path_factory):
    """One kubeconform cache per version holding that version's _definitions.json under the
    URL the schemas reference, so validation works offline with the upstream files as they are."""
    caches = {}
    key = hashlib.sha256(DEFINITIONS_URL.encode()).hexdigest()
    for v in KUBE_VERSIONS:
        d = tmp_path_factory.mktemp(f"kubeconform-{v}")
        shutil.copyfile(schema_root / f"v{v}-local-strict" / "_definitions.json", d / key)
        caches[v] = d
    return caches


def kubeconform(manifests: str | None, version: str, schema_root: Path, cache: Path,
                *files: Path, output: str = "text"):
    """kubeconform -strict over `manifests` (stdin) or `files`, offline. One goroutine: the cost
    is compiling each kind's schema (with its 1.8 MB of definitions), and four goroutines compile
    the same kind up to four times."""
    location = (f"{schema_root}/{{{{ .NormalizedKubernetesVersion }}}}-local{{{{ .StrictSuffix }}}}"
                "/{{ .ResourceKind }}{{ .KindSuffix }}.json")
    return run(["kubeconform", "-strict", "-summary", "-n", "1", "-kubernetes-version", version,
                "-schema-location", location, "-cache", str(cache), "-output", output,
                *(["-verbose"] if output == "json" else []),
                # The operator's kinds: tests/chart/test_chart_alerts.py validates them against
                # the CRDs' schemas (ci/crd-schemas.sh).
                "-skip", "ServiceMonitor,PrometheusRule",
                *(map(str, files) if files else ["-"])], input=manifests)


def kubeconform_files(version: str, files: list[Path], schema_root: Path,
                      cache: Path) -> dict[Path, list[dict]]:
    """One kubeconform run over `files`: {file: [its result per object]}."""
    out = kubeconform(None, version, schema_root, cache, *files, output="json")
    try:
        report = json.loads(out.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"kubeconform gave no JSON report:\n{out.stdout}\n{out.stderr}")
    results: dict[Path, list[dict]] = {f: [] for f in files}
    for r in report.get("resources") or []:
        assert Path(r["filename"]) in results, f"kubeconform reported a file it was not given: {r}"
        results[Path(r["filename"])].append(r)
    return results


@pytest.fixture(scope="session")
def kubeconform_by_version(schema_root, kubeconform_cache, tmp_path_factory):
    """validated(version) -> {values file: (its render, [kubeconform's result per object])}.

    Every ci values file rendered for `version`, then one kubeconform run over all the renders
    (each kind's schema compiled once per version, not once per file). Computed on a version's
    first test, then reused by the other files' tests of that version."""
    done: dict[str, dict[Path, tuple]] = {}

    def validated(version: str) -> dict[Path, tuple]:
        if version not in done:
            tmp = tmp_path_factory.mktemp(f"renders-{version}")
            renders, written = {}, {}
            for i, values_file in enumerate(CI_VALUES):
                renders[values_file] = res = helm_template_raw(files=[values_file],
                                                               kube_version=version)
                if res.returncode == 0:
                    written[values_file] = tmp / f"{i}-{values_file.name}"
                    written[values_file].write_text(res.stdout)
            results = kubeconform_files(version, list(written.values()), schema_root,
                                        kubeconform_cache[version]) if written else {}
            done[version] = {f: (renders[f], results.get(written.get(f), [])) for f in CI_VALUES}
        return done[version]

    return validated


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize("values_file", CI_VALUES, ids=lambda p: p.name)
def test_kubeconform(values_file, version, kubeconform_by_version):
    res, resources = kubeconform_by_version(version)[values_file]
    major_minor = tuple(int(x) for x in version.split(".")[:2])
    if "type: image" in values_file.read_text() and major_minor < IMAGE_VOLUME_MIN:
        assert res.returncode != 0 and "needs Kubernetes >= 1.35" in res.stderr, res.stderr
        return
    assert res.returncode == 0, res.stderr
    # Every object of the render has a result: valid, or one of the kinds skipped above.
    rendered = parse_manifests(res.stdout)
    assert len(resources) == len(rendered), (len(resources), len(rendered), resources)
    bad = [r for r in resources if r["status"] not in ("statusValid", "statusSkipped")]
    assert not bad, "\n".join(f"{r['kind']}/{r['name']}: {r['status']} {r['msg']}" for r in bad)
    assert any(r["status"] == "statusValid" for r in resources), resources


def test_kubeconform_rejects_invalid_manifests(schema_root, kubeconform_cache):
    """The validation is real: an unknown field and a wrong type are caught offline."""
    bad = ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n"
           "  replicas: two\n  selector: {matchLabels: {a: b}}\n"
           "  template:\n    metadata: {labels: {a: b}}\n"
           "    spec: {containers: [{name: c, image: i, bogus: 1}]}\n")
    out = kubeconform(bad, "1.34.0", schema_root, kubeconform_cache["1.34.0"])
    assert out.returncode != 0 and "Invalid: 1" in out.stdout, out.stdout


def test_kubeconform_over_several_files_names_the_invalid_one(schema_root, kubeconform_cache,
                                                               tmp_path):
    """The batched run the per-file tests read: a bad object is reported under its own file,
    the good file's objects are all valid."""
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(helm_template_raw(kube_version="1.34.0").stdout)
    bad.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {bogus: 1}\n")
    results = kubeconform_files("1.34.0", [good, bad], schema_root, kubeconform_cache["1.34.0"])
    assert [(r["kind"], r["status"]) for r in results[bad]] == [("Service", "statusInvalid")]
    assert "'bogus' not allowed" in results[bad][0]["msg"], results[bad]
    assert results[good] and {r["status"] for r in results[good]} == {"statusValid"}, results[good]


def test_image_volume_rejected_by_old_schemas(schema_root, kubeconform_cache):
    """Kubernetes 1.30 has no image volumes: its strict schema must say so."""
    res = helm_template_raw(sets=["model.volume.type=image"], kube_version="1.35.0")
    assert res.returncode == 0, res.stderr
    out = kubeconform(res.stdout, "1.30.0", schema_root, kubeconform_cache["1.30.0"])
    assert out.returncode != 0 and "'image' not allowed" in out.stdout, out.stdout


def test_readme_is_up_to_date(tmp_path):
    """helm-docs regenerates chart/README.md from values.yaml and README.md.gotmpl unchanged."""
    require_tool("helm-docs")
    copy = tmp_path / "chart"
    shutil.copytree(CHART, copy)
    res = run(["helm-docs", "--chart-search-root", str(copy), "--skip-version-footer"])
    assert res.returncode == 0, res.stderr
    fresh = (copy / "README.md").read_text()
    assert fresh == (CHART / "README.md").read_text(), (
        "chart/README.md is stale: run helm-docs --chart-search-root chart --skip-version-footer")


def test_readme_lists_every_top_level_value():
    readme = (CHART / "README.md").read_text()
    for key in ("model.volume.type", "model.tag", "image.tag", "replicaCount",
                "canary.enabled", "canary.model.tag", "imagePullSecrets", "startupProbe"):
        assert f"| {key} |" in readme, key


def test_ct_files_at_expected_place():
    for name in ("ct.yaml", "lintconf.yaml", "chart_schema.yaml"):
        assert (ROOT / "ci" / "ct" / name).is_file(), name


def test_chart_refuses_kubernetes_below_its_floor():
    """Chart.yaml's kubeVersion floor is the oldest minor kubeconform validates above."""
    floor = chart_min_kube_minor()
    res = helm_template_raw(kube_version=f"1.{floor - 1}.0")
    assert res.returncode != 0 and "chart requires kubeVersion" in res.stderr, res.stderr
    assert helm_template_raw(kube_version=f"1.{floor}.0").returncode == 0
