"""The HorizontalPodAutoscaler on real metrics (metrics-server, ci/cluster/metrics-server.sh):
a bounded load through the Service scales the Deployment out, and it scales back in after the
load stops, with no failed request throughout, in emptyDir and in PVC (cache hit) mode.
Also checks metrics-server's TLS posture towards the kubelet.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from faqtest.autoscale import RELEASE, install, scale_out_and_in
from faqtest.kube import unique_name
from faqtest.lifecycle import RESTRICTED_LABELS, helm, host_claim

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
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


@pytest.fixture
def namespace(kubectl):
    ns = unique_name("faq-hpa")
    kubectl.apply({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": ns, "labels": RESTRICTED_LABELS}})
    yield ns
    helm("uninstall", RELEASE, "-n", ns, "--wait", check=False)
    kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_emptydir_scales_out_and_in_without_failed_requests(kubectl, metrics_api, namespace,
                                                            tmp_path, local_chart_args):
    install(namespace, tmp_path, *local_chart_args)
    inits = scale_out_and_in(kubectl, namespace, kubectl.service_url(namespace, RELEASE), "emptyDir",
                             FIGURES)
    assert all("version=1.0 copied" in log for log in inits.values()), inits


def test_pvc_scales_out_on_cache_hits(kubectl, metrics_api, namespace, tmp_path,
                                     local_chart_args):
    data = tmp_path / "pv"
    data.mkdir()
    pv = host_claim(kubectl, namespace, "models", data)
    try:
        install(namespace, tmp_path, *local_chart_args, "--set", "model.volume.type=pvc",
                "--set", "model.volume.pvc.existingClaim=models")
        inits = scale_out_and_in(kubectl, namespace, kubectl.service_url(namespace, RELEASE), "pvc", FIGURES)
        # the pods the autoscaler added found the model already on the claim
        assert all("version=1.0 cache-hit" in log for log in inits.values()), inits
    finally:
        helm("uninstall", RELEASE, "-n", namespace, "--wait", check=False)
        kubectl("delete", "pvc", "models", "-n", namespace, "--wait=false", check=False)
        kubectl("delete", "pv", pv, "--wait=false", check=False)


def test_zz_report_figures():
    print("autoscaling: " + ", ".join(f"{k} {v:.1f}s" for k, v in FIGURES.items()))
