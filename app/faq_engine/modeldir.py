"""The versioned model directory: its manifest, and checking it before anything is served.

A model directory holds the files its kind's scorers write (each scorer module in
faq_engine/scorers names its own), the FAQ entries (faq_engine/entries.py), a ``VERSION``
file, ``manifest.json`` and ``SHA256SUMS``. This module owns the contract around them: the
manifest, the checksums, the version grammar and the only way a loader opens a file.

The contract with the model image (format 3):
- ``manifest.json`` lists every file but itself and ``SHA256SUMS`` with its size and sha256,
  plus what the app needs to serve the model (version, kind, scorers, training settings);
- ``SHA256SUMS`` is ``sha256sum``'s own format (``<sha256>  <name>`` a line) for every file
  the manifest lists and for ``manifest.json`` itself: the busybox entrypoint checks it with
  ``sha256sum -c`` and never parses JSON, this module checks that it agrees with the manifest;
- ``VERSION`` holds the version alone (the entrypoint names the directory after it).
The app reads formats ``OLDEST_FORMAT``..``FORMAT`` and checks ``SHA256SUMS`` and ``VERSION``
against the manifest whatever format it declares. Format 3 stores a Doc2Vec model as arrays
and JSON (faq_engine/scorers/doc2vec.py): no file of a model directory is a pickle. A format 2
embedding model still loads; a format 2 Doc2Vec model (a pickle) is refused with a message
saying to retrain it. Every array is read through :func:`load_array`, which checks its header
against what the loader expects before anything is mapped.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import stat
from pathlib import Path

import numpy as np

FORMAT = 3
OLDEST_FORMAT = 2  # the app reads formats OLDEST_FORMAT..FORMAT
MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
VERSION_FILE = "VERSION"
# The link model-copy points at the version in use, in the default layout (MODEL_DIR is
# /models/current): no version may take this name.
LINK_NAME = "current"
# Where the app looks by default (MODEL_DIR): the link in the chart's model volume.
DEFAULT_MODEL_DIR = f"/models/{LINK_NAME}"
# Written by the model image's entrypoint once it has checked every file's size and sha256
# where they landed: the sha256 of the manifest they were checked against.
STAMP = ".complete"
# The model's signature (faq_engine/signing.py: the OpenSSF Model Signing format, whose default
# name this is); it covers every file, the manifest and SHA256SUMS included, so neither lists it.
SIGNATURE = "model.sig"
VERIFY_MODES = ("auto", "sha256", "size")
# Names the trainer writes and the entrypoint accepts: no directories, no spaces.
# Use with fullmatch: "$" would also match before a trailing newline.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# The model version grammar (it names a directory on the volume), and not LINK_NAME.
# model-image/model-copy.sh and chart/values.schema.json (model.tag) follow it:
# tests/app/test_version_grammar.py feeds the same versions to all three.
SAFE_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
VERSION_RULE = (f"up to 64 letters, digits, '.', '_' or '-', starting with a letter or digit, "
                f"and not {LINK_NAME!r}")
_SUMS_LINE = re.compile(r"([0-9a-f]{64})  ([A-Za-z0-9][A-Za-z0-9._-]*)")
_CHUNK = 1 << 20
_MAX_NPY_HEADER = 10_000  # numpy's own default limit


class ModelError(Exception):
    """A model directory that must not be served. ``file`` names the culprit when there is one."""

    def __init__(self, message: str, file: str | None = None):
        super().__init__(message)
        self.file = file


def safe_version(version: object) -> bool:
    """A version usable as a directory name on the volume (and not the link's name)."""
    return (isinstance(version, str) and SAFE_VERSION.fullmatch(version) is not None
            and version != LINK_NAME)


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
    """Serialise a manifest canonically: ``files`` last, one ``{"path","size","sha256"}`` a line
    (readable in a diff; nothing parses it but JSON parsers)."""
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
    if not (p / MANIFEST).exists() and (p / LINK_NAME).exists():
        p = p / LINK_NAME
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
    fmt = manifest.get("format") if isinstance(manifest, dict) else None
    if type(fmt) is not int or not OLDEST_FORMAT <= fmt <= FORMAT:
        raise ModelError(f"{path}: unsupported manifest format {fmt!r} (this app reads "
                         f"{OLDEST_FORMAT} to {FORMAT})", MANIFEST)
    version = manifest.get("version")
    if not safe_version(version):
        raise ModelError(f"{path}: bad model version {version!r}", MANIFEST)
    files = manifest.get("files")
    if not isinstance(files, list) or not files:
        raise ModelError(f"{path}: no files listed", MANIFEST)
    for f in files:
        ok = (
            isinstance(f, dict)
            and isinstance(f.get("path"), str)
            and SAFE_NAME.fullmatch(f["path"])
            and f["path"] not in (MANIFEST, SUMS)
            and type(f.get("size")) is int
            and f["size"] >= 0
            and isinstance(f.get("sha256"), str)
            and re.fullmatch(r"[0-9a-f]{64}", f["sha256"])
        )
        if not ok:
            raise ModelError(f"{path}: malformed file entry {f!r}", MANIFEST)
    if len({f["path"] for f in files}) != len(files):
        raise ModelError(f"{path}: a file is listed twice", MANIFEST)
    check_sums(model_dir, manifest)  # whatever the format says
    return manifest


def dump_sums(manifest: dict, manifest_text: str) -> str:
    """``SHA256SUMS`` for a manifest and its serialised text, in sha256sum's format."""
    sums = {f["path"]: f["sha256"] for f in manifest["files"]}
    sums[MANIFEST] = hashlib.sha256(manifest_text.encode("utf-8")).hexdigest()
    return "".join(f"{sums[n]}  {n}\n" for n in sorted(sums))


def read_sums(model_dir: Path) -> dict[str, str]:
    """``SHA256SUMS`` as {name: sha256}; strict: every line ``<sha256>  <name>``, once."""
    path = model_dir / SUMS
    try:
        with open_regular(path, SUMS) as fh:
            text = fh.read(1 << 20).decode("ascii")
    except UnicodeDecodeError:
        raise ModelError(f"{path}: not ASCII", SUMS) from None
    out: dict[str, str] = {}
    for i, line in enumerate(text.split("\n")[:-1] if text.endswith("\n") else text.split("\n"), 1):
        m = _SUMS_LINE.fullmatch(line)
        if not m:
            raise ModelError(f"{path}: malformed line {i} (want '<sha256>  <file name>')", SUMS)
        if m[2] in out:
            raise ModelError(f"{path}: lists {m[2]} twice", SUMS)
        out[m[2]] = m[1]
    return out


def check_sums(model_dir: Path, manifest: dict) -> None:
    """``SHA256SUMS`` (what the entrypoint checks) and the manifest (what the app
    reads) must describe the same files with the same checksums, ``SHA256SUMS`` must hold this
    very manifest's sha256, and ``VERSION`` the manifest's version."""
    sums = read_sums(model_dir)
    listed = {f["path"]: f["sha256"] for f in manifest["files"]}
    for name in sorted(set(listed) | set(sums) - {MANIFEST}):
        if name not in sums:
            raise ModelError(f"{model_dir / SUMS}: does not list {name}", name)
        if name not in listed:
            raise ModelError(f"{model_dir / MANIFEST}: does not list {name} (in {SUMS})", name)
        if sums[name] != listed[name]:
            raise ModelError(f"{model_dir / name}: sha256 differs between {MANIFEST} and {SUMS}",
                             name)
    if sums.get(MANIFEST) != sha256_file(model_dir / MANIFEST):
        raise ModelError(f"{model_dir / MANIFEST}: sha256 mismatch ({SUMS})", MANIFEST)
    if VERSION_FILE not in listed:
        raise ModelError(f"{model_dir / MANIFEST}: does not list {VERSION_FILE}", VERSION_FILE)
    with open_listed(model_dir, manifest, VERSION_FILE) as fh:
        version = fh.read(100).decode("ascii", "replace")
    if version != manifest["version"] + "\n":
        raise ModelError(f"{model_dir / VERSION_FILE}: version {version.strip()!r} is not the "
                         f"manifest's {manifest['version']!r}", VERSION_FILE)


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
    ``sha256`` always, ``size`` never, ``auto`` unless model-copy's stamp says it did when it
    copied this manifest (a stamp stays on the volume: on a PVC it may be weeks old).

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


def public_fields(manifest: dict) -> dict:
    """What GET /v1/model shows: everything but the per-file checksums."""
    out = {k: v for k, v in manifest.items() if k != "files"}
    out["files"] = len(manifest["files"])
    out["bytes"] = sum(f["size"] for f in manifest["files"])
    return out


def load_array(model_dir: str | Path, manifest: dict, name: str, dtype: str,
               shape: tuple[int, ...]) -> np.ndarray:
    """The listed ``.npy`` file ``name`` as a read-only memory map, once its header says
    exactly ``dtype`` (a plain number type: no object, no structure) in C order with exactly
    ``shape``, and the header plus ``shape``'s bytes are the whole file. Nothing is mapped or
    allocated before that (a crafted header cannot make numpy map past the file, or reach a
    pickle). Raises ModelError naming the file."""
    path = Path(model_dir) / name
    want = np.dtype(dtype)
    with open_listed(model_dir, manifest, name) as fh:
        size = os.fstat(fh.fileno()).st_size
        try:
            version = np.lib.format.read_magic(fh)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f"npy format version {version}")
            read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                    else np.lib.format.read_array_header_2_0)
            got_shape, fortran, got = read(fh, max_header_size=_MAX_NPY_HEADER)
        except (ValueError, OSError, SyntaxError) as e:
            raise ModelError(f"{path}: not a .npy array ({e})", name) from None
        offset = fh.tell()
        if got != want or fortran or got.hasobject or got.fields is not None:
            raise ModelError(f"{path}: dtype {got.str}{' (Fortran order)' if fortran else ''}, "
                             f"want {want.str} in C order", name)
        if tuple(got_shape) != tuple(shape):
            raise ModelError(f"{path}: shape {list(got_shape)}, want {list(shape)}", name)
        nbytes = math.prod(shape) * want.itemsize
        if offset + nbytes != size:
            raise ModelError(f"{path}: {size} bytes, want {offset + nbytes} for shape "
                             f"{list(shape)}", name)
        if nbytes == 0:
            return np.zeros(shape, dtype=want)
        return np.memmap(fh, dtype=want, mode="r", offset=offset, shape=tuple(shape), order="C")
