"""`faq-engine ask` and `faq-engine verify`: what they print and their exit status."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from faq_engine.cli import main
from faq_engine.limits import MAX_TOP_K


def test_ask_prints_the_answers_as_json(trained_model, capsys):
    assert main(["ask", "--model-dir", str(trained_model), "--top-k", "2",
                 "how do I roll back to the previous model"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == {"version": "1.0"}
    assert len(out["answers"]) == 2 and out["answers"][0]["id"] == "rollback"
    assert set(out["answers"][0]) == {"id", "question", "answer", "score"}


def test_ask_follows_the_current_link(trained_model, tmp_path, capsys):
    (tmp_path / "current").symlink_to(trained_model)
    assert main(["ask", "--model-dir", str(tmp_path), "helm rollback"]) == 0
    assert len(json.loads(capsys.readouterr().out)["answers"]) == 3  # the default top-k


@pytest.mark.parametrize("top_k", ["0", str(MAX_TOP_K + 1), "-1"])
def test_ask_refuses_a_top_k_the_api_refuses(trained_model, top_k, capsys):
    assert main(["ask", "--model-dir", str(trained_model), "--top-k", top_k, "helm rollback"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("faq-engine ask: error: invalid_request: ")
    assert f"'top_k' must be an integer from 1 to {MAX_TOP_K}" in err


def test_ask_a_broken_model_is_a_message_and_status_1(model_copy, capsys):
    (model_copy / "vectors.npy").unlink()
    assert main(["ask", "--model-dir", str(model_copy), "helm rollback"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("faq-engine ask: error: ") and "vectors.npy: missing" in err


def test_verify_ok(trained_model, capsys):
    assert main(["verify", "--model-dir", str(trained_model)]) == 0
    n = len(json.loads((trained_model / "manifest.json").read_text())["files"])
    assert capsys.readouterr().out == f"model 1.0: {n} files verified\n"


def test_verify_names_the_damaged_file(model_copy, capsys):
    p = model_copy / "entries.jsonl"
    data = bytearray(p.read_bytes())
    data[0] ^= 1  # same size, other bytes: only the checksum tells
    p.write_bytes(bytes(data))
    assert main(["verify", "--model-dir", str(model_copy)]) == 1
    err = capsys.readouterr().err
    assert err == f"faq-engine verify: error: {p}: sha256 mismatch\n"


def test_verify_and_ask_of_nothing_exit_1_without_a_traceback(tmp_path):
    for cmd in (["verify", "--model-dir", str(tmp_path / "none")],
                ["ask", "--model-dir", str(tmp_path / "none"), "hello"]):
        r = subprocess.run([sys.executable, "-m", "faq_engine.cli", *cmd],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        assert f"faq-engine {cmd[0]}: error: " in r.stderr and "manifest missing" in r.stderr
