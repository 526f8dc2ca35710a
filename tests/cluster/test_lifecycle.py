"""The product's promise on a real cluster: install, upgrade the model, roll back, survive a
corrupt model and a lost pod, all with zero failed requests; canary; PVC cache hits; ct install.

Runs in a namespace that enforces Pod Security "restricted". Tests in this module run in order
and share one release (like a user's session of helm commands), once per model volume mode in
MODES: `emptyDir` (an init container copies and verifies the model) and `image` (the model image
mounted as a Kubernetes image volume: no copy, the app verifies it at load).
"""

from __future__ import annotations

import subprocess
import time

import pytest
from faqtest.common import build_corrupt_model_image
from faqtest.lifecycle import (
    CHART,
    RELEASE,
    ROOT,
    app_pods,
    digest_of,
    helm,
    host_claim,
    Load,
    local_install_args,
    release_namespace,
    versions_answering,
)

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
TIMINGS: dict[str, float] = {}
# model.volume.type -> the helm install flags selecting it (upgrades reuse the values)
MODES = {"emptyDir": [], "image": ["--set", "model.volume.type=image"]}


@pytest.fixture(scope="module")
def cluster_images(images, push_images):
    """The images in the cluster's registry: {name: "repository:tag@digest" as pushed}."""
    corrupt = build_corrupt_model_image("localhost/faq-engine-model:1.1-corrupt")
    names = ("app", "model-1.0", "model-1.1")
    pushed = push_images(*(images[name] for name in names), corrupt)
    return {name: pushed[images[name]] for name in names}


