#!/usr/bin/env python3
"""Numeric threads under CPU contention (faq_engine/threads.py), each figure from one run:

serving   embedding-kind `/v1/answer` latency p50/p99 from one client at 2 gunicorn workers,
          quiet and with two busy processes competing for the CPUs; with the default thread
          share and with every worker's BLAS at one thread per core (numpy's own default,
          as before the share); goal: contended p50 within 2x of quiet
training  `faq-engine train --kind embedding` on the sample FAQ, the same four ways

Usage: bench/threads_perf.py [--questions N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from common import SAMPLE, Server, distinct_questions

CORES = len(os.sched_getaffinity(0))
# numpy's BLAS left alone: one thread per core in every process.
UNCAPPED = {k: str(CORES) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
MODES = {"share (default)": {}, "one per core (before)": UNCAPPED}


@contextmanager
def busy(n: int):
    """`n` processes spinning on the CPU (what a neighbour's pod does)."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        time.sleep(1)
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def clean_env(extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in UNCAPPED and k != "NUMERIC_THREADS"}
    return dict(env, **extra)


def latencies(url: str, questions: list[str]) -> tuple[float, float]:
    times = []
    for q in questions:
        req = urllib.request.Request(url + "/v1/answer", data=json.dumps({"question": q}).encode(),
                                     headers={"Content-Type": "application/json"})
        t = time.perf_counter()
        with urllib.request.urlopen(req, timeout=60) as r:
            r.read()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return times[len(times) // 2], times[min(len(times) - 1, int(len(times) * 0.99))]


def serving(model: Path, n: int) -> dict:
    out = {}
    for mode, extra in MODES.items():
        print(f"serving, {mode}: ...", file=sys.stderr, flush=True)
        with Server(model, workers=2, threads=1, env=extra) as srv:
            for q in distinct_questions(10, seed=9):
                srv.ask(q)
            quiet = latencies(srv.url, distinct_questions(n, seed=11))
            with busy(2):
                loaded = latencies(srv.url, distinct_questions(n, seed=12))
        out[mode] = {"quiet": quiet, "contended": loaded}
        print(f"serving, {mode}: quiet p50/p99 {quiet[0]:.1f}/{quiet[1]:.1f} ms, contended "
              f"{loaded[0]:.1f}/{loaded[1]:.1f} ms", file=sys.stderr, flush=True)
    return out


def training(tmp: Path) -> dict:
    out = {}
    for mode, extra in MODES.items():
        out[mode] = {}
        for state in ("quiet", "contended"):
            dest = tmp / f"{len(out)}-{state}"
            cmd = [sys.executable, "-m", "faq_engine.cli", "train", "--kind", "embedding",
                   "--faq", str(SAMPLE), "--out", str(dest), "--version", "2.0"]
            ctx = busy(2) if state == "contended" else _nothing()
            with ctx:
                t = time.perf_counter()
                subprocess.run(cmd, check=True, env=clean_env(extra), capture_output=True)
                out[mode][state] = time.perf_counter() - t
            print(f"training, {mode}, {state}: {out[mode][state]:.1f} s", file=sys.stderr,
                  flush=True)
    return out


@contextmanager
def _nothing():
    yield


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", type=int, default=300)
    args = ap.parse_args()
    if set(os.environ) & {*UNCAPPED, "NUMERIC_THREADS"}:
        raise SystemExit(f"unset {sorted(set(os.environ) & {*UNCAPPED, 'NUMERIC_THREADS'})} first")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = tmp / "2.0"
        subprocess.run([sys.executable, "-m", "faq_engine.cli", "train", "--kind", "embedding",
                        "--faq", str(SAMPLE), "--out", str(model), "--version", "2.0"],
                       check=True, capture_output=True)
        serve = serving(model, args.questions)
        train = training(tmp)
    print(f"{CORES} cores; 2 gunicorn workers; contended = 2 busy processes; "
          f"{args.questions} distinct questions per cell, one client")
    print("| BLAS threads per worker | quiet p50 / p99 ms | contended p50 / p99 ms | "
          "contended/quiet p50 | training quiet s | training contended s | contended/quiet |")
    print("|---|---|---|---|---|---|---|")
    for mode in MODES:
        (qp50, qp99), (cp50, cp99) = serve[mode]["quiet"], serve[mode]["contended"]
        tq, tc = train[mode]["quiet"], train[mode]["contended"]
        print(f"| {mode} | {qp50:.1f} / {qp99:.1f} | {cp50:.1f} / {cp99:.1f} | "
              f"{cp50 / qp50:.2f}x | {tq:.1f} | {tc:.1f} | {tc / tq:.2f}x |")
    share, before = serve["share (default)"], serve["one per core (before)"]
    print(f"contended p50, before / share: {before['contended'][0] / share['contended'][0]:.2f}x; "
          f"goal: share's contended/quiet p50 <= 2x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
