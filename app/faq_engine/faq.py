"""Reading FAQ files: JSON Lines (one entry a line) or CSV with id,question,answer columns."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass
from pathlib import Path

FIELDS = ("id", "question", "answer")
# UTF-8, with or without the byte-order mark spreadsheet programs put at the start of a CSV.
ENCODING = "utf-8-sig"


@dataclass(frozen=True)
class Entry:
    id: str
    question: str
    answer: str

    def to_dict(self) -> dict:
        return asdict(self)


class FaqError(ValueError):
    """A malformed FAQ file; the message names the file, the line and the reason."""


def _entry(raw: object, where: str) -> Entry:
    if not isinstance(raw, dict):
        raise FaqError(f"{where}: expected an object with {', '.join(FIELDS)}")
    missing = [f for f in FIELDS if f not in raw]
    if missing:
        raise FaqError(f"{where}: missing field(s) {', '.join(missing)}")
    extra = sorted(set(raw) - set(FIELDS))
    if extra:
        raise FaqError(f"{where}: unknown field(s) {', '.join(extra)}")
    values = {}
    for f in FIELDS:
        v = raw[f]
        if isinstance(v, int) and not isinstance(v, bool) and f == "id":
            v = str(v)
        if not isinstance(v, str):
            raise FaqError(f"{where}: field {f!r} must be a string")
        v = v.strip()
        if not v:
            raise FaqError(f"{where}: field {f!r} is empty")
        values[f] = v
    return Entry(**values)


def _jsonl(path: Path) -> list[tuple[int, Entry]]:
    out = []
    with path.open(encoding=ENCODING) as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as e:
                raise FaqError(f"{path}:{n}: invalid JSON: {e.msg} (column {e.colno})") from None
            except RecursionError:
                raise FaqError(f"{path}:{n}: invalid JSON: nested too deeply") from None
            except ValueError as e:  # e.g. an integer longer than Python converts
                raise FaqError(f"{path}:{n}: invalid JSON: {e}") from None
            out.append((n, _entry(raw, f"{path}:{n}")))
    return out


def _csv(path: Path) -> list[tuple[int, Entry]]:
    with path.open(encoding=ENCODING, newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or set(FIELDS) - set(reader.fieldnames):
            raise FaqError(f"{path}:1: the header must name the columns {', '.join(FIELDS)}")
        out = []
        for row in reader:
            n = reader.line_num
            if None in row or None in row.values():
                raise FaqError(f"{path}:{n}: expected {len(reader.fieldnames)} columns")
            out.append((n, _entry(row, f"{path}:{n}")))
    return out


def _line_of(path: Path) -> int:
    """The number of the first line that is not UTF-8 (a decode error counts bytes from the
    start of the reader's buffer, not of the file, so the file is scanned again by line)."""
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, 1):
            try:
                raw.decode(ENCODING)
            except UnicodeDecodeError:
                return n
    return 0


def load_faq(path: str | Path) -> list[Entry]:
    """Read and validate an FAQ file. Raises FaqError naming the line for any bad entry."""
    path = Path(path)
    if not path.is_file():
        raise FaqError(f"{path}: no such file")
    try:
        rows = _csv(path) if path.suffix.lower() == ".csv" else _jsonl(path)
    except UnicodeDecodeError as e:
        raise FaqError(f"{path}:{_line_of(path)}: not UTF-8 text ({e.reason})") from None
    if not rows:
        raise FaqError(f"{path}: no entries")
    seen: dict[str, int] = {}
    for n, entry in rows:
        if entry.id in seen:
            raise FaqError(f"{path}:{n}: duplicate id {entry.id!r} (first on line {seen[entry.id]})")
        seen[entry.id] = n
    return [e for _, e in rows]
