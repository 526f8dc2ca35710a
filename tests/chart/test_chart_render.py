"""Render tests: the real `helm template` for every mode and option of the chart."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from chart_helpers import (
    CHART,
    CHART_META,
    CI_VALUES,
    LOCAL_APP,
    LOCAL_IMAGES,
    LOCAL_MODEL,
    container,
    env,
    mounts,
    run,
    volumes,
)

DIGEST = "sha256:" + "ab" * 32
DIGEST2 = "sha256:" + "cd" * 32
SELECTOR = {"app.kubernetes.io/name": "faq-engine", "app.kubernetes.io/instance": "rel"}


# --- model volume modes -------------------------------------------------------------------

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


SPREAD = {"weight": 100, "podAffinityTerm": HOSTNAME_AFFINITY}


def test_pods_spread_over_nodes_by_default(render):
    """kube-score's deployment-has-host-podantiaffinity: replicas (and the canary) prefer
    distinct nodes, so one node's loss does not take every replica."""
    m = render(sets=["replicaCount=3", "canary.enabled=true"])
    for dep in m.kind("Deployment"):
        assert dep["spec"]["template"]["spec"]["affinity"] == {"podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [SPREAD]}}
    pod = render(sets=["podAntiAffinityPreset=hard"]).pod
    assert pod["affinity"] == {"podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [HOSTNAME_AFFINITY]}}
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
    m = render(values={"model": {"digest": DIGEST, "volume": {"type": "image"}},
                       "extraInitContainers": [{"name": "x", "image": "busybox:1"}]},
               kube_version="1.36.0")
    assert [c["name"] for c in m.pod["initContainers"]] == ["x"]
    assert volumes(m.pod)["model"]["image"]["reference"] == f"{LOCAL_MODEL}:1.0@{DIGEST}"


def test_image_volume_needs_kubernetes_1_35(render_error):
    err = render_error(sets=["model.volume.type=image"], kube_version="1.34.4")
    assert "model.volume.type=image needs Kubernetes >= 1.35" in err


# --- image references ---------------------------------------------------------------------

@pytest.mark.parametrize("sets, expected", [
    ([], f"{LOCAL_MODEL}:1.0"),
    (["model.tag=1.1"], f"{LOCAL_MODEL}:1.1"),
    (["model.tag=2"], f"{LOCAL_MODEL}:2"),  # --set makes it an integer
    ([f"model.digest={DIGEST}"], f"{LOCAL_MODEL}:1.0@{DIGEST}"),  # digest decides
    (["model.repository=reg.example.com:5000/ml/faq-model", "model.tag=v3"],
     "reg.example.com:5000/ml/faq-model:v3"),
    (["model.tag=", f"model.digest={DIGEST}"], f"{LOCAL_MODEL}@{DIGEST}"),
])
def test_model_reference(render, sets, expected):
    assert container(render(sets=sets).pod, "model", init=True)["image"] == expected


@pytest.mark.parametrize("sets, expected", [
    ([], f"{LOCAL_APP}:1.0.0"),  # the local images' tag
    (["image.tag=1.2.3"], f"{LOCAL_APP}:1.2.3"),
    (["image.tag=1.2.3", f"image.digest={DIGEST}"], f"{LOCAL_APP}:1.2.3@{DIGEST}"),
    ([f"image.digest={DIGEST}"], f"{LOCAL_APP}:1.0.0@{DIGEST}"),  # tag + digest
])
def test_app_image_reference(render, sets, expected):
    m = render(sets=sets + ["image.pullPolicy=Always"])
    assert m.app["image"] == expected and m.app["imagePullPolicy"] == "Always"
    assert m.test_pod["spec"]["containers"][0]["image"] == expected


# --- rollout trigger ----------------------------------------------------------------------

def _template(m):
    return json.dumps(m.deployment["spec"]["template"], sort_keys=True)


@pytest.mark.parametrize("sets", [
    ["model.tag=1.1"],
    [f"model.digest={DIGEST}"],
    ["gunicorn.workers=4"],
    ["gunicorn.gracefulTimeout=20"],
    ["logLevel=DEBUG"],
    ["model.volume.emptyDir.sizeLimit=2Gi"],
    ["image.tag=1.0.1"],
])
def test_change_rolls_the_pods(render, sets):
    assert _template(render()) != _template(render(sets=sets))


def test_digest_change_rolls_the_pods(render):
    a = render(sets=[f"model.digest={DIGEST}"])
    b = render(sets=[f"model.digest={DIGEST2}"])
    assert _template(a) != _template(b)


def test_config_change_changes_checksum(render):
    def checksum(m):
        return m.deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    base = render()
    assert len(checksum(base)) == 64
    assert checksum(base) == checksum(render())  # stable across renders
    assert checksum(base) != checksum(render(sets=["gunicorn.threads=8"]))
    assert checksum(base) != checksum(render(sets=["model.volume.type=pvc"]))


def test_unrelated_change_keeps_pod_template(render):
    assert _template(render()) == _template(render(sets=["ingress.enabled=true",
                                                         "service.port=8081"]))


# --- canary -------------------------------------------------------------------------------

def test_canary_deployment(render):
    m = render(sets=["replicaCount=3", "canary.enabled=true", "canary.replicaCount=1",
                     "canary.model.tag=1.1"])
    deps = m.deployments()
    assert set(deps) == {"rel-faq-engine", "rel-faq-engine-canary"}
    stable, canary = deps["rel-faq-engine"], deps["rel-faq-engine-canary"]
    assert stable["spec"]["replicas"] == 3 and canary["spec"]["replicas"] == 1
    for dep, track in ((stable, "stable"), (canary, "canary")):
        sel = dep["spec"]["selector"]["matchLabels"]
        assert sel == {**SELECTOR, "app.kubernetes.io/track": track}
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert all(labels[k] == v for k, v in sel.items())
    assert container(stable["spec"]["template"]["spec"], "model", True)["image"].endswith(":1.0")
    assert container(canary["spec"]["template"]["spec"], "model", True)["image"].endswith(":1.1")
    # Same pod spec otherwise.
    s, c = stable["spec"]["template"]["spec"], canary["spec"]["template"]["spec"]
    assert s["containers"] == c["containers"]
    # The Service selects both tracks.
    assert m.one("Service")["spec"]["selector"] == {**SELECTOR, "app.kubernetes.io/component": "server"}
    # The test pod accepts either version.
    assert env(m.test_pod["spec"]["containers"][0])["EXPECTED_MODEL_VERSIONS"] == "1.0,1.1"


def test_canary_with_autoscaling_keeps_its_replicas(render):
    deps = render(sets=["autoscaling.enabled=true", "canary.enabled=true",
                        "canary.replicaCount=2"]).deployments()
    assert "replicas" not in deps["rel-faq-engine"]["spec"]
    assert deps["rel-faq-engine-canary"]["spec"]["replicas"] == 2
    m = render(sets=["autoscaling.enabled=true", "canary.enabled=true"])
    hpa = m.one("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "rel-faq-engine"


@pytest.mark.parametrize("values, stable, canary", [
    ({"canary": {"enabled": True}}, ":1.0", ":1.0"),  # nothing set: the stable model
    ({"model": {"digest": DIGEST}, "canary": {"enabled": True, "model": {"tag": "1.1"}}},
     f":1.0@{DIGEST}", ":1.1"),  # the canary's tag is not overridden by the stable digest
    ({"canary": {"enabled": True, "model": {"tag": "1.1", "digest": DIGEST2}}},
     ":1.0", f":1.1@{DIGEST2}"),
    ({"canary": {"enabled": True, "model": {"repository": "other/model", "tag": "9"}}},
     ":1.0", "other/model:9"),
])
def test_canary_model_reference(render, values, stable, canary):
    deps = render(values=values).deployments()
    img = {n: container(d["spec"]["template"]["spec"], "model", True)["image"]
           for n, d in deps.items()}
    assert img["rel-faq-engine"].endswith(stable)
    assert img["rel-faq-engine-canary"].endswith(canary)


def test_canary_off_by_default(render):
    assert list(render().deployments()) == ["rel-faq-engine"]


def test_canary_name_fits_63_chars(render):
    m = render(sets=["fullnameOverride=" + "x" * 70, "canary.enabled=true"])
    names = list(m.deployments())
    assert all(len(n) <= 63 for n in names) and any(n.endswith("-canary") for n in names)


# --- replicas, PDB, HPA -------------------------------------------------------------------

def test_no_pdb_for_one_replica(render):
    assert not render().kind("PodDisruptionBudget")


def test_pdb_when_more_than_one_replica(render):
    m = render(sets=["replicaCount=2"])
    pdb = m.one("PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == {**SELECTOR,
                                                      "app.kubernetes.io/track": "stable"}
    pdb = render(sets=["replicaCount=3", "pdb.minAvailable=2"]).one("PodDisruptionBudget")
    assert pdb["spec"] == {**pdb["spec"], "minAvailable": 2} and "maxUnavailable" not in pdb["spec"]
    assert not render(sets=["replicaCount=3", "pdb.enabled=false"]).kind("PodDisruptionBudget")


def test_pdb_lets_drain_evict_unready_pods(render):
    """With every pod unready (e.g. a model that fails to load) `kubectl drain` must not block."""
    pdb = render(sets=["replicaCount=2"]).one("PodDisruptionBudget")
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    pdb = render(sets=["replicaCount=2", "pdb.unhealthyPodEvictionPolicy=IfHealthyBudget"]).one(
        "PodDisruptionBudget")
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "IfHealthyBudget"


def test_hpa_drops_replicas(render):
    m = render(sets=["autoscaling.enabled=true", "replicaCount=4",
                     "autoscaling.minReplicas=2", "autoscaling.maxReplicas=7"])
    assert "replicas" not in m.deployment["spec"]
    hpa = m.one("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["minReplicas"] == 2 and hpa["spec"]["maxReplicas"] == 7
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": "rel-faq-engine"}
    assert [x["resource"]["name"] for x in hpa["spec"]["metrics"]] == ["cpu"]
    assert m.kind("PodDisruptionBudget")  # autoscaled: a PDB
    assert not render().kind("HorizontalPodAutoscaler")
    assert render().deployment["spec"]["replicas"] == 1


# --- security -----------------------------------------------------------------------------

def assert_restricted(pod_spec: dict, where: str):
    """Pod Security Standard "restricted" (v1.30+) checks, per container."""
    psc = pod_spec.get("securityContext") or {}
    assert not pod_spec.get("hostNetwork") and not pod_spec.get("hostPID")
    assert not pod_spec.get("hostIPC")
    for v in pod_spec.get("volumes") or []:
        assert set(v) - {"name"} <= {"emptyDir", "persistentVolumeClaim", "configMap", "secret",
                                     "projected", "downwardAPI", "image", "ephemeral", "csi"}, v
    for c in (pod_spec.get("initContainers") or []) + pod_spec["containers"]:
        sc = c.get("securityContext") or {}
        label = f"{where}/{c['name']}"
        assert sc.get("allowPrivilegeEscalation") is False, label
        assert "ALL" in sc.get("capabilities", {}).get("drop", []), label
        assert not sc.get("capabilities", {}).get("add"), label
        assert not sc.get("privileged"), label
        assert sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, label
        assert sc.get("runAsUser", psc.get("runAsUser", 1)) != 0, label
        prof = sc.get("seccompProfile") or psc.get("seccompProfile") or {}
        assert prof.get("type") in ("RuntimeDefault", "Localhost"), label
        assert sc.get("readOnlyRootFilesystem") is True, label  # our own default, beyond PSS


@pytest.mark.parametrize("sets", [[], ["model.volume.type=pvc"], ["canary.enabled=true"]])
def test_restricted_security_context_everywhere(render, sets):
    m = render(sets=sets)
    for d in m.kind("Deployment"):
        assert_restricted(d["spec"]["template"]["spec"], d["metadata"]["name"])
        assert container(d["spec"]["template"]["spec"], "model", init=True)
    assert_restricted(m.test_pod["spec"], "test")


def test_pod_security_context(render):
    m = render()
    psc = m.pod["securityContext"]
    assert psc["runAsNonRoot"] is True
    assert psc["runAsUser"] == psc["runAsGroup"] == psc["fsGroup"] == 10001
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
    for c in m.pod["initContainers"] + m.pod["containers"]:
        assert c["securityContext"]["runAsUser"] == 10001
    assert m.pod["automountServiceAccountToken"] is False
    assert m.pod["serviceAccountName"] == "rel-faq-engine"
    sa = m.one("ServiceAccount")
    assert sa["automountServiceAccountToken"] is False
    assert m.test_pod["spec"]["automountServiceAccountToken"] is False


def test_restricted_in_image_mode(render):
    m = render(sets=["model.volume.type=image"], kube_version="1.35.0")
    assert_restricted(m.pod, "image-mode")


def test_service_account_not_created(render):
    m = render(sets=["serviceAccount.create=false"])
    assert not m.kind("ServiceAccount")
    assert m.pod["serviceAccountName"] == "default"
    m = render(sets=["serviceAccount.name=faq", "serviceAccount.annotations.a=b"])
    assert m.one("ServiceAccount", "faq")["metadata"]["annotations"] == {"a": "b"}
    assert m.pod["serviceAccountName"] == "faq"


# --- probes, lifecycle, rollout -----------------------------------------------------------

def test_default_probes(render):
    app = render().app
    assert app["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    start = app["startupProbe"]
    assert start["periodSeconds"] * start["failureThreshold"] >= 120  # covers model load
    assert app["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert app["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_probes_overridable(render):
    app = render(values={
        "startupProbe": {"failureThreshold": 300, "periodSeconds": 1},
        "readinessProbe": {"httpGet": None, "exec": {"command": ["true"]}},
        "livenessProbe": None,
    }).app
    assert app["startupProbe"]["failureThreshold"] == 300
    assert app["startupProbe"]["periodSeconds"] == 1
    assert app["readinessProbe"] == {"exec": {"command": ["true"]}, "failureThreshold": 2,
                                     "periodSeconds": 5, "timeoutSeconds": 2}
    assert "livenessProbe" not in app


def test_rolling_update_and_graceful_shutdown(render):
    m = render()
    spec = m.deployment["spec"]
    assert spec["strategy"] == {"type": "RollingUpdate",
                                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    pod = m.pod
    grace = pod["terminationGracePeriodSeconds"]
    cmd = m.app["lifecycle"]["preStop"]["exec"]["command"]
    assert cmd[0] == "sleep"
    pause = int(cmd[1])
    graceful = int(m.one("ConfigMap")["data"]["GUNICORN_GRACEFUL_TIMEOUT"])
    assert pause > 0 and graceful < grace - pause


def test_lifecycle_and_grace_configurable(render):
    m = render(values={"lifecycle": {"preStop": {"exec": {"command": ["sleep", "3"]}}},
                       "terminationGracePeriodSeconds": 90,
                       "gunicorn": {"gracefulTimeout": 60}})
    assert m.app["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "3"]
    assert m.pod["terminationGracePeriodSeconds"] == 90


def test_graceful_timeout_must_fit_in_grace_period(render_error):
    err = render_error(sets=["gunicorn.gracefulTimeout=40", "terminationGracePeriodSeconds=40"])
    assert "gunicorn.gracefulTimeout" in err


@pytest.mark.parametrize("values, numbers", [
    # The issue's case: 35 s drain + 10 s default pause do not fit a 40 s grace period.
    ({"gunicorn": {"gracefulTimeout": 35}}, "(35 s)"),
    ({"gunicorn": {"gracefulTimeout": 30}}, "(30 s)"),  # 30 + 10 = 40: no time left to exit
    ({"lifecycle": {"preStop": {"sleep": {"seconds": 20}}}}, "(20 s)"),  # native sleep action
    ({"lifecycle": {"preStop": {"exec": {"command": ["sh", "-c", "sleep 16"]}}}}, "(16 s)"),
    ({"lifecycle": {"preStop": {"exec": {"command": ["/bin/sleep", "15"]}}}}, "(15 s)"),
    ({"terminationGracePeriodSeconds": 30}, "(30 s)"),
])
def test_prestop_pause_plus_graceful_timeout_must_fit_in_grace_period(render_error, values,
                                                                       numbers):
    err = render_error(values=values)
    for key in ("gunicorn.gracefulTimeout", "lifecycle.preStop", "terminationGracePeriodSeconds"):
        assert key in err, err
    assert numbers in err, err


@pytest.mark.parametrize("values", [
    {"gunicorn": {"gracefulTimeout": 29}},  # 29 + 10 < 40
    {"lifecycle": {"preStop": {"sleep": {"seconds": 14}}}},  # 14 + 25 < 40
    {"lifecycle": None, "gunicorn": {"gracefulTimeout": 39}},  # no pause at all
    {"lifecycle": {"preStop": {"exec": {"command": ["/bin/drain-hook"]}}},
     "gunicorn": {"gracefulTimeout": 39}},  # unknown length: counted as 0
])
def test_prestop_pause_plus_graceful_timeout_that_fit_render(render, values):
    render(values=values)


def test_gunicorn_settings_reach_the_env(render):
    data = render(sets=["gunicorn.workers=5", "gunicorn.threads=3", "gunicorn.timeout=61",
                        "gunicorn.gracefulTimeout=17", "logLevel=WARNING",
                        "containerPort=9000"]).one("ConfigMap")["data"]
    assert data == {"MODEL_DIR": "/models/current", "PORT": "9000", "WEB_CONCURRENCY": "5",
                    "GUNICORN_THREADS": "3", "GUNICORN_TIMEOUT": "61",
                    "GUNICORN_GRACEFUL_TIMEOUT": "17", "LOG_LEVEL": "WARNING"}


def test_model_init_env(render):
    init = container(render(sets=["model.keep=5", "model.forceVerify=true"]).pod, "model", True)
    assert env(init)["MODEL_KEEP"] == "5" and env(init)["MODEL_FORCE_VERIFY"] == "1"


# --- pod options --------------------------------------------------------------------------

def test_pull_secrets(render):
    m = render(values={"imagePullSecrets": [{"name": "regcred"}]})
    assert m.pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert m.test_pod["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert "imagePullSecrets" not in render().pod


def test_scheduling_and_extras(render):
    tsc = [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": SELECTOR}}]
    aff = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "k", "operator": "Exists"}]}]}}}
    m = render(values={
        "nodeSelector": {"disk": "ssd"}, "tolerations": [{"key": "k", "operator": "Exists"}],
        "affinity": aff, "topologySpreadConstraints": tsc, "priorityClassName": "high",
        "podAnnotations": {"a": "1"}, "podLabels": {"team": "ml"},
        "extraEnv": [{"name": "X", "value": "y"}],
        "extraVolumes": [{"name": "cfg", "configMap": {"name": "c"}}],
        "extraVolumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg"}],
        "extraInitContainers": [{"name": "warm", "image": "busybox:1"}],
        "resources": {"requests": {"cpu": "1"}},
    })
    pod, tpl = m.pod, m.deployment["spec"]["template"]
    assert pod["nodeSelector"] == {"disk": "ssd"}
    assert pod["tolerations"] == [{"key": "k", "operator": "Exists"}]
    assert pod["affinity"]["nodeAffinity"] == aff["nodeAffinity"]
    assert pod["topologySpreadConstraints"] == tsc
    assert pod["priorityClassName"] == "high"
    assert tpl["metadata"]["annotations"]["a"] == "1"
    assert tpl["metadata"]["labels"]["team"] == "ml"
    assert env(m.app) == {"X": "y"}
    assert volumes(pod)["cfg"] == {"name": "cfg", "configMap": {"name": "c"}}
    assert mounts(m.app)["/etc/cfg"]["name"] == "cfg"
    assert [c["name"] for c in pod["initContainers"]] == ["model", "warm"]
    assert m.app["resources"]["requests"] == {"cpu": "1", "memory": "256Mi"}  # maps merge


def test_defaults_have_resources_and_no_optional_objects(render):
    m = render()
    assert m.app["resources"]["requests"] and m.app["resources"]["limits"]["memory"]
    assert container(m.pod, "model", True)["resources"]["limits"]["memory"]
    for kind in ("Ingress", "NetworkPolicy", "ServiceMonitor", "HorizontalPodAutoscaler",
                 "PodDisruptionBudget", "PersistentVolumeClaim"):
        assert not m.kind(kind), kind
    for key in ("nodeSelector", "tolerations", "topologySpreadConstraints",
                "priorityClassName"):
        assert key not in m.pod


# --- Service, Ingress, NetworkPolicy, ServiceMonitor ---------------------------------------

def test_service(render):
    svc = render().one("Service", "rel-faq-engine")
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http",
                                     "protocol": "TCP"}]
    # server pods only (stable and canary): batch pods share the name and instance labels
    assert svc["spec"]["selector"] == {**SELECTOR, "app.kubernetes.io/component": "server"}


