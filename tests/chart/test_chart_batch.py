"""Render tests of batch answering: a Job, or a CronJob, sharing the Deployment's pod spec."""

from __future__ import annotations

import re

import pytest

from faqtest.chart import assert_restricted, LOCAL_APP, container, mounts, volumes

ON = ["batch.enabled=true"]
MODES = {"emptyDir": ([], "1.34.0"), "pvc": (["model.volume.type=pvc"], "1.34.0"),
         "image": (["model.volume.type=image"], "1.35.0")}


def job(m) -> dict:
    return m.one("Job", "rel-faq-engine-batch-1")


def batch_pod(m) -> dict:
    return job(m)["spec"]["template"]["spec"]


def test_off_by_default(render):
    m = render()
    assert not m.kind("Job") and not m.kind("CronJob")
    assert [p["metadata"]["name"] for p in m.kind("PersistentVolumeClaim")] == []


def test_job_runs_faq_engine_batch_on_the_data_claim(render):
    m = render(sets=ON)
    j = job(m)
    assert j["metadata"]["labels"]["app.kubernetes.io/component"] == "batch"
    spec = j["spec"]
    assert spec["backoffLimit"] == 2
    assert "activeDeadlineSeconds" not in spec and "ttlSecondsAfterFinished" not in spec
    # bad input fails at once instead of retrying; a node drain does not count as a failure
    assert spec["podFailurePolicy"]["rules"] == [
        {"action": "FailJob", "onExitCodes": {"containerName": "batch", "operator": "In",
                                              "values": [2, 4]}},
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]
    pod = batch_pod(m)
    assert pod["restartPolicy"] == "Never"
    c = container(pod, "batch")
    assert c["image"] == f"{LOCAL_APP}:1.0.0"
    assert c["command"] == ["faq-engine", "batch"]
    assert c["args"] == ["--model-dir=/models/current", "--in=/data/questions.jsonl",
                         "--out=/data/answers.jsonl", "--summary=/data/answers.jsonl.summary.json",
                         "--top-k=3", "--bad-exit-code=0", "--progress-seconds=10"]
    assert "ports" not in c and "readinessProbe" not in c and "lifecycle" not in c
    assert mounts(c)["/data"] == {"name": "batch-data", "mountPath": "/data"}
    assert mounts(c)["/models"]["readOnly"] is True
    assert c["resources"]["requests"]["cpu"] == "500m"
    assert volumes(pod)["batch-data"] == {"name": "batch-data", "persistentVolumeClaim":
                                          {"claimName": "rel-faq-engine-batch"}}
    pvc = m.one("PersistentVolumeClaim", "rel-faq-engine-batch")
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert pvc["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert pvc["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}


@pytest.mark.parametrize("mode", MODES)
def test_batch_pod_shares_the_deployment_pod_spec(render, mode):
    """Same model init container, model volume, security context, account and scheduling as
    the Deployment, in every volume mode: one template, not a copy."""
    sets, kube = MODES[mode]
    m = render(sets=ON + sets + ["nodeSelector.pool=batch", "tolerations[0].key=gpu",
                                 "tolerations[0].operator=Exists"], kube_version=kube)
    dep, pod = m.pod, batch_pod(m)
    for key in ("initContainers", "securityContext", "serviceAccountName",
                "automountServiceAccountToken", "nodeSelector", "tolerations", "affinity"):
        assert pod.get(key) == dep.get(key), key
    shared = {k: v for k, v in volumes(pod).items() if k != "batch-data"}
    assert shared == volumes(dep)
    app, batch = m.app, container(pod, "batch")
    assert {p: v for p, v in mounts(batch).items() if p != "/data"} == mounts(app)
    # the model the app reads is where the batch command reads it
    assert batch["args"][0] == f"--model-dir={m.one('ConfigMap')['data']['MODEL_DIR']}"
    assert_restricted(pod, f"batch/{mode}")


def test_pvc_mode_batch_pod_follows_the_claims_node(render):
    pod = batch_pod(render(sets=ON + ["model.volume.type=pvc"]))
    term = pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    # the batch pod carries these labels too, so it can start when no server pod runs
    labels = render(sets=ON).one("Job", "rel-faq-engine-batch-1")["spec"]["template"]["metadata"]["labels"]
    assert term["labelSelector"]["matchLabels"].items() <= labels.items()


