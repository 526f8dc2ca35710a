#!/usr/bin/env python3
"""Pod start and rollout figures per model volume mode on the cluster (the local one unless
KUBECONFIG says otherwise).

For the sample model and a 1 GB model, one replica, each mode of `model.volume.type`:
- emptyDir: `helm install` (the init container copies the model), then a `helm upgrade` that
  rolls the pod without changing the model (it copies again);
- PVC: install (first copy), then the same rolling upgrade (a cache hit: no copy);
- image volume, pulled cold: the model image pushed to the local registry and absent from the
  node, so the kubelet pulls it;
- image volume, image on the node: install, then the rolling upgrade.
Each row gives the helm command's time, the pod's creation -> Ready time (whole seconds, as the
API stamps them; the startup probe runs every 2 s) with the app's own model load time from its
log, and the ratio of the 1 GB model's pod Ready time to the sample's. The disk's sequential write and read speed
(direct I/O, 1 GiB, on the filesystem holding the cluster's state) is measured in the same run.
Then, with the sample model under continuous load through the Service, the duration and failed
requests of an upgrade, a rollback and a pod deletion, in emptyDir and image mode.

Run through `make bench` (tools on PATH, images built, cluster up).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path

from common import ci_setting, dir_mb, large_model

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from faqtest.lifecycle import LOCAL_IMAGES, Load, helm, versions_answering  # noqa: E402

NS = "faq-bench"
RELEASE = "faq-engine"
STATE = Path(os.environ.get("FAQ_CLUSTER_STATE", "/var/lib/faq-engine-cluster"))
REGISTRY = ci_setting("LOCAL_REGISTRY")  # ci/cluster/registry.sh
MODEL_REPO = "localhost/faq-engine-model"


def kubectl(*args: str, check: bool = True) -> str:
    return subprocess.run(["kubectl", "-n", NS, *args], check=check, capture_output=True,
                          text=True).stdout


def ctr(*args: str, check: bool = True) -> str:
    return subprocess.run(["bash", "-c", f'. "{ROOT}/ci/cluster/lib.sh"; ctr_ -n k8s.io "$@"',
                           "ctr", *args], check=check, capture_output=True, text=True).stdout


def service_url() -> str:
    svc = json.loads(kubectl("get", "svc", RELEASE, "-o", "json"))
    return f"http://{svc['spec']['clusterIP']}:{svc['spec']['ports'][0]['port']}"


def disk_speed(mb: int = 1024) -> tuple[float, float]:
    """Sequential write and read MB/s of the cluster state's filesystem, bypassing the page cache."""
    path = STATE / "bench-disk-speed"

    def dd(*args: str) -> float:
        start = time.monotonic()
        subprocess.run(["dd", "bs=1M", f"count={mb}", *args], check=True, capture_output=True)
        return mb * 1.048576 / (time.monotonic() - start)

    try:
        write = dd("if=/dev/zero", f"of={path}", "oflag=direct", "conv=fsync")
        read = dd(f"if={path}", "of=/dev/null", "iflag=direct")
    finally:
        path.unlink(missing_ok=True)
    return write, read


def one_gb_model_image(version: str = "big-1.0") -> str:
    """The podman image `localhost/faq-engine-model:<version>` of a 1 GB model (trained once,
    cached: bench/common.py large_model); each version is its own training, so its layer is
    its own and pulling it is cold wherever another version is present."""
    model = large_model(1000, version=version)
    ctx = ROOT / "build" / "models" / f"bench-1gb-{version}"
    if not (ctx / "manifest.json").exists():
        shutil.rmtree(ctx, ignore_errors=True)
        ctx.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-al", str(model), str(ctx)], check=True)
    tag = f"{MODEL_REPO}:{version}"
    if subprocess.run(["podman", "image", "exists", tag]).returncode != 0:
        base = ci_setting("ALPINE_BASE")
        subprocess.run(["podman", "build", "-q", "-f", "Dockerfile.model", "--build-arg",
                        f"BASE_IMAGE={base}", "--build-arg",
                        f"MODEL_DIR=build/models/bench-1gb-{version}",
                        "-t", tag, "."], cwd=ROOT, check=True, capture_output=True)
    print(f"1 GB model image: {dir_mb(model):.0f} MB model", flush=True)
    return tag


def load_image(ref: str) -> None:
    subprocess.run(["bash", "ci/cluster/load-images.sh", ref], cwd=ROOT, check=True,
                   capture_output=True)


def registry_up() -> bool:
    if not (STATE / "etc" / "containerd" / "certs.d" / REGISTRY / "hosts.toml").is_file():
        return False
    try:
        with urllib.request.urlopen(f"http://{REGISTRY}/v2/", timeout=3) as r:  # noqa: S310
            return r.status == 200
    except OSError:
        return False


