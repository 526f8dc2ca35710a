"""Render tests of the pod options a user sets: pull secrets, scheduling, extras, defaults."""

from __future__ import annotations

from faqtest.chart import container, env, mounts, volumes

SELECTOR = {"app.kubernetes.io/name": "faq-engine", "app.kubernetes.io/instance": "rel"}


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
    assert pod["tolerations"][0] == {"key": "k", "operator": "Exists"}  # then the node-failure
    assert pod["affinity"]["nodeAffinity"] == aff["nodeAffinity"]
    assert pod["topologySpreadConstraints"] == tsc
    assert pod["priorityClassName"] == "high"
    assert tpl["metadata"]["annotations"]["a"] == "1"
    assert tpl["metadata"]["labels"]["team"] == "ml"
    assert env(m.app) == {"MODEL_TAG": "1.0", "CPU_LIMIT_MILLICORES": None, "X": "y"}
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
    for key in ("nodeSelector", "topologySpreadConstraints", "priorityClassName"):
        assert key not in m.pod
