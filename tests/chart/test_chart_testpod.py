"""The `helm test` pod, run for real against a stand-in of the app's API: its init containers'
commands copy the VERSION file of a stand-in model image directory (as the model image holds
it), and its script compares the answer's model version with those."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pathlib import Path

import pytest

from faqtest.chart import LOCAL_MODEL, env


class FakeApp(BaseHTTPRequestHandler):
    reply: dict = {}
    seen: list = []

    def do_POST(self):  # noqa: N802 (http.server API)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeApp.seen.append((self.path, self.headers["Content-Type"], body))
        data = json.dumps(FakeApp.reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_app():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeApp)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    FakeApp.seen = []
    yield server
    server.shutdown()
    server.server_close()


def run_test_pod(render, server, reply, sets=(), images=None, tmp=None):
    """Run the test pod's init containers and script; ``images`` maps each track to the
    VERSION its model image holds (default: the tag's version, as images are normally built)."""
    FakeApp.reply = reply
    pod = render(sets=list(sets)).test_pod["spec"]
    tmp = Path(tempfile.mkdtemp()) if tmp is None else tmp
    expected = tmp / "expected"
    expected.mkdir(exist_ok=True)
    for init in pod.get("initContainers") or []:
        track = init["name"].removeprefix("expect-")
        source = tmp / f"model-{track}"
        source.mkdir(exist_ok=True)
        tag = init["image"].rsplit(":", 1)[-1].split("@")[0]
        (source / "VERSION").write_text((images or {}).get(track, tag) + "\n")
        assert init["command"][:2] == ["sh", "-c"]
        cmd = init["command"][2].replace("/expected/", f"{expected}/")
        subprocess.run(["sh", "-c", cmd], env={"MODEL_SOURCE": str(source), "PATH": "/usr/bin:/bin"},
                       check=True)
    c = pod["containers"][0]
    assert c["command"][:2] == ["python", "-c"]
    e = env(c)
    e["URL"] = f"http://127.0.0.1:{server.server_address[1]}/v1/answer"
    assert e["EXPECTED_DIR"] == "/expected"
    e["EXPECTED_DIR"] = str(expected)
    return subprocess.run([sys.executable, "-c", c["command"][2]], env=e, capture_output=True,
                          text=True, timeout=60)


def answer(version):
    return {"answers": [{"id": "q1", "question": "How do I roll out a new model version?",
                         "answer": "Use the reset link.", "score": 0.9}],
            "model": {"version": version}}


def test_passes_on_expected_version(render, fake_app):
    res = run_test_pod(render, fake_app, answer("1.0"))
    assert res.returncode == 0, res.stderr
    assert "OK: model 1.0 answered" in res.stdout
    path, ctype, body = FakeApp.seen[0]
    assert path == "/v1/answer" and ctype == "application/json"
    assert body["question"] and 1 <= body["top_k"] <= 20


def test_fails_on_other_version(render, fake_app):
    res = run_test_pod(render, fake_app, answer("1.0"), sets=["model.tag=1.1"])
    assert res.returncode != 0 and "model.version '1.0'" in res.stderr


@pytest.mark.parametrize("tag", ["prod", "@sha256:" + "ab" * 32])
def test_a_retagged_or_digest_only_model_passes_on_its_own_version(render, fake_app, tag):
    """The expected version is the model image's VERSION, not its tag."""
    res = run_test_pod(render, fake_app, answer("1.1"), [f"model.tag={tag}"], {"stable": "1.1"})
    assert res.returncode == 0, res.stderr
    res = run_test_pod(render, fake_app, answer("1.0"), [f"model.tag={tag}"], {"stable": "1.1"})
    assert res.returncode != 0 and "model.version '1.0', expected one of ['1.1']" in res.stderr


def test_fails_without_answer(render, fake_app):
    res = run_test_pod(render, fake_app, {"answers": [], "model": {"version": "1.0"}})
    assert res.returncode != 0 and "no answer" in res.stderr


def test_canary_version_accepted(render, fake_app):
    sets = ["canary.enabled=true", "canary.model.tag=1.1"]
    assert run_test_pod(render, fake_app, answer("1.1"), sets).returncode == 0
    assert run_test_pod(render, fake_app, answer("1.0"), sets).returncode == 0
    assert run_test_pod(render, fake_app, answer("2.0"), sets).returncode != 0


# --- the rendered test pod --------------------------------------------------------------
def test_test_pod(render):
    pod = render().test_pod
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    # Not matched by the Service selector (a test pod must not receive traffic).
    assert "app.kubernetes.io/name" not in pod["metadata"]["labels"]
    c = pod["spec"]["containers"][0]
    assert c["command"][:2] == ["python", "-c"] and "urllib" in c["command"][2]
    assert env(c)["URL"] == "http://rel-faq-engine:80/v1/answer"
    assert env(c)["EXPECTED_MODEL_VERSIONS"] == ""
    init = pod["spec"]["initContainers"]
    assert [(i["name"], i["image"]) for i in init] == [
        ("expect-stable", f"{LOCAL_MODEL}:1.0")]
    assert pod["spec"]["restartPolicy"] == "Never"


@pytest.mark.parametrize("sets, overrides, from_images", [
    (["model.tag=1.1"], "", [":1.1"]),
    (["tests.expectedModelVersion=1.5"], "1.5", []),
    (["canary.enabled=true"], "", [":1.0", ":1.0"]),
    (["canary.enabled=true", "canary.model.tag=1.1", "tests.expectedCanaryModelVersion=x"],
     "x", [":1.0"]),
])
def test_test_pod_expected_version(render, sets, overrides, from_images):
    pod = render(sets=sets).test_pod["spec"]
    assert env(pod["containers"][0])["EXPECTED_MODEL_VERSIONS"] == overrides
    assert [i["image"][-4:] for i in pod.get("initContainers") or []] == from_images


def test_tests_can_be_disabled(render):
    assert not render(sets=["tests.enabled=false"]).kind("Pod")
