"""Input that is not UTF-8 is reported with its line number: the FAQ file (train) and a batch
question file."""

from __future__ import annotations

import subprocess
import sys


def test_faq_names_the_line(sample_faq, tmp_path):
    lines = sample_faq.read_bytes().splitlines(keepends=True)
    # Far into the file, past the reader's first buffer: the number must count lines, not bytes.
    bad = tmp_path / "faq.jsonl"
    big = lines * 40
    big.insert(1500, b'{"id": "latin1", "question": "caf\xe9?", "answer": "yes"}\n')
    bad.write_bytes(b"".join(big))
    r = subprocess.run([sys.executable, "-m", "faq_engine.cli", "train", "--faq", str(bad),
                        "--out", str(tmp_path / "m")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == f"faq-engine train: error: {bad}:1501: not UTF-8 text (invalid continuation byte)"
    assert not (tmp_path / "m").exists()


def test_batch_names_the_line(trained_model, tmp_path):
    src = tmp_path / "q.jsonl"
    src.write_bytes(b'{"question": "ok"}\n{"question": "ok"}\n{"question": "caf\xe9"}\n')
    r = subprocess.run([sys.executable, "-m", "faq_engine.cli", "batch", "--model-dir",
                        str(trained_model), "--in", str(src), "--out", str(tmp_path / "a")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 3, r.stderr
    assert ("faq-engine batch: line 3: invalid_json: not UTF-8 text (invalid continuation byte "
            "at byte 18 of the line)") in r.stderr.splitlines(), r.stderr
