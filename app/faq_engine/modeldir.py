"""The versioned model directory: its manifest, and checking it before anything is served.

A model directory holds the Doc2Vec model (its large arrays as separate ``.npy`` files, so they
can be memory-mapped), the FAQ entries, the precomputed unit-length document vectors, the BM25
index, and ``manifest.json``. The manifest lists every file with its size and sha256. It is
written in a canonical layout, one file entry a line, which the model image's busybox
entrypoint relies on to read it without a JSON parser.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import re
import stat
from pathlib import Path

FORMAT = 1
MANIFEST = "manifest.json"
# Written by the model image's entrypoint once it has checked every file's size and sha256
# where they landed: the sha256 of the manifest they were checked against.
STAMP = ".complete"
VERIFY_MODES = ("auto", "sha256", "size")
# Names the trainer writes and the entrypoint accepts: no directories, no spaces.
# Use with fullmatch: "$" would also match before a trailing newline.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
SAFE_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_CHUNK = 1 << 20

# File names inside a model directory (the trainer writes them, the scorers read them).
DOC2VEC = "doc2vec.model"
VECTORS = "vectors.npy"


class ModelError(Exception):
    """A model directory that must not be served. ``file`` names the culprit when there is one."""

    def __init__(self, message: str, file: str | None = None):
        super().__init__(message)
        self.file = file


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open_regular(path) as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def open_regular(path: str | Path, name: str | None = None) -> io.BufferedReader:
    """Open ``path`` for reading only if it is a regular file itself: no symlink is followed
    (O_NOFOLLOW) and a FIFO or device neither blocks (O_NONBLOCK) nor is read. Raises
    ModelError naming ``name`` (default: the file name)."""
    name = name or Path(path).name
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ModelError(f"{path}: missing", name) from None
    except OSError as e:  # ELOOP: a symlink
        kind = "a symlink" if os.path.islink(path) else f"unreadable ({e.strerror})"
        raise ModelError(f"{path}: {kind}, not a regular file", name) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ModelError(f"{path}: not a regular file", name)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


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
        with open_regular(path) as fh:
            manifest = json.loads(fh.read().decode("utf-8"))
    except ModelError as e:
        if not os.path.lexists(path):
            raise ModelError(f"{path}: manifest missing", MANIFEST) from None
        raise e
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ModelError(f"{path}: manifest unreadable: {e}", MANIFEST) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelError(f"{path}: unsupported manifest format (want {FORMAT})", MANIFEST)
    version = manifest.get("version")
    if not isinstance(version, str) or not SAFE_VERSION.fullmatch(version):
        raise ModelError(f"{path}: bad model version {version!r}", MANIFEST)
    files = manifest.get("files")
    if not isinstance(files, list) or not files:
        raise ModelError(f"{path}: no files listed", MANIFEST)
    for f in files:
        ok = (
            isinstance(f, dict)
            and isinstance(f.get("path"), str)
            and SAFE_NAME.fullmatch(f["path"])
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
        with open_regular(model_dir / STAMP) as fh:
            stamp = fh.read(200).decode("ascii").strip()
        return stamp == sha256_file(model_dir / MANIFEST)
    except (OSError, UnicodeDecodeError, ModelError):
        return False


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
        path = listed_file(model_dir, manifest, f["path"])
        size = os.lstat(path).st_size
        if size != f["size"]:
            raise ModelError(f"{path}: size {size} != {f['size']} in manifest", f["path"])
        if checksums and sha256_file(path) != f["sha256"]:
            raise ModelError(f"{path}: sha256 mismatch", f["path"])
    return manifest


def listed_file(model_dir: str | Path, manifest: dict, name: str) -> Path:
    """The path of ``name`` for a loader to open: listed in the manifest, a regular file
    directly inside ``model_dir`` (no symlink out, no FIFO or device). Raises ModelError.

    Every loader of the app gets its files through this (or :func:`open_listed`). The file is
    opened once here (O_NOFOLLOW|O_NONBLOCK) and checked with fstat, so neither a symlink nor a
    FIFO is ever followed or waited on; the model directory is read-only to the app, so the
    path checked is the path the loader then opens."""
    listed = {f.get("path") for f in manifest.get("files", []) if isinstance(f, dict)}
    if name not in listed:
        raise ModelError(f"{model_dir}: {name} is not listed in the manifest", name)
    if not SAFE_NAME.fullmatch(name) or name in (".", ".."):
        raise ModelError(f"{model_dir}: unsafe file name {name!r}", name)
    path = Path(model_dir) / name
    open_regular(path, name).close()
    return path


def open_listed(model_dir: str | Path, manifest: dict, name: str) -> io.BufferedReader:
    """:func:`listed_file` opened for reading (binary): the checked descriptor itself."""
    listed_file(model_dir, manifest, name)
    return open_regular(Path(model_dir) / name, name)


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, fh, allowed: frozenset, name: str):
        super().__init__(fh)
        self._allowed, self._name = allowed, name

    def find_class(self, module: str, name: str):
        if (module, name) not in self._allowed:
            raise ModelError(f"{self._name}: the pickle refers to {module}.{name}, which a "
                             "model may not use", self._name)
        return super().find_class(module, name)


def safe_unpickle(model_dir: str | Path, manifest: dict, name: str, allowed: frozenset):
    """Unpickle the listed file ``name`` resolving only the (module, name) globals in
    ``allowed``: a crafted pickle cannot reach os.system, eval, getattr or any other callable
    outside that list, so loading it cannot run code of its choosing."""
    with open_listed(model_dir, manifest, name) as fh:
        try:
            return _RestrictedUnpickler(fh, allowed, name).load()
        except ModelError:
            raise
        except Exception as e:  # a truncated or malformed pickle
            raise ModelError(f"{Path(model_dir) / name}: unreadable pickle: {e}", name) from None


def public_fields(manifest: dict) -> dict:
    """What GET /v1/model shows: everything but the per-file checksums."""
    out = {k: v for k, v in manifest.items() if k != "files"}
    out["files"] = len(manifest["files"])
    out["bytes"] = sum(f["size"] for f in manifest["files"])
    return out
