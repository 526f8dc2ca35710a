"""The registry of scorers a model can rank with, each in its own module.

A scorer module defines ``Scorer(files)``, where ``files`` is the loading model's
:class:`~faq_engine.ranking.ModelFiles` (every file comes through ``files.path(name)``, which
accepts only regular files listed in the manifest), with one method
``scores(question, tokens) -> numpy array of one score per entry, or None`` (None: no signal
for this question). A model's manifest names its scorers and their weights; a new scorer is a
new module plus its line here.
"""

from __future__ import annotations

import importlib

REGISTRY = {
    "bm25": "faq_engine.scorers.bm25",
    "doc2vec": "faq_engine.scorers.doc2vec",
    "embedding": "faq_engine.scorers.embedding",
}


def scorer_class(name: str):
    """The Scorer class registered as ``name`` (imported only when a model uses it)."""
    return importlib.import_module(REGISTRY[name]).Scorer
