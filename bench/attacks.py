#!/usr/bin/env python3
"""Availability of the service under attack, per gunicorn worker class, each figure from one run.

For each worker class (the project's gunicorn.conf.py, 2 workers, the sample model on loopback):

baseline   normal clients (4 at a time, POST /v1/answer) with no attack: availability (share
           answered 200 within 2 s) and p50/p99 latency
slowloris  the same clients while N slow clients (half trickling headers, half a body, one byte
           every 0.5 s, reconnecting when closed) are held for --seconds; target: 64 slow clients
           leave availability >= 99 % with p99 < 1 s
burst      2,100 TCP connections opened and closed without a byte; seconds until /healthz answers
           again (target <= 5 s), then availability of normal clients

Ratios printed: availability under attack / baseline, p99 under attack / baseline.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from common import Server

from faq_engine.trainer import train

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers import SlowClients, connection_burst, healthy_within, probe  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "app" / "faq_engine" / "data" / "sample-faq.jsonl"


def ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


def run(worker_class: str, model: Path, slow: list[int], seconds: float) -> dict:
    import gunicorn

    out: dict = {"worker_class": worker_class, "gunicorn": gunicorn.__version__}
    if worker_class == "gevent":
        try:
            import gevent  # noqa: F401
        except ImportError:
            return {**out, "error": "gevent is not installed"}
    with Server(model, workers=2, env={"GUNICORN_WORKER_CLASS": worker_class}) as srv:
        base = out["baseline"] = probe(srv.port, 5)
        for n in slow:
            with SlowClients(srv.port, n) as attack:
                time.sleep(1)  # let them connect and start trickling
                during = probe(srv.port, seconds)
            out[f"slowloris_{n}"] = {**during, "slow_connects": attack.connects,
                                     "availability_ratio": ratio(during["availability"],
                                                                 base["availability"]),
                                     "p99_ratio": ratio(during["p99_ms"], base["p99_ms"])}
            healthy_within(srv.port, 30)  # recover (or not) before the next attack
        opened = connection_burst(srv.port, 2100)
        back = healthy_within(srv.port, 10)
        after = probe(srv.port, 5) if back is not None else {"availability": 0.0}
        out["burst"] = {"opened": opened, "healthy_after_s": back,
                        "availability_after": after["availability"],
                        "p99_after_ms": after.get("p99_ms")}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker-class", action="append", choices=["gthread", "gevent"],
                    help="candidates (default: both)")
    ap.add_argument("--slow", type=int, action="append", help="slow clients (default: 8 and 64)")
    ap.add_argument("--seconds", type=float, default=60, help="how long each attack is held")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "1.0"
        train(SAMPLE, model, version="1.0")
        for wc in args.worker_class or ["gthread", "gevent"]:
            print(json.dumps(run(wc, model, args.slow or [8, 64], args.seconds)), flush=True)


if __name__ == "__main__":
    main()
