"""The cosine between a question's inferred Doc2Vec vector and each entry's vector."""

from __future__ import annotations

import functools
import re
import threading
from pathlib import Path

import numpy as np
from gensim.models.doc2vec import Doc2Vec
from gensim.utils import SaveLoad

from ..modeldir import DOC2VEC, VECTORS, ModelError, listed_file, safe_unpickle

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
    # the pages instead of copying them), with the negative-sampling table built by numpy.
    model.make_cum_table = functools.partial(make_cum_table, model)
    try:
        model._load_specials(path, "r", False, SaveLoad._adapt_by_suffix(path)[1])
    finally:
        del model.make_cum_table
    return model


def make_cum_table(model: Doc2Vec, domain: int = 2**31 - 1) -> None:
    """gensim's ``Word2Vec.make_cum_table``, which loading rebuilds from the vocabulary counts,
    without its Python loop over the vocabulary (1.7 s of a 1 GB model's 1.8 s load, for
    300,000 words; milliseconds here). The table is the same to the bit: numpy's cumsum adds in
    order as gensim's loop does, and rint rounds half to even as round() does (tested against
    gensim's own). Infer_vector draws its negative samples from this table."""
    counts = model.wv.expandos.get("count") if hasattr(model.wv, "expandos") else None
    if counts is None or len(counts) != len(model.wv.index_to_key):
        Doc2Vec.make_cum_table(model, domain)  # not a vocabulary our trainer writes: gensim's
        return
    cumulative = np.cumsum(np.asarray(counts, dtype=np.float64) ** float(model.ns_exponent))
    model.cum_table = (np.rint(cumulative / cumulative[-1] * domain).astype(np.uint32)
                       if len(cumulative) else np.zeros(0, dtype=np.uint32))


class Scorer:
    def __init__(self, files):
        self.seed = int(files.manifest["training"]["seed"])
        self.model = load_doc2vec(files.dir, files.manifest)
        self.vectors = np.load(files.path(VECTORS), mmap_mode="r")
        self._lock = threading.Lock()

    def query_vector(self, tokens: list[str]) -> np.ndarray | None:
        known = [t for t in tokens if t in self.model.wv.key_to_index]
        if not known:
            return None
        with self._lock:
            # infer_vector draws negative samples from model.random: reseeding makes the same
            # question always get the same vector (and so the same answers).
            self.model.random = np.random.RandomState(self.seed)
            v = self.model.infer_vector(known)
        n = np.linalg.norm(v)
        return (v / n).astype(np.float32) if n > 0 else None

    def scores(self, question: str, tokens: list[str]) -> np.ndarray | None:
        qv = self.query_vector(tokens)
        return self.vectors @ qv if qv is not None else None
