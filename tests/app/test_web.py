import json
import logging

import pytest

from faq_engine.metrics import METHODS
from faq_engine.modeldir import FORMAT
from faq_engine.web import MAX_BODY, create_app
from faqtest.common import BAD_ANSWER_BODIES


def post(client, body, content_type="application/json"):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post("/v1/answer", data=data, content_type=content_type)


def assert_error(resp, status, code):
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.is_json
    body = resp.get_json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def test_answer(client):
    r = post(client, {"question": "How do I roll back to the previous model?", "top_k": 2})
    assert r.status_code == 200
    body = r.get_json()
    assert body["model"] == {"version": "1.0"}
    assert r.headers["X-Model-Version"] == "1.0"
    assert len(body["answers"]) == 2
    assert body["answers"][0]["id"] == "rollback"
    assert set(body["answers"][0]) == {"id", "question", "answer", "score"}
    assert body["answers"][0]["score"] >= body["answers"][1]["score"]


def test_default_top_k_is_3(client):
    assert len(post(client, {"question": "helm upgrade"}).get_json()["answers"]) == 3


def test_integral_float_top_k_accepted(client):
    assert len(post(client, {"question": "helm upgrade", "top_k": 2.0}).get_json()["answers"]) == 2


@pytest.mark.parametrize("body, code", BAD_ANSWER_BODIES)
def test_bad_bodies_are_400(client, body, code):
    assert_error(post(client, body), 400, code)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_wrong_content_type_is_415(client, content_type):
    assert_error(post(client, {"question": "hi"}, content_type=content_type), 415,
                 "unsupported_media_type")


def test_json_with_charset_is_fine(client):
    assert post(client, {"question": "hi there"}, "application/json; charset=utf-8").status_code == 200


def test_body_over_limit_is_413(client):
    big = json.dumps({"question": "x" * (MAX_BODY + 10)})
    assert_error(post(client, big), 413, "payload_too_large")


def test_unknown_route_is_404(client):
    assert_error(client.get("/nope"), 404, "not_found")
    assert_error(client.post("/v1/answers"), 404, "not_found")


def test_wrong_method_is_405(client):
    r = client.get("/v1/answer")
    assert_error(r, 405, "method_not_allowed")
    assert "POST" in r.headers["Allow"]
    assert_error(client.delete("/healthz"), 405, "method_not_allowed")


def test_metric_labels_are_a_closed_set(client):
    for i in range(30):  # junk methods and paths must not add series
        client.open(f"/junk/{i}", method=f"JUNK{i}")
        client.open("/healthz", method=f"X{i}")
    text = client.get("/metrics").get_data(as_text=True)
    series = [ln for ln in text.splitlines() if ln.startswith("faq_http_requests_total{")]
    methods = {ln.split('method="')[1].split('"')[0] for ln in series}
    routes = {ln.split('route="')[1].split('"')[0] for ln in series}
    assert methods <= METHODS | {"other"}, methods
    assert "other" in methods
    assert routes <= {"/healthz", "/readyz", "/metrics", "/v1/answer", "/v1/model",
                      "/openapi.json", "unmatched"}, routes


def test_version_with_trailing_newline_is_unready_not_500(model_copy):
    path = model_copy / "manifest.json"
    path.write_text(path.read_text().replace('"version": "1.0"', '"version": "1.0\\n"'))
    assert '1.0\\n' in path.read_text()
    c = create_app({"MODEL_DIR": str(model_copy), "TESTING": True}).test_client()
    assert c.get("/healthz").status_code == 200
    assert_error(c.get("/v1/model"), 503, "model_not_ready")
    r = c.get("/readyz")
    assert r.status_code == 503 and "bad model version" in r.get_json()["reason"]