def test_ingress(render):
    m = render(values={"ingress": {"enabled": True, "className": "nginx",
                                   "annotations": {"x": "y"},
                                   "hosts": [{"host": "faq.example.com",
                                              "paths": [{"path": "/", "pathType": "Prefix"}]}],
                                   "tls": [{"secretName": "t", "hosts": ["faq.example.com"]}]}})
    ing = m.one("Ingress")
    assert ing["spec"]["ingressClassName"] == "nginx"
    assert ing["metadata"]["annotations"] == {"x": "y"}
    assert ing["spec"]["tls"] == [{"secretName": "t", "hosts": ["faq.example.com"]}]
    rule = ing["spec"]["rules"][0]
    assert rule["host"] == "faq.example.com"
    assert rule["http"]["paths"][0]["backend"] == {
        "service": {"name": "rel-faq-engine", "port": {"name": "http"}}}


INTERNAL_ROUTES = ("/metrics", "/v1/model", "/healthz", "/readyz")


def ingress_routes(rule_path: dict, request_path: str) -> bool:
    """Kubernetes Ingress path matching: Exact, or Prefix element-wise on `/`-split segments
    (ImplementationSpecific treated as Prefix, as ingress-nginx does)."""
    path = rule_path["path"]
    if rule_path["pathType"] == "Exact":
        return request_path == path
    want = [x for x in path.split("/") if x]
    return [x for x in request_path.split("/") if x][:len(want)] == want


