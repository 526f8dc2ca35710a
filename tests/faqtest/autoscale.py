"""The autoscaling scenario shared by tests/cluster/test_autoscaling.py and
bench/autoscale_perf.py: install with an HPA (min 1, max 3, CPU, short windows), a bounded load
through the Service until a pod the HPA added serves, then light traffic until it is back to one
pod. `kubectl` is a faqtest.kube.Kubectl.
"""

from __future__ import annotations

import json
import time
from datetime import datetime

from faqtest.lifecycle import CHART, Load, helm

RELEASE = "faq-engine"
# Short windows so a test takes a minute or two, not the 5-minute default scale-down window.
HPA_VALUES = {
    "autoscaling": {
        "enabled": True, "minReplicas": 1, "maxReplicas": 3, "targetCPUUtilizationPercentage": 50,
        "behavior": {
            "scaleUp": {"stabilizationWindowSeconds": 0,
                        "policies": [{"type": "Pods", "value": 2, "periodSeconds": 15}]},
            "scaleDown": {"stabilizationWindowSeconds": 15,
                          "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]},
        },
    },
}




def _ts(s: str) -> float:
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").timestamp()


def server_pods(kubectl, ns) -> list[dict]:
    return kubectl.json("get", "pods", "-l", f"app.kubernetes.io/instance={RELEASE},"
                        "app.kubernetes.io/component=server", namespace=ns)["items"]


def replicas(kubectl, ns) -> tuple[int, int]:
    """(ready server pods, server pods) of the stable Deployment, terminating pods included."""
    pods = kubectl.json("get", "pods", "-l", f"app.kubernetes.io/instance={RELEASE},"
                        "app.kubernetes.io/component=server", namespace=ns)["items"]
    ready = sum(1 for p in pods if not p["metadata"].get("deletionTimestamp") and any(
        c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or []))
    return ready, len(pods)


def scale_out_and_in(kubectl, ns, url, mode: str, figures: dict[str, float]) -> dict[str, str]:
    """Fills `figures` (seconds); returns the model init log of each pod the autoscaler added."""
    (first,) = [p["metadata"]["name"] for p in kubectl.json(
        "get", "pods", "-l", "app.kubernetes.io/component=server", namespace=ns)["items"]]
    # Wait for the HPA to see a first CPU sample before the load (else the first sync has none).
    kubectl.wait_for(lambda: kubectl.json("get", "hpa", RELEASE, namespace=ns)["status"].get(
        "currentMetrics"), 90, "the HPA's first CPU reading")
    started, started_wall = time.monotonic(), time.time()
    # A few clients are far above the 100m CPU request (50% target) without starving the
    # probes: a pod restarted by its liveness probe would refuse connections.
    with Load(url, threads=3, pause=0.02, max_seconds=240) as load:
        kubectl.wait_for(lambda: replicas(kubectl, ns)[0] >= 2, 180,
                         "a second pod Ready under load")
        figures[f"{mode}: load start to new pod Ready"] = time.monotonic() - started
        new = [p["metadata"]["name"] for p in kubectl.json(
            "get", "pods", "-l", "app.kubernetes.io/component=server", namespace=ns)["items"]
            if p["metadata"]["name"] != first]

        def served() -> bool:
            for pod in new:
                log = kubectl("logs", pod, "-c", "app", namespace=ns, check=False).stdout
                if '"path": "/v1/answer"' in log:
                    return True
            return False
        kubectl.wait_for(served, 60, "a new pod to answer a request through the Service")
        figures[f"{mode}: load start to new pod serving"] = time.monotonic() - started
        init_logs = {pod: kubectl("logs", pod, "-c", "model", namespace=ns, check=False).stdout
                     for pod in new}
        # split: the HPA's reaction (metrics + sync) and the new pod's own start
        added = [p for p in server_pods(kubectl, ns) if p["metadata"]["name"] in new]
        created = min(_ts(p["metadata"]["creationTimestamp"]) for p in added)
        figures[f"{mode}: load start to pod created (HPA)"] = created - started_wall
        figures[f"{mode}: new pod created to Ready"] = min(
            _ts(c["lastTransitionTime"]) for p in added for c in p["status"]["conditions"]
            if c["type"] == "Ready" and c["status"] == "True") - created
        time.sleep(5)
    restarts = {p["metadata"]["name"]: sum(c.get("restartCount", 0) for c in p["status"].get(
        "containerStatuses") or []) for p in kubectl.json("get", "pods", "-l",
                                                          "app.kubernetes.io/component=server",
                                                          namespace=ns)["items"]}
    assert load.result.failed == 0, f"{load.result.summary()}; restarts {restarts}"
    hpa = kubectl.json("get", "hpa", RELEASE, namespace=ns)
    peak = hpa["status"]["desiredReplicas"]
    # Light traffic while the HPA removes pods: none of it may fail.
    stopped = time.monotonic()
    with Load(url, threads=1, pause=0.1, max_seconds=240) as light:
        kubectl.wait_for(lambda: replicas(kubectl, ns) == (1, 1), 210,
                         "the Deployment to scale back to one pod")
    figures[f"{mode}: load stop to one pod"] = time.monotonic() - stopped
    assert light.result.failed == 0, light.result.summary()
    assert light.result.ok > 50
    print(f"{mode}: peak {peak} replicas; load {load.result.summary()}; "
          f"scale-in traffic {light.result.summary()}")
    return init_logs


def install(ns, tmp_path, *extra: str) -> None:
    values = tmp_path / "hpa-values.json"
    values.write_text(json.dumps(HPA_VALUES))  # JSON is YAML
    helm("install", RELEASE, str(CHART), "-n", ns, "-f", str(values), *extra,
         "--wait", "--timeout", "5m")


