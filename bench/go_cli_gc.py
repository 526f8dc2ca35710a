#!/usr/bin/env python3
"""What GO_CLI_GC (tests/faqtest/common.py) saves the Go command lines the tests run: the same
commands at Go's GOGC=100 and with GO_CLI_GC, alternating (ABAB), user + sys CPU per call from
the children's rusage, and the ratio. `make test` runs about a thousand helm and a thousand
kubectl calls (process accounting of a warm run, docs/benchmarks.md).

    python bench/go_cli_gc.py [ROUNDS]      # tools on PATH via ci/with-env; default 20 rounds

helm template renders the chart with its local-images values; kubectl lists every pod of the
local cluster as JSON (KUBECONFIG: the local cluster's unless set; skipped when it is down).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

from common import ci_setting  # also puts tests/ on sys.path

from faqtest.common import GO_CLI_GC

ROOT = Path(__file__).resolve().parents[1]


def _children_cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def cpu_per_call(cmd: list[str], env: dict[str, str], rounds: int) -> float:
    start = _children_cpu()
    for _ in range(rounds):
        subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return (_children_cpu() - start) / rounds


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    kubeconfig = os.environ.get("KUBECONFIG") or f"{ci_setting('FAQ_CACHE')}/cluster/kubeconfig"
    commands = {"helm template": ["helm", "template", "rel", "chart", "-f",
                                  "chart/ci/local-images.yaml"]}
    if subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "get", "--raw", "/readyz"],
                      capture_output=True).returncode == 0:
        commands["kubectl get pods -A -o json"] = ["kubectl", "--kubeconfig", kubeconfig, "get",
                                                   "pods", "-A", "-o", "json"]
    else:
        print("kubectl: the local cluster is down, skipped")
    default = {k: v for k, v in os.environ.items() if k not in GO_CLI_GC}
    tuned = {**default, **GO_CLI_GC}
    setting = " ".join(f"{k}={v}" for k, v in GO_CLI_GC.items())
    for name, cmd in commands.items():
        a = b = 0.0
        for _ in range(2):  # ABAB, each half of the rounds
            a += cpu_per_call(cmd, default, rounds // 2)
            b += cpu_per_call(cmd, tuned, rounds // 2)
        a, b = a / 2, b / 2
        print(f"{name}: GOGC=100 {a * 1000:.1f} ms CPU per call, {setting} {b * 1000:.1f} ms; "
              f"ratio {b / a:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
