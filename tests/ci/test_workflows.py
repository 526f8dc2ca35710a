"""The GitHub Actions workflows under .github/workflows: actionlint (with shellcheck) passes,
every action is pinned by a full commit SHA with a version comment, permissions are set at the
top level (empty) and per job, pip and Go caches are on; and a runner simulation (faqtest/runner.py)
runs every `run:` step of pr.yaml that needs no cluster, in order, on a clean clone, as a
non-root user with GitHub's environment variables: they pass."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from faqtest.common import ci_setting, clone_worktree
from faqtest.runner import (CLUSTER_ACTIONS, MACHINE_ENV, Runner, job_order, load_workflow, matrix_runs,
                    run_workflow)

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
        # id-token: the release's keyless image signing (a Fulcio certificate for the workflow).
        allowed = {"release.yaml": {"packages", "contents", "pull-requests", "id-token"}}.get(
            path.name, set())
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


# --- runner simulation -------------------------------------------------------------------

PR = ROOT / ".github" / "workflows" / "pr.yaml"


def _run_of(path: Path, job: str, name: str) -> str:
    """The `run:` script of the step called `name` in `job` (a matrix run's label, `job (v1)`,
    names its job)."""
    for step in load_workflow(path)["jobs"][job.split(" (")[0]].get("steps", []):
        if "run" in step and (step.get("name") or step["run"].splitlines()[0]) == name:
            return step["run"]
    raise AssertionError(f"{path.name}: {job}: no run step {name!r}")


def collected(suite: str) -> int:
    """How many tests pytest collects in `suite` here (the main run's count)."""
    r = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                        "-p", "no:cacheprovider", suite], cwd=ROOT, capture_output=True,
                       text=True, timeout=600)
    m = re.search(r"^(\d+) tests? collected", r.stdout, re.M)
    assert m, r.stdout[-2000:] + r.stderr[-2000:]
    return int(m.group(1))


def runnable_steps(path: Path) -> list[tuple[str, str]]:
    """(job, step name) of every `run:` step that comes before a cluster is created."""
    wf, out = load_workflow(path), []
    for name in job_order(wf):
        for job, _ in matrix_runs(name, wf["jobs"][name]):
            for step in wf["jobs"][name].get("steps", []):
                if step.get("uses", "").startswith(CLUSTER_ACTIONS):
                    break
                if "run" in step:
                    out.append((job, step.get("name") or step["run"].splitlines()[0]))
    return out


def test_pr_workflow_run_steps_pass_as_a_non_root_runner():
    """pr.yaml's steps (lint, unit/chart/CI tests, any step before the kind cluster) on a clean
    clone as a non-root user, PATH and GITHUB_* as on a hosted runner. The runner's cache starts with the
    pinned Go tools and the test registry binary (what a warm Actions cache restores); the
    Python venv, checkov's venv and everything else the steps install, they install themselves.
    What only this simulation checks, it runs: every step (the tool installs into the user's
    cache, `make lint`, each make target with its prerequisites) as that user; the suites
    themselves run in the main run already, so here pytest collects them (every test file
    imports and every test is found as that user, in the step's environment) without running
    them again."""
    expected = runnable_steps(PR)
    assert {j for j, _ in expected} >= {"lint", "test", "chart (helm)", "chart (helm3)"}, expected
    runner = Runner.create()
    try:
        cache = runner.work / "home" / ".cache" / "faq-engine"
        cache.mkdir(parents=True)
        src = Path(ci_setting("FAQ_CACHE"))
        shutil.copytree(src / "bin", cache / "bin", symlinks=True)  # registry included
        runner.chown(runner.work / "home")
        results = run_workflow(runner, PR, clone_worktree, {
            "PYTEST_ARGS": "-p no:cacheprovider --collect-only -q"})
        print("\n".join(f"{r.job:8} {r.name:40} rc={r.returncode} {r.seconds:6.1f}s"
                        for r in results))
        failed = [r for r in results if r.returncode != 0]
        assert not failed, f"{failed[0].job}: {failed[0].name} failed:\n{failed[0].log[-6000:]}"
        assert [(r.job, r.name) for r in results] == expected
        # Each suite a test step names was collected whole: as many tests as this run has (the
        # chart suite once per Helm of the matrix).
        suites = {"make test-app test-ci": ("tests/app", "tests/ci"),
                  "make test-chart": ("tests/chart",)}
        seen = []
        for r in results:
            run = _run_of(PR, r.job, r.name).strip()
            if run in suites:
                seen.append(run)
                counts = [int(n) for n in re.findall(r"^(\d+) tests? collected", r.log, re.M)]
                assert counts == [collected(suite) for suite in suites[run]], r.log[-3000:]
        assert sorted(seen) == ["make test-app test-ci", "make test-chart", "make test-chart"], seen
        # A laptop contributor: `make test-app` on a clean clone as a non-root user with no Go
        # on PATH and no Go tools built (and no apt, no sudo): pip alone. The venv the steps
        # built is reused.
        laptop = runner.work / "workspace" / "laptop"
        clone_worktree(laptop)
        runner.chown(laptop)
        shutil.rmtree(cache / "bin")
        path = "/usr/local/bin:/usr/bin:/bin"
        assert shutil.which("go", path=path) is None, "go is on the base PATH: pick another"
        env = {k: v for k, v in os.environ.items() if MACHINE_ENV.search(k)}
        env.update(HOME=str(runner.work / "home"), PATH=path, LANG="C.UTF-8")
        r = subprocess.run(runner.as_user(["make", "test-app",
                                           "PYTEST_ARGS=-p no:cacheprovider -q --co"]),
                           cwd=laptop, env=env, capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        assert re.search(r"\d+ tests collected", r.stdout), r.stdout[-2000:]
        assert not (cache / "bin" / "helm").exists()  # no Go tool was built
        # And make's own plan for the target runs no host setup (apt, root).
        plan = subprocess.run(["make", "-n", "test-app"], cwd=laptop, capture_output=True,
                              text=True, check=True).stdout
        assert "ci/python-env.sh" in plan and "setup-host.sh" not in plan, plan
    finally:
        runner.cleanup()
