"""Loading a verified model directory and ranking FAQ entries for a question.

The served score mixes two signals: BM25 over the entries' words (scaled so the best match of
a query scores 1) and the cosine between the query's inferred Doc2Vec vector and each entry's
vector. BM25 catches exact terms; Doc2Vec catches related wording. bench/eval_ranking.py shows
the mix beats either alone.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from gensim.models.doc2vec import Doc2Vec
from gensim.utils import SaveLoad

from .index import Bm25, EntryStore
from .modeldir import DOC2VEC, VECTORS, ModelError, listed_file, safe_unpickle, verify
from .text import tokenize

# The only globals a Doc2Vec pickle written by our trainer refers to (gensim 4.4, numpy 1.x
# and 2.x spellings). Anything else in a model's doc2vec.model is refused before it runs.
DOC2VEC_PICKLE_GLOBALS = frozenset({
    ("gensim.models.doc2vec", "Doc2Vec"),
    ("gensim.models.keyedvectors", "KeyedVectors"),
    ("gensim.utils", "call_on_class_only"),
    ("collections", "defaultdict"),
    ("builtins", "hash"),
    ("builtins", "int"),
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.random._mt19937", "MT19937"),
    ("numpy.random._pickle", "__bit_generator_ctor"),
    ("numpy.random._pickle", "__randomstate_ctor"),
})
_ATTRIBUTE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check_separate_arrays(obj, fname: str, model_dir: Path, manifest: dict) -> None:
    """gensim loads arrays saved apart from the pickle from ``<fname>.<attribute>.npy``, with
    attribute names the pickle itself lists: each must be a plain name and a listed regular
    file, so a crafted pickle cannot point the loader anywhere else."""
    if getattr(obj, "__scipys", []):
        raise ModelError(f"{fname}: sparse attributes are not supported", DOC2VEC)
    for attrib in getattr(obj, "__recursive_saveloads", []):
        if not isinstance(attrib, str) or not _ATTRIBUTE.fullmatch(attrib):
            raise ModelError(f"{fname}: bad attribute name {attrib!r}", DOC2VEC)
        _check_separate_arrays(getattr(obj, attrib), f"{fname}.{attrib}", model_dir, manifest)
    for attrib in getattr(obj, "__numpys", []):
        if not isinstance(attrib, str) or not _ATTRIBUTE.fullmatch(attrib):
            raise ModelError(f"{fname}: bad attribute name {attrib!r}", DOC2VEC)
        listed_file(model_dir, manifest, f"{fname}.{attrib}.npy")


def load_doc2vec(model_dir: Path, manifest: dict) -> Doc2Vec:
    """gensim's Doc2Vec.load, with the pickle read by a restricted unpickler from the listed
    file and every separately saved array checked as listed before gensim maps it."""
    model = safe_unpickle(model_dir, manifest, DOC2VEC, DOC2VEC_PICKLE_GLOBALS)
    if not isinstance(model, Doc2Vec):
        raise ModelError(f"{model_dir / DOC2VEC}: not a Doc2Vec model", DOC2VEC)
    _check_separate_arrays(model, DOC2VEC, model_dir, manifest)
    path = str(listed_file(model_dir, manifest, DOC2VEC))
    # What SaveLoad.load does after unpickling (mmap: gunicorn workers forked after this share
    # the pages instead of copying them).
    model._load_specials(path, "r", False, SaveLoad._adapt_by_suffix(path)[1])
    return model

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
        self.model = load_doc2vec(self.model_dir, self.manifest)
        self.vectors = np.load(self.path(VECTORS), mmap_mode="r")
        self.entries = EntryStore(self.path)
        self.bm25 = Bm25(self.path, len(self.entries))
        self._infer_lock = threading.Lock()
        self.load_seconds = time.monotonic() - started

    def path(self, name: str) -> Path:
        """The checked path of a file this model lists (modeldir.listed_file)."""
        return listed_file(self.model_dir, self.manifest, name)

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
