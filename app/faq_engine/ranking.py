"""Loading a verified model directory and ranking FAQ entries for a question.

The served score mixes two signals: BM25 over the entries' words (scaled so the best match of
a query scores 1) and the cosine between the query's inferred Doc2Vec vector and each entry's
vector. BM25 catches exact terms; Doc2Vec catches related wording. bench/eval_ranking.py shows
the mix beats either alone.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from gensim.models.doc2vec import Doc2Vec

from .index import Bm25, EntryStore
from .modeldir import verify
from .text import tokenize
from .trainer import DOC2VEC, VECTORS

MODES = ("hybrid", "bm25", "doc2vec")


@dataclass
class Answer:
    index: int
    score: float


class Ranker:
    def __init__(self, model_dir: str | Path, verify_mode: str = "auto"):
        started = time.monotonic()
        self.model_dir = Path(model_dir)
        self.manifest = verify(self.model_dir, verify_mode)
        self.version: str = self.manifest["version"]
        rank = self.manifest["ranking"]
        self.lexical_weight = float(rank["lexical_weight"])
        self.vector_weight = float(rank["vector_weight"])
        self.seed = int(self.manifest["training"]["seed"])
        # mmap: gunicorn workers forked after this share the pages instead of copying them.
        self.model = Doc2Vec.load(str(self.model_dir / DOC2VEC), mmap="r")
        self.vectors = np.load(self.model_dir / VECTORS, mmap_mode="r")
        self.entries = EntryStore(self.model_dir)
        self.bm25 = Bm25(self.model_dir, len(self.entries))
        self._infer_lock = threading.Lock()
        self.load_seconds = time.monotonic() - started

    def query_vector(self, tokens: list[str]) -> np.ndarray | None:
        known = [t for t in tokens if t in self.model.wv.key_to_index]
        if not known:
            return None
        with self._infer_lock:
            # infer_vector draws negative samples from model.random: reseeding makes the same
            # question always get the same vector (and so the same answers).
            self.model.random = np.random.RandomState(self.seed)
            v = self.model.infer_vector(known)
        n = np.linalg.norm(v)
        return (v / n).astype(np.float32) if n > 0 else None

    def scores(self, question: str, mode: str = "hybrid") -> np.ndarray | None:
        """Per-entry scores, or None when the question has no word the model knows."""
        tokens = tokenize(question)
        lexical = self.bm25.scores(tokens) if mode != "doc2vec" else None
        qv = self.query_vector(tokens) if mode != "bm25" else None
        semantic = self.vectors @ qv if qv is not None else None
        if mode == "bm25":
            return lexical if lexical.max(initial=0) > 0 else None
        if mode == "doc2vec":
            return semantic
        top = lexical.max(initial=0)
        if top <= 0 and semantic is None:
            return None
        combined = np.zeros(len(self.entries), dtype=np.float32)
        if top > 0:
            combined += self.lexical_weight * (lexical / top)
        if semantic is not None:
            combined += self.vector_weight * semantic
        return combined

    def rank(self, question: str, top_k: int = 3, mode: str = "hybrid") -> list[Answer]:
        scores = self.scores(question, mode)
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
