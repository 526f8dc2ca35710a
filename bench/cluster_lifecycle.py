#!/usr/bin/env python3
"""Pod start and rollout figures on the cluster (the local one unless KUBECONFIG says otherwise).

For the sample model and a 1 GB model: time from `helm install` to all pods Ready with an
emptyDir, with a PVC (first copy), and for a rollout of the same version onto a PVC that already
holds it (cache hit). Then, with the sample model and continuous load through the Service, the
duration and failed-request count of an upgrade, a rollback and a pod deletion.

Run through `make bench` (tools on PATH, images built, cluster up).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import dir_mb, large_model

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "cluster"))
from lifecycle import Load, helm, versions_answering  # noqa: E402

NS = "faq-bench"
RELEASE = "faq-engine"


def kubectl(*args: str, check: bool = True) -> str:
    return subprocess.run(["kubectl", "-n", NS, *args], check=check, capture_output=True,
                          text=True).stdout


def service_url() -> str:
    svc = json.loads(kubectl("get", "svc", RELEASE, "-o", "json"))
    return f"http://{svc['spec']['clusterIP']}:{svc['spec']['ports'][0]['port']}"


def one_gb_model_image() -> str:
    model = large_model(1000, version="big-1.0")
    ctx = ROOT / "build" / "models" / "bench-1gb"
    if not (ctx / "manifest.json").exists():
        shutil.rmtree(ctx, ignore_errors=True)
        ctx.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-al", str(model), str(ctx)], check=True)
    tag = "localhost/faq-engine-model:big-1.0"
    if subprocess.run(["podman", "image", "exists", tag]).returncode != 0:
        base = subprocess.run(["bash", "-c", f". {ROOT}/ci/versions.env; echo $ALPINE_BASE"],
                              capture_output=True, text=True, check=True).stdout.strip()
        subprocess.run(["podman", "build", "-q", "-f", "Dockerfile.model", "--build-arg",
                        f"BASE_IMAGE={base}", "--build-arg", "MODEL_DIR=build/models/bench-1gb",
                        "-t", tag, "."], cwd=ROOT, check=True, capture_output=True)
    subprocess.run(["bash", "ci/cluster/load-images.sh", tag], cwd=ROOT, check=True,
                   capture_output=True)
    print(f"1 GB model image: {dir_mb(model):.0f} MB model", flush=True)
    return tag


def install_seconds(*sets: str) -> float:
    start = time.monotonic()
    helm("install", RELEASE, str(ROOT / "chart"), "-n", NS, "--wait", "--timeout", "10m",
         *[a for s in sets for a in ("--set", s)])
    return time.monotonic() - start


def restart_seconds() -> tuple[float, str]:
    """Roll the pods without changing the model; returns the time and the new init log."""
    start = time.monotonic()
    helm("upgrade", RELEASE, str(ROOT / "chart"), "-n", NS, "--reuse-values", "--wait",
         "--timeout", "10m", "--set", f"podAnnotations.bench={time.time()}")
    took = time.monotonic() - start
    pods = json.loads(kubectl("get", "pods", "-l", "app.kubernetes.io/track=stable", "-o", "json"))
    newest = max((p for p in pods["items"] if not p["metadata"].get("deletionTimestamp")),
                 key=lambda p: p["metadata"]["creationTimestamp"])
    return took, kubectl("logs", newest["metadata"]["name"], "-c", "model")


def uninstall() -> None:
    helm("uninstall", RELEASE, "-n", NS, "--wait", check=False)
    kubectl("delete", "pvc", "--all", "--wait=true", check=False)
    kubectl("wait", "--for=delete", "pod", "--all", "--timeout=120s", check=False)


def main() -> int:
    subprocess.run(["kubectl", "create", "namespace", NS], capture_output=True)
    subprocess.run(["kubectl", "label", "--overwrite", "namespace", NS,
                    "pod-security.kubernetes.io/enforce=restricted"], check=True, capture_output=True)
    uninstall()
    rows = []
    models = {"sample": [], "1 GB": ["model.tag=big-1.0", "resources.limits.memory=3Gi",
                                     "model.volume.emptyDir.sizeLimit=3Gi",
                                     "model.volume.pvc.size=3Gi"]}
    one_gb_model_image()
    for label, extra in models.items():
        t = install_seconds("replicaCount=2", *extra)
        uninstall()
        rows.append((label, "emptyDir, install -> 2 pods Ready", t))
        t = install_seconds("replicaCount=2", "model.volume.type=pvc", *extra)
        rows.append((label, "PVC, install -> 2 pods Ready (first copy)", t))
        t, log = restart_seconds()
        assert "cache-hit" in log, log
        rows.append((label, "PVC, rollout of the same version (cache hit)", t))
        uninstall()
        print(f"{label}: done", flush=True)

    install_seconds("replicaCount=2")
    url = service_url()
    steps = [
        ("upgrade model 1.0 -> 1.1", ["upgrade", RELEASE, str(ROOT / "chart"), "-n", NS,
                                      "--reuse-values", "--set", "model.tag=1.1"]),
        ("rollback to 1.0", ["rollback", RELEASE, "-n", NS]),
    ]
    lifecycle = []
    for name, args in steps:
        with Load(url) as load:
            start = time.monotonic()
            helm(*args, "--wait", "--timeout", "5m")
            took = time.monotonic() - start
            time.sleep(3)
        lifecycle.append((name, took, load.result))
    victim = json.loads(kubectl("get", "pods", "-l", "app.kubernetes.io/track=stable",
                                "-o", "json"))["items"][0]["metadata"]["name"]
    with Load(url) as load:
        start = time.monotonic()
        kubectl("delete", "pod", victim)
        kubectl("rollout", "status", f"deployment/{RELEASE}", "--timeout=180s")
        took = time.monotonic() - start
        time.sleep(3)
    lifecycle.append(("delete one pod", took, load.result))
    assert versions_answering(url)["1.0"] == 30
    uninstall()

    print("\npod start (2 replicas):")
    for model, what, t in rows:
        print(f"  {model:<7} {what:<46} {t:6.1f} s")
    print("\nunder continuous load through the Service:")
    for name, took, r in lifecycle:
        print(f"  {name:<26} {took:6.1f} s   {r.ok:6d} ok  {r.failed} failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
