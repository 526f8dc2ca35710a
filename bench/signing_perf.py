#!/usr/bin/env python3
"""What checking a model's signature costs where it is served, and what it adds to the app image.

Times, in one run, with a warm page cache, the median of --rounds app loads (a fresh process
from import to /readyz 200, as a pod's start) of the sample model and of a 1 GB model
(bench/common.py large_model):
  checksum-only   MODEL_VERIFY=sha256: every file hashed against the manifest, then loaded
  + signature     FAQ_MODEL_PUBLIC_KEY set: the app's own check of model.sig (cryptography)
  stamped         MODEL_VERIFY=auto after model-copy stamped the directory (sizes only), the
                  in-pod case for emptyDir and PVC, with and without the signature check
and, for comparison, the upstream `model_signing verify key` (a second hash pass of its own) and
`faq-engine sign`. Prints the ratios (goal: signature <= 1.2x of checksum-only).

--image also builds the app image (Dockerfile.app, podman, local bases) with and without the
signature check's packages (cryptography, cffi, pycparser: the lines after the marker in
requirements.txt) and prints both sizes and their ratio.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import large_model

from faq_engine.modeldir import MANIFEST, STAMP, sha256_file
from faq_engine.signing import load_public_key, verify_signature
from faq_engine.trainer import train

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MARKER = "# Model signature checks"


def timed(*fns, rounds: int) -> list[float]:
    """The median time of each of ``fns``, run in turn round after round (so a busy machine's
    drift hits every contender alike)."""
    for fn in fns:
        fn()  # warm the page cache and imports
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(rounds):
        for fn, ts in zip(fns, times):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
    return [statistics.median(ts) for ts in times]


def keypair(d: Path) -> tuple[Path, Path]:
    key, pub = d / "key.pem", d / "pub.pem"
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out",
                    str(key)], check=True)
    subprocess.run(["openssl", "ec", "-in", str(key), "-pubout", "-out", str(pub)], check=True,
                   capture_output=True)
    return key, pub


LOAD = """
import sys, time
t = time.perf_counter()
from faq_engine.web import create_app
app = create_app({"MODEL_DIR": sys.argv[1], "MODEL_VERIFY": sys.argv[2],
                  "MODEL_PUBLIC_KEY": sys.argv[3], "LOG_LEVEL": "error"})
