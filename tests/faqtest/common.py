"""Plain helpers shared by test folders (tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Answer requests every front end rejects (HTTP 400, a skipped batch line), with the error code:
# raw bytes/str are sent as they are, anything else as JSON.
BAD_ANSWER_BODIES = [
    (b"{not json", "invalid_json"),
    (b"\xff\xfe", "invalid_json"),
    (b"[" * 5000 + b"]" * 5000, "invalid_json"),  # nesting deeper than the parser allows
    (b'{"question": "ok", "top_k": ' + b"9" * 5000 + b"}", "invalid_json"),  # past int's limit
    ([1, 2], "invalid_request"),
    ("null", "invalid_request"),
    ({}, "invalid_request"),
    ({"question": 5}, "invalid_request"),
    ({"question": None}, "invalid_request"),
    ({"question": ""}, "invalid_request"),
    ({"question": "   \n"}, "invalid_request"),
    ({"question": "x" * 1001}, "invalid_request"),
    ({"question": "ok", "top_k": 0}, "invalid_request"),
    ({"question": "ok", "top_k": 21}, "invalid_request"),
    ({"question": "ok", "top_k": -1}, "invalid_request"),
    ({"question": "ok", "top_k": "3"}, "invalid_request"),
    ({"question": "ok", "top_k": True}, "invalid_request"),
    ({"question": "ok", "top_k": 2.5}, "invalid_request"),
    ({"question": "ok", "top_k": 1e300}, "invalid_request"),
    ({"question": "ok", "extra": 1}, "invalid_request"),
]


#: What a short-lived Go command line a test runs and waits for (helm, kubectl, kubeconform, ...)
#: gets in its environment: its collector runs only as the heap nears the limit, not each time
#: the heap doubles (GOGC=100); such a command holds tens of MB. bench/go_cli_gc.py measures it.
#: Never for a process left running (a port-forward) or the cluster's daemons.
GO_CLI_GC = {"GOGC": "off", "GOMEMLIMIT": "512MiB"}


def go_cli_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's environment) with :data:`GO_CLI_GC`."""
    return {**(os.environ if env is None else env), **GO_CLI_GC}


#: `podman build` flags for an image a test builds once: no layer cache, so no cache lookup,
#: which buildah before 1.43 (Debian 12's podman 4.3) fails with "layer not known" when another
#: worker's `podman rmi` removes a layer meanwhile (containers/buildah#5674; ci/images/build.sh,
#: which keeps its cache, builds once more instead).
ONE_OFF_BUILD = ("--layers=false",)


@contextlib.contextmanager
def exclusive(name: str) -> Iterator[None]:
    """Hold a lock named `name` that every pytest process on this machine shares (the workers of
    `make test` run side by side): for work on one shared thing, such as ci/images/build.sh's
    images or a tool built into $FAQ_CACHE. The second holder finds the work done (cached).

    Usage: ``with exclusive("images"): subprocess.run([... "ci/images/build.sh"])``
    """
    path = Path(tempfile.gettempdir()) / f"faq-engine-tests-{os.getuid()}-{name}.lock"
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def ci_setting(name: str) -> str:
    """A setting of ci/versions.env, as the ci/ scripts see it (sourced, so $FAQ_CACHE expands)."""
    return subprocess.run(["bash", "-c", f'. "{ROOT}/ci/versions.env"; printf %s "${name}"'],
                          capture_output=True, text=True, check=True).stdout


def kube_minor() -> int:
    """The minor of the pinned Kubernetes (KUBERNETES_VERSION), the newest the chart supports."""
    return int(ci_setting("KUBERNETES_VERSION").removeprefix("v").split(".")[1])


def chart_min_kube_minor() -> int:
    """The oldest minor chart/Chart.yaml's `kubeVersion: ">=1.N.0-0"` admits."""
    import re

    text = (ROOT / "chart" / "Chart.yaml").read_text()
    m = re.search(r'^kubeVersion:\s*">=\s*1\.(\d+)\.0-0"\s*$', text, re.M)
    assert m, "chart/Chart.yaml: kubeVersion is not of the form \">=1.N.0-0\""
    return int(m.group(1))


def build_model_image(model_dir: Path, tag: str, version: str = "unknown") -> str:
    """A model image (Dockerfile.model, podman, the local Alpine base) of the model directory
    ``model_dir`` as it is, tagged ``tag``."""
    import tempfile

    ctx = Path(tempfile.mkdtemp(prefix="faq-model-image-"))
    try:
        shutil.copytree(ROOT / "model-image", ctx / "model-image")
        shutil.copytree(model_dir, ctx / "model")
        base = ci_setting("ALPINE_BASE")
        subprocess.run(["podman", "build", *ONE_OFF_BUILD, "-q", "-f", str(ROOT / "Dockerfile.model"),
                        "--build-arg", f"BASE_IMAGE={base}", "--build-arg", "MODEL_DIR=model",
                        "--build-arg", f"VERSION={version}", "-t", tag, str(ctx)], check=True,
                       capture_output=True)
    finally:
        shutil.rmtree(ctx, ignore_errors=True)
    return tag


