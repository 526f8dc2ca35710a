"""The cosine between a question's inferred Doc2Vec vector and each entry's vector.

Training fits Doc2Vec (PV-DBOW, negative sampling) on the FAQ with gensim and stores what
inference needs, as arrays and JSON like every file of a model directory (no pickle):

- ``doc2vec.vocab.json``: the vocabulary, a JSON list of words in index order;
- ``doc2vec.counts.npy``: each word's count (int64), from which loading rebuilds the
  negative-sampling table exactly as gensim does;
- ``doc2vec.syn1neg.npy``: the output weights (float32, one row per word);
- ``vectors.npy``: the entries' unit-length vectors (float32, one row per entry);
- the manifest's ``doc2vec``: the inference parameters and the vocabulary size.

Loading checks every array's header (dtype, C order, exact shape, header + data = file size)
against the others and the manifest, and every integer against bounds, before numpy maps a
byte or gensim's compiled inference sees a pointer: a crafted model is refused with its reason,
it cannot make the compiled code read or write outside an array, allocate past its file sizes,
or run for unbounded time per question.

Inference is gensim's own (``doc2vec_inner.train_document_dbow``, the loop of
``Doc2Vec.infer_vector``), with the starting vector seeded from the question's text by sha256
instead of Python's per-process ``hash()``: the same question scores the same in every process.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import math
import sys
import time
import types
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..faq import FaqError
from ..modeldir import MANIFEST, ModelError
from ..params import LIMITS
from ..querycache import QueryCache
from ..text import tokenize

VOCAB = "doc2vec.vocab.json"
COUNTS = "doc2vec.counts.npy"
SYN1NEG = "doc2vec.syn1neg.npy"
VECTORS = "vectors.npy"
FILES = (VOCAB, COUNTS, SYN1NEG, VECTORS)
PICKLE = "doc2vec.model"  # models of format 2 and older: refused (see _refuse_pickle)
FLOAT = "<f4"
COUNT = "<i8"
# gensim's negative-sampling table domain (Word2Vec.make_cum_table)
DOMAIN = 2**31 - 1


def _compiled_step():
    """gensim's compiled ``train_document_dbow`` without gensim's package ``__init__``.

    ``import gensim`` loads smart_open, scipy.sparse and scipy.stats (which rewrites hundreds of
    docstrings as it loads) in every process that serves a model, where the compiled step needs
    only numpy and scipy's BLAS (``bench/serve_perf.py startup`` measures the difference). Its
    two extension modules are loaded under bare package modules that are removed
    again at once, so a later ``import gensim`` (training) runs gensim's own ``__init__`` and
    finds the same extension modules. If a gensim release makes them need more of gensim, the
    plain import is used instead.
    """
    parents = ("gensim", "gensim.models")
    if "gensim" in sys.modules:
        from gensim.models.doc2vec_inner import train_document_dbow
        return train_document_dbow
    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("gensim is not installed")
    root = Path(spec.submodule_search_locations[0])
    for name, path in zip(parents, (root, root / "models")):
        bare = types.ModuleType(name)
        bare.__path__, bare.__package__ = [str(path)], name
        sys.modules[name] = bare
    try:
        from gensim.models.doc2vec_inner import train_document_dbow
    except ImportError:
        train_document_dbow = None
    finally:
        for name in parents:
            sys.modules.pop(name, None)
    if train_document_dbow is None:  # needs more of gensim than its compiled modules
        for name in ("gensim.models.doc2vec_inner", "gensim.models.word2vec_inner"):
            sys.modules.pop(name, None)
        from gensim.models.doc2vec_inner import train_document_dbow
    return train_document_dbow


train_document_dbow = _compiled_step()


def _progress(epochs: int, stream=sys.stderr):
    """A progress bar on a terminal, silence otherwise (CI logs, pipes)."""
    from gensim.models.callbacks import CallbackAny2Vec

    class Progress(CallbackAny2Vec):
        def __init__(self):
            self.epoch, self.start = 0, time.monotonic()

        def on_epoch_end(self, model):
            self.epoch += 1
            done = int(30 * self.epoch / epochs)
            stream.write(f"\rtraining [{'#' * done}{'.' * (30 - done)}] epoch {self.epoch}/"
                         f"{epochs} {time.monotonic() - self.start:5.1f}s")
            if self.epoch == epochs:
                stream.write("\n")
            stream.flush()

    return [Progress()] if stream.isatty() else []


def fit(t):
    """gensim's Doc2Vec trained on the entries (one worker thread: reproducible)."""
    from gensim.models.doc2vec import Doc2Vec, TaggedDocument

    p = t.params
    docs = [TaggedDocument(tokenize(f"{e.question} {e.answer}" if t.rank.question_weight > 0
                                    else e.answer), [i])
            for i, e in enumerate(t.entries)]
    model = Doc2Vec(vector_size=p.vector_size, window=p.window, min_count=p.min_count,
                    negative=p.negative, dm=p.dm, dbow_words=p.dbow_words, seed=p.seed,
                    workers=p.workers, epochs=p.epochs, sample=0, hs=0)
    model.build_vocab(docs)
    if not len(model.wv):
        raise FaqError(f"{t.faq_path}: no word occurs {p.min_count} or more times in the "
                       "entries (words are letters and digits): nothing to train on")
    model.train(docs, total_examples=len(docs), epochs=p.epochs, callbacks=_progress(p.epochs))
    return model


