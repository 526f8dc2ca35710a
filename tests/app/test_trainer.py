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
    assert m["format"] == 3 and m["version"] == "1.0" and m["entries"] >= 50
    assert set(m["libraries"]) >= {"gensim", "numpy", "python", "faq-engine"}
    assert m["training"]["seed"] == 42 and m["training"]["vector_size"] == 100
    assert m["faq_sha256"] == hashlib.sha256(sample_faq.read_bytes()).hexdigest()
    names = {f["path"] for f in m["files"]}
    on_disk = {p.name for p in trained_model.iterdir()} - {"manifest.json", "SHA256SUMS"}
    assert names == on_disk
    assert {"doc2vec.syn1neg.npy", "doc2vec.vocab.json", "doc2vec.counts.npy", "vectors.npy",
            "entries.jsonl", "bm25.vocab.json"} <= names
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


def _train_in_subprocess(faq, out, hashseed):
    code = ("import sys; from faq_engine.trainer import train, TrainParams;"
            "train(sys.argv[1], sys.argv[2], params=TrainParams(epochs=20))")
    env = dict(os.environ, PYTHONHASHSEED=str(hashseed))
    subprocess.run([sys.executable, "-c", code, str(faq), str(out)], check=True, env=env)


def test_same_input_and_seed_give_identical_models(tmp_path, sample_faq):
    """Byte for byte, every file (issue 24: gensim's pickle held total_train_time, the manifest
    a creation time), trained in two processes with different hash seeds."""
    a, b = tmp_path / "a", tmp_path / "b"
    _train_in_subprocess(sample_faq, a, 1)
    _train_in_subprocess(sample_faq, b, 2)
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    c = tmp_path / "c"
    train(sample_faq, c, params=TrainParams(epochs=20, seed=7))
    assert (a / "vectors.npy").read_bytes() != (c / "vectors.npy").read_bytes()


@pytest.mark.parametrize("change, message", [
    ({"epochs": 0}, "epochs must be an integer from 1 to 1000, not 0"),
    ({"vector_size": 5000}, "vector_size must be an integer from 1 to 4096"),
    ({"dm": 1}, "dm must be an integer from 0 to 0"),
])
def test_parameters_out_of_bounds_are_refused(tmp_path, sample_faq, change, message):
    with pytest.raises(ValueError, match=message):
        train(sample_faq, tmp_path / "m", params=TrainParams(**change))
    assert not (tmp_path / "m").exists()


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


def _cli_train(*args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "faq_engine.cli", "train", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("name, content, message", [
    ("punct.jsonl", '{"id": "a", "question": "?!", "answer": "..."}\n', "no word occurs"),
    ("deep.jsonl", "[" * 100_000 + "]" * 100_000 + "\n", ":1: invalid JSON: nested too deeply"),
    ("bigint.jsonl", '{"id": ' + "9" * 5000 + ', "question": "q", "answer": "a"}\n',
     ":1: invalid JSON"),
], ids=["no-words", "deep-json", "huge-int"])
def test_bad_faq_is_a_message_not_a_traceback(tmp_path, name, content, message):
    faq = tmp_path / name
    faq.write_text(content)
    r = _cli_train("--faq", faq, "--out", tmp_path / "m", "--version", "1.0")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "faq-engine train: error:" in r.stderr and message in r.stderr, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [name], "something was written"


def test_out_naming_a_file_is_refused(tmp_path, sample_faq):
    out = tmp_path / "model"
    out.write_text("not a model")
    for force in ([], ["--force"]):
        r = _cli_train("--faq", sample_faq, "--out", out, *force)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert "is not a directory" in r.stderr
        assert out.read_text() == "not a model"


def test_csv_with_byte_order_mark_is_read(tmp_path):
    from faq_engine.faq import load_faq

    plain = tmp_path / "plain.csv"
    plain.write_text('id,question,answer\na,"How do I roll back?",Run helm rollback.\n')
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    jsonl = tmp_path / "bom.jsonl"
    jsonl.write_bytes(b"\xef\xbb\xbf" + b'{"id": "a", "question": "How do I roll back?", '
                      b'"answer": "Run helm rollback."}\n')
    assert load_faq(bom) == load_faq(plain) == load_faq(jsonl)


def test_force_replaces_the_model_without_a_gap(tmp_path, sample_faq):
    # A reader polling the model directory during `train --force` always finds a complete model.
    import threading

    out = tmp_path / "m"
    train(sample_faq, out, version="1.0", params=TrainParams(epochs=1))
    stop, missing, seen = threading.Event(), [], set()

    def watch():
        while not stop.is_set():
            try:
                seen.add(json.loads((out / "manifest.json").read_text())["version"])
            except (OSError, ValueError):
                missing.append(1)

    t = threading.Thread(target=watch)
    t.start()
    try:
        for i in range(5):
            train(sample_faq, out, version=f"1.{i + 1}", params=TrainParams(epochs=1), force=True)
    finally:
        stop.set()
        t.join()
    assert not missing, f"the model directory was missing or partial {len(missing)} times"
    assert len(seen) >= 2, "the reader never saw a replacement"
    assert json.loads((out / "manifest.json").read_text())["version"] == "1.5"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"], "temporary directories left"
