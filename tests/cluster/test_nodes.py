"""Two nodes: the local cluster gets a second node (ci/cluster/node.sh: its own containerd,
kubelet and kube-proxy in their own network and mount namespaces), and the release, with
continuous load through its Service from this machine and every failed request counted:

1. spreads its two replicas over the two nodes (the chart's default soft anti-affinity);
2. survives `kubectl drain` of a node holding a pod: the PDB holds, 0 failed requests, the pods
   land on the other node; then uncordon;
3. in PVC mode with a ReadWriteOnce claim keeps every pod on one node (model.volume.pvc.sameNode),
   and without that guard spreads them (the host-path claims here are not attachable volumes,
   so the Multi-Attach hang the guard prevents cannot happen on this cluster: see the test);
4. with `model.prepull`, has the next model on both nodes before its rollout (the new pods
   find the image already on their node);
5. is left its node by a `make up` without NODES (one runs beside this module);
6. loses a node (every process of it killed, its pods' packets dropped): figures for how long
   until traffic is whole again and how many requests failed, and the lost pod replaced on
   the node left after the chart's `nodeFailureTolerationSeconds`.

Tests run in order and share one release; the module removes the node at the end. The second
node is tainted from its registration on and only this module's releases tolerate the taint:
the cluster suite's other lane runs beside this module (tests/conftest.py), and none of its pods
may land on a node that is drained and killed here.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from faqtest.kube import wait_for
from faqtest.lifecycle import (
    CHART,
    RELEASE,
    ROOT,
    Load,
    app_pods,
    helm,
    make_up,
    release_namespace,
)

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
NODE = "2"
TAINT_KEY = "faq-engine.test/nodes"
FIGURES: dict[str, str] = {}


def node_sh(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(["bash", str(ROOT / "ci" / "cluster" / "node.sh"), *args],
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"ci/cluster/node.sh {' '.join(args)} failed:\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def nodes(kubectl):
    """(first node, second node): the second added for this module and removed after it."""
    if os.environ.get("FAQ_CLUSTER") == "existing":
        pytest.fail("tests/cluster/test_nodes.py adds and kills a node of the local cluster "
                    "(ci/cluster/node.sh); run it without FAQ_CLUSTER=existing")
    start = time.monotonic()
    second = node_sh("add", NODE, "--taint", f"{TAINT_KEY}=only:NoSchedule").stdout.strip()
    FIGURES["node added in"] = f"{time.monotonic() - start:.0f}s"
    taints = kubectl.json("get", "node", second)["spec"].get("taints", [])
    assert [t for t in taints if t["key"] == TAINT_KEY] == [
        {"key": TAINT_KEY, "value": "only", "effect": "NoSchedule"}], taints
    first = next(n["metadata"]["name"] for n in kubectl.json("get", "nodes")["items"]
                 if n["metadata"]["name"] != second)
    try:
        yield first, second
    finally:
        node_sh("remove", NODE)
        if FIGURES:
            print("\ntwo nodes: " + "; ".join(f"{k} {v}" for k, v in FIGURES.items()))


@pytest.fixture(scope="module")
def local_chart_args(local_chart_args, nodes):
    """The session's chart arguments, plus a toleration of the second node's taint."""
    return [*local_chart_args, "--set-json",
            f'tolerations=[{{"key": "{TAINT_KEY}", "operator": "Exists", "effect": "NoSchedule"}}]']


@pytest.fixture(scope="module")
def namespace(kubectl, nodes, local_chart_args):
    with release_namespace(kubectl, "faq-nodes") as name:
        yield name


@pytest.fixture(scope="module")
def url(kubectl, namespace):
    return kubectl.service_url(namespace, RELEASE)


def node_rss_mib() -> float:
    """Resident memory of the added node's own processes (ci/cluster/node.sh's pid files)."""
    pids = Path(os.environ.get("FAQ_CLUSTER_RUN", "/run/faq-engine-cluster")) / "pids"
    total = 0
    for f in pids.glob(f"node-{NODE}-*.pid"):
        status = Path(f"/proc/{f.read_text().strip()}/status")
        if status.exists():
            total += next(int(line.split()[1]) for line in status.read_text().splitlines()
                          if line.startswith("VmRSS:"))
    return total / 1024


def pod_nodes(kubectl, namespace: str, release: str = RELEASE) -> list[str]:
    """The nodes of the release's serving pods that are Ready, sorted."""
    out = []
    for p in app_pods(kubectl, namespace, release=release):
        ready = any(c["type"] == "Ready" and c["status"] == "True"
                    for c in p["status"].get("conditions", []))
        if ready and p["spec"].get("nodeName"):
            out.append(p["spec"]["nodeName"])
    return sorted(out)


