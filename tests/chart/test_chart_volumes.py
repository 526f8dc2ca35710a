"""Render tests of the model volume modes: emptyDir, PVC (created, existing, ReadWriteOnce on
one node), image volume; spreading pods and leases on a shared claim."""

from __future__ import annotations

import pytest

from faqtest.chart import CHART, LOCAL_MODEL, container, env, mounts, volumes

DIGEST = "sha256:" + "ab" * 32
SELECTOR = {"app.kubernetes.io/name": "faq-engine", "app.kubernetes.io/instance": "rel"}


def test_default_is_emptydir_with_model_init_container(render):
    m = render()
    pod = m.pod
    init = container(pod, "model", init=True)
    assert init["image"] == f"{LOCAL_MODEL}:1.0"
    assert init["imagePullPolicy"] == "IfNotPresent"
    assert "command" not in init and "args" not in init  # the image's own entrypoint
    assert env(init) == {"MODEL_TARGET": "/models", "MODEL_LINK": "/models/current",
                         "MODEL_KEEP": "3", "MODEL_FORCE_VERIFY": "0"}
    assert mounts(init) == {"/models": {"name": "model", "mountPath": "/models"}}
    assert volumes(pod)["model"] == {"name": "model", "emptyDir": {"sizeLimit": "1Gi"}}
    app = m.app
    assert mounts(app)["/models"] == {"name": "model", "mountPath": "/models", "readOnly": True}
    assert mounts(app)["/tmp"]["name"] == "tmp"
    assert volumes(pod)["tmp"]["emptyDir"] == {"sizeLimit": "64Mi"}
    assert app["envFrom"] == [{"configMapRef": {"name": "rel-faq-engine"}}]
    assert m.one("ConfigMap")["data"]["MODEL_DIR"] == "/models/current"
    assert not m.kind("PersistentVolumeClaim")
    assert app["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]


def test_emptydir_size_and_medium(render):
    pod = render(sets=["model.volume.emptyDir.medium=Memory",
                       "model.volume.emptyDir.sizeLimit=300Mi"]).pod
    assert volumes(pod)["model"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "300Mi"}
    pod = render(values={"model": {"volume": {"emptyDir": {"sizeLimit": None}}}}).pod
    assert volumes(pod)["model"]["emptyDir"] == {}


MI = 1024 * 1024


@pytest.mark.parametrize("size, init_limit, app_limit, app_request", [
    ("200Mi", "328Mi", "1224Mi", "456Mi"),  # the issue's ~200 MB model
    ("1Gi", "1152Mi", "2048Mi", "1280Mi"),
    ("500M", "605Mi", "1501Mi", "733Mi"),  # 500e6 bytes = 476.8Mi, rounded up
])
def test_memory_medium_counts_the_model_in_the_memory_limits(render, size, init_limit,
                                                             app_limit, app_request):
    """tmpfs pages are charged to the memory cgroup of the container writing them (the model
    init container, 128Mi by default) and then to the pod: a model in a Memory emptyDir must
    fit in both limits on top of what each container needs for itself."""
    pod = render(sets=["model.volume.emptyDir.medium=Memory",
                       f"model.volume.emptyDir.sizeLimit={size}"]).pod
    init = container(pod, "model", init=True)
    assert init["resources"]["limits"]["memory"] == init_limit
    assert init["resources"]["requests"] == {"cpu": "50m", "memory": "32Mi"}
    app = container(pod, "app")
    assert app["resources"]["limits"]["memory"] == app_limit
    assert app["resources"]["requests"]["memory"] == app_request


def test_disk_medium_keeps_the_configured_memory(render):
    pod = render(sets=["model.volume.emptyDir.sizeLimit=5Gi"]).pod
    assert container(pod, "model", init=True)["resources"]["limits"]["memory"] == "128Mi"
    assert container(pod, "app")["resources"]["limits"]["memory"] == "1Gi"
    pod = render(sets=["model.volume.emptyDir.medium=Memory", "model.volume.type=pvc"]).pod
    assert container(pod, "model", init=True)["resources"]["limits"]["memory"] == "128Mi"


def test_memory_medium_without_memory_limits_stays_unlimited(render):
    pod = render(values={"model": {"initResources": {"limits": None},
                                   "volume": {"emptyDir": {"medium": "Memory"}}},
                         "resources": None}).pod
    assert "limits" not in container(pod, "model", init=True)["resources"]
    assert "resources" not in container(pod, "app")


def test_pvc_created_by_chart(render):
    m = render(values={"model": {"volume": {"type": "pvc", "pvc": {
        "size": "3Gi", "storageClass": "fast", "accessModes": ["ReadWriteMany"]}}}})
    pvc = m.one("PersistentVolumeClaim", "rel-faq-engine-model")
    assert pvc["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    assert pvc["spec"] == {"accessModes": ["ReadWriteMany"], "storageClassName": "fast",
                           "resources": {"requests": {"storage": "3Gi"}}}
    pod = m.pod
    assert volumes(pod)["model"]["persistentVolumeClaim"] == {"claimName": "rel-faq-engine-model"}
    assert volumes(pod)["model-link"]["emptyDir"] is not None
    init = container(pod, "model", init=True)
    assert env(init)["MODEL_LINK"] == "/run/model/current"
    assert env(init)["MODEL_TARGET"] == "/models"
    assert set(mounts(init)) == {"/models", "/run/model"}
    assert not any(mt.get("readOnly") for mt in mounts(init).values())
    app = mounts(m.app)
    assert app["/models"]["readOnly"] is True and app["/run/model"]["readOnly"] is True
    assert app["/run/model"]["name"] == "model-link"
    assert m.one("ConfigMap")["data"]["MODEL_DIR"] == "/run/model/current"


def test_pvc_defaults_and_no_keep(render):
    m = render(sets=["model.volume.type=pvc", "model.volume.pvc.keepOnUninstall=false"])
    pvc = m.one("PersistentVolumeClaim")
    assert "annotations" not in pvc["metadata"]
    assert "storageClassName" not in pvc["spec"]  # cluster default
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert pvc["spec"]["resources"]["requests"]["storage"] == "2Gi"


def test_pvc_existing_claim(render):
    m = render(sets=["model.volume.type=pvc", "model.volume.pvc.existingClaim=models"])
    assert not m.kind("PersistentVolumeClaim")
    assert volumes(m.pod)["model"]["persistentVolumeClaim"] == {"claimName": "models"}


HOSTNAME_AFFINITY = {"topologyKey": "kubernetes.io/hostname",
                     "labelSelector": {"matchLabels": SELECTOR}}
SERVER_SPREAD = {"topologyKey": "kubernetes.io/hostname", "labelSelector": {
    "matchLabels": {**SELECTOR, "app.kubernetes.io/component": "server"}}}


def test_pvc_rwo_rollout_keeps_pods_on_the_claims_node(render):
    """ReadWriteOnce attaches to one node: with maxSurge 1 (and a canary), every pod of the
    release, surge pods included, must be required onto the node the other pods (and so the
    volume) are on, else the surge pod can wait on Multi-Attach forever."""
    m = render(files=[CHART / "ci" / "pvc-values.yaml"], sets=["canary.enabled=true"])
    assert m.one("PersistentVolumeClaim")["spec"]["accessModes"] == ["ReadWriteOnce"]
    for dep in m.kind("Deployment"):
        assert dep["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 1
        tpl = dep["spec"]["template"]
        terms = tpl["spec"]["affinity"]["podAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"]
        assert terms == [HOSTNAME_AFFINITY], dep["metadata"]["name"]
        # The term selects the pods of both tracks (old, surge and canary pods alike).
        for other in m.kind("Deployment"):
            labels = other["spec"]["template"]["metadata"]["labels"]
            assert all(labels[k] == v for k, v in terms[0]["labelSelector"]["matchLabels"].items())


def test_pvc_same_node_merges_with_user_affinity(render):
    aff = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "disk", "operator": "Exists"}]}]}},
        "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"topologyKey": "zone", "labelSelector": {"matchLabels": {"app": "cache"}}}]}}
    pod = render(values={"model": {"volume": {"type": "pvc"}}, "affinity": aff}).pod
    assert pod["affinity"]["nodeAffinity"] == aff["nodeAffinity"]
    assert pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == [
        aff["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0], HOSTNAME_AFFINITY]


@pytest.mark.parametrize("pvc, same_node", [
    ({}, True),  # the default claim: ReadWriteOnce
    ({"accessModes": ["ReadWriteMany"]}, False),
    ({"accessModes": ["ReadWriteOnce", "ReadOnlyMany"]}, False),
    ({"sameNode": False}, False),
    ({"existingClaim": "shared"}, False),  # its modes are unknown: the user says
    ({"existingClaim": "mine", "sameNode": True}, True),
])
def test_pvc_same_node_follows_the_access_modes(render, pvc, same_node):
    pod = render(values={"model": {"volume": {"type": "pvc", "pvc": pvc}}}).pod
    assert ("podAffinity" in pod["affinity"]) is same_node
    # Pods that share a node are not spread over nodes (the default soft anti-affinity).
    assert ("podAntiAffinity" in pod["affinity"]) is not same_node
    if same_node:
        assert pod["affinity"]["podAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"] == [HOSTNAME_AFFINITY]


def test_no_same_node_outside_pvc_mode(render):
    pod = render(values={"model": {"volume": {"pvc": {"sameNode": True}}}}).pod
    assert "podAffinity" not in pod["affinity"]


SPREAD = {"weight": 100, "podAffinityTerm": SERVER_SPREAD}


def test_pods_spread_over_nodes_by_default(render):
    """kube-score's deployment-has-host-podantiaffinity: replicas (and the canary) prefer
    distinct nodes, so one node's loss does not take every replica."""
    m = render(sets=["replicaCount=3", "canary.enabled=true"])
    for dep in m.kind("Deployment"):
        assert dep["spec"]["template"]["spec"]["affinity"] == {"podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [SPREAD]}}
    pod = render(sets=["podAntiAffinityPreset=hard"]).pod
    assert pod["affinity"] == {"podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [SERVER_SPREAD]}}
    assert "affinity" not in render(sets=["podAntiAffinityPreset="]).pod
    own = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 5, "podAffinityTerm": {"topologyKey": "zone"}}]}}
    assert render(values={"affinity": own}).pod["affinity"] == own  # the user's wins


