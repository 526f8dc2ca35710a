"""The GitHub Actions workflows under .github/workflows: actionlint (with shellcheck) passes,
every action is pinned by a full commit SHA with a version comment, permissions are set at the
top level (empty) and per job, pip and Go caches are on, and the commands they call exist."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>[^\s#]+)\s*(?:#\s*(?P<comment>.*))?$")
PINNED = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}")
VERSION_COMMENT = re.compile(r"v\d+\.\d+\.\d+")


def load(path: Path) -> dict:
    return YAML(typ="safe", pure=True).load(path.read_text())


def tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.fail(f"{name} is not on PATH: run `make tools` (ci/go-tools.sh for actionlint, "
                    "ci/setup-host.sh for shellcheck) and put $FAQ_CACHE/bin on PATH")
    return path


def ids(paths):
    return [p.name for p in paths]


def test_the_two_workflows_exist():
    assert {p.name for p in WORKFLOWS} >= {"pr.yaml", "release.yaml"}


def test_actionlint_passes():
    actionlint = tool("actionlint")
    tool("shellcheck")  # actionlint checks every run: script with it when it is on PATH
    r = subprocess.run([actionlint, "-no-color", *map(str, WORKFLOWS)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=ids(WORKFLOWS))
def test_every_action_is_pinned_by_sha_with_a_version_comment(path):
    found = 0
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not re.match(r"^\s*(-\s+)?uses:", line):
            continue
        found += 1
        m = USES_LINE.match(line)
        assert m, f"{path.name}:{n}: cannot read the uses: line {line.strip()!r}"
        ref = m["ref"]
        if ref.startswith("./"):
            continue  # a local action or workflow is pinned by this very commit
        assert PINNED.fullmatch(ref), f"{path.name}:{n}: {ref} is not pinned by a 40-hex SHA"
        assert m["comment"] and VERSION_COMMENT.fullmatch(m["comment"].strip()), \
            f"{path.name}:{n}: {ref} needs a `# vX.Y.Z` comment naming the pinned release"
    assert found, f"{path.name} uses no actions"


@pytest.mark.parametrize("path", WORKFLOWS, ids=ids(WORKFLOWS))
def test_least_privilege_permissions(path):
    wf = load(path)
    assert "permissions" in wf, f"{path.name}: no top-level permissions"
    assert wf["permissions"] == {}, f"{path.name}: top-level permissions must be {{}}"
    for name, job in wf["jobs"].items():
        assert "permissions" in job, f"{path.name}: job {name} has no permissions"
        perms = job["permissions"]
        assert isinstance(perms, dict), f"{path.name}: job {name}: permissions must be a map"
        assert set(perms.values()) <= {"read", "write", "none"}
        # Write access only where the job needs it.
        writes = {k for k, v in perms.items() if v == "write"}
        allowed = {"release.yaml": {"packages", "contents", "pull-requests"}}.get(path.name, set())
        assert writes <= allowed, f"{path.name}: job {name} writes {writes - allowed}"


def steps(path):
    for name, job in load(path)["jobs"].items():
        for step in job.get("steps", []):
            yield name, step


@pytest.mark.parametrize("path", WORKFLOWS, ids=ids(WORKFLOWS))
def test_checkout_does_not_persist_credentials_and_caches_are_on(path):
    for job, step in steps(path):
        uses = step.get("uses", "")
        w = step.get("with", {}) or {}
        if uses.startswith("actions/checkout@"):
            assert w.get("persist-credentials") is False, f"{path.name}: {job}: checkout"
        if uses.startswith("actions/setup-python@"):
            assert w.get("cache") == "pip", f"{path.name}: {job}: setup-python without pip cache"
        if uses.startswith("actions/setup-go@"):
            assert w.get("cache", True) is not False, f"{path.name}: {job}: Go cache is off"
            assert w.get("cache-dependency-path"), f"{path.name}: {job}: no Go cache key file"


def make_targets() -> set[str]:
    makefile = ROOT / "Makefile"
    assert makefile.is_file(), "the Makefile the workflows call is missing"
    targets = set()
    for line in makefile.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.%/ -]+?)\s*::?(?!=)", line)
        if m:
            targets.update(m.group(1).split())
    return targets


def run_scripts():
    for path in WORKFLOWS:
        for job, step in steps(path):
            if "run" in step:
                yield path.name, job, step["run"]


def test_make_targets_and_ci_scripts_called_by_the_workflows_exist():
    targets = make_targets()
    called_targets, called_scripts = set(), set()
    for _, _, script in run_scripts():
        for m in re.finditer(r"(?:^|[;&|]\s*|\n\s*)make\s+([^\n;&|]+)", script):
            called_targets.update(w for w in m.group(1).split() if "=" not in w)
        called_scripts.update(re.findall(r"\bci/[A-Za-z0-9_./-]+", script))
    assert called_targets, "the workflows call no make targets"
    assert called_targets <= targets, f"Makefile lacks {sorted(called_targets - targets)}"
    for script in called_scripts:
        assert (ROOT / script).exists(), f"the workflows call {script}, which does not exist"


def test_pull_request_workflow_covers_lint_tests_kubeconform_and_ct_install():
    text = (ROOT / ".github/workflows/pr.yaml").read_text()
    wf = load(ROOT / ".github/workflows/pr.yaml")
    on = wf[True] if True in wf else wf["on"]  # YAML 1.1 reads the key `on` as true
    assert "pull_request" in on
    assert "make lint" in text
    assert "make test-app test-chart test-ci" in text  # test-chart runs kubeconform
    assert "helm/kind-action@" in text
    assert "kind load docker-image" in text
    assert "ct install" in text
    for dockerfile in ("Dockerfile.app", "Dockerfile.model"):
        assert f"file: {dockerfile}" in text


def test_release_workflow_pushes_images_and_bumps_by_digest():
    path = ROOT / ".github/workflows/release.yaml"
    text = path.read_text()
    wf = load(path)
    on = wf[True] if True in wf else wf["on"]  # YAML 1.1 reads the key `on` as true
    assert on["push"]["tags"] == ["v*"]
    build = [s for _, s in steps(path) if s.get("uses", "").startswith("docker/build-push-action@")]
    assert {s["with"]["file"] for s in build} == {"Dockerfile.app", "Dockerfile.model"}
    for s in build:
        assert s["with"]["push"] is True and "labels" in s["with"] and "id" in s
    assert "ghcr.io" in text and "github.repository_owner" in text
    assert "docker/setup-buildx-action@" in text and "docker/metadata-action@" in text
    assert 'ci/bump-tags --app-digest "$APP_DIGEST" --model-digest "$MODEL_DIGEST"' in text
    assert "steps.app.outputs.digest" in text and "steps.model.outputs.digest" in text
    assert "faq-engine train --faq app/faq_engine/data/sample-faq.jsonl --out build/model" in text
    assert "MODEL_DIR=build/model" in text
    assert "peter-evans/create-pull-request@" in text