def test_service_and_pdb_never_select_batch_pods(render):
    m = render(sets=ON + ["replicaCount=2"])
    labels = job(m)["spec"]["template"]["metadata"]["labels"]
    for sel in (m.one("Service")["spec"]["selector"],
                m.one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"]):
        assert not sel.items() <= labels.items(), sel
        assert sel.items() <= m.deployment["spec"]["template"]["metadata"]["labels"].items()


def test_cronjob_with_a_schedule(render):
    m = render(sets=ON + ["batch.schedule=0 3 * * *", "batch.timeZone=Europe/Berlin"])
    assert not m.kind("Job")
    cj = m.one("CronJob", "rel-faq-engine-batch")
    assert cj["spec"]["schedule"] == "0 3 * * *"
    assert cj["spec"]["timeZone"] == "Europe/Berlin"
    assert cj["spec"]["concurrencyPolicy"] == "Forbid"
    assert (cj["spec"]["successfulJobsHistoryLimit"], cj["spec"]["failedJobsHistoryLimit"]) == (3, 1)
    assert cj["spec"]["suspend"] is False
    # the CronJob's Job spec is the one-off Job's
    assert cj["spec"]["jobTemplate"]["spec"] == job(render(sets=ON))["spec"]
    assert cj["spec"]["jobTemplate"]["metadata"]["labels"]["app.kubernetes.io/component"] == "batch"


def test_options_reach_the_command_and_the_job(render):
    m = render(values={"batch": {"enabled": True, "input": "in/q.jsonl", "output": "out/a.jsonl",
                                 "topK": 5, "maxBad": 10, "progressSeconds": 2.5,
                                 "backoffLimit": 0, "activeDeadlineSeconds": 3600,
                                 "ttlSecondsAfterFinished": 0,
                                 "data": {"existingClaim": "questions"}}})
    c = container(batch_pod(m), "batch")
    assert c["args"][1:] == ["--in=/data/in/q.jsonl", "--out=/data/out/a.jsonl",
                             "--summary=/data/out/a.jsonl.summary.json", "--top-k=5",
                             "--max-bad=10", "--bad-exit-code=0", "--progress-seconds=2.5"]
    spec = job(m)["spec"]
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"], spec["ttlSecondsAfterFinished"]) == (0, 3600, 0)
    assert volumes(batch_pod(m))["batch-data"]["persistentVolumeClaim"]["claimName"] == "questions"
    assert not m.kind("PersistentVolumeClaim")


def test_data_claim_settings(render):
    m = render(values={"batch": {"enabled": True, "data": {
        "size": "5Gi", "storageClass": "fast", "accessModes": ["ReadWriteMany"],
        "keepOnUninstall": False, "annotations": {"a": "b"}}}})
    pvc = m.one("PersistentVolumeClaim", "rel-faq-engine-batch")
    assert pvc["spec"] == {"accessModes": ["ReadWriteMany"], "storageClassName": "fast",
                           "resources": {"requests": {"storage": "5Gi"}}}
    assert pvc["metadata"]["annotations"] == {"a": "b"}


def test_model_and_data_claims_together(render):
    m = render(sets=ON + ["model.volume.type=pvc"])
    assert sorted(p["metadata"]["name"] for p in m.kind("PersistentVolumeClaim")) == [
        "rel-faq-engine-batch", "rel-faq-engine-model"]


@pytest.mark.parametrize("values, key", [
    ({"input": "../etc/passwd"}, "/batch/input"),
    ({"input": "/etc/passwd"}, "/batch/input"),
    ({"output": "a b.jsonl"}, "/batch/output"),
    ({"output": "x/../../y"}, "/batch/output"),
    ({"output": ".hidden"}, "/batch/output"),
    ({"schedule": "every day"}, "/batch/schedule"),
    ({"topK": 0}, "/batch/topK"),
    ({"topK": 21}, "/batch/topK"),
    ({"maxBad": -1}, "/batch/maxBad"),
    ({"backoffLimit": -1}, "/batch/backoffLimit"),
    ({"concurrencyPolicy": "Sometimes"}, "/batch/concurrencyPolicy"),
    ({"progressSeconds": 0}, "/batch/progressSeconds"),
    ({"data": {"size": "big"}}, "/batch/data/size"),
    ({"data": {"accessModes": ["ReadWriteAlways"]}}, "/batch/data/accessModes/0"),
    ({"enabled": "yes"}, "/batch/enabled"),
])
def test_bad_batch_values_rejected_naming_the_key(render_error, values, key):
    err = render_error(values={"batch": values})
    assert f"'{key}'" in err, err


def test_unknown_batch_key_rejected(render_error):
    err = render_error(values={"batch": {"parallelism": 4}})
    assert re.search(r"additional properties 'parallelism' not allowed", err), err


@pytest.mark.parametrize("schedule", ["*/5 * * * *", "@daily", "0 3 * * 1-5"])
def test_good_schedules(render, schedule):
    render(values={"batch": {"enabled": True, "schedule": schedule}})
