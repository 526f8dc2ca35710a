"""A sentence encoder (BERT + mean pooling + L2 norm, e.g. all-MiniLM-L6-v2) in plain numpy.

No PyTorch and no new dependency: the weights are read from a ``.safetensors`` file through one
read-only memory map (gunicorn workers forked after loading share the pages), the WordPiece
tokenizer is the BERT one (clean, split CJK, lower-case, strip accents, split on whitespace and
punctuation, greedy longest-match word pieces). tests/app/test_embedding.py checks the token ids
against the `tokenizers` package and the embeddings against an independent implementation.

Nothing here unpickles or evaluates anything from the model directory: a safetensors header is
JSON, the arrays are raw little-endian numbers whose offsets are checked against the file size.
"""

from __future__ import annotations

import json
import math
import unicodedata
from pathlib import Path

import numpy as np
from scipy.special import erf

_DTYPES = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I64": "<i8", "I32": "<i4"}
_MAX_HEADER = 100 << 20


class EncoderError(ValueError):
    """Encoder files that cannot be used; the message names the file and the reason."""


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors file as a read-only view of one memory map."""
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    if mm.size < 8:
        raise EncoderError(f"{path}: not a safetensors file (too short)")
    n = int(mm[:8].view("<u8")[0])
    if n > min(_MAX_HEADER, mm.size - 8):
        raise EncoderError(f"{path}: not a safetensors file (header length {n})")
    try:
        header = json.loads(bytes(mm[8:8 + n]))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise EncoderError(f"{path}: unreadable safetensors header: {e}") from None
    if not isinstance(header, dict):
        raise EncoderError(f"{path}: unreadable safetensors header")
    base, data_size = 8 + n, mm.size - 8 - n
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = np.dtype(_DTYPES[t["dtype"]])
            shape = tuple(int(d) for d in t["shape"])
            start, end = (int(x) for x in t["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise EncoderError(f"{path}: tensor {name!r}: bad header entry {t!r}") from None
        count = math.prod(shape)
        if min(shape, default=0) < 0 or not 0 <= start <= end <= data_size \
                or end - start != count * dtype.itemsize:
            raise EncoderError(f"{path}: tensor {name!r}: offsets {start}..{end} do not fit")
        out[name] = mm[base + start:base + end].view(dtype).reshape(shape)
    return out


# --- tokenizer -------------------------------------------------------------------------------

def _is_whitespace(c: str) -> bool:
    return c in " \t\n\r" or unicodedata.category(c) == "Zs"


def _is_control(c: str) -> bool:
    return c not in "\t\n\r" and unicodedata.category(c).startswith("C")


def _is_punctuation(c: str) -> bool:
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


class WordPiece:
    """BERT's uncased WordPiece tokenizer over a ``vocab.txt`` (one token a line, id = line)."""

    def __init__(self, vocab_path: Path, max_length: int, unk: str = "[UNK]",
                 cls: str = "[CLS]", sep: str = "[SEP]", max_word_chars: int = 100):
        tokens = vocab_path.read_text(encoding="utf-8").split("\n")
        if tokens and tokens[-1] == "":
            tokens.pop()
        self.vocab = {t: i for i, t in enumerate(tokens)}
        for special in (unk, cls, sep):
            if special not in self.vocab:
                raise EncoderError(f"{vocab_path}: no {special} token")
        self.unk, self.cls, self.sep = self.vocab[unk], self.vocab[cls], self.vocab[sep]
        self.max_length, self.max_word_chars = max_length, max_word_chars

    @staticmethod
    def _normalise(text: str) -> str:
        out = []
        for c in text:
            cp = ord(c)
            if cp == 0 or cp == 0xFFFD or _is_control(c):
                continue
            if _is_whitespace(c):
                out.append(" ")
            elif _is_cjk(cp):
                out.append(f" {c} ")
            else:
                out.append(c)
        text = unicodedata.normalize("NFD", "".join(out))
        return "".join(c for c in text if unicodedata.category(c) != "Mn").lower()

    @staticmethod
    def _words(text: str) -> list[str]:
        words = []
        for chunk in text.split():
            start = 0
            for i, c in enumerate(chunk):
                if _is_punctuation(c):
                    if i > start:
                        words.append(chunk[start:i])
                    words.append(c)
                    start = i + 1
            if start < len(chunk):
                words.append(chunk[start:])
        return words

    def _pieces(self, word: str) -> list[int]:
        if len(word) > self.max_word_chars:
            return [self.unk]
        ids, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    ids.append(self.vocab[piece])
                    break
                end -= 1
            else:
                return [self.unk]
            start = end
        return ids

    def encode(self, text: str) -> list[int]:
        """Token ids with [CLS] and [SEP], truncated to ``max_length``."""
        ids: list[int] = []
        room = self.max_length - 2
        for word in self._words(self._normalise(text)):
            ids.extend(self._pieces(word))
            if len(ids) >= room:
                break
        return [self.cls, *ids[:room], self.sep]


# --- the network -----------------------------------------------------------------------------

def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


