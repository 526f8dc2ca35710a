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

from common import ci_setting, dir_mb, large_model

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
        base = ci_setting("ALPINE_BASE")
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


def restart_seconds() -> float:
    """Roll the pods (one at a time, maxUnavailable 0) without changing the model."""
    start = time.monotonic()
    helm("upgrade", RELEASE, str(ROOT / "chart"), "-n", NS, "--reuse-values", "--wait",
         "--timeout", "10m", "--set", f"podAnnotations.bench={time.time()}")
    took = time.monotonic() - start
    kubectl("wait", "--for=delete", "pod", "-l", "app.kubernetes.io/track=stable",
            "--field-selector=status.phase!=Running", "--timeout=120s", check=False)
    return took


def pod_figures() -> tuple[str, float, float]:
    """Of the live pods: what the init containers did, their mean seconds, and the mean time
    from pod creation to Ready."""
    from datetime import datetime

    def ts(v):
        return datetime.strptime(v, "%Y-%m-%dT%H:%M:%SZ").timestamp()

    pods = json.loads(kubectl("get", "pods", "-l", "app.kubernetes.io/track=stable", "-o", "json"))
    kinds, init_s, ready_s = set(), [], []
    for p in pods["items"]:
        if p["metadata"].get("deletionTimestamp"):
            continue
        log = kubectl("logs", p["metadata"]["name"], "-c", "model")
        kinds.add("cache hit" if "cache-hit" in log else "copy")
        init_s.append(float(log.rsplit("seconds=", 1)[1].split()[0]))
        ready = next(c for c in p["status"]["conditions"] if c["type"] == "Ready")
        ready_s.append(ts(ready["lastTransitionTime"]) - ts(p["metadata"]["creationTimestamp"]))
    return "/".join(sorted(kinds)), sum(init_s) / len(init_s), sum(ready_s) / len(ready_s)


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
        rows.append((label, "emptyDir: install", t, *pod_figures()))
        uninstall()
        t = install_seconds("replicaCount=2", "model.volume.type=pvc", *extra)
        rows.append((label, "PVC: install (first copy)", t, *pod_figures()))
        t = restart_seconds()
        figures = pod_figures()
        assert figures[0] == "cache hit", figures
        rows.append((label, "PVC: rollout, same version", t, *figures))
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

    print("\npod start, 2 replicas (helm: install/upgrade --wait; per pod: init container's own"
          " time, creation -> Ready):")
    print(f"  {'model':<7} {'case':<28} {'helm':>7} {'init':>10} {'':<10} {'pod Ready':>9}")
    for model, what, t, kind, init_s, ready_s in rows:
        print(f"  {model:<7} {what:<28} {t:6.1f}s {init_s:9.2f}s {kind:<10} {ready_s:8.1f}s")
    print("\nunder continuous load through the Service:")
    for name, took, r in lifecycle:
        print(f"  {name:<26} {took:6.1f} s   {r.ok:6d} ok  {r.failed} failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
