"""The release workflow's own `run:` steps (.github/workflows/release.yaml), run in order as a
push of a release tag runs them: the tag checked out in a clone of this repository, the default
branch in a second clone at `default-branch/`, a real registry (CNCF Distribution on loopback)
standing in for ghcr.io and the local base images for Docker Hub's. A model release
(`model-v1.2`) then an app release (`v1.0.1`): each pushes its one image and bumps only its own
values to the pushed tag and digest, and afterwards the chart tests of the bumped clone still
pass (they deploy chart/ci/local-images.yaml, not the release pointer)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import requests
import yaml
from faqtest.common import ROOT, clone_worktree
from faqtest.signing import make_key, model_from_image

pytestmark = [pytest.mark.images, pytest.mark.slow]


RELEASE_WORKFLOW = ROOT / ".github" / "workflows" / "release.yaml"
EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def run_release_workflow(tag: str, workspace, registry: str,
                         signing_key: str = "") -> dict[str, dict[str, str]]:
    """The release job's `run:` steps for a push of `tag`; returns each step's outputs. The
    `uses:` steps are stood in for: the checkouts by the clones, setup-python/go by the host's
    tools; `podman login` is not needed for a loopback registry."""
    job = yaml.safe_load(RELEASE_WORKFLOW.read_text())["jobs"]["release"]
    ctx = {"github.ref_name": tag, "github.event_name": "push", "inputs.what": "",
           "inputs.version": "", "inputs.kind": "", "vars.MODEL_KIND": "",
           "github.repository_owner": "Faq-Engine",
           "github.sha": "0" * 40, "github.actor": "faq-bot", "secrets.GITHUB_TOKEN": "x",
           "secrets.MODEL_SIGNING_KEY": signing_key}
    runner_temp = workspace.parent / "runner-temp"
    runner_temp.mkdir(exist_ok=True)
    github_env = runner_temp / "github-env"  # what a step appends to $GITHUB_ENV, later steps get
    github_env.write_text("")
    outputs: dict[str, dict[str, str]] = {}

    def value(expr: str) -> str:
        """A context value, a 'literal', or `a || b || ...` (the first non-empty one)."""
        if "||" in expr:
            return next((v for v in map(value, map(str.strip, expr.split("||"))) if v), "")
        if expr.startswith("'") and expr.endswith("'"):
            return expr[1:-1]
        if expr.startswith("steps."):
            _, step, _, key = expr.split(".")
            return outputs[step][key]
        return ctx[expr]

    ran = []
    for step in job["steps"]:
        if "run" not in step or "podman login" in step["run"]:
            continue
        env = {k: EXPR.sub(lambda m: value(m[1]), str(v)) for k, v in step.get("env", {}).items()}
        if "REGISTRY" in env:
            assert env["REGISTRY"] == "ghcr.io/faq-engine"  # the owner, lowercased
            assert env["MODEL_KIND"] == "doc2vec"  # a tag push with no MODEL_KIND variable
            assert env["IMAGE_SIGNING"] == "keyless"  # Sigstore keyless signing on GitHub
            # No ghcr.io, no Docker Hub, no Fulcio or Rekor here: the local key signs.
            env.update(REGISTRY=registry, BASES="local", IMAGE_SIGNING="key")
        out = workspace.parent / f"output-{len(ran)}"
        out.write_text("")
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c",
                               step["run"]], cwd=workspace, capture_output=True, text=True,
                              timeout=900, env={**os.environ, **env, "GITHUB_OUTPUT": str(out),
                                                "RUNNER_TEMP": str(runner_temp),
                                                "GITHUB_ENV": str(github_env),
                                                **dict(line.split("=", 1) for line in
                                                       github_env.read_text().splitlines())})
        assert proc.returncode == 0, f"{step['name']}:\n{proc.stdout}\n{proc.stderr[-4000:]}"
        outputs[step.get("id", "")] = dict(line.split("=", 1)
                                           for line in out.read_text().splitlines())
        ran.append(step["name"])
    assert any(n.startswith("ci/release") for n in ran), ran
    return outputs


def load(path):
    return yaml.safe_load(path.read_text())


def manifest_digest(registry: str, image: str) -> str:
    repo, tag = image.split("/", 1)[1].rsplit(":", 1)
    r = requests.head(f"http://{registry}/v2/{repo}/manifests/{tag}", timeout=10, headers={
        "Accept": "application/vnd.oci.image.manifest.v1+json, "
                  "application/vnd.docker.distribution.manifest.v2+json"})
    assert r.status_code == 200, (image, r.status_code)
    return r.headers["Docker-Content-Digest"]


@pytest.fixture(scope="module")
def released(oci_registry, tmp_path_factory):
    """The default branch's clone after the tags model-v1.2, then v1.0.1, were pushed."""
    tmp = tmp_path_factory.mktemp("rel")
    workspace = clone_worktree(tmp / "workspace")  # the tag's checkout
    repo = clone_worktree(workspace / "default-branch")  # the default branch's
    chart0 = load(repo / "chart" / "Chart.yaml")
    values0 = load(repo / "chart" / "values.yaml")
    private, public = make_key(tmp / "keys")
    model = run_release_workflow("model-v1.2", workspace, oci_registry,
                                 signing_key=private.read_text())["release"]
    model["public_key"] = public
    values1 = load(repo / "chart" / "values.yaml")
    app = run_release_workflow("v1.0.1", workspace, oci_registry)["release"]
    assert not subprocess.run(["git", "status", "--porcelain", "chart"], cwd=workspace,
                              capture_output=True, text=True).stdout, "the tag's chart changed"
    return repo, chart0, values0, values1, model, app


