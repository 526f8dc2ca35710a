import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from faq_engine.faq import FaqError
from faq_engine.modeldir import dump_manifest, verify
from faq_engine.trainer import TrainParams, train


def test_model_directory_layout_and_manifest(trained_model, sample_faq):
    m = json.loads((trained_model / "manifest.json").read_text())
    assert m["format"] == 1 and m["version"] == "1.0" and m["entries"] >= 50
    assert set(m["libraries"]) >= {"gensim", "numpy", "python", "faq-engine"}
    assert m["training"]["seed"] == 42 and m["training"]["vector_size"] == 100
    assert m["faq_sha256"] == hashlib.sha256(sample_faq.read_bytes()).hexdigest()
    names = {f["path"] for f in m["files"]}
    on_disk = {p.name for p in trained_model.iterdir()} - {"manifest.json"}
    assert names == on_disk
    assert {"doc2vec.model", "vectors.npy", "entries.jsonl", "bm25.vocab.json"} <= names
    for f in m["files"]:
        data = (trained_model / f["path"]).read_bytes()
        assert f["size"] == len(data)
        assert f["sha256"] == hashlib.sha256(data).hexdigest()
    vectors = np.load(trained_model / "vectors.npy")
    assert vectors.shape == (m["entries"], 100)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    verify(trained_model)


def test_manifest_is_canonical_one_file_a_line(trained_model):
    text = (trained_model / "manifest.json").read_text()
    m = json.loads(text)
    assert dump_manifest(m) == text
    file_lines = [ln for ln in text.splitlines() if '"path":' in ln]
    assert len(file_lines) == len(m["files"])


def test_large_arrays_are_separate_npy_files(tmp_path, sample_faq):
    out = tmp_path / "big"
    train(sample_faq, out, params=TrainParams(vector_size=600, epochs=1))
    names = {p.name for p in out.iterdir()}
    assert any(n.startswith("doc2vec.model.") and n.endswith(".npy") for n in names), names


def _train_in_subprocess(faq, out, hashseed):
    code = ("import sys; from faq_engine.trainer import train, TrainParams;"
            "train(sys.argv[1], sys.argv[2], params=TrainParams(epochs=20))")
    env = dict(os.environ, PYTHONHASHSEED=str(hashseed))
    subprocess.run([sys.executable, "-c", code, str(faq), str(out)], check=True, env=env)


def test_same_input_and_seed_give_identical_vectors(tmp_path, sample_faq):
    a, b = tmp_path / "a", tmp_path / "b"
    _train_in_subprocess(sample_faq, a, 1)
    _train_in_subprocess(sample_faq, b, 2)
    for name in ("vectors.npy", "bm25.data.npy", "entries.jsonl"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    c = tmp_path / "c"
    train(sample_faq, c, params=TrainParams(epochs=20, seed=7))
    assert (a / "vectors.npy").read_bytes() != (c / "vectors.npy").read_bytes()


def test_malformed_faq_writes_nothing(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "question": "q", "answer": "a"}\n{oops\n')
    out = tmp_path / "out"
    with pytest.raises(FaqError, match=":2: invalid JSON"):
        train(bad, out)
    assert list(tmp_path.iterdir()) == [bad]


def test_refuses_to_overwrite_without_force(tmp_path, sample_faq):
    out = tmp_path / "m"
    out.mkdir()
    (out / "keep").write_text("x")
    with pytest.raises(FileExistsError):
        train(sample_faq, out, params=TrainParams(epochs=1))
    assert (out / "keep").exists()
    train(sample_faq, out, params=TrainParams(epochs=1), force=True)
    assert not (out / "keep").exists() and (out / "manifest.json").exists()


@pytest.mark.parametrize("version", ["", "../x", "a b", "-1", "1.0\n"])
def test_bad_version_rejected(tmp_path, sample_faq, version):
    with pytest.raises(ValueError, match="bad version"):
        train(sample_faq, tmp_path / "m", version=version)
