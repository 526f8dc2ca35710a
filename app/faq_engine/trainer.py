"""Turn an FAQ file into a versioned model directory (see modeldir.py for the layout).

Reproducibility: with the same FAQ file, parameters and seed, training runs on one worker
thread, so the Doc2Vec vectors, ``vectors.npy``, the entries and the BM25 index come out
identical byte for byte (with the same pinned gensim and numpy). ``manifest.json`` differs in
its creation time. Training with more worker threads is faster but not reproducible.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import gensim
import numpy as np
from gensim.models.callbacks import CallbackAny2Vec
from gensim.models.doc2vec import Doc2Vec, TaggedDocument

from . import __version__
from .faq import Entry, FaqError, load_faq
from .index import write_bm25, write_entries
from .modeldir import (DOC2VEC, FORMAT, LINK_NAME, MANIFEST, SUMS, VECTORS, VERSION_FILE,
                       check_sums, dump_manifest, dump_sums, safe_version, sha256_file)
from .text import tokenize

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainParams:
    vector_size: int = 100
    epochs: int = 80
    window: int = 5
    min_count: int = 1
    negative: int = 5
    dm: int = 0  # PV-DBOW, with word vectors trained alongside: best on small corpora
    dbow_words: int = 1
    seed: int = 42
    workers: int = 1


@dataclass(frozen=True)
class RankParams:
    """How the served score combines the two signals (tuned by bench/eval_ranking.py)."""

    lexical_weight: float = 0.7
    vector_weight: float = 0.3
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    # How many times an entry's question counts in its text; 0 indexes the answers alone.
    question_weight: int = 2


class _Progress(CallbackAny2Vec):
    """A progress bar on a terminal, silence otherwise (CI logs, pipes)."""

    def __init__(self, epochs: int, stream=sys.stderr):
        self.epochs, self.stream, self.epoch = epochs, stream, 0
        self.enabled = stream.isatty()
        self.start = time.monotonic()

    def on_epoch_end(self, model):
        self.epoch += 1
        if self.enabled:
            done = int(30 * self.epoch / self.epochs)
            elapsed = time.monotonic() - self.start
            self.stream.write(
                f"\rtraining [{'#' * done}{'.' * (30 - done)}] epoch {self.epoch}/{self.epochs}"
                f" {elapsed:5.1f}s"
            )
            if self.epoch == self.epochs:
                self.stream.write("\n")
            self.stream.flush()


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    import ctypes
    import errno

    libc = ctypes.CDLL(None, use_errno=True)
    if not hasattr(libc, "renameat2"):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _replace_dir(new: Path, out: Path) -> None:
    """Put directory `new` at `out`. An existing `out` is swapped with it in one step, so a reader
    sees the old or the new model, never no model; then the old one is deleted."""
    if not out.exists():
        new.rename(out)
        return
    if _exchange(new, out):
        shutil.rmtree(new)  # now the old model
        return
    # No atomic exchange on this system or file system: the old directory is moved aside and the
    # new one renamed in right after (two renames; the path is missing only between them).
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    out.rename(old)
    new.rename(out)
    shutil.rmtree(old)


def _documents(entries: list[Entry], with_questions: bool) -> list[TaggedDocument]:
    return [
        TaggedDocument(tokenize(f"{e.question} {e.answer}" if with_questions else e.answer), [i])
        for i, e in enumerate(entries)
    ]


def train(
    faq_path: str | Path,
    out: str | Path,
    version: str = "1.0",
    params: TrainParams = TrainParams(),
    rank: RankParams = RankParams(),
    force: bool = False,
) -> dict:
    """Train and write a model directory atomically. Returns the manifest."""
    if not safe_version(version):
        raise ValueError(f"bad version {version!r}: up to 64 letters, digits, '.', '_' or '-', "
                         f"starting with a letter or digit, and not {LINK_NAME!r}")
    out = Path(out)
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise FileExistsError(f"{out} exists and is not a directory")
    if out.exists() and any(out.iterdir()) and not force:
        raise FileExistsError(f"{out} exists and is not empty (use --force to replace it)")
    entries = load_faq(faq_path)  # fails before anything is written
    started = time.monotonic()

    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        docs = _documents(entries, with_questions=rank.question_weight > 0)
        model = Doc2Vec(
            vector_size=params.vector_size, window=params.window, min_count=params.min_count,
            negative=params.negative, dm=params.dm, dbow_words=params.dbow_words,
            seed=params.seed, workers=params.workers, epochs=params.epochs, sample=0,
        )
        model.build_vocab(docs)
        if not len(model.wv):
            raise FaqError(f"{faq_path}: no word occurs {params.min_count} or more times in the "
                           "entries (words are letters and digits): nothing to train on")
        model.train(docs, total_examples=len(docs), epochs=params.epochs,
                    callbacks=[_Progress(params.epochs)])
        vectors = np.asarray(model.dv.vectors, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        np.save(tmp / VECTORS, vectors / np.maximum(norms, 1e-12))
        # Arrays over 256 Ki elements (1 MiB of float32) go to their own .npy files, which
        # Ranker memory-maps (gensim's sep_limit counts elements, not bytes).
        model.save(str(tmp / DOC2VEC), sep_limit=256 * 1024)
        write_entries(entries, tmp)
        write_bm25(entries, tmp, rank.bm25_k1, rank.bm25_b, rank.question_weight)
        (tmp / VERSION_FILE).write_text(version + "\n", encoding="ascii")

        names = sorted(p.name for p in tmp.iterdir() if p.is_file())
        manifest = {
            "format": FORMAT,
            "name": "faq-engine",
            "version": version,
            "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "entries": len(entries),
            "faq_sha256": sha256_file(Path(faq_path)),
            "libraries": {
                "faq-engine": __version__, "gensim": gensim.__version__,
                "numpy": np.__version__, "python": platform.python_version(),
            },
            "training": asdict(params),
            "ranking": asdict(rank),
            "files": [
                {"path": n, "size": (tmp / n).stat().st_size, "sha256": sha256_file(tmp / n)}
                for n in names
            ],
        }
        text = dump_manifest(manifest)
        (tmp / MANIFEST).write_text(text, encoding="utf-8")
        (tmp / SUMS).write_text(dump_sums(manifest, text), encoding="ascii")
        check_sums(tmp, manifest)  # what the entrypoint and the app will check
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("trained model %s: %d entries in %.1fs -> %s", version, len(entries),
             time.monotonic() - started, out)
    return manifest