def node_ready(kubectl, node: str) -> str:
    """The status of the node's Ready condition: "True", "False" or "Unknown"."""
    conditions = kubectl.json("get", "node", node)["status"]["conditions"]
    return next(c["status"] for c in conditions if c["type"] == "Ready")


def test_1_two_replicas_spread_over_the_two_nodes(kubectl, nodes, namespace, local_chart_args):
    helm("install", RELEASE, str(CHART), "-n", namespace, *local_chart_args,
         "--set", "replicaCount=2", "--wait", "--timeout", "5m")
    assert pod_nodes(kubectl, namespace) == sorted(nodes)
    kubectl("get", "pdb", RELEASE, "-n", namespace)  # replicas > 1: the chart made its PDB


def test_2_drain_a_node_under_load(kubectl, nodes, namespace, url):
    first, second = nodes
    with Load(url, threads=2) as load:
        time.sleep(3)
        start = time.monotonic()
        proc = kubectl("drain", second, "--ignore-daemonsets", "--delete-emptydir-data",
                       "--timeout=240s", timeout=300)
        drained = time.monotonic() - start
        wait_for(lambda: pod_nodes(kubectl, namespace) == [first, first], 180,
                 "both pods Ready on the node left")
        time.sleep(5)
    try:
        assert load.result.failed == 0, load.result.summary()
        assert load.result.ok > 50, load.result.summary()
        # drain went through the Eviction API, which the PDB (maxUnavailable 1) gates
        assert "evicting pod" in proc.stdout + proc.stderr
    finally:
        kubectl("uncordon", second)
    FIGURES["drain"] = f"{drained:.0f}s, {load.result.ok} ok / {load.result.failed} failed"


def test_3_pvc_read_write_once_keeps_the_pods_on_the_claims_node(kubectl, nodes,
                                                                 local_chart_args, make_namespace):
    """The guard (on by default for a chart-created ReadWriteOnce claim) is a required
    podAffinity: every pod, surge pods included, on the node of the pod that holds the claim.

    Without it the pods spread over both nodes. On a cloud disk (attachable: EBS, PD, Azure
    Disk, most CSI block drivers) the second node's pod would then wait on "Multi-Attach error
    ... Volume is already used by pod(s)" and a rollout would hang. This cluster's claims are
    host-path volumes, which are not attachable (no VolumeAttachment, nothing to wait on), so
    here the unguarded pods start on both nodes: what the test shows is the placement the
    guard changes."""
    for same_node, want in ((None, 1), ("false", 2)):
        ns = make_namespace("faq-nodes-pvc", restricted=True)
        extra = [] if same_node is None else ["--set", f"model.volume.pvc.sameNode={same_node}"]
        helm("install", "rwo", str(CHART), "-n", ns, *local_chart_args,
             "--set", "replicaCount=2", "--set", "model.volume.type=pvc", *extra,
             "--wait", "--timeout", "5m")
        try:
            placed = pod_nodes(kubectl, ns, release="rwo")
            assert len(placed) == 2 and len(set(placed)) == want, (same_node, placed)
            if same_node is None:  # and a rollout keeps them there (surge pod included)
                kubectl("rollout", "restart", "deployment/rwo-faq-engine", "-n", ns)
                kubectl("rollout", "status", "deployment/rwo-faq-engine", "-n", ns,
                        "--timeout=300s", timeout=320)
                assert len(set(pod_nodes(kubectl, ns, release="rwo"))) == 1
        finally:
            helm("uninstall", "rwo", "-n", ns, "--wait", check=False)
            kubectl("delete", "pvc", "--all", "-n", ns, "--wait=false", check=False)