def test_health_ready_model(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200 and r.get_json()["model"]["version"] == "1.0"
    m = client.get("/v1/model").get_json()
    assert m["version"] == "1.0" and m["format"] == FORMAT and m["files"] >= 8


def test_metrics_count_requests(client):
    before = client.get("/metrics").get_data(as_text=True)
    post(client, {"question": "metrics please"})
    after = client.get("/metrics").get_data(as_text=True)

    def count(text):
        for ln in text.splitlines():
            if ln.startswith('faq_http_requests_total{method="POST",route="/v1/answer",status="200"}'):
                return float(ln.split()[-1])
        return 0.0

    assert count(after) == count(before) + 1
    assert 'faq_model_info{version="1.0"} 1.0' in after


def test_openapi_matches_routes(app, client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    routes = {(r.rule, m.lower()) for r in app.url_map.iter_rules() for m in r.methods
              if m in ("GET", "POST") and r.endpoint != "static"}
    documented = {(p, m) for p, ops in spec["paths"].items() for m in ops}
    assert routes == documented


@pytest.mark.parametrize("damage, file", [
    (lambda d: (d / "vectors.npy").unlink(), "vectors.npy"),
    (lambda d: (d / "entries.jsonl").write_bytes(b"truncated"), "entries.jsonl"),
    (lambda d: (d / "manifest.json").write_text("{"), "manifest.json"),
])
def test_corrupt_model_keeps_service_unready(model_copy, caplog, damage, file):
    damage(model_copy)
    with caplog.at_level(logging.ERROR, logger="faq_engine"):
        logger = logging.getLogger("faq_engine")
        logger.propagate = True  # let caplog see the JSON-configured logger
        try:
            app = create_app({"MODEL_DIR": str(model_copy)})
        finally:
            logger.propagate = False
    client = app.test_client()
    r = client.get("/readyz")
    assert r.status_code == 503 and file in r.get_json()["reason"]
    assert client.get("/healthz").status_code == 200
    assert_error(post(client, {"question": "anything"}), 503, "model_not_ready")
    assert_error(client.get("/v1/model"), 503, "model_not_ready")
    assert "X-Model-Version" not in r.headers
    records = [r for r in caplog.records if r.getMessage().startswith("model not ready")]
    assert records and getattr(records[0], "file") == file


def test_model_dir_with_current_link(tmp_path, trained_model):
    (tmp_path / "current").symlink_to(trained_model)
    client = create_app({"MODEL_DIR": str(tmp_path)}).test_client()
    assert client.get("/readyz").status_code == 200


def test_liveness_fails_once_the_served_model_is_gone(tmp_path, trained_model):
    """A version pruned from a shared volume under a running pod (issue 12 item 6): liveness
    must fail so the kubelet restarts the container and the failure shows."""
    import shutil

    vol = tmp_path / "vol"
    shutil.copytree(trained_model, vol / "1.0")
    (vol / "current").symlink_to(vol / "1.0")
    client = create_app({"MODEL_DIR": str(vol / "current")}).test_client()
    assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200
    shutil.rmtree(vol / "1.0")
    r = client.get("/healthz")
    assert r.status_code == 503 and r.get_json()["status"] == "model-gone"
    assert str(vol / "1.0") in r.get_json()["reason"]


def test_liveness_fails_when_started_without_a_model(tmp_path):
    """The restarted container of such a pod: a dangling link, not a corrupt model."""
    (tmp_path / "current").symlink_to(tmp_path / "1.0")
    client = create_app({"MODEL_DIR": str(tmp_path / "current")}).test_client()
    assert client.get("/readyz").status_code == 503
    r = client.get("/healthz")
    assert r.status_code == 503 and "no model directory" in r.get_json()["reason"]


def test_serving_does_not_import_the_trainer(trained_model):
    """Model-dir file names live in modeldir: loading and serving never import the trainer
    (issue 12 item 11)."""
    import subprocess
    import sys

    code = ("import sys; from faq_engine.web import create_app; "
            f"c = create_app({{'MODEL_DIR': {str(trained_model)!r}}}).test_client(); "
            "assert c.get('/readyz').status_code == 200; "
            "print(sorted(m for m in sys.modules if m.startswith('faq_engine')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "faq_engine.trainer" not in r.stdout and "faq_engine.ranking" in r.stdout