def test_hard_spread_contradicts_same_node(render_error):
    err = render_error(sets=["model.volume.type=pvc", "podAntiAffinityPreset=hard"])
    assert "podAntiAffinityPreset=hard" in err and "model.volume.pvc.sameNode" in err, err


@pytest.mark.parametrize("values", [
    {},  # RollingUpdate with maxSurge 1
    {"strategy": {"type": "Recreate", "rollingUpdate": None}, "replicaCount": 2},
    {"strategy": {"type": "Recreate", "rollingUpdate": None}, "canary": {"enabled": True}},
])
def test_pvc_read_write_once_pod_needs_a_single_recreated_pod(render_error, values):
    values = {**values, "model": {"volume": {"type": "pvc",
                                             "pvc": {"accessModes": ["ReadWriteOncePod"]}}}}
    err = render_error(values=values)
    assert "model.volume.pvc.accessModes ReadWriteOncePod" in err, err


def test_pvc_read_write_once_pod_with_recreate(render):
    m = render(values={"strategy": {"type": "Recreate", "rollingUpdate": None},
                       "model": {"volume": {"type": "pvc",
                                            "pvc": {"accessModes": ["ReadWriteOncePod"]}}}})
    assert m.deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_image_volume_has_no_init_container(render):
    m = render(sets=["model.volume.type=image", "model.pullPolicy=Always"], kube_version="1.35.0")
    pod = m.pod
    assert "initContainers" not in pod
    assert volumes(pod)["model"] == {"name": "model", "image": {
        "reference": f"{LOCAL_MODEL}:1.0", "pullPolicy": "Always"}}
    assert mounts(m.app)["/models/current"] == {
        "name": "model", "mountPath": "/models/current", "subPath": "model", "readOnly": True}
    assert m.one("ConfigMap")["data"]["MODEL_DIR"] == "/models/current"
    assert not m.kind("PersistentVolumeClaim")


