"""faq-engine batch: streaming, bad lines, exit status, atomic output, same answers as the API."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass

import pytest

from faq_engine.batch import answer_stream
from faq_engine.cli import main
from faq_engine.ranking import Ranker
from faq_engine.validation import MAX_BODY
from faqtest.common import BAD_ANSWER_BODIES

GOOD = ["How do I roll back to the previous model?", "helm upgrade", "What is a canary?",
        "Where do the model files live in the pod?"]


def line(body) -> bytes:
    if isinstance(body, bytes):
        return body
    return (body if isinstance(body, str) else json.dumps(body)).encode()


def write_lines(path, lines) -> None:
    path.write_bytes(b"".join(line(x) + b"\n" for x in lines))


@dataclass
class Result:
    returncode: int
    stderr: str


@pytest.fixture
def batch(capsys, monkeypatch):
    """Run `faq-engine batch ARGS` in this process (the same entry point as the command)."""
    def run(*args, stdin: str | None = None) -> Result:
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
        capsys.readouterr()
        try:
            code = main(["batch", *map(str, args)])
        except SystemExit as e:  # argparse usage errors
            code = e.code
        return Result(code, capsys.readouterr().err)
    return run


def read_jsonl(path):
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def summary_of(stderr: str) -> dict:
    """The summary: the last stderr line, plain JSON (the README's promise)."""
    return json.loads(stderr.splitlines()[-1])


def test_good_and_bad_lines(trained_model, tmp_path, batch):
    src, out = tmp_path / "q.jsonl", tmp_path / "a.jsonl"
    write_lines(src, [{"question": GOOD[0], "id": "first"}, b"{broken", {"question": ""},
                      {"question": GOOD[1], "top_k": 1, "id": 7}, b"", {"question": GOOD[2]}])
    r = batch("--model-dir", trained_model, "--in", src, "--out", out, "--top-k", 2)
    assert r.returncode == 3, r.stderr
    records = read_jsonl(out)
    assert [x["line"] for x in records] == [1, 4, 6]
    assert [x.get("id") for x in records] == ["first", 7, None]
    assert [len(x["answers"]) for x in records] == [2, 1, 2]
    assert all(x["model"] == {"version": "1.0"} for x in records)
    assert records[0]["answers"][0]["id"] == "rollback"
    for n, code in [(2, "invalid_json"), (3, "invalid_request"), (5, "invalid_request")]:
        assert f"faq-engine batch: line {n}: {code}: " in r.stderr
    s = summary_of(r.stderr)
    assert (s["lines"], s["answered"], s["bad"]) == (6, 3, 3)
    assert s["bad_by_code"] == {"invalid_json": 1, "invalid_request": 2}
    assert s["model"] == {"version": "1.0"}
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_all_good_exits_0_and_summary_file(trained_model, tmp_path, batch):
    src, out, summ = tmp_path / "q.jsonl", tmp_path / "a.jsonl", tmp_path / "s.json"
    write_lines(src, [{"question": q} for q in GOOD])
    r = batch("--model-dir", trained_model, "--in", src, "--out", out, "--summary", summ)
    assert r.returncode == 0, r.stderr
    assert len(read_jsonl(out)) == len(GOOD)
    assert json.loads(summ.read_text())["answered"] == len(GOOD)
    assert oct(out.stat().st_mode & 0o777) == "0o644"


def test_bad_exit_code_option(trained_model, tmp_path, batch):
    src, out = tmp_path / "q.jsonl", tmp_path / "a.jsonl"
    write_lines(src, [{"question": GOOD[0]}, b"nope"])
    r = batch("--model-dir", trained_model, "--in", src, "--out", out, "--bad-exit-code", 0)
    assert r.returncode == 0, r.stderr
    assert len(read_jsonl(out)) == 1 and summary_of(r.stderr)["bad"] == 1


def test_same_answers_and_rules_as_the_http_api(trained_model, client, tmp_path, batch):
    """Every body the API rejects is a bad batch line with the same code; good ones answer alike."""
    good = [{"question": q, "top_k": k} for q in GOOD for k in (1, 3)]
    src, out = tmp_path / "q.jsonl", tmp_path / "a.jsonl"
    write_lines(src, [b for b, _ in BAD_ANSWER_BODIES] + good)
    r = batch("--model-dir", trained_model, "--in", src, "--out", out)
    assert r.returncode == 3, r.stderr
    for n, (_, code) in enumerate(BAD_ANSWER_BODIES, 1):
        assert f"line {n}: {code}: " in r.stderr
    records = read_jsonl(out)
    assert len(records) == len(good)
    for rec, body in zip(records, good):
        api = client.post("/v1/answer", json=body).get_json()
        assert rec["answers"] == api["answers"] and rec["model"] == api["model"]


def test_line_too_long_is_skipped_and_the_next_line_read(trained_model, tmp_path, batch):
    src, out = tmp_path / "q.jsonl", tmp_path / "a.jsonl"
    huge = json.dumps({"question": "x" * (3 * MAX_BODY)}).encode()
    write_lines(src, [huge, {"question": GOOD[0]}])
    r = batch("--model-dir", trained_model, "--in", src, "--out", out)
    assert r.returncode == 3, r.stderr
    assert "line 1: line_too_long: " in r.stderr
    assert [x["line"] for x in read_jsonl(out)] == [2]


def test_too_many_bad_lines_writes_nothing(trained_model, tmp_path, batch):
    src, out = tmp_path / "q.jsonl", tmp_path / "a.jsonl"
    out.write_text("previous run\n")
    write_lines(src, [{"question": GOOD[0]}, b"bad", b"bad", b"bad", {"question": GOOD[1]}])
    r = batch("--model-dir", trained_model, "--in", src, "--out", out, "--max-bad", 2)
    assert r.returncode == 4, r.stderr
    assert "more than 2 bad line(s) (line 4)" in r.stderr
    assert out.read_text() == "previous run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "q.jsonl"]
    r = batch("--model-dir", trained_model, "--in", src, "--out", out, "--max-bad", 3)
    assert r.returncode == 3 and len(read_jsonl(out)) == 2


def test_broken_model_or_input_exits_1(model_copy, tmp_path, batch):
    src, out = tmp_path / "q.jsonl", tmp_path / "a.jsonl"
    write_lines(src, [{"question": GOOD[0]}])
    r = batch("--model-dir", tmp_path / "missing", "--in", src, "--out", out)
    assert r.returncode == 1 and "manifest missing" in r.stderr
    r = batch("--model-dir", model_copy, "--in", tmp_path / "nope.jsonl", "--out", out)
    assert r.returncode == 1 and "cannot read" in r.stderr
    r = batch("--model-dir", model_copy, "--in", src, "--out", tmp_path / "no-dir" / "a.jsonl")
    assert r.returncode == 1 and "not written" in r.stderr
    (model_copy / "vectors.npy").write_bytes(b"x")
    r = batch("--model-dir", model_copy, "--in", src, "--out", out)
    assert r.returncode == 1 and "vectors.npy" in r.stderr
    assert not out.exists()


def test_usage_errors_exit_2(trained_model, tmp_path, batch):
    for extra in (["--top-k", "0"], ["--top-k", "21"], ["--max-bad", "-1"]):
        r = batch("--model-dir", trained_model, "--in", "-", "--out", tmp_path / "a", *extra)
        assert r.returncode == 2, extra


def test_stdin_and_progress(trained_model, tmp_path, batch):
    out = tmp_path / "a.jsonl"
    stdin = "".join(json.dumps({"question": q}) + "\n" for q in GOOD * 5)
    r = batch("--model-dir", trained_model, "--in", "-", "--out", out, "--progress-seconds", 0,
              stdin=stdin)
    assert r.returncode == 0, r.stderr
    progress = [x for x in r.stderr.splitlines() if "progress: " in x]
    assert len(progress) == 20 and progress[-1].startswith("faq-engine batch: progress: 20 lines")
    assert len(read_jsonl(out)) == 20


def test_killed_run_leaves_the_previous_output(trained_model, tmp_path):
    """Output appears only by rename: a run killed half-way leaves the old file as it was."""
    out = tmp_path / "a.jsonl"
    out.write_text("previous run\n")
    p = subprocess.Popen([sys.executable, "-m", "faq_engine.cli", "batch", "--model-dir",
                          str(trained_model), "--in", "-", "--out", str(out)],
                         stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for q in GOOD * 50:
            p.stdin.write((json.dumps({"question": q}) + "\n").encode())
        p.stdin.flush()
        deadline = time.monotonic() + 30
        tmp = []
        while time.monotonic() < deadline:
            tmp = [x for x in tmp_path.iterdir() if x.name.endswith(".tmp")]
            if tmp and tmp[0].stat().st_size > 0:
                break
            time.sleep(0.05)
        assert tmp and tmp[0].stat().st_size > 0, "no answers were being written"
        assert out.read_text() == "previous run\n"
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert out.read_text() == "previous run\n"


def _peak(ranker, path, n_lines: int) -> int:
    filler = " ".join(["zzqx"] * 150)  # unknown words: cheap to rank, long lines
    with open(path, "w") as fh:
        for i in range(n_lines):
            q = GOOD[i % len(GOOD)] if i % 50 == 0 else f"{filler} {i}"
            fh.write(json.dumps({"question": q, "id": i}) + "\n")
            if i % 97 == 0:
                fh.write("not json\n")
    with open(path, "rb") as src, open(os.devnull, "w") as dst:
        tracemalloc.start()
        try:
            s = answer_stream(ranker, src, dst, top_k=3)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert s.answered == n_lines and s.bad == len(range(0, n_lines, 97))
    return peak


def test_memory_does_not_grow_with_input(trained_model, tmp_path):
    """Ten times the input (0.75 MB -> 7.5 MB) costs no more memory: nothing is held per line
    (peaks measured here: 32 KB and 36 KB; keeping each 750-byte record would add 7 MB)."""
    ranker = Ranker(trained_model)
    small = _peak(ranker, tmp_path / "small.jsonl", 1_000)
    large = _peak(ranker, tmp_path / "large.jsonl", 10_000)
    assert (tmp_path / "large.jsonl").stat().st_size > 7_000_000
    assert large < small + 128 * 1024, (small, large)
    assert large < 1024 * 1024, large


def test_answer_stream_in_process(trained_model):
    """The streaming core without the CLI: bad lines reach the reporter with their number."""
    reported = []
    dst = io.StringIO()
    src = io.BytesIO(b'{"question": "helm upgrade"}\n\xff\n')
    s = answer_stream(Ranker(trained_model), src, dst, top_k=2, report=reported.append)
    assert (s.lines, s.answered, s.bad) == (2, 1, 1)
    assert reported == [reported[0]] and reported[0].startswith("line 2: invalid_json")
    assert json.loads(dst.getvalue())["line"] == 1
