"""The versioned model directory: its manifest, and checking it before anything is served.

A model directory holds the Doc2Vec model (its large arrays as separate ``.npy`` files, so they
can be memory-mapped), the FAQ entries, the precomputed unit-length document vectors, the BM25
index, and ``manifest.json``. The manifest lists every file with its size and sha256. It is
written in a canonical layout, one file entry a line, which the model image's busybox
entrypoint relies on to read it without a JSON parser.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

FORMAT = 1
MANIFEST = "manifest.json"
# Written by the model image's entrypoint once it has checked every file's size and sha256
# where they landed: the sha256 of the manifest they were checked against.
STAMP = ".complete"
VERIFY_MODES = ("auto", "sha256", "size")
# Names the trainer writes and the entrypoint accepts: no directories, no spaces.
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
SAFE_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_CHUNK = 1 << 20


class ModelError(Exception):
    """A model directory that must not be served. ``file`` names the culprit when there is one."""

    def __init__(self, message: str, file: str | None = None):
        super().__init__(message)
        self.file = file


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def dump_manifest(manifest: dict) -> str:
    """Serialise a manifest canonically: ``files`` last, one ``{"path","size","sha256"}`` a line."""
    head = {k: v for k, v in manifest.items() if k != "files"}
    body = json.dumps(head, indent=2, sort_keys=False)[:-2]  # drop the closing "\n}"
    lines = [
        "    " + json.dumps({"path": f["path"], "size": f["size"], "sha256": f["sha256"]})
        for f in manifest["files"]
    ]
    return body + ',\n  "files": [\n' + ",\n".join(lines) + "\n  ]\n}\n"


def resolve(model_dir: str | Path) -> Path:
    """A model directory, or a directory whose ``current`` entry points at one."""
    p = Path(model_dir)
    if not (p / MANIFEST).exists() and (p / "current").exists():
        p = p / "current"
    return p.resolve()


def read_manifest(model_dir: Path) -> dict:
    path = model_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path}: manifest missing", MANIFEST) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"{path}: manifest unreadable: {e}", MANIFEST) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelError(f"{path}: unsupported manifest format (want {FORMAT})", MANIFEST)
    version = manifest.get("version")
    if not isinstance(version, str) or not SAFE_VERSION.match(version):
        raise ModelError(f"{path}: bad model version {version!r}", MANIFEST)
    files = manifest.get("files")
    if not isinstance(files, list) or not files:
        raise ModelError(f"{path}: no files listed", MANIFEST)
    for f in files:
        ok = (
            isinstance(f, dict)
            and isinstance(f.get("path"), str)
            and SAFE_NAME.match(f["path"])
            and isinstance(f.get("size"), int)
            and isinstance(f.get("sha256"), str)
            and re.fullmatch(r"[0-9a-f]{64}", f["sha256"])
        )
        if not ok:
            raise ModelError(f"{path}: malformed file entry {f!r}", MANIFEST)
    return manifest


def stamped(model_dir: Path) -> bool:
    """True when model-copy verified this directory against this very manifest."""
    try:
        stamp = (model_dir / STAMP).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return False
    return stamp == sha256_file(model_dir / MANIFEST)


def verify(model_dir: str | Path, mode: str = "sha256") -> dict:
    """Check every listed file's presence and size, and its sha256 when `mode` asks for it:
    ``sha256`` always, ``size`` never, ``auto`` unless model-copy's stamp says it just did.

    Returns the manifest. Raises ModelError naming the first bad file.
    """
    if mode not in VERIFY_MODES:
        raise ValueError(f"verify mode must be one of {', '.join(VERIFY_MODES)}, not {mode!r}")
    model_dir = Path(model_dir)
    manifest = read_manifest(model_dir)
    checksums = mode == "sha256" or (mode == "auto" and not stamped(model_dir))
    for f in manifest["files"]:
        path = model_dir / f["path"]
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            raise ModelError(f"{path}: missing", f["path"]) from None
        if size != f["size"]:
            raise ModelError(f"{path}: size {size} != {f['size']} in manifest", f["path"])
        if checksums and sha256_file(path) != f["sha256"]:
            raise ModelError(f"{path}: sha256 mismatch", f["path"])
    return manifest


def public_fields(manifest: dict) -> dict:
    """What GET /v1/model shows: everything but the per-file checksums."""
    out = {k: v for k, v in manifest.items() if k != "files"}
    out["files"] = len(manifest["files"])
    out["bytes"] = sum(f["size"] for f in manifest["files"])
    return out
