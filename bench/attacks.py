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

Then the deadlines (issue 18), gevent only, `before` being gunicorn's stock gevent worker
(GUNICORN_CMD_ARGS=--worker-class=gevent) and `after` faq_engine.worker with its defaults:

body_trickle  20 connections declaring a body and sending it one byte every 0.5 s: how many the
              server closed within --hold seconds (target: all, about the 10 s read deadline)
non_reading   10 connections pipelining requests and never reading a response: how many the
              server closed within --hold seconds (target: all)
many_sockets  2,050 connections from one address (127.0.0.2) trickling headers and bodies (about
              400 bytes/s in all, reconnecting when closed) while normal clients (127.0.0.1) ask:
              their availability and p99 (target: >= 99 %)

Ratios printed: availability under attack / baseline, p99 under attack / baseline.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import Server

from faq_engine.trainer import train

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from faqtest.common import SlowClients, connection_burst, healthy_within, probe  # noqa: E402

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


def _state(sock: socket.socket) -> int:
    """The connection's TCP state (1 = established) from TCP_INFO's first byte."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]


def closed_within(conns: list[socket.socket], hold: float, feed) -> tuple[int, float | None]:
    """Call feed(sock) every 0.5 s on each open connection for up to `hold` seconds; how many the
    server closed, and the seconds until the last of them was."""
    start, last, closed = time.monotonic(), None, set()
    while time.monotonic() - start < hold and len(closed) < len(conns):
        for i, c in enumerate(conns):
            if i in closed:
                continue
            try:
                if _state(c) != 1:
                    raise ConnectionError
                feed(c)
            except OSError:
                closed.add(i)
                last = round(time.monotonic() - start, 1)
        time.sleep(0.5)
    for c in conns:
        c.close()
    return len(closed), last


def body_trickle(port: int, hold: float, n: int = 20) -> dict:
    conns = []
    for _ in range(n):
        c = socket.create_connection(("127.0.0.1", port))
        c.sendall(b"POST /v1/answer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 15000\r\n\r\n")
        conns.append(c)
    closed, last = closed_within(conns, hold, lambda c: c.send(b"a", socket.MSG_DONTWAIT))
    return {"connections": n, "closed": closed, "last_closed_s": last, "hold_s": hold}


def non_reading(port: int, hold: float, n: int = 10) -> dict:
    conns, pending = [], {}
    for _ in range(n):
        c = socket.socket()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.connect(("127.0.0.1", port))
        c.setblocking(False)
        conns.append(c)
    req = b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n" * 500

    def feed(c):  # pipeline requests as fast as the server takes them, whole ones only
        data = pending.get(c) or req
        try:
            pending[c] = data[c.send(data):]
        except BlockingIOError:
            pending[c] = data

    closed, last = closed_within(conns, hold, feed)
    return {"connections": n, "closed": closed, "last_closed_s": last, "hold_s": hold}


def many_sockets(port: int, seconds: float, n: int = 2050) -> dict:
    """n connections from 127.0.0.2 trickling a declared body, one byte each every ~5 s,
    reconnected when closed, while normal clients from 127.0.0.1 are probed."""
    stop = threading.Event()
    stats = {"connects": 0, "closed_by_server": 0}
    head = (b"POST /v1/answer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 15000\r\n\r\n")

    def connect(i):
        c = socket.socket()
        c.bind(("127.0.0.2", 0))
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", port))
        stats["connects"] += 1
        try:
            return [c, head + b"a" * 15000, c.send(head), True]
        except OSError:  # still connecting: the headers go on its next turn
            return [c, head + b"a" * 15000, 0, False]

    def attack():
        conns = [connect(i) for i in range(n)]
        while not stop.wait(0.05):
            # ~400 bytes/s in all: a 1/100 of the connections sends one byte each 50 ms round
            for i in range(0, n, 100):
                j = (i + int(time.monotonic() * 20)) % n
                c, payload, pos, started = conns[j]
                try:
                    if not started:  # the headers at once, then the body a byte at a time
                        conns[j][2], conns[j][3] = c.send(head), True
                    elif c.send(payload[pos:pos + 1]) == 1:
                        conns[j][2] = (pos + 1) % len(payload)
                    try:
                        if c.recv(65536, socket.MSG_DONTWAIT) is not None:
                            raise ConnectionError
                    except BlockingIOError:
                        pass
                except OSError:
                    c.close()
                    stats["closed_by_server"] += 1
                    conns[j] = connect(j)
        for c, *_ in conns:
            c.close()

    t = threading.Thread(target=attack, daemon=True)
    t.start()
    time.sleep(3)  # let them connect
    during = probe(port, seconds)
    stop.set()
    t.join()
    return {**during, **stats}


def deadlines(model: Path, hold: float, seconds: float) -> dict:
    import gunicorn

    out: dict = {"gunicorn": gunicorn.__version__}
    for label, env in (("before", {"GUNICORN_CMD_ARGS": "--worker-class=gevent"}), ("after", {})):
        with Server(model, workers=2, env=env) as srv:
            base = probe(srv.port, 5)
            res = {"body_trickle": body_trickle(srv.port, hold)}
            healthy_within(srv.port, 30)
            res["non_reading"] = non_reading(srv.port, hold)
            healthy_within(srv.port, 30)
            many = many_sockets(srv.port, seconds)
            res["many_sockets"] = {**many, "availability_ratio": ratio(many["availability"],
                                                                       base["availability"]),
                                   "p99_ratio": ratio(many["p99_ms"], base["p99_ms"])}
            out[label] = res
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker-class", action="append", choices=["gthread", "gevent"],
                    help="candidates (default: both)")
    ap.add_argument("--slow", type=int, action="append", help="slow clients (default: 8 and 64)")
    ap.add_argument("--seconds", type=float, default=60, help="how long each attack is held")
    ap.add_argument("--hold", type=float, default=30,
                    help="how long trickling and non-reading connections are watched")
    ap.add_argument("--only-deadlines", action="store_true", help="skip the per-worker-class runs")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "1.0"
        train(SAMPLE, model, version="1.0")
        if not args.only_deadlines:
            for wc in args.worker_class or ["gthread", "gevent"]:
                print(json.dumps(run(wc, model, args.slow or [8, 64], args.seconds)), flush=True)
        print(json.dumps({"deadlines": deadlines(model, args.hold, min(args.seconds, 20))}),
              flush=True)


if __name__ == "__main__":
    main()