def build_corrupt_model_image(tag: str, version_dir: str = "1.1") -> str:
    """A model image whose vectors.npy differs from its manifest by one bit."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="faq-corrupt-") as d:
        model = Path(d) / "model"
        shutil.copytree(ROOT / "build" / "models" / version_dir, model)
        p = model / "vectors.npy"
        data = bytearray(p.read_bytes())
        data[-5] ^= 0x01
        p.write_bytes(bytes(data))
        return build_model_image(model, tag)


# --- Attacks on a running server (tests and bench/attacks.py); loopback targets only. ---

def connection_burst(port: int, n: int = 2100, host: str = "127.0.0.1") -> int:
    """Open `n` TCP connections that send nothing, then close them all; returns how many opened.

    Connections beyond the listen backlog may not complete: those are given up after 0.5 s.
    """
    import socket

    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.settimeout(0.5)
            try:
                s.connect((host, port))
                socks.append(s)
            except OSError:
                s.close()
    finally:
        for s in socks:
            s.close()
    return len(socks)


class SlowClients:
    """`n` slowloris clients: half trickle their headers, half a declared body, one byte every
    `interval` seconds, reconnecting when the server closes them. Use as a context manager."""

    def __init__(self, port: int, n: int, interval: float = 0.5, host: str = "127.0.0.1"):
        import threading

        self.addr, self.n, self.interval = (host, port), n, interval
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.connects = self.closed_by_server = 0

    def _payload(self, i: int) -> bytes:
        if i % 2 == 0:  # headers that never end
            return b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-a: b\r\n" * 10_000
        body = b'{"question": "' + b"a" * 15_000 + b'"}'
        return (b"POST /v1/answer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body)) + body

    def _connect(self, i: int):
        import socket

        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(self.addr)
        self.connects += 1
        return [s, self._payload(i), 0]

    def _run(self) -> None:
        conns = [self._connect(i) for i in range(self.n)]
        while not self.stop.wait(self.interval):
            for i, c in enumerate(conns):
                s, payload, pos = c
                try:
                    if s.send(payload[pos:pos + 1]) == 1:
                        c[2] = (pos + 1) % len(payload)
                    try:  # the server answered or closed: start again, as an attacker would
                        if s.recv(65536, 0x40) is not None:  # MSG_DONTWAIT
                            raise ConnectionError
                    except BlockingIOError:
                        pass
                except OSError:
                    s.close()
                    self.closed_by_server += 1
                    conns[i] = self._connect(i)
        for s, _, _ in conns:
            s.close()

    def __enter__(self) -> SlowClients:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()


def probe(port: int, seconds: float, concurrency: int = 4, timeout: float = 2.0,
          host: str = "127.0.0.1") -> dict:
    """Normal clients asking POST /v1/answer for `seconds`: availability (the share answered
    200 within `timeout`) and latency percentiles of those answered (ms)."""
    import http.client
    import json as _json
    import time
    from concurrent.futures import ThreadPoolExecutor

    body = _json.dumps({"question": "How do I roll back?"})
    end = time.monotonic() + seconds

    def client(_):
        ok, failed, lat = 0, 0, []
        while time.monotonic() < end:
            t = time.monotonic()
            try:
                c = http.client.HTTPConnection(host, port, timeout=timeout)
                c.request("POST", "/v1/answer", body, {"Content-Type": "application/json"})
                r = c.getresponse()
                r.read()
                c.close()
                if r.status == 200:
                    ok += 1
                    lat.append(time.monotonic() - t)
                    continue
            except OSError:
                pass
            failed += 1
            time.sleep(0.05)
        return ok, failed, lat

    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(client, range(concurrency)))
    ok = sum(r[0] for r in results)
    total = ok + sum(r[1] for r in results)
    lat = sorted(x for r in results for x in r[2])

    def pct(p):
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1) if lat else None

    return {"requests": total, "availability": round(ok / total, 4) if total else 0.0,
            "p50_ms": pct(0.50), "p99_ms": pct(0.99)}


def healthy_within(port: int, seconds: float, host: str = "127.0.0.1") -> float | None:
    """Seconds until GET /healthz answers 200 (each try bounded by 1 s), or None."""
    import time
    import urllib.request

    start = time.monotonic()
    while time.monotonic() - start < seconds:
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=1) as r:
                if r.status == 200:
                    return round(time.monotonic() - start, 2)
        except OSError:
            time.sleep(0.1)
    return None


def clone_worktree(dest: Path) -> Path:
    """A git clone of this repository with the working tree's current files committed on top
    (tracked and new, not ignored), so uncommitted work is what Renovate or a release sees."""
    subprocess.run(["git", "clone", "-q", str(ROOT), str(dest)], check=True)
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        src, dst = ROOT / name, dest / name
        if src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
        elif dst.exists() and not src.exists():
            dst.unlink()
    commit(dest, "the working tree")
    return dest


def commit(repo: Path, msg: str) -> None:
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@localhost", "commit",
                    "-q", "--allow-empty", "-m", msg], cwd=repo, check=True)


def tree_digest(d: Path) -> dict[str, str]:
    """Name -> sha256 of every file under d (to prove nothing was touched)."""
    return {
        str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(d.rglob("*"))
        if p.is_file()
    }
