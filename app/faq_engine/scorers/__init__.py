"""Model kinds, and the scorers they rank with.

A scorer is a module that owns its files in a model directory:
- ``FILES``: the names it may write;
- ``write(training) -> dict``: writes them at training time into ``training.out`` (a
  :class:`~faq_engine.params.Training`) and returns the fields it adds to the manifest.
  Imports only training needs (gensim's trainer, the encoder source checks) happen inside it,
  so serving never loads them;
- ``Scorer(files)``: loads them, where ``files`` is the loading model's
  :class:`~faq_engine.ranking.ModelFiles` (every file comes through ``files.path(name)`` or
  ``files.open(name)``, which accept only regular files listed in the manifest), with one
  method ``scores(question, tokens) -> numpy array of one score per entry, or None`` (None: no
  signal for this question);
- optionally ``OPTIONS``: the names of the ``training.options`` it reads.

A model kind is one row of ``KINDS``: its scorer modules, each with its weight in the served
score. The manifest names the kind and its scorers (by the module's last name part) with their
weights; the app ranks with what the manifest says. Adding a kind is a module and a row here.
"""

from __future__ import annotations

import importlib
from types import ModuleType

KINDS: dict[str, dict[str, float]] = {
    # BM25 for exact terms, Doc2Vec for related wording (weights: bench/eval_ranking.py).
    "doc2vec": {"faq_engine.scorers.bm25": 0.7, "faq_engine.scorers.doc2vec": 0.3},
    # The sentence embedding alone: adding BM25 lowered its quality on paraphrased questions.
    "embedding": {"faq_engine.scorers.embedding": 1.0},
}
DEFAULT_KIND = "doc2vec"  # also the kind of manifests written before kinds existed


def scorer_name(module: str) -> str:
    return module.rsplit(".", 1)[-1]


def modules() -> dict[str, str]:
    """Every registered scorer: {name: module}."""
    return {scorer_name(m): m for row in KINDS.values() for m in row}


def scorer_module(name: str) -> ModuleType:
    """The module of scorer ``name``, imported only when a model uses it. KeyError if unknown."""
    return importlib.import_module(modules()[name])


def kind_scorers(kind: str) -> list[tuple[str, ModuleType, float]]:
    """(name, module, weight) of each scorer of ``kind``. KeyError if unknown."""
    return [(scorer_name(m), importlib.import_module(m), w) for m, w in KINDS[kind].items()]
