"""A model in a Memory-medium emptyDir (tmpfs) on the real cluster.

tmpfs pages are charged to the memory cgroup of the container that writes them: the model init
container (128Mi limit by default), then the pod. A ~200 MiB model used to be OOM-killed in the
middle of its copy; the chart now adds the volume's sizeLimit to the init container's and the
app's memory. This installs a model image padded to 200 MiB with `medium: Memory` and checks the
copy completes (no OOM kill, no restart) and the pod serves.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from faq_engine.modeldir import MANIFEST, SUMS, dump_manifest, dump_sums, sha256_file
from faqtest.common import ONE_OFF_BUILD, ci_setting
from faqtest.lifecycle import CHART, ROOT, helm, local_install_args

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
RELEASE = "faq-mem"
PAD_MIB = 200
SIZE_LIMIT = "300Mi"


@pytest.fixture(scope="module")
def big_model_image(images, push_images, tmp_path_factory) -> dict[str, str]:
    """Model 1.1 plus a listed 200 MiB file (random bytes), built with Dockerfile.model, pushed
    with the app image: {"app": ref, "model": ref}, each repository:tag@digest."""
    tag = images["model-1.1"] + f"-pad{PAD_MIB}"
    ctx = tmp_path_factory.mktemp("big-model")
    cid = subprocess.run(["podman", "create", images["model-1.1"]], check=True,
                         capture_output=True, text=True).stdout.strip()
    try:
        subprocess.run(["podman", "cp", f"{cid}:/model", str(ctx / "model")], check=True,
                       capture_output=True)
    finally:
        subprocess.run(["podman", "rm", cid], capture_output=True)
    pad = ctx / "model" / "padding.bin"
    with open(pad, "wb") as fh:
        for _ in range(PAD_MIB):
            fh.write(os.urandom(1 << 20))
    digest = sha256_file(pad)
    manifest = json.loads((ctx / "model" / MANIFEST).read_text())
    manifest["files"].append({"path": pad.name, "size": pad.stat().st_size, "sha256": digest})
    text = dump_manifest(manifest)
    (ctx / "model" / MANIFEST).write_text(text)
    # The busybox-native checksum list covers the manifest too: written anew from it.
    (ctx / "model" / SUMS).write_text(dump_sums(manifest, text))
    shutil.copytree(ROOT / "model-image", ctx / "model-image")
    subprocess.run(["podman", "build", *ONE_OFF_BUILD, "-q", "-f", str(ROOT / "Dockerfile.model"),
                    "--build-arg", f"BASE_IMAGE={ci_setting('ALPINE_BASE')}",
                    "--build-arg", "MODEL_DIR=model", "-t", tag, str(ctx)],
                   check=True, capture_output=True)
    shutil.rmtree(ctx, ignore_errors=True)
    pushed = push_images(images["app"], tag)
    return {"app": pushed[images["app"]], "model": pushed[tag]}


def test_a_200_mib_model_in_memory_medium_is_copied_and_served(kubectl, make_namespace, images,
                                                               big_model_image):
    ns = make_namespace("faq-mem", restricted=True)
    try:
        helm("install", RELEASE, str(CHART), "-n", ns,
             *local_install_args(big_model_image["app"], big_model_image["model"]),
             "--set", "model.volume.emptyDir.medium=Memory",
             "--set", f"model.volume.emptyDir.sizeLimit={SIZE_LIMIT}",
             "--set-string", "tests.expectedModelVersion=1.1",
             "--wait", "--timeout", "5m", check=False)
        pods = kubectl.json("get", "pods", "-l", f"app.kubernetes.io/instance={RELEASE}",
                            namespace=ns)["items"]
        assert len(pods) == 1, [p["metadata"]["name"] for p in pods]
        pod = pods[0]
        name = pod["metadata"]["name"]
        init = next(c for c in pod["spec"]["initContainers"] if c["name"] == "model")
        assert init["resources"]["limits"]["memory"] == "428Mi"  # 128Mi + the 300Mi tmpfs
        status = next(s for s in pod["status"].get("initContainerStatuses") or []
                      if s["name"] == "model")
        term = (status.get("state") or {}).get("terminated") or {}
        last = (status.get("lastState") or {}).get("terminated") or {}
        diag = (f"state={status.get('state')} lastState={status.get('lastState')} "
                f"restarts={status.get('restartCount')}\n"
                + kubectl("describe", "pod", name, namespace=ns, check=False).stdout[-3000:])
        assert last.get("reason") != "OOMKilled" and term.get("reason") == "Completed", diag
        assert term.get("exitCode") == 0 and status["restartCount"] == 0, diag
        log = kubectl("logs", name, "-c", "model", namespace=ns, check=False).stdout
        assert "copied" in log, log
        ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True", diag
        # The model (with its padding) is in the tmpfs the app reads.
        df = kubectl("exec", name, "-c", "app", "--", "python", "-c",
                     "import os; s = os.statvfs('/models'); "
                     "print((s.f_blocks - s.f_bfree) * s.f_frsize)", namespace=ns).stdout
        assert int(df) >= PAD_MIB << 20, df
        res = helm("test", RELEASE, "-n", ns, "--timeout", "2m", check=False)
        assert res.returncode == 0, res.stdout + res.stderr
    finally:
        helm("uninstall", RELEASE, "-n", ns, "--wait", check=False)