def test_4_prepull_puts_the_next_model_on_both_nodes_before_the_rollout(
        kubectl, nodes, images, push_images, local_chart_args, make_namespace):
    """model.prepull: the DaemonSet holds the model image on every node; on `helm upgrade` its
    pre-upgrade hook rolls it to the new image and waits for every node to hold it, so the new
    pods' model init containers find the image already on their node, on both nodes."""
    model_11 = push_images(images["model-1.1"])[images["model-1.1"]]
    tag_11 = model_11.rsplit("/", 1)[1].split(":", 1)[1]  # 1.1@sha256:...
    ns = make_namespace("faq-nodes-prepull", restricted=True)
    ds = "pre-faq-engine-model-prepull"

    def holders(tag: str):  # nodes where a Ready holder of the model `tag` runs
        pods = kubectl.json("get", "pods", "-l", "app.kubernetes.io/component=model-prepull",
                            namespace=ns)["items"]
        return sorted(p["spec"]["nodeName"] for p in pods
                      if not p["metadata"].get("deletionTimestamp")
                      and p["spec"]["containers"][0]["image"].endswith(tag)
                      and all(c.get("ready") for c in p["status"].get("containerStatuses", [])))

    helm("install", "pre", str(CHART), "-n", ns, *local_chart_args, "--set", "replicaCount=2",
         "--set", "model.prepull.enabled=true", "--wait", "--timeout", "5m")
    try:
        tag_10 = next(a.split("=", 1)[1] for a in local_chart_args if a.startswith("model.tag="))
        wait_for(lambda: holders(tag_10) == sorted(nodes), 120, "a 1.0 holder on each node")
        start = time.monotonic()
        helm("upgrade", "pre", str(CHART), "-n", ns, "--reuse-values", "--set-string",
             f"model.tag={tag_11}", "--wait", "--timeout", "8m", timeout=600)
        FIGURES["prepull upgrade"] = f"{time.monotonic() - start:.0f}s"
        assert holders(tag_11) == sorted(nodes), kubectl.json("get", "daemonset", ds, namespace=ns)
        pods = app_pods(kubectl, ns, release="pre")
        assert sorted(p["spec"]["nodeName"] for p in pods) == sorted(nodes)
        for pod in pods:
            init = next(c for c in pod["spec"]["initContainers"] if c["name"] == "model")
            assert init["image"].endswith(tag_11), init["image"]
            events = kubectl("get", "events", "-n", ns, "--field-selector",
                             f"involvedObject.name={pod['metadata']['name']}",
                             "-o", "jsonpath={range .items[*]}{.reason}: {.message}{'\\n'}{end}"
                             ).stdout
            pulled = [e for e in events.splitlines() if "initContainers{model}" in e
                      or ("model" in e and e.startswith(("Pulled", "Pulling")))]
            assert any("already present on machine" in e for e in pulled), (pod["spec"]["nodeName"], events)
            assert not any(e.startswith("Pulling") for e in pulled), events
    finally:
        helm("uninstall", "pre", "-n", ns, "--wait", check=False)


