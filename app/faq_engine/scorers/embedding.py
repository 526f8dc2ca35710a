"""The cosine between a question's sentence embedding and each entry's precomputed one.

The encoder runs in plain numpy (faq_engine.encoder) from the weights in the model directory,
memory-mapped; the entries' unit-length embeddings are memory-mapped too. A small LRU cache
keeps the embeddings of recent questions (FAQ traffic repeats itself); bench/serve_perf.py
measures it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from ..encoder import Encoder, EncoderError
from ..modeldir import (EMBEDDINGS, ENCODER_CONFIG, ENCODER_WEIGHTS, TOKENIZER_VOCAB,
                        ModelError)

CACHE_SIZE = 1024


class Scorer:
    def __init__(self, files):
        settings = files.manifest.get("encoder", {})
        try:
            max_length = int(settings["max_length"])
        except (KeyError, TypeError, ValueError):
            raise ModelError(f"{files.dir}: manifest has no encoder.max_length", "manifest.json") \
                from None
        try:
            self.encoder = Encoder(files.path(ENCODER_WEIGHTS), files.path(ENCODER_CONFIG),
                                   files.path(TOKENIZER_VOCAB), max_length)
        except EncoderError as e:
            raise ModelError(str(e), ENCODER_WEIGHTS) from None
        self.embeddings = np.load(files.path(EMBEDDINGS), mmap_mode="r", allow_pickle=False)
        if self.embeddings.shape != (files.entries, self.encoder.hidden):
            raise ModelError(f"{files.dir}: {EMBEDDINGS} is {list(self.embeddings.shape)}, want "
                             f"[{files.entries}, {self.encoder.hidden}]", EMBEDDINGS)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.cache_size = CACHE_SIZE

    def query_vector(self, question: str) -> np.ndarray:
        with self._lock:
            v = self._cache.get(question)
            if v is not None:
                self._cache.move_to_end(question)
                return v
        v = self.encoder.encode(question)
        if self.cache_size:
            with self._lock:
                self._cache[question] = v
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return v

    def scores(self, question: str, tokens: list[str]) -> np.ndarray | None:
        if not tokens:  # no word at all ("?!"): nothing to understand
            return None
        return self.embeddings @ self.query_vector(question)