@pytest.fixture(scope="module", params=list(MODES))
def mode(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def namespace(kubectl, cluster_images, mode):
    with release_namespace(kubectl, f"faq-life-{mode.lower()}") as name:
        yield name


@pytest.fixture(scope="module")
def url(kubectl, namespace):
    return lambda: kubectl.service_url(namespace, RELEASE)




def image_tag(ref: str) -> str:
    """The tag of repo:tag[@digest]."""
    return ref.split("@")[0].rsplit(":", 1)[1]


def timed(name, fn):
    start = time.monotonic()
    out = fn()
    TIMINGS[name] = time.monotonic() - start
    return out


def test_1_install_two_replicas_ready_and_helm_test(kubectl, mode, namespace, url, cluster_images):
    timed(f"{mode} install", lambda: helm("install", RELEASE, str(CHART), "-n", namespace,
                                          *local_install_args(cluster_images["app"],
                                                              cluster_images["model-1.0"]),
                                          "--set", "replicaCount=2", *MODES[mode],
                                          "--wait", "--timeout", "5m"))
    pods = app_pods(kubectl, namespace)
    assert len(pods) == 2
    assert all(c["ready"] for p in pods for c in p["status"]["containerStatuses"])
    volumes = {v["name"]: v for v in pods[0]["spec"]["volumes"]}
    inits = [c["name"] for c in pods[0]["spec"].get("initContainers", [])]
    if mode == "image":  # the model image itself is the volume: nothing copies it
        assert volumes["model"]["image"]["reference"] == cluster_images["model-1.0"], volumes
        assert "model" not in inits, inits
    else:
        assert "emptyDir" in volumes["model"] and "model" in inits, (volumes, inits)
    # The kubelet pulled from the registry exactly what the push reported.
    for p in pods:
        (app,) = p["status"]["containerStatuses"]
        assert digest_of(app["imageID"]) == digest_of(cluster_images["app"]), app
        if mode != "image":
            init = next(c for c in p["status"]["initContainerStatuses"] if c["name"] == "model")
            assert digest_of(init["imageID"]) == digest_of(cluster_images["model-1.0"]), init
    out = helm("test", RELEASE, "-n", namespace, "--logs", "--timeout", "3m").stdout
    assert "model 1.0 answered" in out, out
    assert versions_answering(url()) == {"1.0": 30}


def test_2_upgrade_model_under_load_no_failed_request(mode, namespace, url):
    with Load(url()) as load:
        timed(f"{mode} upgrade 1.0->1.1", lambda: helm(
            "upgrade", RELEASE, str(CHART), "-n", namespace, "--reuse-values",
            "--set", "model.tag=1.1", "--wait", "--timeout", "5m"))
        time.sleep(3)
    r = load.result
    print(f"{mode} upgrade: {r.summary()}; rollout {TIMINGS[f'{mode} upgrade 1.0->1.1']:.1f}s")
    assert r.failed == 0, r.summary()
    assert r.ok > 100 and r.versions["1.1"] > 0
    assert versions_answering(url()) == {"1.1": 30}


def test_3_rollback_under_load_no_failed_request(mode, namespace, url):
    with Load(url()) as load:
        timed(f"{mode} rollback 1.1->1.0", lambda: helm(
            "rollback", RELEASE, "-n", namespace, "--wait", "--timeout", "5m"))
        time.sleep(3)
    r = load.result
    print(f"{mode} rollback: {r.summary()}; rollout {TIMINGS[f'{mode} rollback 1.1->1.0']:.1f}s")
    assert r.failed == 0, r.summary()
    assert versions_answering(url()) == {"1.0": 30}


def failed_init_pod(kubectl, namespace, old) -> tuple[str, str] | None:
    """emptyDir/pvc: a new pod whose model-copy init container exited non-zero, and its log."""
    for p in app_pods(kubectl, namespace):
        if p["metadata"]["name"] in old:
            continue
        for s in p["status"].get("initContainerStatuses", []):
            term = s["state"].get("terminated") or s.get("lastState", {}).get("terminated")
            if term and term.get("exitCode", 0) != 0:
                pod = p["metadata"]["name"]
                log = kubectl("logs", pod, "-c", "model", namespace=namespace, check=False).stdout
                return pod, log or kubectl("logs", pod, "-c", "model", "--previous",
                                           namespace=namespace).stdout
    return None


def unready_app_pod(kubectl, namespace, old) -> tuple[str, str] | None:
    """image: a new pod whose app runs, unready, having logged why its model failed to load."""
    for p in app_pods(kubectl, namespace):
        if p["metadata"]["name"] in old:
            continue
        for s in p["status"].get("containerStatuses", []):
            if s["name"] == "app" and "running" in s["state"] and not s["ready"]:
                pod = p["metadata"]["name"]
                log = kubectl("logs", pod, "-c", "app", namespace=namespace, check=False).stdout
                if "model not ready" in log:
                    return pod, log
    return None


def test_4_corrupt_model_keeps_new_pod_unready_old_pods_serve(kubectl, mode, namespace, url):
    """A model image whose vectors.npy fails its checksum: the new pod never becomes ready and
    says which file is bad (model-copy in the init container, or the app itself when the image
    is mounted), the old pods keep serving, and a rollback recovers."""
    old = {p["metadata"]["name"] for p in app_pods(kubectl, namespace)}
    with Load(url()) as load:
        helm("upgrade", RELEASE, str(CHART), "-n", namespace, "--reuse-values",
             "--set", "model.tag=1.1-corrupt")
        if mode == "image":
            pod, log = kubectl.wait_for(lambda: unready_app_pod(kubectl, namespace, old), 120,
                                        "the new pod's app to report its model unready")
            assert "vectors.npy: sha256 mismatch" in log, log
        else:
            pod, log = kubectl.wait_for(lambda: failed_init_pod(kubectl, namespace, old), 120,
                                        "the new pod's init container to fail")
            assert "model-copy: error: vectors.npy: checksum mismatch" in log, log
        time.sleep(10)  # the broken pod stays broken; the old ones keep serving
        status = kubectl.json("get", "pod", pod, namespace=namespace)["status"]
        ready = next(c for c in status["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "False", status
        assert status["phase"] == ("Running" if mode == "image" else "Pending"), status
        assert {p["metadata"]["name"] for p in app_pods(kubectl, namespace)} >= old
        timed(f"{mode} rollback from corrupt", lambda: helm(
            "rollback", RELEASE, "-n", namespace, "--wait", "--timeout", "5m"))
        time.sleep(3)
    r = load.result
    print(f"{mode} corrupt model + rollback: {r.summary()}")
    assert r.failed == 0, r.summary()
    assert r.versions.keys() == {"1.0"}
    assert versions_answering(url()) == {"1.0": 30}


def test_6_delete_a_pod_under_load(kubectl, mode, namespace, url):
    victim = app_pods(kubectl, namespace)[0]["metadata"]["name"]
    with Load(url()) as load:
        start = time.monotonic()
        kubectl("delete", "pod", victim, "--wait=true", namespace=namespace, timeout=120)
        kubectl.wait_for(lambda: len([p for p in app_pods(kubectl, namespace) if all(
            c["ready"] for c in p["status"].get("containerStatuses", [{"ready": False}]))]) == 2,
            180, "two ready pods again")
        TIMINGS[f"{mode} pod replaced"] = time.monotonic() - start
        time.sleep(2)
    r = load.result
    print(f"{mode} pod deletion: {r.summary()}")
    assert r.failed == 0, r.summary()


def test_7_canary_splits_traffic(kubectl, mode, namespace, url):
    """A canary Deployment with model 1.1 beside the stable 1.0 (in image mode: two model images
    mounted side by side on the node)."""
    helm("upgrade", RELEASE, str(CHART), "-n", namespace, "--reuse-values",
         "--set", "replicaCount=3", "--set", "canary.enabled=true",
         "--set", "canary.model.tag=1.1", "--set", "canary.replicaCount=1",
         "--wait", "--timeout", "5m")
    (canary,) = app_pods(kubectl, namespace, "canary")

    def serving_endpoints():
        slices = kubectl.json("get", "endpointslices", "-l",
                              f"kubernetes.io/service-name={RELEASE}", namespace=namespace)
        return sum(1 for sl in slices["items"] for ep in sl.get("endpoints") or []
                   if ep.get("conditions", {}).get("ready"))
    # helm --wait sees the pods Ready; the Service's endpoints and kube-proxy's rules follow a
    # moment later. Measure the split once all four pods are in rotation.
    kubectl.wait_for(lambda: serving_endpoints() == 4, 60, "four ready endpoints")
    kubectl.wait_for(lambda: "1.1" in versions_answering(url(), n=20), 60, "the canary answering")
    if mode == "image":
        stable = app_pods(kubectl, namespace)[0]
        refs = {p["metadata"]["name"]: {v["name"]: v for v in p["spec"]["volumes"]}["model"]["image"]
                ["reference"] for p in (stable, canary)}
        assert sorted(image_tag(r) for r in refs.values()) == ["1.0", "1.1"], refs
    seen = versions_answering(url(), n=300)
    share = seen["1.1"] / 300
    print(f"{mode} canary: {dict(seen)} -> canary share {share:.2f} (configured 1 of 4 pods = 0.25)")
    assert set(seen) == {"1.0", "1.1"}
    assert 0.10 <= share <= 0.45, seen
    helm("upgrade", RELEASE, str(CHART), "-n", namespace, "--reuse-values",
         "--set", "canary.enabled=false", "--set", "replicaCount=2", "--wait", "--timeout", "5m")
    # The canary pod drains during its preStop pause, then goes; after that only 1.0 answers.
    kubectl.wait_for(lambda: not kubectl.json("get", "pods", "-l", "app.kubernetes.io/track=canary",
                                              namespace=namespace)["items"], 120, "the canary pod to go")
    assert versions_answering(url()) == {"1.0": 30}


def init_log(kubectl, namespace, pod):
    return kubectl("logs", pod, "-c", "model", namespace=namespace).stdout


def pod_ready_seconds(pod: dict) -> float:
    from datetime import datetime

    def ts(s):
        return datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").timestamp()

    ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
    return ts(ready["lastTransitionTime"]) - ts(pod["metadata"]["creationTimestamp"])


def test_5_pvc_second_rollout_of_same_version_is_a_cache_hit(kubectl, make_namespace, cluster_images,
                                                               tmp_path_factory):
    labels = {f"pod-security.kubernetes.io/{m}": "restricted" for m in ("enforce", "warn", "audit")}
    ns = make_namespace("faq-pvc", labels)
    # A volume the pods' fsGroup can write: the in-tree hostpath provisioner ignores fsGroup
    # (most CSI drivers honour it), so this test provides a pre-made PV and an existing claim.
    host_dir = tmp_path_factory.mktemp("pv")
    pv = host_claim(kubectl, ns, "models", host_dir)
    try:
        helm("install", RELEASE, str(CHART), "-n", ns, *local_install_args(
             cluster_images["app"], cluster_images["model-1.0"]), "--set", "model.volume.type=pvc",
             "--set", "model.volume.pvc.existingClaim=models", "--wait", "--timeout", "5m")
        (first,) = app_pods(kubectl, ns)
        assert "version=1.0 copied" in init_log(kubectl, ns, first["metadata"]["name"])
        helm("upgrade", RELEASE, str(CHART), "-n", ns, "--reuse-values",
             "--set", "podAnnotations.restartedAt=x", "--wait", "--timeout", "5m")
        kubectl.wait_for(lambda: len(app_pods(kubectl, ns)) == 1, 120, "the old pod to go")
        (second,) = app_pods(kubectl, ns)
        assert second["metadata"]["name"] != first["metadata"]["name"]
        log = init_log(kubectl, ns, second["metadata"]["name"])
        assert "version=1.0 cache-hit" in log, log
        print(f"pvc: first pod Ready in {pod_ready_seconds(first):.0f}s (copy), second in "
              f"{pod_ready_seconds(second):.0f}s (cache hit)")
        # One copy of the version, and the live pod holds its lease on it (model-copy's
        # bookkeeping, .leases and .lock, is hidden beside it).
        assert sorted(p.name for p in host_dir.iterdir() if not p.name.startswith(".")) == ["1.0"]
        assert (host_dir / ".leases" / "1.0" / second["metadata"]["name"]).is_file()
    finally:
        helm("uninstall", RELEASE, "-n", ns, "--wait", check=False)
        kubectl("delete", "pvc", "models", "-n", ns, "--wait=false", check=False)
        kubectl("delete", "pv", pv, "--wait=false", check=False)


def test_5b_pvc_canary_prune_spares_the_stable_version_across_an_app_restart(
        kubectl, make_namespace, cluster_images, tmp_path_factory):
    """Two stable pods on model 1.0 share a PVC with a canary on 1.1 and `model.keep=1`: the
    canary's copy prunes, but spares 1.0, which the stable pods lease; a stable pod whose app
    container then restarts (its init container does not rerun) loads 1.0 again and is Ready."""
    labels = {f"pod-security.kubernetes.io/{m}": "restricted" for m in ("enforce", "warn", "audit")}
    ns = make_namespace("faq-prune", labels)
    host_dir = tmp_path_factory.mktemp("pv-prune")
    pv = host_claim(kubectl, ns, "models", host_dir)
    canary_tag = cluster_images["model-1.1"].rsplit("/", 1)[1].split(":", 1)[1]  # 1.1@sha256:..
    try:
        helm("install", RELEASE, str(CHART), "-n", ns, *local_install_args(
             cluster_images["app"], cluster_images["model-1.0"]), "--set", "model.volume.type=pvc",
             "--set", "model.volume.pvc.existingClaim=models", "--set", "model.keep=1",
             "--set", "replicaCount=2", "--wait", "--timeout", "5m")
        helm("upgrade", RELEASE, str(CHART), "-n", ns, "--reuse-values",
             "--set", "canary.enabled=true", "--set", "canary.replicaCount=1",
             "--set-string", f"canary.model.tag={canary_tag}", "--wait", "--timeout", "5m")
        (canary,) = app_pods(kubectl, ns, "canary")
        assert "version=1.1 copied" in init_log(kubectl, ns, canary["metadata"]["name"])
        stable = app_pods(kubectl, ns)
        assert len(stable) == 2
        # keep=1 asked the canary's copy to prune everything but 1.1: the leases kept 1.0.
        assert sorted(p.name for p in host_dir.iterdir() if not p.name.startswith(".")) == \
            ["1.0", "1.1"]
        assert sorted(p.name for p in (host_dir / ".leases" / "1.0").iterdir()) == \
            sorted(p["metadata"]["name"] for p in stable)

        victim = stable[0]["metadata"]["name"]
        before = {c["name"]: c["restartCount"] for c in stable[0]["status"]["containerStatuses"]}
        # gunicorn (PID 1 of the app container) stops on SIGTERM; the kubelet restarts the
        # container alone, in the same pod, without its init container.
        kubectl("exec", victim, "-c", "app", "--", "python3", "-c",
                "import os, signal; os.kill(1, signal.SIGTERM)", namespace=ns, check=False)

        def restarted_and_ready():
            pod = kubectl.json("get", "pod", victim, namespace=ns)
            app = {c["name"]: c for c in pod["status"]["containerStatuses"]}["app"]
            return app["restartCount"] > before["app"] and app["ready"]
        kubectl.wait_for(restarted_and_ready, 180, f"{victim}'s app container restarted and Ready")
        log = kubectl("logs", victim, "-c", "app", namespace=ns).stdout
        assert '"msg": "model loaded"' in log and '"version": "1.0"' in log, log[-2000:]
        assert (host_dir / "1.0" / "manifest.json").is_file()
    finally:
        helm("uninstall", RELEASE, "-n", ns, "--wait", check=False)
        kubectl("delete", "pvc", "models", "-n", ns, "--wait=false", check=False)
        kubectl("delete", "pv", pv, "--wait=false", check=False)


def test_8_ct_install(cluster_images):
    proc = subprocess.run(
        ["ct", "install", "--config", str(ROOT / "ci" / "ct" / "ct.yaml"), "--charts", "chart"],
        cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "All charts installed successfully" in proc.stdout + proc.stderr


def test_zz_report_timings():
    print("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in TIMINGS.items()))
