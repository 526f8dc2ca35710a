#!/usr/bin/env python3
"""Autoscaling figures on the cluster (the local one unless KUBECONFIG says otherwise), one run:
time from the start of a bounded load to a pod the HPA added serving, split into the HPA's
reaction (metrics-server's 15 s resolution + the HPA's 15 s sync) and the new pod's own start,
in emptyDir mode (each pod copies the model) and PVC mode (the model is already on the claim:
a cache hit); then time from the end of the load back to one pod. The scenario is the cluster
test's (tests/faqtest/autoscale.py), with 0 failed requests required.

Run through `make bench` (tools on PATH, images built and loaded, cluster and metrics-server up).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from faqtest.autoscale import RELEASE, install, scale_out_and_in  # noqa: E402
from faqtest.kube import LOCAL_KUBECONFIG, Kubectl, unique_name  # noqa: E402
from faqtest.lifecycle import LOCAL_IMAGES, RESTRICTED_LABELS, helm, host_claim  # noqa: E402


def run(kubectl: Kubectl, mode: str, figures: dict[str, float]) -> None:
    ns = unique_name("faq-bench-hpa")
    kubectl.apply({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": ns, "labels": RESTRICTED_LABELS}})
    tmp = Path(tempfile.mkdtemp(prefix="faq-hpa-"))
    pv = None
    try:
        extra: list[str] = []
        if mode == "pvc":
            (tmp / "pv").mkdir()
            pv = host_claim(kubectl, ns, "models", tmp / "pv")
            extra = ["--set", "model.volume.type=pvc", "--set", "model.volume.pvc.existingClaim=models"]
        install(ns, tmp, "-f", str(LOCAL_IMAGES), *extra)  # images run-all.sh pushed
        scale_out_and_in(kubectl, ns, kubectl.service_url(ns, RELEASE), mode, figures)
    finally:
        helm("uninstall", RELEASE, "-n", ns, "--wait", check=False)
        kubectl("delete", "namespace", ns, "--wait=false", check=False)
        if pv:
            kubectl("delete", "pv", pv, "--wait=false", check=False)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    kubeconfig = os.environ.get("KUBECONFIG") or str(LOCAL_KUBECONFIG)
    os.environ["KUBECONFIG"] = kubeconfig
    kubectl = Kubectl(shutil.which("kubectl") or "kubectl", kubeconfig)
    if kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes", check=False).returncode:
        raise SystemExit("no metrics.k8s.io API: run ci/cluster/metrics-server.sh")
    figures: dict[str, float] = {}
    for mode in ("emptyDir", "pvc"):
        run(kubectl, mode, figures)
    for k, v in figures.items():
        print(f"{k}: {v:.1f} s")
    e, p = (figures[f"{m}: load start to new pod serving"] for m in ("emptyDir", "pvc"))
    print(f"load start to new pod serving: emptyDir {e:.1f} s, pvc {p:.1f} s; ratio pvc/emptyDir {p / e:.2f}")
    print(json.dumps({k: round(v, 1) for k, v in figures.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
