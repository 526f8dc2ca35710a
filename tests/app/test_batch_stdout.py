"""`faq-engine batch --out -` writes the answers to stdout (no file named '-'), and the last
stderr line is the summary as plain JSON, as the README promises."""

from __future__ import annotations

import json
import subprocess
import sys


def test_out_dash_is_stdout_and_summary_is_plain_json(trained_model, tmp_path):
    src = tmp_path / "q.jsonl"
    src.write_text('{"question": "How do I roll back?", "id": "a"}\n{"question": ""}\n'
                   '{"question": "What is a canary?", "top_k": 1}\n')
    r = subprocess.run([sys.executable, "-m", "faq_engine.cli", "batch", "--model-dir",
                        str(trained_model), "--in", str(src), "--out", "-"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 3, r.stderr
    records = [json.loads(x) for x in r.stdout.splitlines()]
    assert [(x["line"], len(x["answers"])) for x in records] == [(1, 3), (3, 1)]
    assert records[0]["id"] == "a"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q.jsonl"]
    summary = json.loads(r.stderr.splitlines()[-1])
    assert (summary["lines"], summary["answered"], summary["bad"]) == (3, 2, 1)
    assert summary["bad_by_code"] == {"invalid_request": 1}
