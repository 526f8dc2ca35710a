"""Knowing when not to answer: the min_score threshold from training to the manifest, the
API, `ask`, `batch`, /metrics and the access log (faq_engine.abstain)."""

from __future__ import annotations

import json
import logging
import re
import shutil

import pytest

from faq_engine import abstain
from faq_engine.cli import main
from faq_engine.modeldir import ModelError, dump_manifest, dump_sums, verify
from faq_engine.ranking import Ranker
from faq_engine.trainer import train
from faq_engine.web import create_app

ON_TOPIC = "How do I roll back to the previous model?"
# Nothing in the sample FAQ (about faq-engine itself) answers these.
OFF_TOPIC = ["what's the weather like today?", "how long should I boil an egg",
             "who won the world cup in 2018"]
EMBEDDING_DEFAULT = abstain.DEFAULT_MIN_SCORES["embedding"]


def rewrite_manifest(model_dir, change) -> None:
    """Edit the manifest and re-sign it, as a trainer (old or new) would have written it."""
    path = model_dir / "manifest.json"
    m = json.loads(path.read_text())
    change(m)
    text = dump_manifest(m)
    path.write_text(text)
    (model_dir / "SHA256SUMS").write_text(dump_sums(m, text))


@pytest.fixture(scope="module")
def emb_client(embedding_model):
    return create_app({"MODEL_DIR": str(embedding_model), "TESTING": True}).test_client()


def ask_api(client, question, top_k=3):
    r = client.post("/v1/answer", json={"question": question, "top_k": top_k})
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()


def unanswered(client, reason) -> float:
    text = client.get("/metrics").get_data(as_text=True)
    m = re.search(rf'^faq_unanswered_questions_total\{{reason="{reason}"\}} (\S+)$', text, re.M)
    assert m, f"no unanswered counter for {reason} in /metrics"
    return float(m[1])


# -- training and the manifest ---------------------------------------------------------------

def test_training_writes_each_kinds_default_min_score(trained_model, embedding_model):
    assert verify(trained_model)["min_score"] == abstain.DEFAULT_MIN_SCORES["doc2vec"] == 0
    assert verify(embedding_model)["min_score"] == EMBEDDING_DEFAULT > 0
    assert Ranker(embedding_model).min_score == EMBEDDING_DEFAULT


def test_train_min_score_option(tmp_path, sample_faq, capsys):
    out = tmp_path / "m"
    assert main(["train", "--faq", str(sample_faq), "--out", str(out), "--epochs", "2",
                 "--min-score", "0.4"]) == 0
    assert verify(out)["min_score"] == 0.4
    assert Ranker(out).min_score == 0.4
    with pytest.raises(SystemExit) as e:
        main(["train", "--faq", str(sample_faq), "--out", str(tmp_path / "n"),
              "--min-score", "-1"])
    assert e.value.code == 2
    assert "must be a number >= 0" in capsys.readouterr().err
    with pytest.raises(ValueError, match="min_score must be a number"):
        train(sample_faq, tmp_path / "o", min_score=float("nan"))