def routed_paths(ing: dict, request_paths) -> set[str]:
    return {r for rule in ing["spec"]["rules"] for p in rule["http"]["paths"]
            for r in request_paths if ingress_routes(p, r)}


def test_ingress_path_matching_helper():
    assert ingress_routes({"path": "/", "pathType": "Prefix"}, "/metrics")
    assert ingress_routes({"path": "/v1", "pathType": "Prefix"}, "/v1/model")
    assert not ingress_routes({"path": "/v1/answer", "pathType": "Prefix"}, "/v1/answers")
    assert not ingress_routes({"path": "/v1/answer", "pathType": "Exact"}, "/v1/answer/x")


def test_ingress_publishes_only_the_api_by_default(render):
    ing = render(sets=["ingress.enabled=true"]).one("Ingress")
    assert ing["spec"]["rules"][0]["http"]["paths"] == [{
        "path": "/v1/answer", "pathType": "Exact",
        "backend": {"service": {"name": "rel-faq-engine", "port": {"name": "http"}}}}]
    assert routed_paths(ing, INTERNAL_ROUTES + ("/v1/answer",)) == {"/v1/answer"}


@pytest.mark.parametrize("values_file", CI_VALUES, ids=lambda p: p.name)
def test_ci_examples_keep_internal_routes_private(render, values_file):
    for ing in render(files=[values_file], kube_version="1.35.0").kind("Ingress"):
        assert not routed_paths(ing, INTERNAL_ROUTES), values_file.name


