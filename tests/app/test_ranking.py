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
    _relist(model_copy, drop={"doc2vec.syn1neg.npy"})
    with pytest.raises(ModelError, match="doc2vec.syn1neg.npy is not listed") as e:
        Ranker(model_copy, "sha256")
    assert e.value.file == "doc2vec.syn1neg.npy"


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


# --- a model is a list of scorers named in its manifest -----------------------------------------

def _edit_manifest(model, change):
    import json

    from faq_engine.modeldir import MANIFEST, dump_manifest, dump_sums

    m = json.loads((model / MANIFEST).read_text())
    change(m)
    text = dump_manifest(m)
    (model / MANIFEST).write_text(text)
    (model / "SHA256SUMS").write_text(dump_sums(m, text))


def test_manifest_names_kind_and_scorers(ranker):
    assert ranker.kind == "doc2vec"
    assert ranker.weights == [("bm25", 0.7), ("doc2vec", 0.3)]
    assert ranker.manifest["scorers"] == [{"name": "bm25", "weight": 0.7},
                                          {"name": "doc2vec", "weight": 0.3}]


def test_weights_come_from_the_manifest(ranker, model_copy):
    _edit_manifest(model_copy, lambda m: m.__setitem__("scorers", [{"name": "bm25", "weight": 2}]))
    bm25_only = Ranker(model_copy)
    assert list(bm25_only.scorers) == ["bm25"]
    q = "helm rollback"
    assert [a.index for a in bm25_only.rank(q, 5)] == \
        [a.index for a in ranker.rank(q, 5, weights={"bm25": 1.0})]


@pytest.mark.parametrize("change, message", [
    (lambda m: m.__setitem__("kind", "bert-xl"), "unknown model kind 'bert-xl'"),
    (lambda m: m["scorers"].append({"name": "colbert", "weight": 1}), "unknown scorer 'colbert'"),
    (lambda m: m.__setitem__("scorers", []), "no scorers listed"),
    (lambda m: m["scorers"][0].__setitem__("weight", -1), "scorer 'bm25' has bad weight -1"),
])
def test_unknown_kind_or_scorer_is_a_clear_error_at_load(model_copy, change, message):
    from faq_engine.modeldir import ModelError

    _edit_manifest(model_copy, change)
    with pytest.raises(ModelError, match=message) as e:
        Ranker(model_copy)
    assert e.value.file == "manifest.json"


def test_unknown_kind_leaves_the_app_unready_with_the_reason(model_copy):
    from faq_engine.web import create_app

    _edit_manifest(model_copy, lambda m: m.__setitem__("kind", "bert-xl"))
    r = create_app({"MODEL_DIR": str(model_copy), "TESTING": True}).test_client().get("/readyz")
    assert r.status_code == 503 and "unknown model kind 'bert-xl'" in r.get_json()["reason"]


def test_a_scorer_not_in_the_model_is_refused(ranker):
    with pytest.raises(ValueError, match="no scorer embedding"):
        ranker.rank("helm", 3, weights={"embedding": 1.0})