def test_image_volume_with_digest_and_extra_init(render):
    m = render(values={"model": {"tag": f"1.0@{DIGEST}", "volume": {"type": "image"}},
                       "extraInitContainers": [{"name": "x", "image": "busybox:1"}]},
               kube_version="1.36.0")
    assert [c["name"] for c in m.pod["initContainers"]] == ["x"]
    assert volumes(m.pod)["model"]["image"]["reference"] == f"{LOCAL_MODEL}:1.0@{DIGEST}"


def test_image_volume_needs_kubernetes_1_35(render_error):
    err = render_error(sets=["model.volume.type=image"], kube_version="1.34.4")
    assert "model.volume.type=image needs Kubernetes >= 1.35" in err

def test_canary_in_image_mode_mounts_its_own_model(render):
    deps = render(sets=["model.volume.type=image", "canary.enabled=true",
                        "canary.model.tag=1.1"], kube_version="1.35.0").deployments()
    refs = {n: volumes(d["spec"]["template"]["spec"])["model"]["image"]["reference"]
            for n, d in deps.items()}
    assert refs == {"rel-faq-engine": f"{LOCAL_MODEL}:1.0",
                    "rel-faq-engine-canary": f"{LOCAL_MODEL}:1.1"}


def test_pvc_pods_hold_a_lease_on_their_model_version(render):
    """On a shared claim each pod keeps its version from being pruned for its whole life,
    app container restarts included: a native sidecar runs `model-copy hold` (issue 12 item 6).
    A per-pod emptyDir or an image volume needs none."""
    m = render(sets=["model.volume.type=pvc"])
    pod = m.pod
    lease = container(pod, "model-lease", init=True)
    assert [c["name"] for c in pod["initContainers"]][:2] == ["model", "model-lease"]
    assert lease["restartPolicy"] == "Always" and lease["args"] == ["hold"]
    assert lease["image"] == container(pod, "model", init=True)["image"]
    assert env(lease)["MODEL_TARGET"] == "/models"
    assert set(mounts(lease)) == {"/models/.leases"}  # leases only (test_chart_hardening.py)
    assert lease["securityContext"]["readOnlyRootFilesystem"] is True
    for mode in ("emptyDir", "image"):
        pod = render(sets=[f"model.volume.type={mode}"]).pod
        assert "model-lease" not in [c["name"] for c in pod.get("initContainers", [])]
