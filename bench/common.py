"""Shared by the bench/ scripts: synthetic models, a gunicorn server, memory readings."""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from faq_engine.modeldir import FORMAT
from faq_engine.trainer import TrainParams, train

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from faqtest.common import ci_setting  # noqa: E402,F401  (one reader of ci/versions.env for all)

CACHE = Path(os.environ.get("FAQ_CACHE", Path.home() / ".cache" / "faq-engine")) / "bench"
SAMPLE = Path(__file__).resolve().parents[1] / "app" / "faq_engine" / "data" / "sample-faq.jsonl"


def distinct_questions(n: int, seed: int = 3) -> list[str]:
    """Sample FAQ questions, each made distinct by two words of the FAQ's own vocabulary, so
    neither kind's query cache (faq_engine.querycache: keyed by the known words or the text)
    ever hits."""
    from faq_engine.faq import load_faq
    from faq_engine.text import tokenize

    entries = load_faq(SAMPLE)
    base = [e.question for e in entries]
    vocab = sorted({w for e in entries for w in tokenize(f"{e.question} {e.answer}")})
    rng, out, seen = random.Random(seed), [], set()
    while len(out) < n:
        q = rng.choice(base)
        extra = tuple(sorted(rng.sample(vocab, 2)))
        if (q, extra) not in seen:
            seen.add((q, extra))
            out.append(f"{q} {extra[0]} {extra[1]}")
    return out


def synthetic_faq(path: Path, entries: int, vocab: int, words: int = 40, seed: int = 1) -> Path:
    """An FAQ of made-up words with a Zipf-like frequency, so the vocabulary is large."""
    rng = random.Random(seed)
    cum = list(itertools.accumulate(1.0 / (r + 1) ** 0.8 for r in range(vocab)))
    names = [f"w{r}" for r in range(vocab)]
    with open(path, "w") as fh:
        for i in range(entries):
            q = rng.choices(names, cum_weights=cum, k=8)
            a = rng.choices(names, cum_weights=cum, k=words)
            # every word of the vocabulary appears at least once
            per = -(-vocab // entries)
            a.extend(names[(i * per) % vocab: (i * per) % vocab + per])
            fh.write(json.dumps({"id": f"e{i}", "question": " ".join(q) + "?",
                                 "answer": " ".join(a)}) + "\n")
    return path


# size in MB -> (entries, vocabulary, vector size) of a synthetic model at least that large
# (format 3 stores no word vectors: the vocabulary's output weights make up most of it)
SIZES = {200: (60_000, 200_000, 200), 1000: (100_000, 700_000, 300)}


def large_model(min_mb: int = 200, version: str = "bench") -> Path:
    """A trained model directory of at least `min_mb` MB (cached under $FAQ_CACHE/bench)."""
    out = CACHE / f"model-{min_mb}mb-{version}-format{FORMAT}"
    if (out / "manifest.json").exists():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    entries, vocab, dim = SIZES[min_mb]
    faq = synthetic_faq(CACHE / f"synthetic-faq-{min_mb}mb.jsonl", entries=entries, vocab=vocab)
    # More threads train faster; reproducibility does not matter for a benchmark model.
    train(faq, out, version=version, params=TrainParams(vector_size=dim, epochs=2, workers=2),
          force=True)
    size = sum(f.stat().st_size for f in out.iterdir()) / 1e6
    if size < min_mb:
        raise SystemExit(f"synthetic model is only {size:.0f} MB")
    return out


def dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.iterdir() if f.is_file()) / 1e6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`faq-engine serve` (gunicorn with the project's config) on a free loopback port."""

    def __init__(self, model_dir: Path, workers: int, threads: int = 2, env: dict | None = None):
        self.port = free_port()
        env = dict(os.environ, GUNICORN_THREADS=str(threads), LOG_LEVEL="warning", **(env or {}))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "faq_engine.cli", "serve", "--model-dir", str(model_dir),
             "--port", str(self.port), "--workers", str(workers)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit("server exited during start-up")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=1):
                    return self
            except OSError:
                time.sleep(0.2)
        raise SystemExit("server did not become ready")

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=60)

    def pids(self) -> list[int]:
        kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return [self.proc.pid, *map(int, kids)]

    def pss_mb(self) -> float:
        """Proportional set size of the master and all workers, summed."""
        total = 0
        for pid in self.pids():
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        return total / 1024

    def ask(self, question: str) -> dict:
        req = urllib.request.Request(self.url + "/v1/answer",
                                     data=json.dumps({"question": question}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)


def wrk_script(questions: list[str], path: Path) -> None:
    """A wrk Lua script POSTing the questions to /v1/answer in turn."""
    bodies = ",\n".join("  " + json.dumps(json.dumps({"question": q})) for q in questions)
    path.write_text(
        "local bodies = {\n" + bodies + "\n}\nlocal i = 0\n"
        "wrk.method = 'POST'\nwrk.headers['Content-Type'] = 'application/json'\n"
        "request = function()\n  i = i % #bodies + 1\n"
        "  return wrk.format(nil, '/v1/answer', nil, bodies[i])\nend\n")


def run_wrk(url: str, script: Path, seconds: float, concurrency: int) -> dict:
    """wrk (one thread, `concurrency` connections) POSTing `script`'s bodies to `url`:
    requests/s, p50/p99 latency as wrk prints them, and the count of non-2xx answers."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: run ci/setup-host.sh")
    out = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{int(seconds)}s", "--latency",
                          "-s", str(script), url], check=True, capture_output=True, text=True).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50": lat.get("50"), "p99": lat.get("99"),
            "non_2xx": int(non2xx.group(1)) if non2xx else 0}
