"""BM25 over the entries' words, scaled so the best match of a question scores 1."""

from __future__ import annotations

import numpy as np

from ..index import Bm25


class Scorer:
    def __init__(self, files):
        self.bm25 = Bm25(files.path, files.entries)

    def scores(self, question: str, tokens: list[str]) -> np.ndarray | None:
        s = self.bm25.scores(tokens)
        top = s.max(initial=0)
        return s / top if top > 0 else None
