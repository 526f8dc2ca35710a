"""BM25 over the entries' words, scaled so the best match of a question scores 1.

Training precomputes every (term, entry) weight into a term-major CSR matrix (three ``.npy``
arrays and the vocabulary as JSON), so serving memory-maps it and scores by adding rows.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import asdict

import numpy as np

from ..faq import Entry
from ..modeldir import ModelError
from ..text import content_terms, tokenize

VOCAB = "bm25.vocab.json"
INDPTR = "bm25.indptr.npy"
INDICES = "bm25.indices.npy"
DATA = "bm25.data.npy"
FILES = (VOCAB, INDPTR, INDICES, DATA)


def document_terms(entry: Entry, question_weight: int) -> list[str]:
    """The lexical view of an entry; its question counts ``question_weight`` times."""
    q = content_terms(tokenize(entry.question))
    return q * question_weight + content_terms(tokenize(entry.answer))


def write(t) -> dict:
    """Precompute every (term, entry) BM25 weight. Returns the manifest's ``ranking``."""
    k1, b = t.rank.bm25_k1, t.rank.bm25_b
    docs = [Counter(document_terms(e, t.rank.question_weight)) for e in t.entries]
    n = len(docs)
    lengths = np.array([sum(d.values()) for d in docs], dtype=np.float64)
    avgdl = max(float(lengths.mean()), 1.0)
    postings: dict[str, list[tuple[int, int]]] = {}
    for i, d in enumerate(docs):
        for term, tf in d.items():
            postings.setdefault(term, []).append((i, tf))
    vocab = sorted(postings)
    indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
    indices, data = [], []
    for j, term in enumerate(vocab):
        plist = postings[term]
        df = len(plist)
        idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
        for i, tf in plist:
            norm = k1 * (1.0 - b + b * lengths[i] / avgdl)
            indices.append(i)
            data.append(idf * tf * (k1 + 1.0) / (tf + norm))
        indptr[j + 1] = len(indices)
    (t.out / VOCAB).write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    np.save(t.out / INDPTR, indptr)
    np.save(t.out / INDICES, np.asarray(indices, dtype=np.int32))
    np.save(t.out / DATA, np.asarray(data, dtype=np.float32))
    return {"ranking": asdict(t.rank)}


class Scorer:
    def __init__(self, files):
        with files.open(VOCAB) as fh:
            try:
                vocab = json.loads(fh.read().decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError) as e:
                raise ModelError(f"{files.dir / VOCAB}: unreadable: {e}", VOCAB) from None
        if not isinstance(vocab, list) or not all(isinstance(t, str) for t in vocab):
            raise ModelError(f"{files.dir / VOCAB}: not a list of terms", VOCAB)
        self.term_ids = {term: i for i, term in enumerate(vocab)}
        # A CSR matrix whose every row lies inside the arrays and every column is an entry.
        self.indptr = files.array(INDPTR, "<i8", (len(vocab) + 1,))
        nnz = int(self.indptr[-1])
        if self.indptr[0] != 0 or (np.diff(self.indptr) < 0).any() or nnz < 0:
            raise ModelError(f"{files.dir / INDPTR}: not non-decreasing from 0", INDPTR)
        self.indices = files.array(INDICES, "<i4", (nnz,))
        self.data = files.array(DATA, "<f4", (nnz,))
        if nnz and (self.indices.min() < 0 or self.indices.max() >= files.entries):
            raise ModelError(f"{files.dir / INDICES}: an entry index outside 0..{files.entries - 1}",
                             INDICES)
        if not np.isfinite(self.data).all():
            raise ModelError(f"{files.dir / DATA}: a weight that is not a finite number", DATA)
        self.n_docs = files.entries

    def raw_scores(self, tokens: list[str]) -> np.ndarray:
        out = np.zeros(self.n_docs, dtype=np.float32)
        for term in content_terms(tokens):
            j = self.term_ids.get(term)
            if j is None:
                continue
            s, e = int(self.indptr[j]), int(self.indptr[j + 1])
            out[self.indices[s:e]] += self.data[s:e]
        return out

    def scores(self, question: str, tokens: list[str]) -> np.ndarray | None:
        s = self.raw_scores(tokens)
        top = s.max(initial=0)
        return s / top if top > 0 else None
