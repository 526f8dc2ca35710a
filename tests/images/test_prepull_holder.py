"""The model pre-pull holder (`model.prepull.enabled`) in the real model image: the command and
security settings the chart renders, run by podman, keep the container running (so the image
stays in use on the node) and end at once on SIGTERM (no wait for the kill after the grace
period)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.images, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def holder_container() -> dict:
    res = subprocess.run(["helm", "template", "rel", str(ROOT / "chart"), "-f",
                          str(ROOT / "chart" / "ci" / "local-images.yaml"),
                          "--set", "model.prepull.enabled=true",
                          "--show-only", "templates/model-prepull.yaml"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    ds = next(d for d in yaml.safe_load_all(res.stdout) if d and d["kind"] == "DaemonSet")
    (c,) = ds["spec"]["template"]["spec"]["containers"]
    return c


def test_holder_keeps_running_and_stops_at_once_on_term(images):
    c = holder_container()
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] and sc["capabilities"]["drop"] == ["ALL"]
    name = f"faq-prepull-holder-{time.monotonic_ns()}"
    cmd = ["podman", "run", "-d", "--name", name, "--read-only", "--cap-drop", "ALL",
           "--security-opt", "no-new-privileges", "--network", "none",
           "--user", f"{sc['runAsUser']}:{sc['runAsGroup']}",
           "--entrypoint", c["command"][0], images["model-1.0"], *c["command"][1:]]
    started = subprocess.run(cmd, capture_output=True, text=True)
    assert started.returncode == 0, started.stderr
    try:
        time.sleep(3)
        state = subprocess.run(["podman", "inspect", "-f", "{{.State.Status}}", name],
                               capture_output=True, text=True, check=True).stdout.strip()
        assert state == "running", subprocess.run(["podman", "logs", name], capture_output=True,
                                                  text=True).stderr
        t0 = time.monotonic()
        # SIGTERM, and SIGKILL only after 20 s: a holder that ignored TERM would take those 20 s.
        subprocess.run(["podman", "stop", "-t", "20", name], capture_output=True, check=True)
        took = time.monotonic() - t0
        code = subprocess.run(["podman", "inspect", "-f", "{{.State.ExitCode}}", name],
                              capture_output=True, text=True, check=True).stdout.strip()
        assert took < 10 and code == "0", (took, code)
    finally:
        subprocess.run(["podman", "rm", "-f", name], capture_output=True)
