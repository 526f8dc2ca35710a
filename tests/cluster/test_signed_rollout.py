"""Signed models on a real cluster (issue 20): with `model.verify.publicKey` set, a signed model
rolls out under load with no failed request; a forged one (an answer changed, `SHA256SUMS` and
the manifest re-computed, the signature left as it was) keeps its new pod unready with the
reason in its log and on `/readyz`, while the old pods serve on, and `helm rollback` recovers;
a canary model is checked the same way.

The models are the local loop's 1.0 and 1.1 (build/models, ci/images/build.sh) and a 1.2 trained
here, each signed with a fresh openssl P-256 key (`faq-engine sign`), in their own repository
`faq-engine-model-signed` of the cluster's registry (the shared `faq-engine-model` tags stay
unsigned). Tests run in order and share one release per model volume mode: `emptyDir` (model-copy
copies the forged model without complaint: its checksums hold) and `image` (the model image
mounted as an image volume, no init container): in both the app is what refuses it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import pytest
from faqtest.common import ROOT, build_model_image
from faqtest.lifecycle import (
    CHART,
    RELEASE,
    app_pods,
    digest_of,
    helm,
    Load,
    local_install_args,
    release_namespace,
    versions_answering,
)
from faqtest.signing import forge, make_key

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
SIGNED_REPO = "localhost/faq-engine-model-signed"
SAMPLE_FAQ = ROOT / "app" / "faq_engine" / "data" / "sample-faq.jsonl"
# model.volume.type -> the helm install flags selecting it (upgrades reuse the values)
MODES = {"emptyDir": [], "image": ["--set", "model.volume.type=image"]}
# What the app says about the forged model (faq_engine.signing.verify_signature).
FORGED = "entries.jsonl: changed after signing"
# /readyz from inside the app container (its own python; the server listens on $PORT).
READYZ = """
import os, urllib.error, urllib.request
url = "http://127.0.0.1:%s/readyz" % os.environ.get("PORT", "8080")
try:
    r = urllib.request.urlopen(url, timeout=5)
    print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