def test_network_policy(render):
    np = render(sets=["networkPolicy.enabled=true"]).one("NetworkPolicy")
    assert np["spec"]["podSelector"]["matchLabels"] == SELECTOR
    assert np["spec"]["policyTypes"] == ["Ingress"]
    assert np["spec"]["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]
    peer = {"namespaceSelector": {"matchLabels": {"team": "web"}}}
    np = render(values={"networkPolicy": {"enabled": True, "from": [peer]}}).one("NetworkPolicy")
    frm = np["spec"]["ingress"][0]["from"]
    assert frm[0] == peer
    assert frm[1]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "helm-test"


def _selects(selector: dict | None, labels: dict) -> bool:
    assert not (selector or {}).get("matchExpressions"), "evaluator knows matchLabels only"
    return all(labels.get(k) == v for k, v in ((selector or {}).get("matchLabels") or {}).items())


def np_admits(np: dict, port: str, pod: dict, ns: dict, policy_ns: str = "faq") -> bool:
    """Whether NetworkPolicy `np` admits a client pod (labels `pod`) in a namespace (labels
    `ns`, with kubernetes.io/metadata.name) to the named `port` (NetworkPolicy semantics)."""
    for rule in np["spec"].get("ingress") or []:
        if rule.get("ports") and port not in [p["port"] for p in rule["ports"]]:
            continue
        peers = rule.get("from")
        if not peers:
            return True
        for peer in peers:
            if "namespaceSelector" in peer:
                ns_ok = _selects(peer["namespaceSelector"], ns)
            else:
                ns_ok = ns["kubernetes.io/metadata.name"] == policy_ns
            if ns_ok and ("podSelector" not in peer or _selects(peer["podSelector"], pod)):
                return True
    return False


PROMETHEUS = ({"app.kubernetes.io/name": "prometheus"}, {"kubernetes.io/metadata.name": "monitoring"})


def test_full_example_lets_prometheus_scrape_through_the_network_policy(render):
    """The chart's full example restricts `from` to ingress-nginx and runs a ServiceMonitor:
    the Prometheus pods in their own namespace must still reach the scraped port."""
    m = render(files=[CHART / "ci" / "lint-only" / "full-values.yaml"])
    np, sm, svc = m.one("NetworkPolicy"), m.one("ServiceMonitor"), m.one("Service")
    scraped = [p["targetPort"] for p in svc["spec"]["ports"]
               if p["name"] == sm["spec"]["endpoints"][0]["port"]][0]
    assert np_admits(np, scraped, *PROMETHEUS)
    assert np_admits(np, scraped, {}, {"kubernetes.io/metadata.name": "ingress-nginx"})
    # Still restricted: other pods of the monitoring namespace and other namespaces are not.
    assert not np_admits(np, scraped, {"app": "grafana"}, PROMETHEUS[1])
    assert not np_admits(np, scraped, {}, {"kubernetes.io/metadata.name": "other"})


def test_metrics_from_only_adds_a_rule_when_from_is_restricted(render):
    peer = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    np = render(values={"networkPolicy": {"enabled": True, "metricsFrom": [peer]}}).one(
        "NetworkPolicy")
    assert np["spec"]["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]
    np = render(values={"networkPolicy": {"enabled": True, "metricsFrom": [peer], "from": [
        {"namespaceSelector": {"matchLabels": {"team": "web"}}}]}}).one("NetworkPolicy")
    assert np["spec"]["ingress"][1] == {"ports": [{"port": "http", "protocol": "TCP"}],
                                        "from": [peer]}
    assert np_admits(np, "http", {}, {"kubernetes.io/metadata.name": "monitoring"})


def test_service_monitor_behind_restricted_policy_needs_metrics_from(render_error):
    err = render_error(values={"serviceMonitor": {"enabled": True}, "networkPolicy": {
        "enabled": True, "from": [{"namespaceSelector": {"matchLabels": {"team": "web"}}}]}})
    assert "networkPolicy.metricsFrom" in err and "serviceMonitor.enabled" in err, err


def test_network_policy_egress(render):
    np = render(sets=["networkPolicy.enabled=true"]).one("NetworkPolicy")
    assert "egress" not in np["spec"]  # open unless asked
    np = render(values={"networkPolicy": {"enabled": True, "egress": []}}).one("NetworkPolicy")
    assert np["spec"]["policyTypes"] == ["Ingress", "Egress"] and np["spec"]["egress"] == []
    rule = {"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"port": 443}]}
    np = render(values={"networkPolicy": {"enabled": True, "egress": [rule]}}).one("NetworkPolicy")
    assert np["spec"]["egress"] == [rule]


def test_service_monitor(render):
    sm = render(sets=["serviceMonitor.enabled=true", "serviceMonitor.labels.release=prom",
                      "serviceMonitor.interval=15s"]).one("ServiceMonitor")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["metadata"]["labels"]["release"] == "prom"
    assert sm["spec"]["selector"]["matchLabels"] == SELECTOR
    assert sm["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "15s",
                                        "scrapeTimeout": "10s"}]


# --- labels -------------------------------------------------------------------------------

@pytest.mark.parametrize("values_file", CI_VALUES, ids=lambda p: p.name)
def test_every_object_names_its_namespace(render, values_file):
    """`helm template | kubectl apply` lands in the release namespace, not `default`."""
    for d in render(files=[values_file], kube_version="1.35.0"):
        assert d["metadata"].get("namespace") == "faq", f"{d['kind']}/{d['metadata']['name']}"


def test_recommended_labels_everywhere(render):
    m = render(files=[], values={"replicaCount": 2, "ingress": {"enabled": True},
                                 "autoscaling": {"enabled": True},
                                 "networkPolicy": {"enabled": True},
                                 "serviceMonitor": {"enabled": True},
                                 "model": {"volume": {"type": "pvc"}}})
    for d in m:
        labels = d["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == "rel", d["kind"]
        assert labels["app.kubernetes.io/managed-by"] == "Helm", d["kind"]
        assert labels["helm.sh/chart"] == f"faq-engine-{CHART_META['version']}", d["kind"]
        if d["kind"] != "Pod":
            assert labels["app.kubernetes.io/name"] == "faq-engine", d["kind"]
            assert labels["app.kubernetes.io/version"] == CHART_META["appVersion"], d["kind"]


# --- helm test pod ------------------------------------------------------------------------

def test_test_pod(render):
    pod = render().test_pod
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    # Not matched by the Service selector (a test pod must not receive traffic).
    assert "app.kubernetes.io/name" not in pod["metadata"]["labels"]
    c = pod["spec"]["containers"][0]
    assert c["command"][:2] == ["python", "-c"] and "urllib" in c["command"][2]
    assert env(c)["URL"] == "http://rel-faq-engine:80/v1/answer"
    assert env(c)["EXPECTED_MODEL_VERSIONS"] == "1.0"
    assert pod["spec"]["restartPolicy"] == "Never"


@pytest.mark.parametrize("sets, expected", [
    (["model.tag=1.1"], "1.1"),
    (["model.tag=2"], "2"),
    (["tests.expectedModelVersion=1.5"], "1.5"),
    (["canary.enabled=true"], "1.0,1.0"),
    (["canary.enabled=true", "canary.model.tag=1.1", "tests.expectedCanaryModelVersion=x"],
     "1.0,x"),
])
def test_test_pod_expected_version(render, sets, expected):
    assert env(render(sets=sets).test_pod["spec"]["containers"][0])[
        "EXPECTED_MODEL_VERSIONS"] == expected


def test_tests_can_be_disabled(render):
    assert not render(sets=["tests.enabled=false"]).kind("Pod")


# --- NOTES.txt ----------------------------------------------------------------------------

def _notes(tmp_path, *sets):
    """NOTES.txt rendered with the chart's values. (`helm install --dry-run=client` of this helm
    still contacts a cluster, so render a copy of the chart that exposes NOTES.txt through tpl.)"""
    copy = tmp_path / "chart"
    shutil.copytree(CHART, copy)
    shutil.copyfile(CHART / "templates" / "NOTES.txt", copy / "notes.txt")
    (copy / "templates" / "notes-probe.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\n"
        'data: {notes: {{ tpl (.Files.Get "notes.txt") . | quote }}}\n')
    cmd = ["helm", "template", "rel", str(copy), "--namespace", "faq", "--kube-version",
           "1.34.0", "--show-only", "templates/notes-probe.yaml", "-f", str(LOCAL_IMAGES)]
    for s in sets:
        cmd += ["--set", s]
    res = run(cmd)
    assert res.returncode == 0, res.stderr
    return yaml.safe_load(res.stdout)["data"]["notes"]


def test_notes_tell_how_to_ask_a_question(tmp_path):
    notes = _notes(tmp_path)
    assert "kubectl -n faq port-forward service/rel-faq-engine 8080:80" in notes
    assert "curl -s -X POST http://127.0.0.1:8080/v1/answer" in notes
    assert f"{LOCAL_MODEL}:1.0" in notes
    assert "helm test rel" in notes


def test_notes_with_ingress_and_canary(tmp_path):
    notes = _notes(tmp_path, "ingress.enabled=true", "canary.enabled=true",
                   "canary.model.tag=1.1")
    assert "http://faq-engine.local/" in notes
    assert f"{LOCAL_MODEL}:1.1 share the Service" in notes


def test_notes_warn_when_the_ingress_publishes_internal_routes(tmp_path):
    assert "WARNING" not in _notes(tmp_path / "a", "ingress.enabled=true")
    notes = _notes(tmp_path / "b", "ingress.enabled=true", "ingress.hosts[0].host=faq.example.com",
                   "ingress.hosts[0].paths[0].path=/", "ingress.hosts[0].paths[0].pathType=Prefix")
    for route in INTERNAL_ROUTES:
        assert f"WARNING: ingress path / on faq.example.com publishes the internal route {route}" \
            in notes, notes


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
    assert set(mounts(lease)) == {"/models"}
    assert lease["securityContext"]["readOnlyRootFilesystem"] is True
    for mode in ("emptyDir", "image"):
        pod = render(sets=[f"model.volume.type={mode}"]).pod
        assert "model-lease" not in [c["name"] for c in pod.get("initContainers", [])]
