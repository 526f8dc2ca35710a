"""Knowing when not to answer: a minimum score below which an entry is not an answer.

Training stores a default ``min_score`` per kind in the manifest (``DEFAULT_MIN_SCORES``,
chosen by bench/eval_ranking.py); a model without one (older manifests) has no threshold.
``FAQ_MIN_SCORE`` (the chart's ``model.minScore``) or ``--min-score`` overrides it, and 0
disables it. Answers scoring below the threshold are dropped; a question left with none gets
``"answers": []``, ``"no_answer": true`` and a ``reason`` (the server, ``ask`` and ``batch``
all reply through :func:`reply`).
"""

from __future__ import annotations

import math
import os
from typing import Any

from .modeldir import MANIFEST, ModelError

ENV = "FAQ_MIN_SCORE"
MANIFEST_KEY = "min_score"
# The default threshold training writes per kind (bench/eval_ranking.py measures them on three
# FAQs with on-topic paraphrases and off-topic questions; README "Which kind to choose").
# embedding: the top cosine of an off-topic question stays below it for >= 90 % of them on
# each FAQ while >= 95 % of on-topic ones pass. doc2vec: 0, it does not abstain: its best
# BM25 match is scaled to 1 and its Doc2Vec cosine is higher for off-topic questions.
DEFAULT_MIN_SCORES = {"doc2vec": 0.0, "embedding": 0.27}
# Why a question got no answer: a closed set (the metric's label values).
BELOW_MIN_SCORE = "below_min_score"
NO_KNOWN_WORDS = "no_known_words"
REASONS = (BELOW_MIN_SCORE, NO_KNOWN_WORDS)


def parse(value: Any, what: str) -> float:
    """A threshold: a finite number >= 0. Raises ValueError naming ``what``."""
    try:
        if isinstance(value, bool):
            raise ValueError
        score = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number >= 0, not {value!r}") from None
    if not math.isfinite(score) or score < 0:
        raise ValueError(f"{what} must be a number >= 0, not {value!r}")
    return score


def from_manifest(manifest: dict) -> float:
    """The model's own threshold; 0 (none) when its manifest has none. Raises ModelError."""
    if MANIFEST_KEY not in manifest:
        return 0.0
    value = manifest[MANIFEST_KEY]
    if isinstance(value, str):  # a manifest holds a JSON number, never a string
        raise ModelError(f"{MANIFEST}: {MANIFEST_KEY} must be a number >= 0, not {value!r}",
                         MANIFEST)
    try:
        return parse(value, f"{MANIFEST}: {MANIFEST_KEY}")
    except ValueError as e:
        raise ModelError(str(e), MANIFEST) from None


def from_env(environ=os.environ) -> float | None:
    """``FAQ_MIN_SCORE`` when set (and not empty), else None. Raises ValueError."""
    raw = environ.get(ENV, "").strip()
    return parse(raw, ENV) if raw else None


def reply(ranker, question: str, top_k: int, min_score: float) -> dict:
    """The answer body for a question: ``answers`` (only those scoring ``min_score`` or more;
    all of them when it is 0) and ``no_answer``, with a ``reason`` when there is none."""
    ranked = ranker.answer(question, top_k)
    answers = [a for a in ranked if a["score"] >= min_score] if min_score > 0 else ranked
    out: dict[str, Any] = {"answers": answers, "no_answer": not answers}
    if not answers:
        if ranked:
            out["reason"] = {"code": BELOW_MIN_SCORE,
                             "message": f"no entry scored {min_score:g} or more (best "
                                        f"{ranked[0]['score']:g}): the question looks "
                                        "off-topic for this FAQ"}
        else:
            out["reason"] = {"code": NO_KNOWN_WORDS,
                             "message": "the model knows none of the question's words"}
    return out
