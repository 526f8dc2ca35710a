"""The entries of a model, common to every kind: one JSON line each plus their offsets.

Stored as a flat file and an ``.npy`` array, so a server memory-maps them and gunicorn workers
forked after loading share one copy of the pages.
"""

from __future__ import annotations

import json
import mmap
import os
from pathlib import Path

import numpy as np

from .faq import Entry
from .modeldir import MANIFEST, ModelError, load_array, open_listed

ENTRIES = "entries.jsonl"
OFFSETS = "entries.offsets.npy"
FILES = (ENTRIES, OFFSETS)


def write_entries(entries: list[Entry], out: Path) -> None:
    offsets = [0]
    with open(out / ENTRIES, "wb") as fh:
        for e in entries:
            line = json.dumps(e.to_dict(), ensure_ascii=False, separators=(",", ":")) + "\n"
            fh.write(line.encode("utf-8"))
            offsets.append(fh.tell())
    np.save(out / OFFSETS, np.asarray(offsets, dtype=np.int64))


class EntryStore:
    """Read-only random access to the entries through one shared memory map."""

    def __init__(self, model_dir: Path, manifest: dict):
        """The entries of a checked manifest: their count is the manifest's ``entries``, and
        the offsets must cut the file into that many lines, in order, to its very end."""
        n = manifest.get("entries")
        if type(n) is not int or n < 1:
            raise ModelError(f"{MANIFEST}: bad entry count {n!r}", MANIFEST)
        self.offsets = load_array(model_dir, manifest, OFFSETS, "<i8", (n + 1,))
        with open_listed(model_dir, manifest, ENTRIES) as fh:
            size = os.fstat(fh.fileno()).st_size
            if self.offsets[0] != 0 or self.offsets[-1] != size \
                    or (np.diff(self.offsets) <= 0).any():
                raise ModelError(f"{Path(model_dir) / OFFSETS}: offsets do not cut "
                                 f"{ENTRIES} ({size} bytes) into {n} lines", OFFSETS)
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> dict:
        start, end = int(self.offsets[i]), int(self.offsets[i + 1])
        return json.loads(self._map[start:end])
