"""The query cache (faq_engine.querycache): bounded, most recent kept, and for the Doc2Vec kind
a cached answer is exactly the uncached one."""

from __future__ import annotations

import numpy as np
import pytest

from faq_engine.faq import load_faq
from faq_engine.querycache import QueryCache
from faq_engine.ranking import Ranker


def test_keeps_the_most_recently_used():
    cache, computed = QueryCache(size=2), []

    def vec(key):
        def compute():
            computed.append(key)
            return np.full(3, float(len(computed)), dtype=np.float32)
        return compute

    a = cache.get("a", vec("a"))
    cache.get("b", vec("b"))
    assert cache.get("a", vec("a")) is a  # a hit, and now the most recent
    cache.get("c", vec("c"))  # evicts b
    assert list(cache) == ["a", "c"] and computed == ["a", "b", "c"]
    cache.get("b", vec("b"))
    assert computed == ["a", "b", "c", "b"] and list(cache) == ["c", "b"]
    with pytest.raises(ValueError):
        a[0] = 0  # shared by every later hit: read-only


def test_none_and_size_zero_are_not_kept():
    cache = QueryCache(size=0)
    cache.get("a", lambda: np.zeros(2, dtype=np.float32))
    assert len(cache) == 0
    cache = QueryCache()
    assert cache.get("a", lambda: None) is None and "a" not in cache


def test_doc2vec_answers_from_the_cache_are_the_computed_ones(trained_model, sample_faq):
    cached, uncached = Ranker(trained_model), Ranker(trained_model)
    uncached.scorers["doc2vec"].cache.size = 0
    questions = [e.question for e in load_faq(sample_faq)]
    for q in questions + questions:  # the second pass from the cache
        assert cached.answer(q, 5) == uncached.answer(q, 5), q
    assert len(cached.scorers["doc2vec"].cache) == len(questions)
    assert len(uncached.scorers["doc2vec"].cache) == 0


def test_doc2vec_key_is_the_known_words(trained_model):
    r = Ranker(trained_model)
    s = r.scorers["doc2vec"]
    first = s.query_vector(["rollback", "zzzunknownzzz", "model"])
    assert list(s.cache) == [("rollback", "model")]
    assert s.query_vector(["rollback", "model"]) is first
    assert s.query_vector(["zzzunknownzzz"]) is None and len(s.cache) == 1
