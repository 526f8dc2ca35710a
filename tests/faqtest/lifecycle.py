"""Helpers for the lifecycle tests: helm, and bounded load through a Service."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from faqtest.common import go_cli_env

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "chart"
#: The local loop's image names (chart/values.yaml names the published ones).
LOCAL_IMAGES = CHART / "ci" / "local-images.yaml"


def digest_of(ref: str) -> str:
    """"repo:tag@sha256:..." or a CRI imageID "repo@sha256:..." -> "sha256:..."."""
    assert "@sha256:" in ref, ref
    return ref.rsplit("@", 1)[1]


def local_install_args(app: str, model: str) -> list[str]:
    """helm flags that deploy the pushed images as `make up` does: chart/ci/local-images.yaml,
    each tag as tag@digest (pulled by digest; `--set model.tag=1.1` later replaces both)."""
    def tag(ref: str) -> str:
        return ref.rsplit("/", 1)[1].split(":", 1)[1]

    return ["-f", str(LOCAL_IMAGES), "--set-string", f"image.tag={tag(app)}",
            "--set-string", f"model.tag={tag(model)}"]


def helm(*args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
    """helm with the test session's KUBECONFIG (set by the kubeconfig fixture)."""
    proc = subprocess.run(["helm", *args], capture_output=True, text=True, timeout=timeout,
                          env=go_cli_env())
    if check and proc.returncode != 0:
        pytest.fail(f"helm {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


#: The last HTTP error each URL answered (status and the app's JSON error), for messages.
LAST_ERRORS: dict[str, str] = {}


def ask(url: str, question: str = "How do I roll out a new model version?",
        timeout: float = 5) -> tuple[int, str | None]:
    """POST a question; returns (status, model version). A fresh connection each time."""
    req = urllib.request.Request(f"{url}/v1/answer", data=json.dumps({"question": question}).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 - cluster-local URL
            body = json.load(r)
            return r.status, body["model"]["version"]
    except urllib.error.HTTPError as e:
        # The app's JSON error names its reason: say it where a test reports the status.
        LAST_ERRORS[url] = f"HTTP {e.code}: {e.read()[:300].decode(errors='replace')}"
        return e.code, None


@dataclass
class LoadResult:
    ok: int = 0
    failed: int = 0
    versions: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    failed_at: list[float] = field(default_factory=list)  # time.monotonic() of each failure

    def summary(self) -> str:
        return (f"{self.ok} ok, {self.failed} failed in {self.seconds:.1f}s, versions "
                f"{dict(self.versions)}; first errors: {self.errors[:5]}")


class Load:
    """Continuous traffic through a Service from this machine, bounded in count and time.

    Each of `threads` workers sends one request after another, each on a new connection (as
    independent clients do), so kube-proxy spreads them over the ready endpoints.
    """

    def __init__(self, url: str, threads: int = 2, max_seconds: float = 420,
                 max_requests: int = 60000, pause: float = 0.01):
        self.url, self.threads, self.pause = url, threads, pause
        self.max_seconds, self.max_requests = max_seconds, max_requests
        self.result = LoadResult()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []

    def _run(self):
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            with self._lock:
                if self.result.ok + self.result.failed >= self.max_requests:
                    return
            try:
                status, version = ask(self.url)
                err = None if status == 200 else LAST_ERRORS.get(self.url, f"HTTP {status}")
            except Exception as e:  # connection refused/reset, timeout: all count as failures
                version, err = None, f"{type(e).__name__}: {e}"
            with self._lock:
                if err is None:
                    self.result.ok += 1
                    self.result.versions[version] += 1
                else:
                    self.result.failed += 1
                    self.result.failed_at.append(time.monotonic())
                    self.result.errors.append(f"{time.strftime('%H:%M:%S')} {err}")
            time.sleep(self.pause)

    def __enter__(self) -> Load:
        self._started = time.monotonic()
        self._workers = [threading.Thread(target=self._run, daemon=True) for _ in range(self.threads)]
        for w in self._workers:
            w.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for w in self._workers:
            w.join(timeout=30)
        self.result.seconds = time.monotonic() - self._started


def versions_answering(url: str, n: int = 30) -> Counter:
    c: Counter = Counter()
    for i in range(n):
        status, version = ask(url)
        assert status == 200, f"request {i + 1} of {n} to {url}: {LAST_ERRORS.get(url)}"
        c[version] += 1
    return c


RESTRICTED_LABELS = {f"pod-security.kubernetes.io/{m}": "restricted"
                     for m in ("enforce", "warn", "audit")}


RELEASE = "faq-engine"  # contains the chart name, so the fullname (and Service) is "faq-engine"


@contextlib.contextmanager
def release_namespace(kubectl, prefix: str, release: str = RELEASE):
    """A fresh namespace (name from `prefix`) under restricted Pod Security for one release; on
    leaving, the release is uninstalled and the namespace deleted without waiting.

    Usage in a fixture: ``with release_namespace(kubectl, "faq-life") as ns: yield ns``
    """
    from faqtest.kube import unique_name

    name = unique_name(prefix)
    kubectl.apply({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": name, "labels": RESTRICTED_LABELS}})
    try:
        yield name
    finally:
        helm("uninstall", release, "-n", name, "--wait", check=False)
        kubectl("delete", "namespace", name, "--wait=false", check=False)


def make_up(namespace: str, release: str = RELEASE) -> subprocess.CompletedProcess:
    """`bash ci/up.sh` (what `make up` runs) into `namespace`, NODES unset: the nodes added
    earlier stay. One at a time across the workers of `make test` (its image builds and the
    chart it pushes share build/ and the registry); the caller uninstalls (release_namespace).

    Usage: ``with release_namespace(kubectl, "faq-up") as ns: res = make_up(ns)``
    """
    from faqtest.common import exclusive

    env = {k: v for k, v in os.environ.items() if k != "NODES"}
    env.update(RELEASE=release, NAMESPACE=namespace)
    with exclusive("images"):
        start = time.monotonic()
        res = subprocess.run(["bash", "ci/up.sh"], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=1800)
    print(f"\nbash ci/up.sh: exit {res.returncode} in {time.monotonic() - start:.0f}s")
    return res


def app_pods(kubectl, namespace: str, track: str = "stable", release: str = RELEASE) -> list:
    """The release's serving pods of one track (stable or canary), leaving ones left out."""
    pods = kubectl.json("get", "pods", "-l", f"app.kubernetes.io/instance={release},"
                        f"app.kubernetes.io/track={track}", namespace=namespace)["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def host_claim(kubectl, namespace: str, claim: str, host_dir: Path) -> str:
    """A claim bound to a pre-made hostPath PV on `host_dir` (owned by uid 10001, so the pods'
    restricted user can write it: the in-tree host-path provisioner ignores fsGroup). Returns
    the PV name; delete it with `kubectl delete pv` after the claim."""
    import subprocess as sp

    sp.run(["chown", "10001:10001", str(host_dir)], check=True)
    pv = f"{namespace}-{claim}"
    kubectl.apply({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": pv},
                   "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                            "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "",
                            "hostPath": {"path": str(host_dir), "type": "Directory"},
                            "claimRef": {"namespace": namespace, "name": claim}}})
    kubectl.apply({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                   "metadata": {"name": claim, "namespace": namespace},
                   "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "",
                            "volumeName": pv, "resources": {"requests": {"storage": "1Gi"}}}})
    return pv