def test_model_release_bumps_only_the_model_to_the_pushed_digest(released, oci_registry):
    repo, chart0, values0, values1, model, _ = released
    assert model["image"] == f"{oci_registry}/faq-engine-model:1.2"
    assert manifest_digest(oci_registry, model["image"]) == model["digest"]
    assert values1["model"]["tag"] == f"1.2@{model['digest']}" and "digest" not in values1["model"]
    assert values1["image"] == values0["image"], "a model release must not touch the app"
    assert {k: v for k, v in values1["model"].items() if k != "tag"} == \
        {k: v for k, v in values0["model"].items() if k != "tag"}


def test_model_release_is_signed_with_the_secret_key(released, tmp_path):
    """The pushed model image carries model.sig, made with the key of the MODEL_SIGNING_KEY
    secret: the app's check accepts it with that key's public half."""
    from faq_engine.signing import load_public_key, verify_signature

    model = released[4]
    out = model_from_image(model["reference"], tmp_path / "model")
    assert verify_signature(out, load_public_key(model["public_key"]))["version"] == "1.2"


def test_app_release_bumps_only_the_app_and_app_version(released, oci_registry):
    repo, chart0, _, values1, model, app = released
    values, chart = load(repo / "chart" / "values.yaml"), load(repo / "chart" / "Chart.yaml")
    assert app["image"] == f"{oci_registry}/faq-engine:1.0.1"
    assert manifest_digest(oci_registry, app["image"]) == app["digest"]
    assert values["image"]["tag"] == f"1.0.1@{app['digest']}" and "digest" not in values["image"]
    assert chart["appVersion"] == "1.0.1"
    assert values["model"] == values1["model"], "an app release must not touch the model"
    major, minor, patch = map(int, chart0["version"].split("."))
    assert chart["version"] == f"{major}.{minor}.{patch + 2}"  # one patch bump per release


def test_chart_tests_pass_after_the_release_bumps(released):
    """The coupling that broke 22 chart tests after a bump: they now read the local images."""
    repo = released[0]
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/chart"], cwd=repo, capture_output=True, text=True, timeout=1200,
                          env={**os.environ, "PYTHONPATH": str(repo / "app")})
    assert proc.returncode == 0, proc.stdout[-6000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout, proc.stdout[-2000:]
