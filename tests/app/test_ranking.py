import pytest

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


@pytest.mark.parametrize("mode", ["bm25", "doc2vec", "hybrid"])
def test_every_mode_ranks(ranker, mode):
    answers = ranker.rank("helm rollback", 3, mode=mode)
    assert len(answers) == 3


def test_answer_fields(ranker):
    (a,) = ranker.answer("What is faq-engine?", 1)
    assert set(a) == {"id", "question", "answer", "score"}
    assert a["id"] == "what-is"