def test_old_manifest_without_min_score_has_no_threshold(embedding_model, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(embedding_model, old)
    rewrite_manifest(old, lambda m: m.pop("min_score"))
    ranker = Ranker(old)
    assert ranker.min_score == 0
    body = ask_api(create_app({"MODEL_DIR": str(old)}).test_client(), OFF_TOPIC[0])
    assert body["no_answer"] is False and len(body["answers"]) == 3


@pytest.mark.parametrize("bad", ["0.3", -0.5, None, True, [0.3]])
def test_bad_manifest_min_score_is_refused_naming_it(trained_model, tmp_path, bad):
    model = tmp_path / "m"
    shutil.copytree(trained_model, model)
    rewrite_manifest(model, lambda m: m.update(min_score=bad))
    with pytest.raises(ModelError, match="min_score must be a number >= 0"):
        Ranker(model)
    r = create_app({"MODEL_DIR": str(model)}).test_client().get("/readyz")
    assert r.status_code == 503 and "min_score" in r.get_json()["reason"]


# -- the API ---------------------------------------------------------------------------------

def test_off_topic_gets_no_answer_and_a_reason(emb_client):
    for question in OFF_TOPIC:
        body = ask_api(emb_client, question)
        assert body["answers"] == [] and body["no_answer"] is True, (question, body)
        assert body["reason"]["code"] == "below_min_score"
        assert f"{EMBEDDING_DEFAULT:g}" in body["reason"]["message"]
        assert body["model"] == {"version": "2.0"}


def test_on_topic_answers_are_all_above_the_threshold(emb_client, embedding_model):
    body = ask_api(emb_client, ON_TOPIC, top_k=20)
    assert body["no_answer"] is False and "reason" not in body
    assert body["answers"][0]["id"] == "rollback"
    scores = [a["score"] for a in body["answers"]]
    assert min(scores) >= EMBEDDING_DEFAULT
    assert len(scores) < 20  # the threshold cut the tail, not top_k
    unfiltered = Ranker(embedding_model).answer(ON_TOPIC, 20)
    assert [a for a in unfiltered if a["score"] >= EMBEDDING_DEFAULT] == body["answers"]


def test_no_known_word_is_a_no_answer_too(client):
    body = ask_api(client, "zzzqx vvvyy")  # the Doc2Vec model knows neither word
    assert body == {"answers": [], "no_answer": True,
                    "reason": {"code": "no_known_words", "message": body["reason"]["message"]},
                    "model": {"version": "1.0"}}


def test_env_var_overrides_and_zero_disables(embedding_model, monkeypatch):
    monkeypatch.setenv("FAQ_MIN_SCORE", "0")
    body = ask_api(create_app({"MODEL_DIR": str(embedding_model)}).test_client(), OFF_TOPIC[0])
    assert body["no_answer"] is False and len(body["answers"]) == 3
    monkeypatch.setenv("FAQ_MIN_SCORE", "0.99")
    body = ask_api(create_app({"MODEL_DIR": str(embedding_model)}).test_client(), ON_TOPIC)
    assert body["no_answer"] is True and "0.99" in body["reason"]["message"]


@pytest.mark.parametrize("bad", ["high", "-0.1", "nan", "inf"])
def test_bad_env_var_stops_the_app_naming_it(embedding_model, monkeypatch, bad):
    monkeypatch.setenv("FAQ_MIN_SCORE", bad)
    with pytest.raises(ValueError, match="FAQ_MIN_SCORE must be a number >= 0"):
        create_app({"MODEL_DIR": str(embedding_model)})


def test_openapi_documents_no_answer(emb_client):
    spec = emb_client.get("/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    assert "no_answer" in schemas["AnswerResponse"]["required"]
    assert schemas["NoAnswerReason"]["properties"]["code"]["enum"] == list(abstain.REASONS)
    body = ask_api(emb_client, OFF_TOPIC[0])
    # every key of a no-answer body is documented, and so is every key of its reason
    assert set(body) <= set(schemas["AnswerResponse"]["properties"])
    assert set(body["reason"]) == set(schemas["NoAnswerReason"]["required"])


def test_metrics_count_unanswered_questions(emb_client):
    before = unanswered(emb_client, "below_min_score")
    ask_api(emb_client, OFF_TOPIC[1])
    ask_api(emb_client, ON_TOPIC)
    assert unanswered(emb_client, "below_min_score") == before + 1
    assert unanswered(emb_client, "no_known_words") >= 0  # exported from the start


def test_access_log_says_whether_there_was_an_answer(emb_client, caplog):
    logger = logging.getLogger("faq_engine")
    logger.propagate = True  # let caplog see the JSON-configured logger
    try:
        with caplog.at_level(logging.INFO, logger="faq_engine"):
            ask_api(emb_client, OFF_TOPIC[2])
            ask_api(emb_client, ON_TOPIC)
            emb_client.post("/v1/answer", json={"question": ""})  # a 400: nothing computed
    finally:
        logger.propagate = False
    requests = [r for r in caplog.records if r.getMessage() == "request"]
    assert [getattr(r, "no_answer", "absent") for r in requests] == [True, False, "absent"]


# -- ask and batch ---------------------------------------------------------------------------

def run_ask(capsys, *args) -> dict:
    capsys.readouterr()
    assert main(["ask", *map(str, args)]) == 0
    return json.loads(capsys.readouterr().out)


def test_ask_applies_the_threshold(embedding_model, capsys, monkeypatch):
    monkeypatch.delenv("FAQ_MIN_SCORE", raising=False)
    body = run_ask(capsys, "--model-dir", embedding_model, OFF_TOPIC[0])
    assert body["answers"] == [] and body["no_answer"] is True
    assert body["reason"]["code"] == "below_min_score"
    body = run_ask(capsys, "--model-dir", embedding_model, ON_TOPIC)
    assert body["no_answer"] is False and body["answers"][0]["id"] == "rollback"
    # --min-score 0 disables; FAQ_MIN_SCORE overrides the manifest, --min-score both
    assert len(run_ask(capsys, "--model-dir", embedding_model, "--min-score", "0",
                       OFF_TOPIC[0])["answers"]) == 3
    monkeypatch.setenv("FAQ_MIN_SCORE", "0")
    assert run_ask(capsys, "--model-dir", embedding_model, OFF_TOPIC[0])["no_answer"] is False
    assert run_ask(capsys, "--model-dir", embedding_model, "--min-score", "0.99",
                   ON_TOPIC)["no_answer"] is True
    monkeypatch.setenv("FAQ_MIN_SCORE", "lots")
    assert main(["ask", "--model-dir", str(embedding_model), ON_TOPIC]) == 2
    assert "FAQ_MIN_SCORE must be a number" in capsys.readouterr().err


def test_batch_marks_lines_without_an_answer(embedding_model, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("FAQ_MIN_SCORE", raising=False)
    src, out, summary = tmp_path / "q.jsonl", tmp_path / "a.jsonl", tmp_path / "s.json"
    questions = [ON_TOPIC, *OFF_TOPIC]
    src.write_text("".join(json.dumps({"question": q, "top_k": 5}) + "\n" for q in questions))
    assert main(["batch", "--model-dir", str(embedding_model), "--in", str(src),
                 "--out", str(out), "--summary", str(summary)]) == 0
    records = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["no_answer"] for r in records] == [False, True, True, True]
    assert records[0]["answers"] and min(a["score"] for a in records[0]["answers"]) \
        >= EMBEDDING_DEFAULT
    assert all(r["answers"] == [] and r["reason"]["code"] == "below_min_score"
               for r in records[1:])
    s = json.loads(summary.read_text())
    assert (s["lines"], s["answered"], s["no_answer"]) == (4, 4, 3)
    assert f"min_score {EMBEDDING_DEFAULT:g}" in capsys.readouterr().err
    # --min-score 0: every line answered
    assert main(["batch", "--model-dir", str(embedding_model), "--in", str(src),
                 "--out", str(out), "--min-score", "0"]) == 0
    assert not any(json.loads(x)["no_answer"] for x in out.read_text().splitlines())
