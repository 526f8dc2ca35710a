"""The HorizontalPodAutoscaler on real metrics (metrics-server, ci/cluster/metrics-server.sh):
a bounded load through the Service scales the Deployment out, and it scales back in after the
load stops, with no failed request throughout, in emptyDir and in PVC (cache hit) mode.
Also checks metrics-server's TLS posture towards the kubelet.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from kube_helpers import unique_name
from lifecycle import CHART, RESTRICTED_LABELS, Load, helm, host_claim

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
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
FIGURES: dict[str, float] = {}


@pytest.fixture(scope="module")
def metrics_api(kubectl):
    r = kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes", check=False)
    if r.returncode != 0:
        pytest.fail("the metrics.k8s.io API does not answer: start metrics-server with "
                    f"`bash ci/cluster/metrics-server.sh` (ci/cluster/up.sh runs it)\n{r.stderr}")
    return json.loads(r.stdout)


def test_metrics_server_verifies_the_kubelet(kubectl, metrics_api):
    assert metrics_api["items"], "no node metrics"
    api = kubectl.json("get", "apiservice", "v1beta1.metrics.k8s.io")
    assert api["spec"].get("caBundle") and not api["spec"].get("insecureSkipTLSVerify")
    assert any(c["type"] == "Available" and c["status"] == "True" for c in api["status"]["conditions"])
    # the host process runs with the kubelet CA, never --kubelet-insecure-tls
    pids = subprocess.run(["pgrep", "-x", "metrics-server"], capture_output=True, text=True).stdout.split()
    assert pids, "no metrics-server process"
    args = open(f"/proc/{pids[0]}/cmdline", "rb").read().split(b"\0")
    assert b"--kubelet-certificate-authority" in args
    assert not [a for a in args if b"insecure" in a]


def replicas(kubectl, ns) -> tuple[int, int]:
    """(ready server pods, server pods) of the stable Deployment, terminating pods included."""
    pods = kubectl.json("get", "pods", "-l", f"app.kubernetes.io/instance={RELEASE},"
                        "app.kubernetes.io/component=server", namespace=ns)["items"]
    ready = sum(1 for p in pods if not p["metadata"].get("deletionTimestamp") and any(
        c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or []))
    return ready, len(pods)


def scale_out_and_in(kubectl, ns, url, mode: str) -> dict[str, str]:
    """Returns the model init log of each pod the autoscaler added."""
    (first,) = [p["metadata"]["name"] for p in kubectl.json(
        "get", "pods", "-l", "app.kubernetes.io/component=server", namespace=ns)["items"]]
    # Wait for the HPA to see a first CPU sample before the load (else the first sync has none).
    kubectl.wait_for(lambda: kubectl.json("get", "hpa", RELEASE, namespace=ns)["status"].get(
        "currentMetrics"), 90, "the HPA's first CPU reading")
    started = time.monotonic()
    # A few clients are far above the 100m CPU request (50% target) without starving the
    # probes: a pod restarted by its liveness probe would refuse connections.
    with Load(url, threads=3, pause=0.02, max_seconds=240) as load:
        kubectl.wait_for(lambda: replicas(kubectl, ns)[0] >= 2, 180,
                         "a second pod Ready under load")
        FIGURES[f"{mode}: load start to new pod Ready"] = time.monotonic() - started
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
        FIGURES[f"{mode}: load start to new pod serving"] = time.monotonic() - started
        init_logs = {pod: kubectl("logs", pod, "-c", "model", namespace=ns, check=False).stdout
                     for pod in new}
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
    FIGURES[f"{mode}: load stop to one pod"] = time.monotonic() - stopped
    assert light.result.failed == 0, light.result.summary()
    assert light.result.ok > 50
    print(f"{mode}: peak {peak} replicas; load {load.result.summary()}; "
          f"scale-in traffic {light.result.summary()}")
    return init_logs


@pytest.fixture
def namespace(kubectl, images, load_images):
    load_images(images["app"], images["model-1.0"])
    ns = unique_name("faq-hpa")
    kubectl.apply({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": ns, "labels": RESTRICTED_LABELS}})
    yield ns
    helm("uninstall", RELEASE, "-n", ns, "--wait", check=False)
    kubectl("delete", "namespace", ns, "--wait=false", check=False)


def install(ns, tmp_path, *extra: str) -> None:
    values = tmp_path / "hpa-values.json"
    values.write_text(json.dumps(HPA_VALUES))  # JSON is YAML
    helm("install", RELEASE, str(CHART), "-n", ns, "-f", str(values), *extra,
         "--wait", "--timeout", "5m")


def test_emptydir_scales_out_and_in_without_failed_requests(kubectl, metrics_api, namespace,
                                                            tmp_path):
    install(namespace, tmp_path)
    inits = scale_out_and_in(kubectl, namespace, kubectl.service_url(namespace, RELEASE), "emptyDir")
    assert all("version=1.0 copied" in log for log in inits.values()), inits


def test_pvc_scales_out_on_cache_hits(kubectl, metrics_api, namespace, tmp_path):
    data = tmp_path / "pv"
    data.mkdir()
    pv = host_claim(kubectl, namespace, "models", data)
    try:
        install(namespace, tmp_path, "--set", "model.volume.type=pvc",
                "--set", "model.volume.pvc.existingClaim=models")
        inits = scale_out_and_in(kubectl, namespace, kubectl.service_url(namespace, RELEASE), "pvc")
        # the pods the autoscaler added found the model already on the claim
        assert all("version=1.0 cache-hit" in log for log in inits.values()), inits
    finally:
        helm("uninstall", RELEASE, "-n", namespace, "--wait", check=False)
        kubectl("delete", "pvc", "models", "-n", namespace, "--wait=false", check=False)
        kubectl("delete", "pv", pv, "--wait=false", check=False)


def test_zz_report_figures():
    print("autoscaling: " + ", ".join(f"{k} {v:.1f}s" for k, v in FIGURES.items()))
