#!/usr/bin/env python3
"""Model pre-pull (`model.prepull.enabled`) for a 1 GB model in image-volume mode, on a node that
never had the model.

Two phases, each on a second node added fresh to the local cluster (ci/cluster/node.sh: empty
image store) and the release pinned to it (`nodeSelector`), one replica, models from the local
registry:
1. install model big-1.0 (everything pulled cold: the set-up), then a rolling `helm upgrade`
   with the same model: the new pod finds both images on its node (the warm figure);
2. `helm upgrade --set model.tag=big-1.1`, a model that node has never had: the upgrade's total
   time (`helm upgrade --wait`) and the new pod's creation -> Ready.
Phase "off" runs without pre-pull, so the new pod pulls the 1 GB image itself; phase "on" with
`model.prepull.enabled=true`, so the pre-upgrade hook has the DaemonSet pull big-1.1 onto the
node before the Deployment rolls. The ratios: the new model's pod Ready over the warm pod Ready
of its own phase (the goal with pre-pull: <= 1.1x), and the upgrade's total time on / off.

Pod times are taken here, from a watch on the pods (creation as first seen -> Ready as first
seen, 0.1 s), not from the API's whole-second timestamps. Ready waits for the startup probe,
which runs every 2 s, so a pod's figure carries up to 2 s of that period.

Run through `make bench` (tools on PATH, images built, cluster up, run as root: it adds a node).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

from cluster_lifecycle import (LOCAL_IMAGES, NS, REGISTRY, RELEASE, ROOT, helm_seconds, kubectl,
                               one_gb_model_image, push_models, registry_up, uninstall)

NODE = "2"


def node_sh(*args: str) -> str:
    return subprocess.run(["bash", str(ROOT / "ci" / "cluster" / "node.sh"), *args], check=True,
                          capture_output=True, text=True, timeout=600).stdout.strip()


def fresh_node() -> str:
    """Node NODE added anew (removed first if there): its image store is empty."""
    if NODE in node_sh("list").split():
        node_sh("remove", NODE)
    return node_sh("add", NODE)


class PodWatch:
    """`kubectl get pods --watch` on the release's serving pods: when each pod was first seen
    and first seen Ready (monotonic seconds, as the events arrive)."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self.ready: dict[str, float] = {}
        self.proc = subprocess.Popen(
            ["kubectl", "-n", NS, "get", "pods", "-l", "app.kubernetes.io/track=stable",
             "--watch", "-o",
             'jsonpath={.metadata.name} {.status.conditions[?(@.type=="Ready")].status}{"\\n"}'],
            stdout=subprocess.PIPE, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            now = time.monotonic()
            name, _, status = line.strip().partition(" ")
            self.seen.setdefault(name, now)
            if status == "True":
                self.ready.setdefault(name, now)

    def newest(self, since: set[str]) -> tuple[float, float]:
        """(first seen, creation -> Ready seconds) of the one pod not in `since`."""
        new = [n for n in self.seen if n not in since]
        if len(new) != 1 or new[0] not in self.ready:
            raise SystemExit(f"expected one new Ready pod, saw {new} (ready: {list(self.ready)})")
        return self.seen[new[0]], self.ready[new[0]] - self.seen[new[0]]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def pods() -> set[str]:
    return {p["metadata"]["name"] for p in json.loads(kubectl(
        "get", "pods", "-l", "app.kubernetes.io/track=stable", "-o", "json"))["items"]}


def node_has(tag: str) -> bool:
    names = subprocess.run(
        ["bash", "-c", f'. "{ROOT}/ci/cluster/lib.sh"; ctr --address '
         f'"$RUN/nodes/{NODE}/containerd/containerd.sock" -n k8s.io images ls -q'],
        check=True, capture_output=True, text=True).stdout.split()
    return any(n.endswith(f"/faq-engine-model:{tag}") for n in names)


def phase(prepull: bool) -> dict[str, float]:
    node = fresh_node()
    uninstall()
    sets = ["replicaCount=1", f"model.repository={REGISTRY}/faq-engine-model",
            "model.tag=big-1.0", "model.volume.type=image", "resources.limits.memory=3Gi",
            f"nodeSelector.kubernetes\\.io/hostname={node}",
            f"model.prepull.enabled={'true' if prepull else 'false'}"]
    watch = PodWatch()
    try:
        before = pods()
        took = helm_seconds("install", RELEASE, str(ROOT / "chart"), "-n", NS, "-f",
                            str(LOCAL_IMAGES), *[a for s in sets for a in ("--set", s)])
        out = {"install, all cold (set-up)": took, "install pod Ready": watch.newest(before)[1]}
        before = pods()
        out["roll, same model"] = helm_seconds(
            "upgrade", RELEASE, str(ROOT / "chart"), "-n", NS, "--reuse-values",
            "--set", f"podAnnotations.bench={time.time()}")
        out["warm pod Ready"] = watch.newest(before)[1]
        kubectl("wait", "--for=delete", "pod", "-l", "app.kubernetes.io/track=stable",
                "--field-selector=status.phase!=Running", "--timeout=120s", check=False)
        if node_has("big-1.1"):
            raise SystemExit(f"node {node} has big-1.1 already: it was to be fresh")
        before, start = pods(), time.monotonic()
        out["upgrade to big-1.1"] = helm_seconds(
            "upgrade", RELEASE, str(ROOT / "chart"), "-n", NS, "--reuse-values",
            "--set", "model.tag=big-1.1", "--set", "model.prepull.timeoutSeconds=900")
        created, out["new model pod Ready"] = watch.newest(before)
        out["upgrade start -> new pod"] = created - start
    finally:
        watch.close()
        uninstall()
    return out


def main() -> int:
    subprocess.run(["kubectl", "create", "namespace", NS], capture_output=True)
    subprocess.run(["kubectl", "label", "--overwrite", "namespace", NS,
                    "pod-security.kubernetes.io/enforce=restricted"], check=True,
                   capture_output=True)
    if not registry_up():
        raise SystemExit(f"no registry at {REGISTRY}: ci/cluster/up.sh starts it")
    for version in ("big-1.0", "big-1.1"):
        one_gb_model_image(version)
    push_models("big-1.0", "big-1.1")
    # (the app image: pushed by `make up` under chart/ci/local-images.yaml's tag)
    try:
        results = {}
        for prepull in (False, True):
            name = "on" if prepull else "off"
            print(f"pre-pull {name}: fresh node, 1 GB model, image volume ...", flush=True)
            results[name] = phase(prepull)
            for k, v in results[name].items():
                print(f"  {k:<28} {v:6.1f} s", flush=True)
    finally:
        if NODE in node_sh("list").split():
            node_sh("remove", NODE)

    off, on = results["off"], results["on"]
    print("\nmodel pre-pull, 1 GB model, image volume, a node that never had the new model:")
    print(f"  {'':<30} {'pre-pull off':>12} {'pre-pull on':>12} {'on/off':>7}")
    for k in ("warm pod Ready", "new model pod Ready", "upgrade start -> new pod",
              "upgrade to big-1.1"):
        print(f"  {k:<30} {off[k]:11.1f}s {on[k]:11.1f}s {on[k] / off[k]:6.2f}x")
    print(f"  new model pod Ready / warm pod Ready:  off {off['new model pod Ready'] / off['warm pod Ready']:.2f}x"
          f"   on {on['new model pod Ready'] / on['warm pod Ready']:.2f}x (goal with pre-pull <= 1.1x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
