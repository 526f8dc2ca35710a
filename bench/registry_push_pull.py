#!/usr/bin/env python3
"""Push and pull times of both images through CNCF Distribution, the local cluster's registry
(the same pinned build, `ci/go-tools.sh registry`), started here on a free loopback port with
empty storage so every figure is a cold one:

- push to the empty registry (every blob uploaded, as `ci/release` does for a new image),
- the same push again (every blob already there: a re-release of unchanged layers),
- pull into an empty podman store (every blob downloaded and unpacked, as a node without the
  image does).

Images: the app image and model image 1.0 from `ci/images/build.sh`. Prints seconds, MB/s and
the model/app ratios, all from one run. Run through `make bench` (tools on PATH, podman).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from common import ci_setting

ROOT = Path(__file__).resolve().parents[1]


def sh(*cmd: str, **kw) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def timed(*cmd: str) -> float:
    start = time.monotonic()
    sh(*cmd)
    return time.monotonic() - start


def start_registry(work: Path) -> tuple[subprocess.Popen, str]:
    binary = Path(sh("bash", str(ROOT / "ci" / "go-tools.sh"), "registry").strip()) / "registry"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    host = f"127.0.0.1:{port}"
    (work / "config.yml").write_text(
        f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {work / 'data'}\nhttp:\n  addr: {host}\n")
    proc = subprocess.Popen([str(binary), "serve", str(work / "config.yml")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://{host}/v2/", timeout=1)  # noqa: S310 - loopback
            return proc, host
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    raise SystemExit("the registry did not start")


def main() -> int:
    built = sh("bash", str(ROOT / "ci" / "images" / "build.sh"), cwd=ROOT,
               env={**os.environ, "MODEL_VERSIONS": "1.0"}).split()
    images = {"app": next(i for i in built if "/faq-engine:" in i),
              "model": next(i for i in built if "/faq-engine-model:" in i)}
    work = Path(tempfile.mkdtemp(prefix="faq-bench-registry-"))
    proc, host = start_registry(work)
    rows = {}
    try:
        for name, src in images.items():
            mb = json.loads(sh("podman", "image", "inspect", src))[0]["Size"] / 1e6
            dest = f"docker://{host}/{src.rsplit('/', 1)[1]}"
            push = timed("podman", "push", "-q", "--tls-verify=false", src, dest)
            again = timed("podman", "push", "-q", "--tls-verify=false", src, dest)
            store = work / f"store-{name}"
            pull = timed("podman", "--root", str(store / "root"), "--runroot", str(store / "run"),
                         "pull", "-q", "--tls-verify=false", dest.removeprefix("docker://"))
            sh("podman", "--root", str(store / "root"), "--runroot", str(store / "run"),
               "rmi", "-a", "-f")
            rows[name] = (mb, push, again, pull)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)
    print(f"CNCF Distribution {ci_setting('DISTRIBUTION_VERSION')} on loopback, podman "
          f"{sh('podman', '--version').split()[-1]}; cold = empty registry / empty store")
    print(f"  {'image':<6} {'size':>8} {'push cold':>10} {'push again':>11} {'pull cold':>10}"
          f" {'push MB/s':>10} {'pull MB/s':>10}")
    for name, (mb, push, again, pull) in rows.items():
        print(f"  {name:<6} {mb:7.1f}M {push:9.2f}s {again:10.2f}s {pull:9.2f}s"
              f" {mb / push:10.0f} {mb / pull:10.0f}")
    (am, ap, _, al), (mm, mp, _, ml) = rows["app"], rows["model"]
    print(f"  model/app: size {mm / am:.3f}, push {mp / ap:.2f}, pull {ml / al:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
