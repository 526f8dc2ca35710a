"""Smoke tests of the local cluster (ci/cluster/up.sh): what the chart's lifecycle tests rely on."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest
from faqtest.common import ci_setting
from faqtest.kube import LOCAL_KUBECONFIG, Kubectl, http_get, unique_name, wait_for

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]

HTTPD_COMMAND = "echo hello-from-httpd > /www/index.html && exec httpd -f -v -p 8080 -h /www"


def start_httpd(kubectl: Kubectl, namespace: str, image: str) -> str:
    """A busybox httpd pod behind a ClusterIP Service on port 80; returns the Service name."""
    name = unique_name("httpd")
    pod = kubectl.pod_manifest(
        name,
        HTTPD_COMMAND,
        image,
        labels={"app": name},
        restart_policy="Always",
        ports=[{"name": "http", "containerPort": 8080}],
        readiness_probe={"tcpSocket": {"port": 8080}, "periodSeconds": 1},
        volumes=[{"name": "www", "emptyDir": {}}],
        volume_mounts=[{"name": "www", "mountPath": "/www"}],
    )
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }
    kubectl.apply([pod, service], namespace=namespace)
    kubectl.wait_pod_ready(namespace, name, timeout=90)
    # Ready is not yet routed: the EndpointSlice, then kube-proxy's next sync (seconds on a
    # busy, fresh cluster). The host goes through the same Service rules as the pods.
    ip = kubectl.json("get", "service", name, namespace=namespace)["spec"]["clusterIP"]
    wait_for(lambda: http_get(f"http://{ip}/", timeout=2)[0] == 200, 60,
             f"Service {namespace}/{name} answering on {ip}")
    return name


def test_node_ready(kubectl: Kubectl) -> None:
    nodes = kubectl.json("get", "nodes")["items"]
    assert nodes, "the cluster has no nodes"
    for node in nodes:
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True", f"node {node['metadata']['name']}: {ready}"
    version = kubectl.json("version")["serverVersion"]["gitVersion"]
    assert version.startswith("v1."), f"server reports {version!r} (version ldflags missing?)"


def test_local_node_runs_the_pinned_kubernetes_and_containerd(kubectl: Kubectl, kubeconfig: str) -> None:
    """The local cluster runs ci/versions.env's kubelet and containerd 2 (not Debian's 1.6), and
    its state is stamped with them (ci/cluster/lib.sh state_stamp: the upgrade rule's input)."""
    if Path(kubeconfig).resolve() != LOCAL_KUBECONFIG.resolve():
        return  # FAQ_CLUSTER=existing: whatever that cluster runs
    info = kubectl.json("get", "nodes")["items"][0]["status"]["nodeInfo"]
    containerd = ci_setting("CONTAINERD_VERSION")
    assert info["kubeletVersion"] == ci_setting("KUBERNETES_VERSION"), info
    assert info["containerRuntimeVersion"] == f"containerd://{containerd.removeprefix('v')}", info
    state = Path(os.environ.get("FAQ_CLUSTER_STATE", "/var/lib/faq-engine-cluster"))
    assert (state / "created-with").read_text().split() == [
        f"kubernetes={ci_setting('KUBERNETES_VERSION')}", f"containerd={containerd}",
        f"runc={ci_setting('RUNC_VERSION')}"]


def test_image_gc_is_on_and_imported_images_are_pinned(kubectl: Kubectl, kubeconfig: str) -> None:
    """The kubelet garbage-collects unused images (pulled ones come back from the registry), and
    ci/cluster/load-images.sh pins what it imports, which nothing could pull again: containerd's
    CRI reports an image with io.cri-containerd.pinned=pinned as pinned, and the kubelet's
    image GC skips pinned images."""
    if Path(kubeconfig).resolve() != LOCAL_KUBECONFIG.resolve():
        return  # FAQ_CLUSTER=existing: that cluster's own settings
    node = kubectl.json("get", "nodes")["items"][0]["metadata"]["name"]
    config = json.loads(kubectl("get", "--raw", f"/api/v1/nodes/{node}/proxy/configz").stdout)
    gc = config["kubeletconfig"]
    assert gc["imageGCHighThresholdPercent"] < 100 and gc.get("imageMaximumGCAge", "0s") != "0s", gc

    image = f"localhost/faq-engine-pin-test:{uuid.uuid4().hex[:8]}"
    subprocess.run(["podman", "tag", ci_setting("ALPINE_BASE"), image], check=True)
    lib = f". {ROOT}/ci/cluster/lib.sh && ctr_ -n k8s.io images"
    try:
        subprocess.run(["bash", str(ROOT / "ci/cluster/load-images.sh"), image], check=True,
                       capture_output=True, text=True)
        listed = subprocess.run(["bash", "-c", f'{lib} ls "name=={image}"'], check=True,
                                capture_output=True, text=True).stdout.splitlines()
        assert len(listed) == 2, listed
        labels = dict(kv.split("=", 1) for kv in listed[1].split()[-1].split(","))
        assert labels.get("io.cri-containerd.pinned") == "pinned", labels
    finally:
        subprocess.run(["bash", "-c", f'{lib} rm "{image}"'], capture_output=True)
        # rmi of one of an image's names drops that name only (`podman untag IMAGE` would drop
        # them all, the base image's own too)
        subprocess.run(["podman", "rmi", image], capture_output=True)


def test_components_run_at_gos_default_gc(kubeconfig: str) -> None:
    """Only the Go builds of ci/ run at GO_BUILD_GOGC and GO_BUILD_GOMEMLIMIT (ci/versions.env);
    the cluster's components, started by scripts that source the same file, inherit neither."""
    if Path(kubeconfig).resolve() != LOCAL_KUBECONFIG.resolve():
        return  # FAQ_CLUSTER=existing: not our processes
    pids = Path(subprocess.run(["bash", "-c", f'. {ROOT}/ci/cluster/lib.sh && printf %s "$PIDS"'],
                               check=True, capture_output=True, text=True).stdout)
    seen = {}
    for f in sorted(pids.glob("*.pid")):
        environ = Path(f"/proc/{f.read_text().strip()}/environ")
        if environ.exists():
            seen[f.stem] = [v for v in environ.read_bytes().split(b"\0") if v.startswith((b"GOGC=", b"GOMEMLIMIT="))]
    assert {"kube-apiserver", "etcd", "kubelet", "containerd"} <= seen.keys(), seen
    assert not any(seen.values()), seen


def test_pods_are_torn_down_after_a_hosts_first_ip_netns_add(
    kubectl: Kubectl, kubeconfig: str, busybox_image: str, restricted_namespace: str
) -> None:
    """ci/cluster/node.sh's `ip netns add` would make /run/netns a bind mount of itself and hide
    every pod namespace mounted before it, leaving those pods Terminating for good (seen on a
    brand-new machine); ci/cluster/up.sh makes that mount before containerd starts. A pod that
    runs across an `ip netns add` and del is then deleted like any other."""
    if Path(kubeconfig).resolve() != LOCAL_KUBECONFIG.resolve():
        return  # FAQ_CLUSTER=existing: not our host
    assert subprocess.run(["mountpoint", "-q", "/run/netns"]).returncode == 0
    svc = start_httpd(kubectl, restricted_namespace, busybox_image)
    probe = unique_name("faq-netns-probe")
    subprocess.run(["ip", "netns", "add", probe], check=True)
    subprocess.run(["ip", "netns", "del", probe], check=True)
    kubectl("delete", "pod", svc, "--timeout=60s", namespace=restricted_namespace)
    gone = kubectl("get", "pod", svc, namespace=restricted_namespace, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr, gone.stdout


def test_restricted_pod_runs_to_completion(run_pod, restricted_namespace: str) -> None:
    result = run_pod(restricted_namespace, "id -u; echo done")
    assert result.phase == "Succeeded"
    assert result.exit_code == 0
    assert result.logs.split() == ["10001", "done"]


def test_failing_pod_reports_exit_code(run_pod, restricted_namespace: str) -> None:
    result = run_pod(restricted_namespace, "echo oops; exit 3", check=False)
    assert (result.phase, result.exit_code) == ("Failed", 3)
    assert "oops" in result.logs


def test_cluster_ip_reaches_pod(
    kubectl: Kubectl, run_pod, busybox_image: str, restricted_namespace: str
) -> None:
    svc = start_httpd(kubectl, restricted_namespace, busybox_image)
    url = kubectl.service_url(restricted_namespace, svc, "http")
    # From a pod, through kube-proxy's ClusterIP rules.
    result = run_pod(restricted_namespace, f"wget -q -O - {url}/")
    assert result.logs.strip() == "hello-from-httpd"
    # From the host (the test process): kube-proxy's rules also cover local traffic.
    status, body = wait_for(lambda: http_get(url + "/"), 30, f"{url} from the host")
    assert (status, body.strip()) == (200, "hello-from-httpd")


def test_dns_resolves_service_names(
    kubectl: Kubectl, run_pod, busybox_image: str, restricted_namespace: str
) -> None:
    svc = start_httpd(kubectl, restricted_namespace, busybox_image)
    cluster_ip = kubectl.json("get", "service", svc, namespace=restricted_namespace)["spec"][
        "clusterIP"
    ]
    fqdn = f"{svc}.{restricted_namespace}.svc.cluster.local"
    # busybox nslookup ignores the search path: ask for the full name; wget uses the resolver
    # (and its search path), so the short name works there.
    result = run_pod(
        restricted_namespace,
        f"nslookup {fqdn} && wget -q -O - http://{svc}/ && nslookup kubernetes.default.svc.cluster.local",
    )
    assert cluster_ip in result.logs, result.logs
    assert "hello-from-httpd" in result.logs
    assert "10.96.0.1" in result.logs


def test_pvc_binds_with_default_storageclass_and_pod_writes(
    kubectl: Kubectl, run_pod, restricted_namespace: str
) -> None:
    classes = kubectl.json("get", "storageclass")["items"]
    defaults = [
        c["metadata"]["name"]
        for c in classes
        if c["metadata"].get("annotations", {}).get("storageclass.kubernetes.io/is-default-class")
        == "true"
    ]
    assert defaults, "no default StorageClass"
    claim = unique_name("data")
    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": claim},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "16Mi"}},
            },
        },
        namespace=restricted_namespace,
    )
    result = run_pod(
        restricted_namespace,
        "echo written-by-$(id -u) > /data/probe && cat /data/probe",
        volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": claim}}],
        volume_mounts=[{"name": "data", "mountPath": "/data"}],
    )
    assert result.logs.strip() == "written-by-10001"
    pvc = kubectl.json("get", "pvc", claim, namespace=restricted_namespace)
    assert pvc["status"]["phase"] == "Bound"
    assert pvc["spec"]["storageClassName"] in defaults
    # A second pod sees the data (the volume persists across pods).
    again = run_pod(
        restricted_namespace,
        "cat /data/probe",
        volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": claim}}],
        volume_mounts=[{"name": "data", "mountPath": "/data"}],
    )
    assert again.logs.strip() == "written-by-10001"


def test_privileged_pod_rejected_in_restricted_namespace(
    kubectl: Kubectl, busybox_image: str, restricted_namespace: str
) -> None:
    name = unique_name("priv")
    pod = kubectl.pod_manifest(
        name,
        "sleep 1",
        busybox_image,
        pod_security={},
        container_security={"privileged": True},
    )
    proc = kubectl.apply(pod, namespace=restricted_namespace, check=False)
    assert proc.returncode != 0, "a privileged pod was admitted into a restricted namespace"
    assert 'violates PodSecurity "restricted' in proc.stderr, proc.stderr
    gone = kubectl("get", "pod", name, namespace=restricted_namespace, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


def test_port_forward_reaches_pod(
    kubectl: Kubectl, busybox_image: str, restricted_namespace: str
) -> None:
    svc = start_httpd(kubectl, restricted_namespace, busybox_image)
    with kubectl.port_forward(restricted_namespace, f"svc/{svc}", 80) as port:
        status, body = wait_for(
            lambda: http_get(f"http://127.0.0.1:{port}/"), 30, "the port-forward"
        )
    assert (status, body.strip()) == (200, "hello-from-httpd")
