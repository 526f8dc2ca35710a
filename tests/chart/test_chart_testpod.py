"""The `helm test` pod's script, run for real against a stand-in of the app's API."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chart_helpers import env


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


def run_test_pod(render, server, reply, sets=()):
    FakeApp.reply = reply
    c = render(sets=list(sets)).test_pod["spec"]["containers"][0]
    assert c["command"][:2] == ["python", "-c"]
    e = env(c)
    e["URL"] = f"http://127.0.0.1:{server.server_address[1]}/v1/answer"
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


def test_fails_without_answer(render, fake_app):
    res = run_test_pod(render, fake_app, {"answers": [], "model": {"version": "1.0"}})
    assert res.returncode != 0 and "no answer" in res.stderr


def test_canary_version_accepted(render, fake_app):
    sets = ["canary.enabled=true", "canary.model.tag=1.1"]
    assert run_test_pod(render, fake_app, answer("1.1"), sets).returncode == 0
    assert run_test_pod(render, fake_app, answer("1.0"), sets).returncode == 0
    assert run_test_pod(render, fake_app, answer("2.0"), sets).returncode != 0
