"""The README's reproducibility claim for the embedding kind too: the same FAQ trained twice, in
two processes with different hash seeds and numeric thread counts, gives a byte-identical model
directory (weights copied, entry embeddings computed, manifest written)."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_same_faq_gives_identical_embedding_models(tmp_path):
    faq = tmp_path / "faq.jsonl"
    faq.write_text("".join(json.dumps(e) + "\n" for e in [
        {"id": "press", "question": "How do I book the cider press?", "answer": "At the barn."},
        {"id": "dogs", "question": "Can I bring my dog?", "answer": "On a short lead."},
        {"id": "park", "question": "Where do visitors park?", "answer": "In the meadow."},
    ]), encoding="utf-8")
    for name, hashseed, threads in (("a", "1", "1"), ("b", "2", "2")):
        env = dict(os.environ, PYTHONHASHSEED=hashseed, NUMERIC_THREADS=threads)
        r = subprocess.run([sys.executable, "-m", "faq_engine.cli", "train", "--kind", "embedding",
                            "--faq", str(faq), "--out", str(tmp_path / name), "--version", "2.0"],
                           env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
    a, b = tmp_path / "a", tmp_path / "b"
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    assert "embeddings.npy" in names and "manifest.json" in names
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
