#!/usr/bin/env python3
"""Serving performance, each figure taken in one run (these machines are noisy):

memory      PSS of gunicorn (master + workers) with 1 and with 4 workers serving a model of
            200 MB or more (synthetic, cached under $FAQ_CACHE/bench); target ratio <= 1.3
throughput  requests/s through HTTP (wrk, fixed concurrency) with 2 workers vs the in-process
            ranking throughput of the same queries (5,000 distinct ones: the query cache never
            hits); p50/p99 latency; target ratio >= 0.7. In-process, the sample FAQ's own
            questions asked again and again (every one a cache hit) against those distinct ones
load        model load (verify + map) time for the large model, cold (page cache dropped)
            and warm; the Doc2Vec negative-sampling table rebuilt by gensim's Python loop vs
            the loader's numpy version (the bulk of a large vocabulary's load time)
startup     CPU seconds of a fresh process that imports the app and loads the sample Doc2Vec
            model (what every pod start and `faq-engine ask` pays), with gensim's compiled
            step loaded alone (the app) and after a plain `import gensim` (as before); paired,
            alternating, median of each
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import SAMPLE, Server, dir_mb, distinct_questions, large_model, run_wrk, wrk_script

import numpy as np
from gensim.models.doc2vec import Doc2Vec

from faq_engine.faq import load_faq
from faq_engine.scorers.doc2vec import COUNTS, cum_table
from faq_engine.trainer import train



def memory() -> dict:
    model = large_model(200)
    questions = [json.loads(line)["question"]
                 for line in open(model.parent / "synthetic-faq-200mb.jsonl")]
    rng = random.Random(7)
    out = {"model_mb": round(dir_mb(model), 1)}
    for workers in (1, 4):
        with Server(model, workers, threads=1) as srv:
            with ThreadPoolExecutor(8) as pool:  # warm every worker on many different queries
                list(pool.map(srv.ask, rng.sample(questions, 400)))
            time.sleep(1)
            out[f"pss_mb_{workers}w"] = round(srv.pss_mb(), 1)
    out["ratio_4w_over_1w"] = round(out["pss_mb_4w"] / out["pss_mb_1w"], 3)
    print(f"memory: model {out['model_mb']} MB; PSS 1 worker {out['pss_mb_1w']} MB, "
          f"4 workers {out['pss_mb_4w']} MB; ratio {out['ratio_4w_over_1w']} (target <= 1.3)")
    return out


def _inprocess_qps(model: Path, questions: list[str], seconds: float) -> float:
    code = (
        "import sys, time, json; from faq_engine.ranking import Ranker\n"
        "r = Ranker(sys.argv[1]); qs = json.load(open(sys.argv[2])); secs = float(sys.argv[3])\n"
        "for q in qs: r.answer(q, 3)\n"
        "n = 0; t = time.perf_counter()\n"
        "while time.perf_counter() - t < secs:\n"
        "    r.answer(qs[n % len(qs)], 3); n += 1\n"
        "print(n / (time.perf_counter() - t))\n")
    with tempfile.NamedTemporaryFile("w", suffix=".json") as qs:
        json.dump(questions, qs)
        qs.flush()
        out = subprocess.run([sys.executable, "-c", code, str(model), qs.name, str(seconds)],
                             check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def throughput(seconds: float, concurrency: int) -> dict:
    # More than each worker's cache holds (faq_engine.querycache.SIZE), asked in turn: no hits.
    questions = distinct_questions(5000, seed=4)
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model"
        train(SAMPLE, model)
        inproc = _inprocess_qps(model, questions, seconds)
        repeated = _inprocess_qps(model, [e.question for e in load_faq(SAMPLE)], seconds)
        script = Path(tmp) / "post.lua"
        wrk_script(questions, script)
        with Server(model, workers=2, threads=2) as srv:
            for q in questions[:100]:  # every worker up and answering
                srv.ask(q)
            wrk = run_wrk(srv.url + "/v1/answer", script, seconds, concurrency)
    rps = wrk["rps"]
    out = {"inprocess_qps": round(inproc, 1), "inprocess_repeated_qps": round(repeated, 1),
           "ratio_repeated_over_distinct": round(repeated / inproc, 2), "http_rps_2w": rps,
           "ratio_http_over_inprocess": round(rps / inproc, 3), "concurrency": concurrency,
           "p50": wrk["p50"], "p99": wrk["p99"], "non_2xx": wrk["non_2xx"]}
    print(f"throughput: in-process {out['inprocess_qps']} q/s; HTTP 2 workers {rps} req/s at "
          f"concurrency {concurrency} (p50 {out['p50']}, p99 {out['p99']}, non-2xx "
          f"{out['non_2xx']}); ratio {out['ratio_http_over_inprocess']} (target >= 0.7)")
    print(f"throughput: in-process, the sample questions again and again (query cache hits) "
          f"{out['inprocess_repeated_qps']} q/s; ratio {out['ratio_repeated_over_distinct']} "
          "against distinct questions")
    return out


def load_time() -> dict:
    model = large_model(200)
    code = ("import sys, time; t = time.perf_counter(); from faq_engine.ranking import Ranker\n"
            "t = time.perf_counter(); Ranker(sys.argv[1]); print(time.perf_counter() - t)")
    out = {}
    for label in ("cold", "warm"):
        if label == "cold":
            subprocess.run(["sync"], check=True)
            Path("/proc/sys/vm/drop_caches").write_text("3\n")
        r = subprocess.run([sys.executable, "-c", code, str(model)], check=True,
                           capture_output=True, text=True)
        out[f"{label}_s"] = round(float(r.stdout.strip().splitlines()[-1]), 2)
    print(f"load: {dir_mb(model):.0f} MB model verified and mapped in {out['cold_s']} s cold, "
          f"{out['warm_s']} s warm")
    counts = np.load(model / COUNTS, allow_pickle=False)

    class Vocab:  # what gensim's Word2Vec.make_cum_table reads
        index_to_key = range(len(counts))

        def get_vecattr(self, i, attr):
            return int(counts[i])

    shim = type("Model", (), {"ns_exponent": 0.75, "wv": Vocab()})()
    tables = {}
    for label, build in (("gensim", lambda: Doc2Vec.make_cum_table(shim)),
                         ("numpy", lambda: cum_table(counts, 0.75))):
        start = time.perf_counter()
        build()
        tables[label] = time.perf_counter() - start
    out["cum_table_gensim_s"] = round(tables["gensim"], 3)
    out["cum_table_numpy_s"] = round(tables["numpy"], 4)
    print(f"load: negative-sampling table of {len(counts):,} words: gensim "
          f"{tables['gensim']:.3f} s, numpy {tables['numpy']:.4f} s "
          f"({tables['gensim'] / tables['numpy']:.0f}x)")
    return out


def startup(runs: int = 7) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model"
        train(SAMPLE, model)
        code = ("import resource, sys\n"
                "if sys.argv[2] == 'gensim': import gensim\n"
                "from faq_engine.ranking import Ranker\n"
                "Ranker(sys.argv[1])\n"
                "u = resource.getrusage(resource.RUSAGE_SELF)\n"
                "print(u.ru_utime + u.ru_stime)")
        cpu: dict[str, list[float]] = {"app": [], "gensim": []}
        for _ in range(runs):
            for label in cpu:
                r = subprocess.run([sys.executable, "-c", code, str(model), label], check=True,
                                   capture_output=True, text=True)
                cpu[label].append(float(r.stdout.strip().splitlines()[-1]))
    out = {f"{label}_cpu_s": round(float(np.median(v)), 3) for label, v in cpu.items()}
    out["ratio_app_over_gensim"] = round(out["app_cpu_s"] / out["gensim_cpu_s"], 3)
    print(f"startup: import + load the sample model, median CPU of {runs}: "
          f"{out['app_cpu_s']} s with the compiled step alone, {out['gensim_cpu_s']} s after "
          f"`import gensim`; ratio {out['ratio_app_over_gensim']}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("parts", nargs="*", default=["memory", "throughput", "load", "startup"])
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()
    results = {}
    for part in args.parts:
        results[part] = {"memory": memory, "load": load_time, "startup": startup,
                         "throughput": lambda: throughput(args.seconds, args.concurrency)}[part]()
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
