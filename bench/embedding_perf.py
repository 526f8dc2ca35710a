#!/usr/bin/env python3
"""The embedding model kind's performance, each figure taken in one run (noisy machine):

latency     per-question encode + rank time, p50/p99, with 1 and 2 BLAS threads (in-process,
            distinct questions so the query cache never hits); the cache hit for a repeat
load        model load (verify sha256 + map) time, and with model-copy's stamp trusted (auto)
throughput  HTTP requests/s with 2 gunicorn workers vs the in-process rate on the same distinct
            questions; target ratio >= 0.7
memory      PSS of gunicorn (master + workers) with 1 and 4 workers; target ratio <= 1.3 (the
            mapped weights are shared, not copied per worker)
training    `faq-engine train --kind embedding` on the sample FAQ and on 10k synthetic entries
images      app image size, model image size per kind (podman, if ci/images/build.sh built them)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import SAMPLE, Server, dir_mb, distinct_questions, run_wrk, synthetic_faq, wrk_script

from faq_engine.trainer import train



def _run(code: str, *args: str, env: dict | None = None) -> dict:
    r = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True,
                       text=True, env=dict(os.environ, **(env or {})))
    return json.loads(r.stdout.strip().splitlines()[-1])


LATENCY = r"""
import json, sys, time
import numpy as np
from faq_engine.ranking import Ranker
r = Ranker(sys.argv[1]); qs = json.loads(sys.argv[2])
r.scorers["embedding"].cache.size = 0
for q in qs[:5]: r.answer(q, 3)
t = []
for q in qs:
    s = time.perf_counter(); r.answer(q, 3); t.append(time.perf_counter() - s)
r.scorers["embedding"].cache.size = 1024
r.answer(qs[0], 3)
s = time.perf_counter()
for _ in range(200): r.answer(qs[0], 3)
hit = (time.perf_counter() - s) / 200
print(json.dumps({"p50_ms": round(float(np.percentile(t, 50)) * 1000, 2),
                  "p99_ms": round(float(np.percentile(t, 99)) * 1000, 2),
                  "qps": round(len(t) / sum(t), 1), "cache_hit_ms": round(hit * 1000, 3)}))
"""


def latency(model: Path, n: int) -> dict:
    qs = distinct_questions(n)
    out = {}
    for threads in (1, 2):
        env = {k: str(threads) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
        out[f"{threads}_thread"] = r = _run(LATENCY, str(model), json.dumps(qs), env=env)
        print(f"latency ({threads} BLAS thread{'s' if threads > 1 else ''}): p50 {r['p50_ms']} ms,"
              f" p99 {r['p99_ms']} ms over {n} distinct questions ({r['qps']} q/s); "
              f"a repeated question (cache hit) {r['cache_hit_ms']} ms")
    return out


LOAD = r"""
import json, sys, time
t = time.perf_counter(); from faq_engine.ranking import Ranker; imp = time.perf_counter() - t
t = time.perf_counter(); Ranker(sys.argv[1], sys.argv[2]); load = time.perf_counter() - t
print(json.dumps({"import_s": round(imp, 3), "load_s": round(load, 3)}))
"""


def load_time(model: Path) -> dict:
    out = {m: _run(LOAD, str(model), m) for m in ("sha256", "size")}
    print(f"load: {dir_mb(model):.0f} MB model in {out['sha256']['load_s']} s verifying sha256, "
          f"{out['size']['load_s']} s trusting model-copy's stamp (sizes only); "
          f"import {out['size']['import_s']} s")
    return out


INPROC = r"""
import json, sys, time
from faq_engine.ranking import Ranker
r = Ranker(sys.argv[1]); qs = json.loads(sys.argv[2]); secs = float(sys.argv[3])
r.scorers["embedding"].cache.size = 0
for q in qs[:5]: r.answer(q, 3)
n = 0; t = time.perf_counter()
while time.perf_counter() - t < secs:
    r.answer(qs[n % len(qs)], 3); n += 1
