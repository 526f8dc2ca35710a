#!/usr/bin/env python3
"""The model image's entrypoint against a plain copy, on a 1 GB model directory.

Times, in one run and with a warm page cache for every contender: `cp -r` of the directory
(GNU coreutils, and the image's busybox), model-copy.sh (the image's busybox sh and tools) doing
its verified copy with one lane and with one lane per CPU, and a cache hit. Prints the times and the ratio to `cp -r`
(target: verified copy <= 2x; cache hit < 1 s). Each is the median of --rounds runs.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import CACHE, ci_setting

from faq_engine.modeldir import FORMAT, MANIFEST, SUMS, VERSION_FILE, dump_manifest, dump_sums

ROOT = Path(__file__).resolve().parents[1]
ENTRYPOINT = ROOT / "model-image" / "model-copy.sh"
# Like a large model: two big word arrays, document vectors, and small files.
LAYOUT = {"doc2vec.model.wv.vectors.npy": 400, "doc2vec.model.syn1neg.npy": 400,
          "vectors.npy": 150, "doc2vec.model.dv.vectors.npy": 70, "entries.jsonl": 4,
          "doc2vec.model": 1}


def make_model(path: Path) -> Path:
    if (path / SUMS).exists():
        return path
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    files = []
    for name, mb in LAYOUT.items():
        h = hashlib.sha256()
        with open(tmp / name, "wb") as fh:
            for _ in range(mb):
                chunk = os.urandom(1 << 20)
                h.update(chunk)
                fh.write(chunk)
        files.append({"path": name, "size": mb << 20, "sha256": h.hexdigest()})
    (tmp / VERSION_FILE).write_text("bench\n")
    files.append({"path": VERSION_FILE, "size": 6, "sha256": hashlib.sha256(b"bench\n").hexdigest()})
    manifest = {"format": FORMAT, "name": "faq-engine", "version": "bench", "files": files}
    text = dump_manifest(manifest)
    (tmp / MANIFEST).write_text(text)
    (tmp / SUMS).write_text(dump_sums(manifest, text))
    shutil.rmtree(path, ignore_errors=True)  # one from before SHA256SUMS existed
    tmp.rename(path)
    return path


def image_busybox() -> str:
    """The busybox of the model image's base (ci/versions.env; ci/images/bases.sh fetches it)."""
    path = ci_setting("BUSYBOX")
    if not os.access(path, os.X_OK):
        raise SystemExit(f"{path} is missing: run ci/images/bases.sh")
    return path


def busybox_path(tmp: Path, busybox: str) -> str:
    """A PATH of busybox applets only, as inside the model image."""
    bb = tmp / "busybox-bin"
    shutil.rmtree(bb, ignore_errors=True)
    bb.mkdir(parents=True)
    for applet in subprocess.run([busybox, "--list"], capture_output=True, text=True,
                                 check=True).stdout.split():
        (bb / applet).symlink_to(busybox)
    return str(bb)


def timed(cmd: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    work = CACHE / "copy"
    src = make_model(CACHE / "model-1gb-files")
    size_mb = sum(f.stat().st_size for f in src.iterdir()) / 2**20
    busybox = image_busybox()
    path = busybox_path(work, busybox)
    subprocess.run(["sh", "-c", f"cat {src}/* > /dev/null"], check=True)  # warm the page cache

    def fresh(name):
        d = work / name
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        return d

    def copy(jobs):
        vol = fresh("vol")
        env = {"PATH": path, "MODEL_SOURCE": str(src), "MODEL_TARGET": str(vol),
               "MODEL_COPY_JOBS": str(jobs), "HOSTNAME": "bench"}
        return timed([busybox, "sh", str(ENTRYPOINT)], env), vol, env

    times: dict[str, list[float]] = {"cp -r": [], "busybox cp -r": [], "verified, 1 lane": [],
                                     f"verified, {os.cpu_count()} lanes": [], "cache hit": []}
    for _ in range(args.rounds):
        dst = fresh("plain")
        times["cp -r"].append(timed(["cp", "-r", str(src), str(dst / "m")]))
        dst = fresh("plain")
        times["busybox cp -r"].append(timed([busybox, "cp", "-r", str(src), str(dst / "m")]))
        times["verified, 1 lane"].append(copy(1)[0])
        t, vol, env = copy(os.cpu_count())
        times[f"verified, {os.cpu_count()} lanes"].append(t)
        times["cache hit"].append(timed([busybox, "sh", str(ENTRYPOINT)], env))
    shutil.rmtree(work / "plain", ignore_errors=True)
    shutil.rmtree(work / "vol", ignore_errors=True)

    base = statistics.median(times["cp -r"])
    print(f"model directory: {size_mb:.0f} MiB in {len(LAYOUT)} files + manifest; "
          f"{args.rounds} rounds, medians:")
    for label, ts in times.items():
        m = statistics.median(ts)
        print(f"  {label:<22} {m:7.2f} s   {m / base:5.2f}x cp -r")
    return 0


if __name__ == "__main__":
    sys.exit(main())