assert app.test_client().get("/readyz").status_code == 200
print(time.perf_counter() - t)
"""


def load(model: Path, mode: str, pub: Path | str = "") -> float:
    """A fresh process loads the app as a pod does (imports, signature, checksums, model) and
    reports how long that took until /readyz is 200."""
    out = subprocess.run([sys.executable, "-c", LOAD, str(model), mode, str(pub)], check=True,
                         capture_output=True, text=True).stdout
    return float(out.split()[-1])


def timed_loads(*runs, rounds: int) -> list[float]:
    """The median of each of ``runs`` (functions returning a time), in turn round after round."""
    for r in runs:
        r()
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(rounds):
        for r, ts in zip(runs, times):
            ts.append(r())
    return [statistics.median(ts) for ts in times]


def bench_model(name: str, model: Path, key: Path, pub: Path, rounds: int) -> None:
    t = time.perf_counter()
    subprocess.run([str(BIN / "faq-engine"), "sign", "--model-dir", str(model), "--key", str(key)],
                   check=True, capture_output=True)
    sign_s = time.perf_counter() - t
    public_key = load_public_key(pub)
    mb = sum(f.stat().st_size for f in model.iterdir() if f.is_file()) / 1e6

    def upstream():
        subprocess.run([str(BIN / "model_signing"), "verify", "key", str(model), "--signature",
                        str(model / "model.sig"), "--public_key", str(pub)], check=True,
                       capture_output=True)

    base, signed = timed_loads(lambda: load(model, "sha256"), lambda: load(model, "sha256", pub),
                               rounds=rounds)
    (alone,) = timed(lambda: verify_signature(model, public_key), rounds=rounds)
    (up,) = timed(upstream, rounds=max(1, rounds // 4))
    (model / STAMP).write_text(sha256_file(model / MANIFEST) + "\n")
    try:
        stamped, stamped_signed = timed_loads(lambda: load(model, "auto"),
                                              lambda: load(model, "auto", pub), rounds=rounds)
    finally:
        (model / STAMP).unlink()
    print(f"{name} ({mb:.0f} MB), app start to ready in a fresh process, median of {rounds}:")
    print(f"  checksum-only (MODEL_VERIFY=sha256)        {base:7.3f} s")
    print(f"  + signature (FAQ_MODEL_PUBLIC_KEY)         {signed:7.3f} s   {signed / base:.3f}x "
          f"(goal <= 1.2x)")
    print(f"  stamped by model-copy (auto: sizes only)   {stamped:7.3f} s")
    print(f"  stamped + signature                        {stamped_signed:7.3f} s   "
          f"{stamped_signed / stamped:.3f}x")
    print(f"  signature check alone, warm process        {alone * 1000:7.2f} ms")
    print(f"  upstream model_signing verify (CLI)        {up:7.3f} s   {up / base:.2f}x of the "
          f"checksum-only start (it hashes every file again)")
    print(f"  faq-engine sign                            {sign_s:7.3f} s")


def image_size(tag: str, context: Path) -> int:
    base = subprocess.run(["bash", "-c", ". ci/versions.env && echo $PYTHON_BASE"], cwd=ROOT,
                          check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run(["podman", "build", "--network", "host", "-q", "-f", "Dockerfile.app",
                    "--build-arg", f"BASE_IMAGE={base}", "-t", tag, "."], cwd=context,
                   check=True, capture_output=True)
    out = subprocess.run(["podman", "image", "inspect", "--format", "{{.Size}}", tag],
                         check=True, capture_output=True, text=True).stdout
    return int(out)


def bench_image() -> None:
    subprocess.run(["bash", "ci/images/bases.sh"], cwd=ROOT, check=True, capture_output=True)
    with tempfile.TemporaryDirectory(prefix="faq-sigimg-") as d:
        ctx = Path(d) / "ctx"
        shutil.copytree(ROOT, ctx, ignore=shutil.ignore_patterns(".git", "build", ".venv",
                                                                 "__pycache__"))
        with_sig = image_size("localhost/faq-engine-bench:signing", ctx)
        req = ctx / "requirements.txt"
        text = req.read_text()
        assert MARKER in text, f"{MARKER!r} not in requirements.txt"
        req.write_text(text[:text.index(MARKER)])
        without = image_size("localhost/faq-engine-bench:no-signing", ctx)
    subprocess.run(["podman", "rmi", "localhost/faq-engine-bench:signing",
                    "localhost/faq-engine-bench:no-signing"], capture_output=True)
    print(f"app image: {without / 1e6:.1f} MB without the signature check's packages, "
          f"{with_sig / 1e6:.1f} MB with them: +{(with_sig - without) / 1e6:.1f} MB, "
          f"{with_sig / without:.3f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=21, help="rounds of the sample (1 GB: a quarter)")
    ap.add_argument("--no-large", action="store_true", help="the sample model only")
    ap.add_argument("--image", action="store_true", help="also build the app image twice")
    ap.add_argument("--image-only", action="store_true",
                    help="only build the app image twice (no load times)")
    args = ap.parse_args()
    if args.image_only:
        bench_image()
        return
    with tempfile.TemporaryDirectory(prefix="faq-sign-bench-") as d:
        d = Path(d)
        key, pub = keypair(d)
        sample = d / "sample"
        train(ROOT / "app/faq_engine/data/sample-faq.jsonl", sample, version="1.0")
        bench_model("sample", sample, key, pub, args.rounds)
        if not args.no_large:
            big = d / "large"
            shutil.copytree(large_model(1000), big)
            bench_model("1 GB", big, key, pub, max(3, args.rounds // 4))
    if args.image:
        bench_image()


if __name__ == "__main__":
    main()
