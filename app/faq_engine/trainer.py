"""Turn an FAQ file into a versioned model directory (see modeldir.py for the contract).

The trainer orchestrates: it reads the FAQ, asks each scorer of the model's kind (a row of
faq_engine.scorers.KINDS) to write its files, writes the entries, ``VERSION``, the manifest and
``SHA256SUMS``, and swaps the directory into place in one step.

Reproducibility: with the same FAQ file, parameters and seed, training runs on one worker
thread and the whole model directory comes out identical byte for byte (with the same pinned
gensim and numpy): no file holds a time stamp or a pickle. Training with more worker threads
is faster but not reproducible.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import platform
import shutil
import time
from pathlib import Path

import numpy as np

from . import __version__, abstain
from .entries import FILES as ENTRY_FILES
from .entries import write_entries
from .faq import load_faq
from .modeldir import (FORMAT, MANIFEST, SUMS, VERSION_FILE, VERSION_RULE, check_sums,
                       dump_manifest, dump_sums, safe_version, sha256_file)
from .params import RankParams, Training, TrainParams, check_bounds
from .scorers import DEFAULT_KIND, KINDS, kind_scorers

log = logging.getLogger(__name__)
# Manifest fields the trainer writes; a scorer's write() may add others.
_OWN_FIELDS = ("format", "name", "kind", "version", "entries", "faq_sha256", "libraries",
               "scorers", abstain.MANIFEST_KEY, "files")


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


def train(
    faq_path: str | Path,
    out: str | Path,
    version: str = "1.0",
    params: TrainParams = TrainParams(),
    rank: RankParams = RankParams(),
    force: bool = False,
    kind: str = DEFAULT_KIND,
    encoder_dir: str | Path | None = None,
    min_score: float | None = None,
) -> dict:
    """Train and write a model directory atomically. Returns the manifest.

    ``kind`` is a row of faq_engine.scorers.KINDS; ``encoder_dir`` (embedding only) is a local
    sentence-transformers directory, by default the installed weights package's.
    ``min_score``: the threshold served answers must reach (default: the kind's, see
    faq_engine.abstain; 0: none)."""
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}: use one of {', '.join(KINDS)}")
    min_score = abstain.DEFAULT_MIN_SCORES.get(kind, 0.0) if min_score is None \
        else abstain.parse(min_score, "min_score")
    scorers = kind_scorers(kind)
    options = {k: v for k, v in {"encoder_dir": encoder_dir}.items() if v is not None}
    for name in options:
        readers = [k for k in KINDS if any(name in getattr(m, "OPTIONS", ())
                                           for _, m, _ in kind_scorers(k))]
        if not any(name in getattr(m, "OPTIONS", ()) for _, m, _ in scorers):
            flag = "--" + name.removesuffix("_dir").replace("_", "-")
            raise ValueError(f"{flag} is for --kind {' or '.join(readers)} only")
    if not safe_version(version):
        raise ValueError(f"bad version {version!r}: {VERSION_RULE}")
    check_bounds(params)
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
        training = Training(entries, tmp, Path(faq_path), params, rank, options)
        added: dict = {}
        for name, module, _ in scorers:
            extra = module.write(training) or {}
            clash = set(extra) & (set(added) | set(_OWN_FIELDS))
            if clash:
                raise ValueError(f"scorer {name}: manifest field(s) {', '.join(sorted(clash))} "
                                 "already written")
            added.update(extra)
        write_entries(entries, tmp)
        (tmp / VERSION_FILE).write_text(version + "\n", encoding="ascii")

        names = sorted(p.name for p in tmp.iterdir())
        owned = {*ENTRY_FILES, VERSION_FILE}.union(*(m.FILES for _, m, _ in scorers))
        stray = [n for n in names if n not in owned or not (tmp / n).is_file()]
        if stray:
            raise ValueError(f"kind {kind}: {', '.join(stray)} written but no scorer's FILES "
                             "names it")
        manifest = {
            "format": FORMAT,
            "name": "faq-engine",
            "kind": kind,
            "version": version,
            "entries": len(entries),
            "faq_sha256": sha256_file(Path(faq_path)),
            "libraries": {
                "faq-engine": __version__, "gensim": importlib.metadata.version("gensim"),
                "numpy": np.__version__, "python": platform.python_version(),
            },
            **added,
            "scorers": [{"name": name, "weight": weight} for name, _, weight in scorers],
            abstain.MANIFEST_KEY: min_score,
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