print(json.dumps({"qps": n / (time.perf_counter() - t)}))
"""


def throughput(model: Path, seconds: float, concurrency: int) -> dict:
    qs = distinct_questions(1500, seed=5)  # one argv string: under 128 KiB
    inproc = _run(INPROC, str(model), json.dumps(qs), str(seconds),
                  env={"OPENBLAS_NUM_THREADS": "1"})["qps"]
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "post.lua"
        wrk_script(distinct_questions(5000, seed=6), script)
        with Server(model, workers=2, threads=1, env={"OPENBLAS_NUM_THREADS": "1"}) as srv:
            for q in qs[:4]:
                srv.ask(q)
            wrk = run_wrk(srv.url + "/v1/answer", script, seconds, concurrency)
    rps = wrk["rps"]
    out = {"inprocess_qps": round(inproc, 1), "http_rps_2w": rps,
           "ratio_http_over_inprocess": round(rps / inproc, 3), "p50": wrk["p50"],
           "p99": wrk["p99"], "non_2xx": wrk["non_2xx"]}
    print(f"throughput: in-process {out['inprocess_qps']} q/s (1 process, 1 BLAS thread); HTTP "
          f"2 workers {rps} req/s at concurrency {concurrency} (p50 {out['p50']}, p99 "
          f"{out['p99']}, non-2xx {out['non_2xx']}); ratio {out['ratio_http_over_inprocess']} "
          "(target >= 0.7)")
    return out


def memory(model: Path) -> dict:
    qs = distinct_questions(200, seed=9)
    out = {"model_mb": round(dir_mb(model), 1)}
    for workers in (1, 4):
        with Server(model, workers, threads=1, env={"OPENBLAS_NUM_THREADS": "1"}) as srv:
            with ThreadPoolExecutor(8) as pool:  # warm every worker
                list(pool.map(srv.ask, qs))
            time.sleep(1)
            out[f"pss_mb_{workers}w"] = round(srv.pss_mb(), 1)
    out["ratio_4w_over_1w"] = round(out["pss_mb_4w"] / out["pss_mb_1w"], 3)
    print(f"memory: model {out['model_mb']} MB; PSS 1 worker {out['pss_mb_1w']} MB, 4 workers "
          f"{out['pss_mb_4w']} MB; ratio {out['ratio_4w_over_1w']} (target <= 1.3)")
    return out


def training(tmp: Path, big: int) -> dict:
    out = {}
    for label, faq in (("sample", SAMPLE),
                       (f"{big}", synthetic_faq(tmp / "big.jsonl", entries=big, vocab=20_000))):
        t = time.perf_counter()
        m = train(faq, tmp / f"m-{label}", kind="embedding", force=True)
        out[f"{label}_s"] = round(time.perf_counter() - t, 1)
        print(f"training: {m['entries']} entries in {out[f'{label}_s']} s "
              f"({dir_mb(tmp / f'm-{label}'):.1f} MB model)")
    return out


def images() -> dict:
    if shutil.which("podman") is None:
        return {}
    out = {}
    for name in ("localhost/faq-engine:1.0.0", "localhost/faq-engine-model:1.0",
                 "localhost/faq-engine-model:2.0", "localhost/faq-engine-base/python:3.11-slim-bookworm"):
        r = subprocess.run(["podman", "image", "inspect", "--format", "{{.Size}}", name],
                           capture_output=True, text=True)
        if r.returncode == 0:
            out[name] = round(int(r.stdout.strip()) / 1e6, 1)
    for name, mb in out.items():
        print(f"image: {name} {mb} MB")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("parts", nargs="*",
                    default=["latency", "load", "throughput", "memory", "training", "images"])
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--questions", type=int, default=300)
    ap.add_argument("--big", type=int, default=10_000, help="entries of the large training run")
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = tmp / "model"
        train(SAMPLE, model, kind="embedding")
        parts = {"latency": lambda: latency(model, args.questions), "load": lambda: load_time(model),
                 "throughput": lambda: throughput(model, args.seconds, args.concurrency),
                 "memory": lambda: memory(model), "training": lambda: training(tmp, args.big),
                 "images": images}
        for part in args.parts:
            results[part] = parts[part]()
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
