#!/usr/bin/env python3
"""A cluster test's poll, `Kubectl.json("get", "pods", "-l", ...)`, through a kubectl process
(as before faqtest.kubeapi, with faqtest's GO_CLI_GC) and through the API on a kept-alive
connection (now): the CPU this side spends per poll (this process and its children, user +
sys), alternating (ABAB), and the ratio. The API server's own work is the same either way.

    python bench/kube_get.py [ROUNDS]      # tools on PATH via ci/with-env; default 100 rounds
"""

from __future__ import annotations

import os
import resource
import sys

from common import ci_setting  # also puts tests/ on sys.path

from faqtest.kube import Kubectl
from faqtest.kubeapi import ApiReader, kubectl_get_json

ARGS = ("get", "pods", "-l", "app.kubernetes.io/name=faq-engine")


def _cpu() -> float:
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        u = resource.getrusage(who)
        total += u.ru_utime + u.ru_stime
    return total


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    kubeconfig = os.environ.get("KUBECONFIG") or f"{ci_setting('FAQ_CACHE')}/cluster/kubeconfig"
    kubectl = Kubectl("kubectl", kubeconfig)
    api = ApiReader(kubeconfig)
    if api.get(ARGS, "default", timeout=10) is None:
        raise SystemExit(f"{kubeconfig}: not a kubeconfig faqtest.kubeapi answers for")
    ways = {"kubectl": lambda: kubectl_get_json(kubectl.binary, kubeconfig, ARGS, "default"),
            "api": lambda: api.get(ARGS, "default", timeout=10)}
    cpu = dict.fromkeys(ways, 0.0)
    for _ in range(2):
        for name, get in ways.items():
            start = _cpu()
            for _ in range(rounds // 2):
                get()
            cpu[name] += _cpu() - start
    per = {name: cpu[name] / rounds * 1000 for name in ways}
    print(f"kubectl get pods -l ... -o json: {per['kubectl']:.1f} ms CPU per poll through "
          f"kubectl, {per['api']:.2f} ms through the API; ratio {per['api'] / per['kubectl']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
