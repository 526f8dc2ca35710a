"""Loading a verified model directory and ranking FAQ entries for a question.

A model is a list of scorers with weights, both named in its manifest (``scorers``; see
faq_engine/scorers for the kinds and the scorers they rank with). The served score of an entry
is the weighted sum of the scorers' scores; a scorer with no signal for a question (BM25 or
Doc2Vec with no known word) sits out.
"""

from __future__ import annotations

import io
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import abstain
from .entries import EntryStore
from .modeldir import MANIFEST, ModelError, listed_file, load_array, open_listed, verify
from .scorers import DEFAULT_KIND, KINDS, modules, scorer_module
from .text import tokenize


@dataclass
class Answer:
    index: int
    score: float


@dataclass
class ModelFiles:
    """What a scorer gets to load itself: the manifest and the checked path of a listed file."""

    dir: Path
    manifest: dict
    entries: int

    def path(self, name: str) -> Path:
        return listed_file(self.dir, self.manifest, name)

    def open(self, name: str) -> io.BufferedReader:
        return open_listed(self.dir, self.manifest, name)

    def array(self, name: str, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
        """A listed ``.npy`` file, mapped once its header is exactly ``dtype`` and ``shape``."""
        return load_array(self.dir, self.manifest, name, dtype, shape)


def model_scorers(manifest: dict) -> tuple[str, list[tuple[str, float]]]:
    """The model's kind and its (scorer, weight) list, checked. Raises ModelError naming the
    unknown kind or scorer."""
    kind = manifest.get("kind", DEFAULT_KIND)
    if kind not in KINDS:
        raise ModelError(f"{MANIFEST}: unknown model kind {kind!r} (this app knows "
                         f"{', '.join(KINDS)})", MANIFEST)
    raw = manifest.get("scorers")
    if not isinstance(raw, list) or not raw:
        raise ModelError(f"{MANIFEST}: no scorers listed", MANIFEST)
    out, known = [], modules()
    for s in raw:
        name = s.get("name") if isinstance(s, dict) else None
        weight = s.get("weight") if isinstance(s, dict) else None
        if not isinstance(name, str) or name not in known:
            raise ModelError(f"{MANIFEST}: unknown scorer {name!r} (this app knows "
                             f"{', '.join(known)})", MANIFEST)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) \
                or not math.isfinite(weight) or weight <= 0:
            raise ModelError(f"{MANIFEST}: scorer {name!r} has bad weight {weight!r}", MANIFEST)
        if name in dict(out):
            raise ModelError(f"{MANIFEST}: scorer {name!r} listed twice", MANIFEST)
        out.append((name, float(weight)))
    return kind, out


class Ranker:
    def __init__(self, model_dir: str | Path, verify_mode: str = "auto"):
        started = time.monotonic()
        self.model_dir = Path(model_dir)
        self.manifest = verify(self.model_dir, verify_mode)
        self.version: str = self.manifest["version"]
        self.kind, self.weights = model_scorers(self.manifest)
        # The model's own threshold (faq_engine.abstain); callers may override it.
        self.min_score = abstain.from_manifest(self.manifest)
        self.entries = EntryStore(self.model_dir, self.manifest)
        files = ModelFiles(self.model_dir, self.manifest, len(self.entries))
        self.scorers = {name: scorer_module(name).Scorer(files) for name, _ in self.weights}
        self.load_seconds = time.monotonic() - started

    def scores(self, question: str, weights: dict[str, float] | None = None) -> np.ndarray | None:
        """Per-entry scores, or None when no scorer has a signal for the question.

        ``weights`` overrides the manifest's (a subset of this model's scorers: benches)."""
        use = dict(self.weights) if weights is None else weights
        unknown = set(use) - set(self.scorers)
        if unknown:
            raise ValueError(f"this model has no scorer {', '.join(sorted(unknown))}")
        tokens = tokenize(question)
        combined = None
        for name, w in use.items():
            s = self.scorers[name].scores(question, tokens)
            if s is not None:
                combined = w * s if combined is None else combined + w * s
        return None if combined is None else np.asarray(combined, dtype=np.float32)

    def rank(self, question: str, top_k: int = 3,
             weights: dict[str, float] | None = None) -> list[Answer]:
        scores = self.scores(question, weights)
        if scores is None:
            return []
        k = min(top_k, len(scores))
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.lexsort((best, -scores[best]))]  # by score, then by index: stable ties
        return [Answer(int(i), float(scores[i])) for i in best]

    def answer(self, question: str, top_k: int = 3) -> list[dict]:
        out = []
        for a in self.rank(question, top_k):
            e = self.entries[a.index]
            out.append({"id": e["id"], "question": e["question"], "answer": e["answer"],
                        "score": round(a.score, 6)})
        return out
