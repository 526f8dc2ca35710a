import pytest

from faq_engine.modeldir import ModelError
from faq_engine.ranking import Ranker


@pytest.fixture(scope="module")
def ranker(trained_model):
    return Ranker(trained_model)


@pytest.mark.parametrize("question, expected", [
    ("How do I go back to the previous model?", "rollback"),
    ("roll back to the old model", "rollback"),
    ("pod stuck in init", "troubleshoot-init"),
    ("which version of the model gave this answer", "which-model"),
    ("does it run as root user", "security"),
])
def test_finds_the_right_entry(ranker, question, expected):
    ids = [ranker.entries[a.index]["id"] for a in ranker.rank(question, 3)]
    assert expected in ids, ids


def test_best_first_and_top_k(ranker):
    answers = ranker.rank("How do I train a model?", 7)
    assert len(answers) == 7
    scores = [a.score for a in answers]
    assert scores == sorted(scores, reverse=True)


def test_same_question_same_answers(ranker):
    a = ranker.answer("canary release of a new model", 5)
    b = ranker.answer("canary release of a new model", 5)
    assert a == b


def test_unknown_words_give_no_answers(ranker):
    assert ranker.rank("zzzqqq xxyyzz", 3) == []
    assert ranker.rank("?!", 3) == []


@pytest.mark.parametrize("weights", [{"bm25": 1.0}, {"doc2vec": 1.0}, None])
def test_every_scorer_ranks(ranker, weights):
    answers = ranker.rank("helm rollback", 3, weights=weights)
    assert len(answers) == 3


def test_answer_fields(ranker):
    (a,) = ranker.answer("What is faq-engine?", 1)
    assert set(a) == {"id", "question", "answer", "score"}
    assert a["id"] == "what-is"


# --- what the loaders accept (issue 12 item 10) ------------------------------------------------

def _relist(model_dir, drop=()):
    """Rewrite the manifest so it matches the files as they now are (a crafted model that
    passes every checksum), leaving out the names in ``drop``."""
    import json

    from faq_engine.modeldir import dump_manifest, dump_sums, sha256_file

    path = model_dir / "manifest.json"
    m = json.loads(path.read_text())
    files = []
    for f in m["files"]:
        if f["path"] in drop:
            continue
        p = model_dir / f["path"]
        if p.is_file() and not p.is_symlink():
            f = {**f, "size": p.stat().st_size, "sha256": sha256_file(p)}
        files.append(f)
    m["files"] = files
    text = dump_manifest(m)
    path.write_text(text)
    (model_dir / "SHA256SUMS").write_text(dump_sums(m, text))


def test_refuses_a_symlink_out_of_the_model_dir(model_copy, tmp_path):
    outside = tmp_path / "elsewhere.npy"
    (model_copy / "vectors.npy").rename(outside)
    (model_copy / "vectors.npy").symlink_to(outside)
    with pytest.raises(ModelError, match="vectors.npy: a symlink, not a regular file") as e:
        Ranker(model_copy, "sha256")
    assert e.value.file == "vectors.npy"


def test_refuses_a_file_the_manifest_does_not_list(model_copy):
    _relist(model_copy, drop={"doc2vec.model"})
    with pytest.raises(ModelError, match="doc2vec.model is not listed") as e:
        Ranker(model_copy, "sha256")
    assert e.value.file == "doc2vec.model"


def test_a_fifo_in_place_of_a_file_fails_fast(model_copy):
    """A FIFO whose manifest entry matches (size 0, the empty sha256) used to block the
    process for ever at the first open; now it is refused by type before it is opened."""
    import hashlib
    import json
    import os
    import subprocess
    import sys

    from faq_engine.modeldir import dump_manifest, dump_sums

    (model_copy / "entries.jsonl").unlink()
    os.mkfifo(model_copy / "entries.jsonl")
    m = json.loads((model_copy / "manifest.json").read_text())
    for f in m["files"]:
        if f["path"] == "entries.jsonl":
            f.update(size=0, sha256=hashlib.sha256(b"").hexdigest())
    text = dump_manifest(m)
    (model_copy / "manifest.json").write_text(text)
    (model_copy / "SHA256SUMS").write_text(dump_sums(m, text))
    code = ("import sys; from faq_engine.ranking import Ranker; from faq_engine.modeldir import "
            "ModelError\ntry: Ranker(sys.argv[1], sys.argv[2])\nexcept ModelError as e: "
            "print(e.file, e)")
    for mode in ("sha256", "size"):
        try:
            r = subprocess.run([sys.executable, "-c", code, str(model_copy), mode],
                               capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"loading a model with a FIFO hung (verify mode {mode})")
        assert r.stdout.startswith("entries.jsonl ") and "not a regular file" in r.stdout, r


def test_a_crafted_doc2vec_pickle_runs_no_code(model_copy, tmp_path):
    """doc2vec.model is a pickle: one listed with matching checksums must still not run code."""
    import os
    import pickle

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (model_copy / "doc2vec.model").write_bytes(pickle.dumps(Evil()))
    _relist(model_copy)
    with pytest.raises(ModelError, match=r"doc2vec.model: the pickle refers to (posix|os)\.system"):
        Ranker(model_copy, "sha256")
    assert not marker.exists()


def test_separately_saved_arrays_load_only_when_listed(tmp_path, sample_faq):
    from faq_engine.trainer import TrainParams, train

    out = tmp_path / "big"
    train(sample_faq, out, params=TrainParams(vector_size=600, epochs=1))
    apart = sorted(p.name for p in out.glob("doc2vec.model.*.npy"))
    assert apart, "expected gensim to save large arrays apart"
    r = Ranker(out, "sha256")
    assert r.rank("helm rollback", 3)
    assert r.model.wv.vectors.filename  # memory-mapped from the listed file
    _relist(out, drop={apart[0]})
    with pytest.raises(ModelError, match=f"{apart[0]} is not listed"):
        Ranker(out, "sha256")
