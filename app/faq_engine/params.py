"""What `faq-engine train` can be told: the parameters a model is trained with.

The CLI takes its defaults from here; the manifest records them (``training``, ``ranking``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .faq import Entry


@dataclass(frozen=True)
class TrainParams:
    """Doc2Vec training."""

    vector_size: int = 100
    epochs: int = 80
    window: int = 5
    min_count: int = 1
    negative: int = 5
    dm: int = 0  # PV-DBOW, with word vectors trained alongside: best on small corpora
    dbow_words: int = 1
    seed: int = 42
    workers: int = 1


# The bounds of every integer a Doc2Vec model is trained and served with: the trainer refuses
# parameters outside them, the loader refuses a model whose manifest states one outside them
# (inference time per question grows with epochs x negative x vector_size).
LIMITS = {
    "vector_size": (1, 4096),
    "epochs": (1, 1000),
    "window": (1, 100),
    "min_count": (1, 1_000_000),
    "negative": (1, 64),
    "dm": (0, 0),  # PV-DBOW only: the model the loader rebuilds
    "dbow_words": (0, 1),
    "seed": (0, 2**32 - 1),
    "workers": (1, 64),
    "vocabulary": (1, 50_000_000),
}


def check_bounds(params: TrainParams) -> None:
    """Raises ValueError naming the first parameter outside LIMITS."""
    for name, (lo, hi) in LIMITS.items():
        v = getattr(params, name, None)
        if v is not None and (type(v) is not int or not lo <= v <= hi):
            raise ValueError(f"{name} must be an integer from {lo} to {hi}, not {v!r}")


@dataclass(frozen=True)
class RankParams:
    """The lexical view of an entry (tuned by bench/eval_ranking.py)."""

    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    # How many times an entry's question counts in its text; 0 indexes the answers alone.
    question_weight: int = 2


@dataclass
class Training:
    """What a scorer's ``write`` gets: the entries, the directory being written and the
    parameters. ``options`` holds the kind-specific ones (a scorer module names those it reads
    in ``OPTIONS``; the trainer refuses one that no scorer of the kind reads)."""

    entries: list[Entry]
    out: Path
    faq_path: Path
    params: TrainParams = TrainParams()
    rank: RankParams = RankParams()
    options: dict = field(default_factory=dict)