"""


def sign(model_dir, key) -> None:
    proc = subprocess.run([sys.executable, "-m", "faq_engine.cli", "sign", "--model-dir",
                           str(model_dir), "--key", str(key)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def signed(images, push_images, tmp_path_factory):
    """Signed model images 1.0 and 1.1, a forged 1.2, pushed: {"app", "1.0", "1.1", "1.2":
    "repository:tag@digest", "public_key": PEM path}."""
    from faq_engine.modeldir import verify
    from faq_engine.trainer import train

    d = tmp_path_factory.mktemp("signed")
    private, public = make_key(d / "keys")
    for v in ("1.0", "1.1"):
        shutil.copytree(ROOT / "build" / "models" / v, d / v)
    train(SAMPLE_FAQ, d / "1.2", version="1.2")
    built = []
    for v in ("1.0", "1.1", "1.2"):
        sign(d / v, private)
        if v == "1.2":
            forge(d / v)
            verify(d / v, "sha256")  # the forgery's checksums hold: only the signature tells
        built.append(build_model_image(d / v, f"{SIGNED_REPO}:{v}", version=v))
    pushed = push_images(images["app"], *built)
    return {"app": pushed[images["app"]], "public_key": public,
            **{v: pushed[f"{SIGNED_REPO}:{v}"] for v in ("1.0", "1.1", "1.2")}}


def repository_of(ref: str) -> str:
    """repo:tag@digest -> repo."""
    return ref.split("@")[0].rsplit(":", 1)[0]


def tag_of(ref: str) -> str:
    """repo:tag@digest -> tag@digest (what model.tag takes)."""
    return ref.rsplit("/", 1)[1].split(":", 1)[1]


@pytest.fixture(scope="module", params=list(MODES))
def mode(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def namespace(kubectl, signed, mode):
    with release_namespace(kubectl, f"faq-sign-{mode.lower()}") as name:
        yield name


@pytest.fixture(scope="module")
def url(kubectl, namespace):
    return lambda: kubectl.service_url(namespace, RELEASE)




def app_log(kubectl, namespace, pod) -> str:
    return kubectl("logs", pod, "-c", "app", namespace=namespace, check=False).stdout


def readyz(kubectl, namespace, pod) -> tuple[int, dict]:
    out = kubectl("exec", pod, "-c", "app", "--", "python3", "-c", READYZ,
                  namespace=namespace).stdout
    status, body = out.split(" ", 1)
    return int(status), json.loads(body)


def unready_pod(kubectl, namespace, old, track="stable") -> tuple[str, str] | None:
    """A pod not in `old` whose app runs, unready, having logged why its model failed."""
    for p in app_pods(kubectl, namespace, track):
        if p["metadata"]["name"] in old:
            continue
        for s in p["status"].get("containerStatuses", []):
            if s["name"] == "app" and "running" in s["state"] and not s["ready"]:
                log = app_log(kubectl, namespace, p["metadata"]["name"])
                if "model not ready" in log:
                    return p["metadata"]["name"], log
    return None


def log_line(log: str, text: str) -> str:
    return next(line for line in log.splitlines() if text in line)


def check_refused(kubectl, mode, namespace, pod, log, version="1.2") -> None:
    """The pod refused the forged model because of its signature, in its log and on /readyz,
    and (emptyDir) model-copy had copied it without complaint."""
    line = log_line(log, "model not ready")
    print(f"{mode} forged {version}, {pod} log: {line}")
    assert FORGED in line, line
    status, body = readyz(kubectl, namespace, pod)
    print(f"{mode} forged {version}, {pod} /readyz: {status} {json.dumps(body)}")
    assert status == 503 and body["status"] == "unready", body
    assert FORGED in body["reason"] and "re-computed checksums do not make it signed" in \
        body["reason"], body
    if mode == "emptyDir":
        (init,) = [s for s in kubectl.json("get", "pod", pod, namespace=namespace)["status"]
                   ["initContainerStatuses"] if s["name"] == "model"]
        assert init["state"]["terminated"]["exitCode"] == 0, init
        copy = kubectl("logs", pod, "-c", "model", namespace=namespace).stdout
        assert f"version={version} copied" in copy, copy


def test_1_install_signed_model_with_verification(kubectl, mode, namespace, url, signed):
    helm("install", RELEASE, str(CHART), "-n", namespace,
         *local_install_args(signed["app"], signed["1.0"]),
         "--set", f"model.repository={repository_of(signed['1.0'])}",
         "--set-file", f"model.verify.publicKey={signed['public_key']}",
         "--set", "replicaCount=2", *MODES[mode], "--wait", "--timeout", "5m")
    pods = app_pods(kubectl, namespace)
    assert len(pods) == 2
    for p in pods:
        name = p["metadata"]["name"]
        assert all(c["ready"] for c in p["status"]["containerStatuses"]), p["status"]
        app = next(c for c in p["spec"]["containers"] if c["name"] == "app")
        assert any(e["name"] == "FAQ_MODEL_PUBLIC_KEY" for e in app["env"]), app["env"]
        assert '"msg": "model signature verified"' in app_log(kubectl, namespace, name)
        assert readyz(kubectl, namespace, name) == (200, {"status": "ready",
                                                         "model": {"version": "1.0"}})
        if mode == "image":
            vols = {v["name"]: v for v in p["spec"]["volumes"]}
            assert vols["model"]["image"]["reference"] == signed["1.0"], vols["model"]
            assert not p["spec"].get("initContainers")
        else:
            init = next(c for c in p["status"]["initContainerStatuses"] if c["name"] == "model")
            assert digest_of(init["imageID"]) == digest_of(signed["1.0"]), init
    assert versions_answering(url()) == {"1.0": 30}


def test_2_signed_model_rolls_out_under_load(kubectl, mode, namespace, url, signed):
    old = {p["metadata"]["name"] for p in app_pods(kubectl, namespace)}
    with Load(url()) as load:
        start = time.monotonic()
        helm("upgrade", RELEASE, str(CHART), "-n", namespace, "--reuse-values",
             "--set-string", f"model.tag={tag_of(signed['1.1'])}", "--wait", "--timeout", "5m")
        seconds = time.monotonic() - start
        time.sleep(3)
    r = load.result
    print(f"{mode} signed 1.0 -> signed 1.1: {r.summary()}; rollout {seconds:.1f}s")
    assert r.failed == 0, r.summary()
    assert r.ok > 100 and r.versions["1.1"] > 0, r.summary()
    assert versions_answering(url()) == {"1.1": 30}
    new = [p["metadata"]["name"] for p in app_pods(kubectl, namespace)]
    assert len(new) == 2 and not old & set(new)
    for name in new:
        assert '"msg": "model signature verified"' in app_log(kubectl, namespace, name)


def test_3_forged_model_stays_unready_old_pods_serve_rollback(kubectl, mode, namespace, url,
                                                              signed):
    old = {p["metadata"]["name"] for p in app_pods(kubectl, namespace)}
    with Load(url()) as load:
        helm("upgrade", RELEASE, str(CHART), "-n", namespace, "--reuse-values",
             "--set-string", f"model.tag={tag_of(signed['1.2'])}")
        pod, log = kubectl.wait_for(lambda: unready_pod(kubectl, namespace, old), 180,
                                    "the new pod's app to report the forged model unready")
        check_refused(kubectl, mode, namespace, pod, log)
        time.sleep(10)  # the forged pod stays unready; the old ones keep serving
        status = kubectl.json("get", "pod", pod, namespace=namespace)["status"]
        ready = next(c for c in status["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "False" and status["phase"] == "Running", status
        assert {p["metadata"]["name"] for p in app_pods(kubectl, namespace)} >= old
        served = load.result.ok
        start = time.monotonic()
        helm("rollback", RELEASE, "-n", namespace, "--wait", "--timeout", "5m")
        seconds = time.monotonic() - start
        time.sleep(3)
    r = load.result
    print(f"{mode} forged 1.2 + rollback: {r.summary()} ({served} answered before the "
          f"rollback); rollback {seconds:.1f}s")
    assert r.failed == 0, r.summary()
    assert r.versions.keys() == {"1.1"}, r.summary()
    assert served > 50, r.summary()
    assert versions_answering(url()) == {"1.1": 30}
    assert not any(p["metadata"]["name"] == pod for p in app_pods(kubectl, namespace))


def test_4_canary_model_is_verified_the_same_way(kubectl, mode, namespace, url, signed):
    """A forged canary stays unready (the Service's answers all come from the stable 1.1); a
    signed canary joins."""
    with Load(url()) as load:
        helm("upgrade", RELEASE, str(CHART), "-n", namespace, "--reuse-values",
             "--set", "canary.enabled=true", "--set", "canary.replicaCount=1",
             "--set-string", f"canary.model.tag={tag_of(signed['1.2'])}")
        pod, log = kubectl.wait_for(lambda: unready_pod(kubectl, namespace, set(), "canary"),
                                    180, "the forged canary to report its model unready")
        check_refused(kubectl, mode, namespace, pod, log)
        time.sleep(5)
    r = load.result
    print(f"{mode} forged canary: {r.summary()}")
    assert r.failed == 0 and r.versions.keys() == {"1.1"}, r.summary()
    helm("upgrade", RELEASE, str(CHART), "-n", namespace, "--reuse-values",
         "--set-string", f"canary.model.tag={tag_of(signed['1.0'])}", "--wait",
         "--timeout", "5m")
    (canary,) = app_pods(kubectl, namespace, "canary")
    assert '"msg": "model signature verified"' in app_log(kubectl, namespace,
                                                          canary["metadata"]["name"])
    kubectl.wait_for(lambda: "1.0" in versions_answering(url(), n=20), 60,
                     "the signed canary answering")
    helm("upgrade", RELEASE, str(CHART), "-n", namespace, "--reuse-values",
         "--set", "canary.enabled=false", "--wait", "--timeout", "5m")
