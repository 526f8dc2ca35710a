#!/usr/bin/env python3
"""Batch answering vs the HTTP API: questions per second, same model, same machine, one run.

batch       `faq-engine batch` over N questions (one process, wall time including model load
            and the atomic write of the output)
http        the same model served by `faq-engine serve` (gunicorn, 2 workers x 2 threads, the
            chart's defaults but threads): wrk at a fixed concurrency, and one sequential
            keep-alive client posting the questions one by one (what a script without the
            batch command would do)
Prints both ratios (batch over HTTP).
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import Server, wrk_script

from faq_engine.faq import load_faq
from faq_engine.trainer import train

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "app" / "faq_engine" / "data" / "sample-faq.jsonl"


def batch_qps(model: Path, questions: list[str], n: int, tmp: Path) -> tuple[float, dict]:
    src, out = tmp / "questions.jsonl", tmp / "answers.jsonl"
    with open(src, "w") as fh:
        for i in range(n):
            fh.write(json.dumps({"question": questions[i % len(questions)], "id": i}) + "\n")
    started = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "faq_engine.cli", "batch", "--model-dir", str(model),
                        "--in", str(src), "--out", str(out)], capture_output=True, text=True)
    wall = time.perf_counter() - started
    if r.returncode != 0:
        raise SystemExit(f"batch failed ({r.returncode}):\n{r.stderr}")
    summary = json.loads(r.stderr.splitlines()[-1])  # the last stderr line
    assert summary["answered"] == n, summary
    return n / wall, summary


def sequential_qps(url: str, questions: list[str], n: int) -> float:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    started = time.perf_counter()
    for i in range(n):
        conn.request("POST", "/v1/answer", json.dumps({"question": questions[i % len(questions)]}),
                     {"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            raise SystemExit(f"HTTP {resp.status}")
    conn.close()
    return n / (time.perf_counter() - started)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--questions", type=int, default=5000)
    p.add_argument("--seconds", type=float, default=10, help="wrk duration")
    p.add_argument("--concurrency", type=int, default=8)
    args = p.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: run ci/setup-host.sh")
    questions = [e.question for e in load_faq(SAMPLE)]
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        model = tmp / "model"
        train(SAMPLE, model)
        batch, summary = batch_qps(model, questions, args.questions, tmp)
        script = tmp / "post.lua"
        wrk_script(questions, script)
        with Server(model, workers=2, threads=2) as srv:
            for q in questions:
                srv.ask(q)
            seq = sequential_qps(srv.url, questions, min(args.questions, 2000))
            wrk = subprocess.run(["wrk", "-t1", f"-c{args.concurrency}", f"-d{int(args.seconds)}s",
                                  "-s", str(script), srv.url + "/v1/answer"],
                                 check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", wrk).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", wrk)
    out = {"questions": args.questions, "batch_qps": round(batch, 1),
           "batch_qps_answering_only": summary["questions_per_second"],
           "http_sequential_qps": round(seq, 1), "http_wrk_rps": rps,
           "wrk_concurrency": args.concurrency,
           "wrk_non_2xx": int(non2xx.group(1)) if non2xx else 0,
           "ratio_batch_over_http_sequential": round(batch / seq, 2),
           "ratio_batch_over_http_wrk": round(batch / rps, 2)}
    print(f"batch: {args.questions} questions at {out['batch_qps']} q/s wall (one process, "
          f"{out['batch_qps_answering_only']} q/s answering only)")
    print(f"http: sequential keep-alive client {out['http_sequential_qps']} q/s; wrk "
          f"concurrency {args.concurrency} against 2 workers x 2 threads {rps} req/s "
          f"(non-2xx {out['wrk_non_2xx']})")
    print(f"ratio batch/http: {out['ratio_batch_over_http_sequential']}x a sequential client, "
          f"{out['ratio_batch_over_http_wrk']}x the concurrent HTTP load")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
