"""One set of request rules: the HTTP API, `faq-engine ask` and `faq-engine batch` accept and
refuse the same questions and top_k values, with the same error code and message."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

CASES = [
    ("How do I roll back?", 3),
    ("How do I roll back?", 20),
    ("How do I roll back?", -1),
    ("How do I roll back?", 0),
    ("How do I roll back?", 21),
    ("", 3),
    ("   ", 3),
    ("x" * 1001, 3),
    ("x" * 1000, 1),
]


def api(client, question, top_k):
    r = client.post("/v1/answer", json={"question": question, "top_k": top_k})
    body = r.get_json()
    return (r.status_code == 200, None if r.status_code == 200 else
            (body["error"]["code"], body["error"]["message"]), ids(body.get("answers")))


def ids(answers):
    """How many answers (answers are not compared: Doc2Vec inference runs a few
    random steps, so the last digits may differ between processes)."""
    return None if answers is None else len(answers)


def ask(model, question, top_k):
    r = subprocess.run([sys.executable, "-m", "faq_engine.cli", "ask", "--model-dir", str(model),
                        "--top-k", str(top_k), "--", question],
                       capture_output=True, text=True, timeout=120)
    if r.returncode == 0:
        return True, None, ids(json.loads(r.stdout)["answers"])
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    prefix = "faq-engine ask: error: "
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith(prefix), r.stderr
    code, message = line[len(prefix):].split(": ", 1)
    return False, (code, message), None


@pytest.mark.parametrize("question,top_k", CASES, ids=[f"{len(q)}chars-top{k}" for q, k in CASES])
def test_ask_follows_the_api(client, trained_model, question, top_k):
    assert ask(trained_model, question, top_k) == api(client, question, top_k)


def test_batch_follows_the_api(client, trained_model, tmp_path):
    src, out = tmp_path / "q.jsonl", tmp_path / "a.jsonl"
    src.write_text("".join(json.dumps({"question": q, "top_k": k}) + "\n" for q, k in CASES))
    r = subprocess.run([sys.executable, "-m", "faq_engine.cli", "batch", "--model-dir",
                        str(trained_model), "--in", str(src), "--out", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 3, r.stderr
    answered = {rec["line"]: ids(rec["answers"]) for rec in map(json.loads, out.read_text().splitlines())}
    refused = {}
    for x in r.stderr.splitlines():
        if x.startswith("faq-engine batch: line "):
            n, code, message = x.removeprefix("faq-engine batch: line ").split(": ", 2)
            refused[int(n)] = (code, message)
    for n, (q, k) in enumerate(CASES, 1):
        ok, error, answers = api(client, q, k)
        assert (n in answered, refused.get(n), answered.get(n)) == (ok, error, answers), (q[:20], k)