class Encoder:
    """Text -> unit-length sentence embedding.

    ``config`` is the model's ``config.json`` (a BERT with absolute positions and GELU);
    ``max_length`` counts tokens with [CLS] and [SEP] (sentence-transformers' max_seq_length).
    """

    def __init__(self, weights: Path, config: Path, vocab: Path, max_length: int):
        try:
            cfg = json.loads(config.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise EncoderError(f"{config}: unreadable: {e}") from None
        want = {"model_type": "bert", "hidden_act": "gelu",
                "position_embedding_type": "absolute"}
        for key, value in want.items():
            if cfg.get(key, value) != value:
                raise EncoderError(f"{config}: {key} is {cfg.get(key)!r}, only {value!r} runs")
        try:
            self.layers = int(cfg["num_hidden_layers"])
            self.heads = int(cfg["num_attention_heads"])
            self.hidden = int(cfg["hidden_size"])
            self.eps = float(cfg.get("layer_norm_eps", 1e-12))
            positions = int(cfg["max_position_embeddings"])
        except (KeyError, TypeError, ValueError) as e:
            raise EncoderError(f"{config}: missing or bad setting {e}") from None
        if not 0 < max_length <= positions or self.hidden % max(self.heads, 1):
            raise EncoderError(f"{config}: max_length {max_length} or heads do not fit")
        self.tokenizer = WordPiece(vocab, max_length)
        t = read_safetensors(weights)
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in t else ""

        def get(name: str, shape: tuple[int, ...]) -> np.ndarray:
            a = t.get(prefix + name)
            if a is None:
                raise EncoderError(f"{weights}: tensor {prefix + name} missing")
            if a.shape != shape or a.dtype.kind != "f":
                raise EncoderError(f"{weights}: tensor {prefix + name} is {a.dtype}{list(a.shape)}"
                                   f", want float{list(shape)}")
            return a

        h, inter = self.hidden, int(cfg.get("intermediate_size", 4 * self.hidden))
        self.word = get("embeddings.word_embeddings.weight", (len(self.tokenizer.vocab), h))
        self.position = get("embeddings.position_embeddings.weight", (positions, h))
        self.token_type = get("embeddings.token_type_embeddings.weight",
                              (int(cfg.get("type_vocab_size", 2)), h))
        self.emb_ln = (get("embeddings.LayerNorm.weight", (h,)),
                       get("embeddings.LayerNorm.bias", (h,)))
        self.blocks = []
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def dense(name: str, n_out: int, n_in: int, p=p):
                # (out, in) stored; x @ W.T is a view, no copy of the mapped weights.
                return get(p + name + ".weight", (n_out, n_in)).T, get(p + name + ".bias", (n_out,))

            def norm(name: str, p=p):
                return get(p + name + ".weight", (h,)), get(p + name + ".bias", (h,))

            self.blocks.append({
                "q": dense("attention.self.query", h, h), "k": dense("attention.self.key", h, h),
                "v": dense("attention.self.value", h, h),
                "o": dense("attention.output.dense", h, h), "ln1": norm("attention.output.LayerNorm"),
                "i": dense("intermediate.dense", inter, h), "out": dense("output.dense", h, inter),
                "ln2": norm("output.LayerNorm"),
            })

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """ids, mask: (batch, length). Returns unit-length mean-pooled embeddings (batch, hidden)."""
        b, n = ids.shape
        dh = self.hidden // self.heads
        x = self.word[ids] + self.position[:n] + self.token_type[0]
        x = _layer_norm(x, *self.emb_ln, self.eps).astype(np.float32)
        bias = np.where(mask[:, None, None, :], 0.0, -1e9).astype(np.float32)
        for blk in self.blocks:
            def heads(w):
                return (x @ w[0] + w[1]).reshape(b, n, self.heads, dh).transpose(0, 2, 1, 3)
            q, k, v = heads(blk["q"]), heads(blk["k"]), heads(blk["v"])
            att = q @ k.transpose(0, 1, 3, 2) / np.float32(math.sqrt(dh)) + bias
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            ctx = (att @ v).transpose(0, 2, 1, 3).reshape(b, n, self.hidden)
            x = _layer_norm(ctx @ blk["o"][0] + blk["o"][1] + x, *blk["ln1"], self.eps)
            inner = _gelu(x @ blk["i"][0] + blk["i"][1])
            x = _layer_norm(inner @ blk["out"][0] + blk["out"][1] + x, *blk["ln2"], self.eps)
            x = x.astype(np.float32)
        m = mask[:, :, None].astype(np.float32)
        pooled = (x * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def encode(self, text: str) -> np.ndarray:
        ids = np.asarray([self.tokenizer.encode(text)], dtype=np.int64)
        return self._forward(ids, np.ones_like(ids, dtype=bool))[0].astype(np.float32)

    def encode_many(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Embeddings of many texts, batched by length (padding masked out: same results)."""
        encoded = [self.tokenizer.encode(t) for t in texts]
        out = np.zeros((len(texts), self.hidden), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
        for s in range(0, len(order), batch_size):
            chunk = order[s:s + batch_size]
            n = max(len(encoded[i]) for i in chunk)
            ids = np.zeros((len(chunk), n), dtype=np.int64)
            mask = np.zeros((len(chunk), n), dtype=bool)
            for row, i in enumerate(chunk):
                ids[row, :len(encoded[i])] = encoded[i]
                mask[row, :len(encoded[i])] = True
            out[chunk] = self._forward(ids, mask)
        return out