def write(t) -> dict:
    """Train, then store what inference needs. Returns the manifest's ``training`` and
    ``doc2vec``."""
    if t.params.dm != 0:
        raise ValueError("only PV-DBOW (dm=0) models are served")
    model = fit(t)
    vectors = np.asarray(model.dv.vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    np.save(t.out / VECTORS, (vectors / np.maximum(norms, 1e-12)).astype(FLOAT))
    words = list(model.wv.index_to_key)
    (t.out / VOCAB).write_text(json.dumps(words, ensure_ascii=False), encoding="utf-8")
    counts = np.array([model.wv.get_vecattr(w, "count") for w in words], dtype=COUNT)
    np.save(t.out / COUNTS, counts)
    np.save(t.out / SYN1NEG, np.ascontiguousarray(model.syn1neg, dtype=FLOAT))
    inference = {"vocabulary": len(words), "vector_size": int(model.vector_size),
                 "negative": int(model.negative), "epochs": int(model.epochs),
                 "alpha": float(model.alpha), "min_alpha": float(model.min_alpha),
                 "ns_exponent": float(model.ns_exponent), "seed": int(t.params.seed)}
    return {"training": asdict(t.params), "doc2vec": inference}


def cum_table(counts: np.ndarray, ns_exponent: float) -> np.ndarray:
    """gensim's ``Word2Vec.make_cum_table`` from the counts, with numpy instead of its Python
    loop (1.7 s of a 300,000-word model's load). The same table to the bit: numpy's cumsum adds
    in order as gensim's loop does, and rint rounds half to even as round() does (tested)."""
    cumulative = np.cumsum(np.asarray(counts, dtype=np.float64) ** float(ns_exponent))
    if not len(cumulative) or not math.isfinite(cumulative[-1]) or cumulative[-1] <= 0:
        raise ValueError(f"counts ** ns_exponent sum to {cumulative[-1] if len(cumulative) else 0}")
    return np.rint(cumulative / cumulative[-1] * DOMAIN).astype(np.uint32)


def text_hash(text: str) -> int:
    """What seeds a question's starting vector: its sha256, the same in every process (gensim
    uses Python's hash(), which differs between processes unless PYTHONHASHSEED is set)."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")


def start_vector(words: list[str], size: int) -> np.ndarray:
    """gensim's ``pseudorandom_weak_vector(size, seed_string=" ".join(words))`` with
    :func:`text_hash` for its ``hashfxn``."""
    once = np.random.Generator(np.random.SFC64(text_hash(" ".join(words)) & 0xFFFFFFFF))
    return ((once.random(size).astype(np.float32) - 0.5) / size).reshape(1, size)


class _Words:
    """The vocabulary as gensim's compiled code reads it (``model.wv``)."""

    def __init__(self, words: list[str], size: int):
        self.key_to_index = {w: i for i, w in enumerate(words)}
        # Read by init_d2v_config as pointers, used only when training words (never here).
        self.vectors = np.zeros((1, size), dtype=np.float32)
        self.vectors_lockf = np.ones(1, dtype=np.float32)

    def __contains__(self, word) -> bool:
        return word in self.key_to_index

    def get_index(self, word) -> int:
        return self.key_to_index[word]


class _Tags:
    def __init__(self, size: int):
        self.vector_size = size
        self.vectors = np.zeros((1, size), dtype=np.float32)
        self.vectors_lockf = np.ones(1, dtype=np.float32)


class InferenceModel:
    """Exactly the attributes gensim's ``train_document_dbow`` reads from a Doc2Vec model
    (doc2vec_inner.pyx, init_d2v_config), built from checked arrays: PV-DBOW, negative
    sampling, no hierarchical softmax, no down-sampling, so ``layer1_size`` is the vector size
    and every word index the code can reach (the vocabulary's, and the table's draws) is a
    row of ``syn1neg``."""

    hs = 0
    sample = 0
    cbow_mean = 1
    workers = 1
    window = 1
    dm_tag_count = 1

    def __init__(self, words, syn1neg, table, size, negative):
        self.wv, self.dv = _Words(words, size), _Tags(size)
        self.syn1neg, self.cum_table = syn1neg, table
        self.layer1_size, self.vector_size, self.negative = size, size, negative
        self.random = None


def _int(settings: dict, key: str) -> int:
    v = settings.get(key)
    lo, hi = LIMITS[key]
    if type(v) is not int or not lo <= v <= hi:
        raise ModelError(f"{MANIFEST}: doc2vec.{key} is {v!r}, want an integer from {lo} to {hi}",
                         MANIFEST)
    return v


def _float(settings: dict, key: str, lo: float, hi: float) -> float:
    v = settings.get(key)
    if type(v) not in (int, float) or not math.isfinite(v) or not lo <= v <= hi:
        raise ModelError(f"{MANIFEST}: doc2vec.{key} is {v!r}, want a number from {lo} to {hi}",
                         MANIFEST)
    return float(v)


def _refuse_pickle(files) -> None:
    raise ModelError(
        f"{files.dir}: a Doc2Vec model in the pickle format (model format "
        f"{files.manifest.get('format')}), which this app no longer loads: a crafted pickle "
        "could crash it. Retrain it with `faq-engine train` (the same FAQ and --seed give the "
        "same vectors) and rebuild its model image.", PICKLE)


class Scorer:
    def __init__(self, files):
        settings = files.manifest.get("doc2vec")
        if not isinstance(settings, dict):
            if any(f.get("path") == PICKLE for f in files.manifest["files"]):
                _refuse_pickle(files)
            raise ModelError(f"{MANIFEST}: no doc2vec settings", MANIFEST)
        n = _int(settings, "vocabulary")
        size = _int(settings, "vector_size")
        negative = _int(settings, "negative")
        self.epochs = _int(settings, "epochs")
        self.seed = _int(settings, "seed")
        self.alpha = _float(settings, "alpha", 1e-6, 1.0)
        self.min_alpha = _float(settings, "min_alpha", 0.0, self.alpha)
        ns_exponent = _float(settings, "ns_exponent", -10.0, 10.0)

        with files.open(VOCAB) as fh:
            try:
                words = json.loads(fh.read().decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError) as e:
                raise ModelError(f"{files.dir / VOCAB}: unreadable: {e}", VOCAB) from None
        if not isinstance(words, list) or not all(isinstance(w, str) and w for w in words) \
                or len(set(words)) != len(words):
            raise ModelError(f"{files.dir / VOCAB}: not a list of distinct words", VOCAB)
        if len(words) != n:
            raise ModelError(f"{files.dir / VOCAB}: {len(words)} words, the manifest says {n}",
                             VOCAB)
        counts = files.array(COUNTS, COUNT, (n,))
        if not (counts >= 1).all():
            raise ModelError(f"{files.dir / COUNTS}: a count below 1", COUNTS)
        try:
            table = cum_table(counts, ns_exponent)
        except ValueError as e:
            raise ModelError(f"{files.dir / COUNTS}: no negative-sampling table: {e}",
                             COUNTS) from None
        syn1neg = files.array(SYN1NEG, FLOAT, (n, size))
        self.vectors = files.array(VECTORS, FLOAT,
                                  (files.entries, size))
        for name, a in ((SYN1NEG, syn1neg), (VECTORS, self.vectors)):
            if not np.isfinite(a).all():
                raise ModelError(f"{files.dir / name}: a value that is not a finite number", name)
        self.model = InferenceModel(words, syn1neg, table, size, negative)
        self.cache = QueryCache()

    def query_vector(self, tokens: list[str]) -> np.ndarray | None:
        """The unit-length inferred vector of the question's known words (None: no known word),
        from the cache when these words were asked before (the vector depends on them alone)."""
        known = tuple(t for t in tokens if t in self.model.wv.key_to_index)
        if not known:
            return None
        return self.cache.get(known, lambda: self._unit_vector(list(known)))

    def _unit_vector(self, words: list[str]) -> np.ndarray | None:
        v = self.infer_vector(words)
        n = np.linalg.norm(v)
        return (v / n).astype(np.float32) if n > 0 else None

    def infer_vector(self, words: list[str]) -> np.ndarray:
        """gensim's ``Doc2Vec.infer_vector`` for PV-DBOW (its loop, its compiled step), with
        negative samples drawn from a generator seeded with the training seed, and the start
        vector seeded from the text: the same words always give the same vector."""
        model = copy.copy(self.model)  # per call: no state shared between threads
        model.random = np.random.RandomState(self.seed)
        size = model.vector_size
        vector = start_vector(words, size)
        work = np.zeros(size, dtype=np.float32)
        lockf = np.ones(1, dtype=np.float32)
        alpha = self.alpha
        delta = (self.alpha - self.min_alpha) / max(self.epochs - 1, 1)
        for _ in range(self.epochs):
            train_document_dbow(model, words, [0], alpha, work, learn_words=False,
                                learn_hidden=False, doctag_vectors=vector, doctags_lockf=lockf)
            alpha -= delta
        return vector[0]

    def scores(self, question: str, tokens: list[str]) -> np.ndarray | None:
        qv = self.query_vector(tokens)
        return self.vectors @ qv if qv is not None else None