def drop_from_node(tag: str) -> None:
    """Remove the model image `tag` from the node's containerd under every name (the imported
    one, the registry's tag and the digest name the kubelet's pull added), so its content is
    garbage-collected and the next pod pulls it. Only bench tags: other images stay."""
    rows = [line.split() for line in ctr("images", "ls").splitlines()[1:]]
    ours = {r[2] for r in rows if r[0].rsplit("/", 1)[-1] == f"faq-engine-model:{tag}"}
    names = [r[0] for r in rows if r[2] in ours]
    if names:
        ctr("images", "rm", "--sync", *names)


def helm_seconds(*args: str) -> float:
    start = time.monotonic()
    helm(*args, "--wait", "--timeout", "10m")
    return time.monotonic() - start


def install(sets: list[str]) -> float:
    """The app image from the local registry (chart/ci/local-images.yaml, pushed by `make up`);
    the model image by its podman name, put on the node by load_image unless a case names the
    registry's repository. The app's local tag is pushed again in place, so the kubelet asks the
    registry what it is now (pullPolicy Always) instead of running a stale copy on the node."""
    sets = [f"model.repository={MODEL_REPO}", "image.pullPolicy=Always", *sets]
    return helm_seconds("install", RELEASE, str(ROOT / "chart"), "-n", NS, "-f", str(LOCAL_IMAGES),
                        *[a for s in sets for a in ("--set", s)])


def roll() -> float:
    """helm upgrade that rolls the pod (maxUnavailable 0) without changing the model."""
    took = helm_seconds("upgrade", RELEASE, str(ROOT / "chart"), "-n", NS, "--reuse-values",
                        "--set", f"podAnnotations.bench={time.time()}")
    kubectl("wait", "--for=delete", "pod", "-l", "app.kubernetes.io/track=stable",
            "--field-selector=status.phase!=Running", "--timeout=120s", check=False)
    return took


def pod_figures() -> tuple[str, float, float]:
    """Of the newest live pod: what its init container did, creation -> Ready seconds (whole
    seconds: the API's timestamps), and the app's own model load seconds (its log)."""
    def ts(v):
        return datetime.strptime(v, "%Y-%m-%dT%H:%M:%SZ").timestamp()

    pods = [p for p in json.loads(kubectl("get", "pods", "-l", "app.kubernetes.io/track=stable",
                                          "-o", "json"))["items"]
            if not p["metadata"].get("deletionTimestamp")]
    pod = max(pods, key=lambda p: p["metadata"]["creationTimestamp"])
    if any(c["name"] == "model" for c in pod["spec"].get("initContainers", [])):
        log = kubectl("logs", pod["metadata"]["name"], "-c", "model")
        kind = "cache hit" if "cache-hit" in log else "copy"
    else:
        kind = "mounted"
    ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
    loaded = [json.loads(line) for line in kubectl("logs", pod["metadata"]["name"], "-c", "app")
              .splitlines() if '"model loaded"' in line]
    return (kind, ts(ready["lastTransitionTime"]) - ts(pod["metadata"]["creationTimestamp"]),
            loaded[-1]["seconds"] if loaded else float("nan"))


def uninstall() -> None:
    helm("uninstall", RELEASE, "-n", NS, "--wait", check=False)
    kubectl("delete", "pvc", "--all", "--wait=true", check=False)
    kubectl("wait", "--for=delete", "pod", "--all", "--timeout=120s", check=False)


def pod_start_rows(label: str, tag: str, extra: list[str]) -> list[tuple]:
    rows = []

    def row(case: str, seconds: float) -> None:
        kind, ready, load = pod_figures()
        rows.append((label, case, seconds, kind, ready, load))
        print(f"  {label:<7} {case:<34} helm {seconds:6.1f}s  {kind:<9} Ready {ready:5.1f}s"
              f"  model load {load:5.2f}s", flush=True)

    base = ["replicaCount=1", f"model.tag={tag}", *extra]
    row("emptyDir: install (copy)", install(base))
    row("emptyDir: upgrade, same model (copy)", roll())
    uninstall()
    row("PVC: install (first copy)", install([*base, "model.volume.type=pvc"]))
    row("PVC: upgrade, same model (cache hit)", roll())
    uninstall()
    image = [*base, "model.volume.type=image"]
    push_models(tag)
    drop_from_node(tag)
    row("image: install, pulled cold", install(
        [*image, f"model.repository={REGISTRY}/faq-engine-model"]))
    uninstall()
    load_image(f"{MODEL_REPO}:{tag}")
    row("image: install, image on node", install(image))
    row("image: upgrade, same model", roll())
    uninstall()
    return rows


