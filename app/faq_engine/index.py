"""On-disk parts of a model besides Doc2Vec: the entry store and the BM25 index.

Everything is stored as flat ``.npy`` arrays plus small JSON, so a server can memory-map it and
gunicorn workers forked after loading share one copy of the pages.
"""

from __future__ import annotations

import json
import math
import mmap
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np

from .faq import Entry
from .text import content_terms, tokenize

ENTRIES = "entries.jsonl"
OFFSETS = "entries.offsets.npy"
BM25_FILES = ("bm25.vocab.json", "bm25.indptr.npy", "bm25.indices.npy", "bm25.data.npy")


def write_entries(entries: list[Entry], out: Path) -> list[str]:
    offsets = [0]
    with open(out / ENTRIES, "wb") as fh:
        for e in entries:
            line = json.dumps(e.to_dict(), ensure_ascii=False, separators=(",", ":")) + "\n"
            fh.write(line.encode("utf-8"))
            offsets.append(fh.tell())
    np.save(out / OFFSETS, np.asarray(offsets, dtype=np.int64))
    return [ENTRIES, OFFSETS]


class EntryStore:
    """Read-only random access to the entries through one shared memory map."""

    def __init__(self, path: Callable[[str], Path]):
        """``path`` maps a file name to the path to open (modeldir's checked lookup)."""
        self.offsets = np.load(path(OFFSETS), mmap_mode="r")
        with open(path(ENTRIES), "rb") as fh:
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> dict:
        start, end = int(self.offsets[i]), int(self.offsets[i + 1])
        return json.loads(self._map[start:end])


def document_terms(entry: Entry, question_weight: int) -> list[str]:
    """The lexical view of an entry; its question counts ``question_weight`` times."""
    q = content_terms(tokenize(entry.question))
    return q * question_weight + content_terms(tokenize(entry.answer))


def write_bm25(entries: list[Entry], out: Path, k1: float, b: float, question_weight: int) -> list[str]:
    """Precompute every (term, document) BM25 weight into a term-major CSR matrix."""
    docs = [Counter(document_terms(e, question_weight)) for e in entries]
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
    for t, term in enumerate(vocab):
        plist = postings[term]
        df = len(plist)
        idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
        for i, tf in plist:
            norm = k1 * (1.0 - b + b * lengths[i] / avgdl)
            indices.append(i)
            data.append(idf * tf * (k1 + 1.0) / (tf + norm))
        indptr[t + 1] = len(indices)
    (out / BM25_FILES[0]).write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    np.save(out / BM25_FILES[1], indptr)
    np.save(out / BM25_FILES[2], np.asarray(indices, dtype=np.int32))
    np.save(out / BM25_FILES[3], np.asarray(data, dtype=np.float32))
    return list(BM25_FILES)


class Bm25:
    def __init__(self, path: Callable[[str], Path], n_docs: int):
        vocab = json.loads(path(BM25_FILES[0]).read_text(encoding="utf-8"))
        self.term_ids = {t: i for i, t in enumerate(vocab)}
        self.indptr = np.load(path(BM25_FILES[1]), mmap_mode="r")
        self.indices = np.load(path(BM25_FILES[2]), mmap_mode="r")
        self.data = np.load(path(BM25_FILES[3]), mmap_mode="r")
        self.n_docs = n_docs

    def scores(self, tokens: list[str]) -> np.ndarray:
        out = np.zeros(self.n_docs, dtype=np.float32)
        for term in content_terms(tokens):
            t = self.term_ids.get(term)
            if t is None:
                continue
            s, e = int(self.indptr[t]), int(self.indptr[t + 1])
            out[self.indices[s:e]] += self.data[s:e]
        return out
