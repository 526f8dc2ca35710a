"""Batch answering: a JSON Lines file of questions in, a JSON Lines file of answers out.

Streaming, so memory stays flat at any input size: one input line is read, checked with the
HTTP API's own request rules (``validation.answer_request``), answered and written before the
next is read. A bad line is reported on stderr with its number and skipped. The output is
written to a temporary file next to ``--out``, flushed to disk and renamed over it only when the
run succeeds, so a reader never sees a half-written file (``--out -``: stdout, streamed). The
summary is the last line on stderr, plain JSON.

Input line:   {"question": "...", "top_k": 5, "id": "q-17"}     (top_k and id optional)
Output line:  {"line": 1, "id": "q-17", "question": "...", "answers": [...],
               "no_answer": false, "model": {"version": "1.1"}}
              (no entry at or above the model's min_score: "answers": [], "no_answer": true and
              a "reason", as the HTTP API says it; faq_engine.abstain)

Exit status: see ``EXIT_*`` below (the README's "Batch answering" section documents it).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable

from . import abstain
from .modeldir import ModelError, resolve
from .ranking import Ranker
from .validation import MAX_BODY, RequestError, answer_request, parse_json

EXIT_OK = 0           # every line answered, output written
EXIT_ERROR = 1        # the run could not start or finish (model, input, output): nothing written
EXIT_USAGE = 2        # bad command line (argparse)
EXIT_BAD_LINES = 3    # output written; some lines were bad (default; --bad-exit-code changes it)
EXIT_TOO_MANY_BAD = 4  # more bad lines than --max-bad: stopped, nothing written

# Batch lines may carry an id that is echoed into the answer record.
EXTRA_FIELDS = frozenset({"id"})


class TooManyBadLines(Exception):
    pass


@dataclass
class Summary:
    lines: int = 0
    answered: int = 0
    no_answer: int = 0
    bad: int = 0
    seconds: float = 0.0
    model_version: str = ""
    bad_codes: dict[str, int] = field(default_factory=dict)

    def rate(self) -> float:
        return self.answered / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"lines": self.lines, "answered": self.answered, "no_answer": self.no_answer,
                "bad": self.bad,
                "bad_by_code": dict(sorted(self.bad_codes.items())),
                "seconds": round(self.seconds, 3), "questions_per_second": round(self.rate(), 1),
                "model": {"version": self.model_version}}


def _lines(fh: IO[bytes]):
    """(number, bytes or None) per input line; None for a line longer than MAX_BODY bytes,
    whose rest is read and dropped in bounded chunks."""
    n = 0
    while True:
        line = fh.readline(MAX_BODY + 1)
        if not line:
            return
        n += 1
        if len(line) > MAX_BODY and not line.endswith(b"\n"):
            while (rest := fh.readline(MAX_BODY)) and not rest.endswith(b"\n"):
                pass
            yield n, None
        else:
            yield n, line


def _check_id(body: dict) -> Any:
    ident = body.get("id")
    if ident is not None and (isinstance(ident, bool) or not isinstance(ident, (str, int))
                              or (isinstance(ident, str) and len(ident) > 256)):
        raise RequestError("invalid_request", "'id' must be a string (up to 256 characters) or an integer")
    return ident


def answer_stream(ranker: Ranker, src: IO[bytes], dst: IO[str], *, top_k: int,
                  max_bad: int | None = None, report: Callable[[str], None] = lambda s: None,
                  progress: Callable[[Summary], None] | None = None,
                  progress_every: float = 10.0, min_score: float | None = None) -> Summary:
    """Answer every good line of ``src`` into ``dst``; bad lines go to ``report``.
    ``min_score`` overrides the model's own threshold (None: the model's)."""
    s = Summary(model_version=ranker.version)
    threshold = ranker.min_score if min_score is None else min_score
    started = last = time.monotonic()
    for n, raw in _lines(src):
        s.lines = n
        try:
            if raw is None:
                raise RequestError("line_too_long", f"line is longer than {MAX_BODY} bytes")
            if not raw.strip():
                raise RequestError("invalid_request", "empty line")
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise RequestError("invalid_json", f"not UTF-8 text ({e.reason} at byte "
                                                   f"{e.start + 1} of the line)") from None
            body = parse_json(raw)
            question, k = answer_request(body, EXTRA_FIELDS, default_top_k=top_k)
            ident = _check_id(body)
        except RequestError as e:
            s.bad += 1
            s.bad_codes[e.code] = s.bad_codes.get(e.code, 0) + 1
            report(f"line {n}: {e.code}: {e.message}")
            if max_bad is not None and s.bad > max_bad:
                raise TooManyBadLines(f"more than {max_bad} bad line(s) (line {n})") from None
            continue
        record: dict[str, Any] = {"line": n}
        if ident is not None:
            record["id"] = ident
        record["question"] = question
        record.update(abstain.reply(ranker, question, k, threshold))
        record["model"] = {"version": ranker.version}
        s.no_answer += record["no_answer"]
        dst.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
        s.answered += 1
        if progress is not None and (now := time.monotonic()) - last >= progress_every:
            last = now
            s.seconds = now - started
            progress(s)
    s.seconds = time.monotonic() - started
    return s


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _answer_to_file(answer: Callable[[IO[str]], Summary], src: IO[bytes], out: Path) -> Summary:
    """Answer into a temporary file next to ``out``, then rename it over ``out``."""
    tmp_name = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp",
                                        dir=out.parent if str(out.parent) else ".")
        with src, os.fdopen(fd, "w", encoding="utf-8", newline="\n") as dst:
            summary = answer(dst)
            dst.flush()
            os.fsync(dst.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, out)
        tmp_name = None
        _fsync_dir(out.parent.resolve())
        return summary
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass


def run(model_dir: str, in_path: str, out_path: str, *, top_k: int, max_bad: int | None,
        bad_exit_code: int = EXIT_BAD_LINES, verify_mode: str = "auto",
        progress_every: float = 10.0, summary_path: str | None = None,
        err: IO[str] | None = None, min_score: float | None = None) -> int:
    def say(msg: str) -> None:
        print(f"faq-engine batch: {msg}", file=err or sys.stderr, flush=True)

    try:
        ranker = Ranker(resolve(model_dir), verify_mode)
    except ModelError as e:
        say(f"error: {e}")
        return EXIT_ERROR
    try:
        src = sys.stdin.buffer if in_path == "-" else open(in_path, "rb")
    except OSError as e:
        say(f"error: cannot read {in_path}: {e.strerror}")
        return EXIT_ERROR
    threshold = ranker.min_score if min_score is None else min_score

    def answer(dst: IO[str]) -> Summary:
        say(f"model {ranker.version} loaded in {ranker.load_seconds:.2f} s; min_score "
            f"{threshold:g}; answering {in_path} -> {'stdout' if out_path == '-' else out_path}")
        return answer_stream(
            ranker, src, dst, top_k=top_k, max_bad=max_bad, report=say,
            progress=lambda s: say(f"progress: {s.lines} lines, {s.answered} answered, "
                                   f"{s.bad} bad, {s.rate():.0f} questions/s"),
            progress_every=progress_every, min_score=threshold)

    try:
        if out_path == "-":
            # stdout: streamed as answered (a pipe cannot be replaced atomically).
            with src:
                summary = answer(sys.stdout)
                sys.stdout.flush()
        else:
            summary = _answer_to_file(answer, src, Path(out_path))
    except TooManyBadLines as e:
        say(f"error: {e}; stopped" + ("" if out_path == "-" else f", {out_path} not written"))
        return EXIT_TOO_MANY_BAD
    except OSError as e:
        say(f"error: {e}" + ("" if out_path == "-" else f"; {out_path} not written"))
        return EXIT_ERROR
    done = summary.to_dict()
    # The last stderr line: plain JSON, so `2>&1 | tail -1 | jq` (or a Job's log) reads it.
    print(json.dumps(done), file=err or sys.stderr, flush=True)
    if summary_path:
        Path(summary_path).write_text(json.dumps(done) + "\n", encoding="utf-8")
    return bad_exit_code if summary.bad else EXIT_OK
