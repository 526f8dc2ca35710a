"""A model release through the registry on a real cluster, exactly as a maintainer runs it:
`ci/release model 1.2` (train, build, push, digest, ci/bump-tags, helm upgrade) against a
release installed as `make up` installs it, under continuous load: no failed request, every
answer then says 1.2, and the pods run the digest the push reported. Runs on a copy of the
repository (the release rewrites chart/values.yaml and Chart.yaml)."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
import yaml
from faqtest.common import clone_worktree
from faqtest.lifecycle import Load, digest_of, helm, local_install_args, versions_answering

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
RELEASE = "faq-engine"
VERSION = "1.2"


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory):
    """A clone of this checkout with its working tree committed (not its build outputs)."""
    return clone_worktree(tmp_path_factory.mktemp("release") / "repo")


def release(repo, *args, env=None) -> dict[str, str]:
    """Run ci/release in the copy; its `key=value` stdout lines as a dict."""
    proc = subprocess.run([str(repo / "ci" / "release"), *args], cwd=repo, capture_output=True,
                          text=True, timeout=900, env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        pytest.fail(f"ci/release {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr[-4000:]}")
    print(proc.stderr[-1500:])
    return dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)


def test_model_release_through_the_registry_under_load(kubectl, make_namespace, push_images,
                                                       images, repo_copy):
    ns = make_namespace("faq-rel", restricted=True)
    pushed = push_images(images["app"], images["model-1.0"])
    helm("install", RELEASE, str(repo_copy / "chart"), "-n", ns,
         *local_install_args(pushed[images["app"]], pushed[images["model-1.0"]]),
         "--set", "replicaCount=2", "--wait", "--timeout", "5m")
    url = kubectl.service_url(ns, RELEASE)
    assert versions_answering(url) == {"1.0": 30}
    before = (repo_copy / "chart" / "values.yaml").read_text()

    try:
        with Load(url) as load:
            start = time.monotonic()
            out = release(repo_copy, "model", VERSION,
                          env={"RELEASE": RELEASE, "NAMESPACE": ns, "DEPLOY": "1"})
            seconds = time.monotonic() - start
            time.sleep(3)
        r = load.result
        print(f"release model {VERSION}: {r.summary()}; ci/release {seconds:.1f}s "
              f"(helm upgrade --wait {out.get('rollout_seconds')}s)")
        assert r.failed == 0, r.summary()
        assert r.ok > 100 and r.versions[VERSION] > 0, r.summary()
        assert versions_answering(url) == {VERSION: 30}

        # The chart now points at exactly the pushed build; the app image is untouched.
        values = yaml.safe_load((repo_copy / "chart" / "values.yaml").read_text())
        assert values["model"]["tag"] == f"{VERSION}@{out['digest']}"
        assert values["image"] == yaml.safe_load(before)["image"]
        assert out["reference"] == f"{out['image']}@{out['digest']}"

        # Every pod runs the digest the push reported (the init container's image).
        pods = [p for p in kubectl.json("get", "pods", "-l",
                                        f"app.kubernetes.io/instance={RELEASE}",
                                        namespace=ns)["items"]
                if not p["metadata"].get("deletionTimestamp")]
        assert len(pods) == 2
        for p in pods:
            (init,) = p["status"]["initContainerStatuses"]
            assert digest_of(init["imageID"]) == out["digest"], init
            (spec,) = p["spec"]["initContainers"]
            assert spec["image"] == out["reference"], spec["image"]
        # The kubelet's own pull of the new model image, from its events.
        pulls = [e["message"] for e in kubectl.json("get", "events", namespace=ns)["items"]
                 if e.get("reason") == "Pulled" and out["digest"] in e.get("message", "")]
        print(f"kubelet pulls of {out['reference']}: {pulls}")
    finally:
        helm("uninstall", RELEASE, "-n", ns, "--wait", check=False)