def test_5_make_up_keeps_the_added_node(kubectl, nodes):
    """`make up` without NODES leaves the nodes added earlier as they are. The cluster suite's
    other lane runs it (tests/cluster/test_helm4.py) while this module holds its node; when NODES
    defaulted to 1 that `make up` removed the node under the node-loss test below."""
    second = nodes[1]
    with release_namespace(kubectl, "faq-nodes-up", release="up") as ns:
        res = make_up(ns, release="up")
        assert res.returncode == 0, res.stderr[-4000:]
    assert node_sh("list").stdout.split() == [NODE]
    assert node_ready(kubectl, second) == "True"
    assert f"keeping node(s) {NODE} added earlier" in res.stderr, res.stderr[-2000:]


def test_6_node_loss_under_load(kubectl, nodes, namespace, url):
    first, second = nodes
    # One pod back on the second node: delete one of the two on the first; the soft
    # anti-affinity places its replacement on the node with none.
    def spread():
        if pod_nodes(kubectl, namespace) == sorted(nodes):
            return True
        pods = app_pods(kubectl, namespace)
        if len(pods) == 2 and all(p["spec"].get("nodeName") == first for p in pods):
            kubectl("delete", "pod", pods[0]["metadata"]["name"], "-n", namespace, "--wait=false")
        return False
    wait_for(spread, 240, "a pod on each node again", interval=3)
    FIGURES["its containerd, kubelet and kube-proxy"] = f"{node_rss_mib():.0f} MiB RSS"
    lost_pod = next(p["metadata"]["name"] for p in app_pods(kubectl, namespace)
                    if p["spec"]["nodeName"] == second)

    def whole():  # every Ready endpoint on the first node, and two of them
        return pod_nodes(kubectl, namespace) == [first, first]

    def endpoint_ready(pod_ip: str):
        for es in kubectl.json("get", "endpointslices", namespace=namespace)["items"]:
            for e in es.get("endpoints") or []:
                if pod_ip in e["addresses"]:
                    return e["conditions"].get("ready")
        return None

    lost_ip = next(p["status"]["podIP"] for p in app_pods(kubectl, namespace)
                   if p["metadata"]["name"] == lost_pod)
    with Load(url, threads=2, max_seconds=600) as load:
        time.sleep(3)
        t0 = time.monotonic()
        node_sh("kill", NODE)
        not_ready = wait_for(lambda: node_ready(kubectl, second) != "True" and time.monotonic(),
                             180, f"node {second} NotReady")
        out = wait_for(lambda: endpoint_ready(lost_ip) is not True and time.monotonic(), 60,
                       f"the lost pod's endpoint {lost_ip} out of the Service")
        wait_for(whole, 300, "a replacement pod Ready on the first node", interval=1)
        replaced = time.monotonic()
        time.sleep(10)
    r = load.result
    stale = subprocess.run(["conntrack", "-L", "-p", "tcp", "--reply-src", lost_ip],
                           capture_output=True, text=True).stdout.count("SYN_SENT")
    late = [t for t in r.failed_at if t > out + 6]  # sent after the endpoint was out
    FIGURES["node loss"] = (
        f"NotReady after {not_ready - t0:.0f}s, its endpoint out at {out - t0:.0f}s, "
        f"replacement Ready at {replaced - t0:.0f}s; {r.failed} of {r.ok + r.failed} requests "
        f"failed (each waited out its 5 s timeout), {len(late)} of them sent after the endpoint "
        f"was out (connections still tracked to the lost pod: {stale} in SYN_SENT)")
    print(f"\nnode loss: {FIGURES['node loss']}; failures at "
          f"{[round(t - t0) for t in r.failed_at]} s; first errors: {r.errors[:3]}")
    # The control plane notices (node-monitor-grace-period, 50 s), takes the lost pod out of
    # the Service at once, and replaces it after nodeFailureTolerationSeconds (30 s).
    assert not_ready - t0 < 120
    assert out - not_ready < 15
    assert replaced - not_ready < 30 + 90
    assert r.ok > 100, r.summary()
    assert lost_pod not in [p["metadata"]["name"] for p in app_pods(kubectl, namespace)]