def push_models(*tags: str) -> None:
    """Model images `tags` pushed to the local registry (ci/images/push.sh)."""
    subprocess.run(["bash", "ci/images/push.sh", *[f"{MODEL_REPO}:{t}" for t in tags]],
                   cwd=ROOT, check=True, capture_output=True)


def under_load(mode_sets: list[str]) -> list[tuple]:
    # models 1.0 and 1.1 from the registry, as `make up` deploys them
    install(["replicaCount=2", f"model.repository={REGISTRY}/faq-engine-model",
             "model.pullPolicy=Always", *mode_sets])
    url = service_url()
    steps = [
        ("upgrade model 1.0 -> 1.1", ["upgrade", RELEASE, str(ROOT / "chart"), "-n", NS,
                                      "--reuse-values", "--set", "model.tag=1.1"]),
        ("rollback to 1.0", ["rollback", RELEASE, "-n", NS]),
    ]
    out = []
    for name, args in steps:
        with Load(url) as load:
            start = time.monotonic()
            helm(*args, "--wait", "--timeout", "5m")
            took = time.monotonic() - start
            time.sleep(3)
        out.append((name, took, load.result))
    victim = json.loads(kubectl("get", "pods", "-l", "app.kubernetes.io/track=stable",
                                "-o", "json"))["items"][0]["metadata"]["name"]
    with Load(url) as load:
        start = time.monotonic()
        kubectl("delete", "pod", victim)
        kubectl("rollout", "status", f"deployment/{RELEASE}", "--timeout=180s")
        took = time.monotonic() - start
        time.sleep(3)
    out.append(("delete one pod", took, load.result))
    assert versions_answering(url)["1.0"] == 30
    uninstall()
    return out


def main() -> int:
    subprocess.run(["kubectl", "create", "namespace", NS], capture_output=True)
    subprocess.run(["kubectl", "label", "--overwrite", "namespace", NS,
                    "pod-security.kubernetes.io/enforce=restricted"], check=True, capture_output=True)
    uninstall()
    if not registry_up():  # the cold pulls and the lifecycle under load come from it
        raise SystemExit(f"no registry at {REGISTRY}: ci/cluster/up.sh starts it "
                         "(ci/cluster/registry.sh)")
    big = one_gb_model_image()
    load_image(big)
    write, read = disk_speed()
    print(f"disk ({STATE}): sequential write {write:.0f} MB/s, read {read:.0f} MB/s (direct I/O)",
          flush=True)
    print("pod start, one replica (helm install/upgrade --wait; pod creation -> Ready):")
    # the sample model under a bench tag, so dropping it from the node touches no test's image
    subprocess.run(["podman", "tag", f"{MODEL_REPO}:1.0", f"{MODEL_REPO}:bench-1.0"], check=True)
    load_image(f"{MODEL_REPO}:bench-1.0")
    rows = pod_start_rows("sample", "bench-1.0", [])
    rows += pod_start_rows("1 GB", "big-1.0", ["resources.limits.memory=3Gi",
                                                "model.volume.emptyDir.sizeLimit=3Gi",
                                                "model.volume.pvc.size=3Gi"])
    push_models("1.0", "1.1")
    lifecycle = {mode: under_load(sets) for mode, sets in
                 (("emptyDir", []), ("image", ["model.volume.type=image"]))}
    write2, read2 = disk_speed()

    print(f"\ndisk ({STATE}, 1 GiB, direct I/O): write {write:.0f} / {write2:.0f} MB/s, "
          f"read {read:.0f} / {read2:.0f} MB/s (start / end of the run)")
    print("\npod start, one replica: helm time, pod creation -> Ready, and 1 GB / sample:")
    print(f"  {'case':<36} {'sample helm':>11} {'Ready':>6} {'load':>6} {'1 GB helm':>10}"
          f" {'Ready':>6} {'load':>6} {'Ready 1GB/sample':>17}")
    sample = {r[1]: r for r in rows if r[0] == "sample"}
    for case, s in sample.items():
        b = next(r for r in rows if r[0] == "1 GB" and r[1] == case)
        print(f"  {case:<36} {s[2]:10.1f}s {s[4]:5.0f}s {s[5]:5.2f}s {b[2]:9.1f}s {b[4]:5.0f}s"
              f" {b[5]:5.2f}s {b[4] / max(s[4], 1):16.2f}x")
    print("\nunder continuous load through the Service (sample model, 2 replicas):")
    for mode, steps in lifecycle.items():
        for name, took, r in steps:
            print(f"  {mode:<9} {name:<26} {took:6.1f} s   {r.ok:6d} ok  {r.failed} failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
