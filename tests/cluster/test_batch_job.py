"""Batch answering on the real cluster: the chart's Job answers a few thousand questions from a
claim into the same claim, bad lines counted; a CronJob renders and its first run can be
triggered by hand. Runs in a namespace enforcing Pod Security "restricted".
"""

from __future__ import annotations

import json
import time

import pytest
from faqtest.kube import unique_name
from faqtest.lifecycle import CHART, RESTRICTED_LABELS, helm, host_claim

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
RELEASE = "faq-engine"
GOOD = 3000
QUESTIONS = ["How do I roll back to the previous model?", "How do I roll out a new model version?",
             "What does the init container do?", "How is the model verified?",
             "Can I run a canary?", "Where is the model cached?"]
BAD = [b"{not json", b'{"question": ""}', b'{"question": "ok", "top_k": 99}',
       b'{"question": "ok", "colour": "red"}', b"[1, 2]", b"\xff\xfe", b""]


def write_input(path) -> tuple[set[int], set[int]]:
    """GOOD questions with a bad line every 150th; returns (good line numbers, bad ones)."""
    good, bad = set(), set()
    n = 0
    with open(path, "wb") as fh:
        for i in range(GOOD):
            if i % 150 == 7:
                n += 1
                fh.write(BAD[len(bad) % len(BAD)] + b"\n")
                bad.add(n)
            n += 1
            q = f"{QUESTIONS[i % len(QUESTIONS)]} ({i})"
            fh.write(json.dumps({"question": q, "id": f"q{i}"}).encode() + b"\n")
            good.add(n)
    return good, bad


@pytest.fixture(scope="module")
def setup(kubectl, tmp_path_factory):
    ns = unique_name("faq-batch")
    kubectl.apply({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": ns, "labels": RESTRICTED_LABELS}})
    data = tmp_path_factory.mktemp("batch-data")
    pv = host_claim(kubectl, ns, "questions", data)
    good, bad = write_input(data / "questions.jsonl")
    yield ns, data, good, bad
    helm("uninstall", RELEASE, "-n", ns, "--wait", check=False)
    kubectl("delete", "namespace", ns, "--wait=false", check=False)
    kubectl("delete", "pv", pv, "--wait=false", check=False)


def job_pod_log(kubectl, ns, job) -> str:
    return kubectl("logs", f"job/{job}", "-c", "batch", namespace=ns).stdout


def check_output(data, output, good, bad, log) -> dict:
    records = [json.loads(x) for x in (data / output).read_text().splitlines()]
    assert len(records) == len(good)
    assert {r["line"] for r in records} == good
    assert all(r["model"] == {"version": "1.0"} for r in records)
    assert all(len(r["answers"]) == 1 and r["id"].startswith("q") for r in records)
    summary = json.loads((data / f"{output}.summary.json").read_text())
    assert (summary["lines"], summary["answered"], summary["bad"]) == (len(good) + len(bad),
                                                                       len(good), len(bad))
    for n in bad:
        assert f"faq-engine batch: line {n}: " in log
    assert not [p for p in data.iterdir() if p.name.endswith(".tmp")]
    return summary


def test_1_job_answers_every_good_line(kubectl, setup, local_chart_args):
    ns, data, good, bad = setup
    started = time.monotonic()
    helm("install", RELEASE, str(CHART), "-n", ns, *local_chart_args, "--set", "batch.enabled=true",
         "--set", "batch.data.existingClaim=questions", "--set", "batch.topK=1",
         "--set-json", "batch.progressSeconds=0.05", "--set", "batch.maxBad=100",
         "--wait", "--wait-for-jobs", "--timeout", "5m")
    seconds = time.monotonic() - started
    job = kubectl.json("get", "job", f"{RELEASE}-batch-1", namespace=ns)
    assert job["status"].get("succeeded") == 1, job["status"]
    log = job_pod_log(kubectl, ns, f"{RELEASE}-batch-1")
    assert "progress: " in log
    summary = check_output(data, "answers.jsonl", good, bad, log)
    print(f"batch job: {summary['answered']} answered, {summary['bad']} bad, "
          f"{summary['questions_per_second']} q/s in the pod; helm install --wait-for-jobs {seconds:.1f}s")


def test_2_too_many_bad_lines_fail_the_job_at_once_and_keep_the_output(kubectl, setup):
    ns, data, good, bad = setup
    before = (data / "answers.jsonl").read_bytes()
    helm("upgrade", RELEASE, str(CHART), "-n", ns, "--reuse-values", "--set", "batch.maxBad=3",
         "--wait", "--timeout", "5m")
    job = f"{RELEASE}-batch-2"
    kubectl.wait_for(lambda: any(c["type"] == "Failed" and c["status"] == "True" for c in
                                 kubectl.json("get", "job", job, namespace=ns)["status"].get("conditions") or []),
                     120, "the Job to fail")
    status = kubectl.json("get", "job", job, namespace=ns)["status"]
    assert status.get("failed") == 1, status  # podFailurePolicy: no retry of exit 4
    assert "more than 3 bad line(s)" in job_pod_log(kubectl, ns, job)
    assert (data / "answers.jsonl").read_bytes() == before
    # the previous revision's Job went with its revision
    assert kubectl("get", "job", f"{RELEASE}-batch-1", namespace=ns, check=False).returncode != 0


def test_3_cronjob_first_run_triggered_by_hand(kubectl, setup):
    ns, data, good, bad = setup
    helm("upgrade", RELEASE, str(CHART), "-n", ns, "--reuse-values", "--set", "batch.maxBad=100",
         "--set", "batch.schedule=0 3 1 1 *", "--set", "batch.output=cron-answers.jsonl",
         "--wait", "--timeout", "5m")
    cj = kubectl.json("get", "cronjob", f"{RELEASE}-batch", namespace=ns)
    assert cj["spec"]["schedule"] == "0 3 1 1 *"
    jobs = [j for j in kubectl.json("get", "jobs", namespace=ns)["items"]
            if not j["metadata"].get("deletionTimestamp")]
    assert not jobs  # no one-off Job any more
    kubectl("create", "job", "--from", f"cronjob/{RELEASE}-batch", "batch-now", namespace=ns)
    kubectl("wait", "--for=condition=complete", "job/batch-now", "--timeout=180s", namespace=ns,
            timeout=200)
    check_output(data, "cron-answers.jsonl", good, bad, job_pod_log(kubectl, ns, "batch-now"))
