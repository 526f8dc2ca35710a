"""Model pre-pull (`model.prepull.enabled`), rendered: a DaemonSet holding the release's model
images on every eligible node, and the pre-upgrade hook that rolls it before the Deployments.
tests/cluster/test_prepull.py runs both on the cluster."""

from __future__ import annotations

import json

import pytest

from faqtest.chart import LOCAL_MODEL, LOCAL_MODEL_TAG

ON = ["model.prepull.enabled=true"]
DS = "rel-faq-engine-model-prepull"
HOOK = "rel-faq-engine-model-prepull-hook"


def holders(m) -> dict[str, str]:
    return {c["name"]: c["image"] for c in m.one("DaemonSet", DS)["spec"]["template"]["spec"]["containers"]}


def matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_off_by_default(render):
    m = render()
    assert not m.kind("DaemonSet") and not m.kind("Role") and not m.kind("Job")


def test_holds_the_stable_model_image(render):
    assert holders(render(sets=ON)) == {"stable": f"{LOCAL_MODEL}:{LOCAL_MODEL_TAG}"}


def test_holds_the_canary_image_too(render):
    m = render(sets=[*ON, "canary.enabled=true", "canary.model.tag=1.1"])
    assert holders(m) == {"stable": f"{LOCAL_MODEL}:{LOCAL_MODEL_TAG}", "canary": f"{LOCAL_MODEL}:1.1"}
    # A canary on the stable model needs no second holder.
    assert list(holders(render(sets=[*ON, "canary.enabled=true"]))) == ["stable"]


def test_holder_is_the_images_own_shell_restricted_and_tiny(render):
    pod = render(sets=ON).one("DaemonSet", DS)["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["command"][:2] == ["sh", "-c"] and "sleep" in c["command"][2]
    assert c["resources"]["requests"] == {"cpu": "1m", "memory": "4Mi"}
    sc = c["securityContext"]
    assert sc["runAsNonRoot"] and not sc["allowPrivilegeEscalation"] and sc["capabilities"]["drop"] == ["ALL"]
    assert sc["seccompProfile"]["type"] == "RuntimeDefault" and sc["readOnlyRootFilesystem"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["automountServiceAccountToken"] is False


def test_digest_pinned_model_is_held_by_digest(render):
    digest = "sha256:" + "a" * 64
    assert holders(render(sets=ON, set_strings=[f"model.tag=1.0@{digest}"]))["stable"].endswith(
        f"@{digest}")


def test_follows_the_apps_node_selection_not_its_pod_affinity(render):
    values = {"model": {"prepull": {"enabled": True}},
              "nodeSelector": {"pool": "faq"},
              "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "faq", "effect": "NoSchedule"}],
              "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                  "nodeSelectorTerms": [{"matchExpressions": [
                      {"key": "zone", "operator": "In", "values": ["a"]}]}]}},
                  "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}}}
    m = render(values=values)
    pod = m.one("DaemonSet", DS)["spec"]["template"]["spec"]
    app = m.pod
    assert pod["nodeSelector"] == app["nodeSelector"]
    # the user's tolerations; not the app's node-failure bound (a DaemonSet's pods stay put)
    assert pod["tolerations"] == values["tolerations"] == app["tolerations"][:1]
    assert pod["affinity"] == {"nodeAffinity": app["affinity"]["nodeAffinity"]}


def test_no_app_selector_picks_the_holders(render):
    """The holders serve nothing: neither the Service, the PDB nor the NetworkPolicy selects them."""
    m = render(sets=[*ON, "replicaCount=2", "networkPolicy.enabled=true"])
    labels = m.one("DaemonSet", DS)["spec"]["template"]["metadata"]["labels"]
    job_labels = m.one("Job", HOOK)["spec"]["template"]["metadata"]["labels"]
    assert not matches(m.one("Service")["spec"]["selector"], labels)
    for lab in (labels, job_labels):
        assert not matches(m.one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"], lab)
        assert not matches(m.one("NetworkPolicy", "rel-faq-engine")["spec"]["podSelector"]["matchLabels"], lab)
        # Their own policy admits no ingress at all.
        own = m.one("NetworkPolicy", DS)["spec"]
        assert matches(own["podSelector"]["matchLabels"], lab)
        assert own["policyTypes"] == ["Ingress"] and not own.get("ingress")
    ds = m.one("DaemonSet", DS)
    assert matches(ds["spec"]["selector"]["matchLabels"], labels)


def test_new_holders_start_before_old_ones_stop(render):
    ru = render(sets=ON).one("DaemonSet", DS)["spec"]["updateStrategy"]["rollingUpdate"]
    assert ru == {"maxSurge": "100%", "maxUnavailable": 0}


def test_pre_upgrade_hook_rolls_the_daemonset_to_helms_own_template(render):
    m = render(sets=[*ON, "canary.enabled=true", "canary.model.tag=1.1", "model.tag=1.2"])
    job = m.one("Job", HOOK)
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-upgrade,pre-rollback"
    c = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in c["env"]}
    # The hook patches in exactly the template Helm applies next: that apply changes nothing.
    assert json.loads(env["POD_TEMPLATE"]) == m.one("DaemonSet", DS)["spec"]["template"]
    assert env["DAEMONSET"] == DS and env["NAMESPACE"] == "faq"
    compile(c["command"][2], "prepull-hook", "exec")
    assert job["spec"]["activeDeadlineSeconds"] == int(env["TIMEOUT_SECONDS"]) == 600
    assert job["spec"]["backoffLimit"] == 0


def test_hook_rbac_is_one_daemonset(render):
    m = render(sets=ON)
    role = m.one("Role", HOOK)
    assert role["rules"] == [
        {"apiGroups": ["apps"], "resources": ["daemonsets"], "resourceNames": [DS], "verbs": ["get", "patch"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]
    rb = m.one("RoleBinding", HOOK)
    assert rb["subjects"] == [{"kind": "ServiceAccount", "name": HOOK, "namespace": "faq"}]
    # Hook objects exist before the Job (lower weight) and go when it succeeds.
    for kind in ("ServiceAccount", "Role", "RoleBinding"):
        ann = m.one(kind, HOOK)["metadata"]["annotations"]
        assert int(ann["helm.sh/hook-weight"]) < int(m.one("Job", HOOK)["metadata"]["annotations"]["helm.sh/hook-weight"])
        assert ann["helm.sh/hook"] == "pre-upgrade,pre-rollback"
    # Only the hook's pod gets an API token.
    assert m.one("Job", HOOK)["spec"]["template"]["spec"]["automountServiceAccountToken"] is True
    assert m.pod["automountServiceAccountToken"] is False


@pytest.mark.parametrize("value", ["10", "-1", "soon"])
def test_bad_timeout_rejected_naming_the_key(render_error, value):
    err = render_error(sets=[*ON, f"model.prepull.timeoutSeconds={value}"])
    assert "timeoutSeconds" in err, err
