"""The README's "Deploy your own FAQ" walk-through, run as a reader runs it, so the README stays
true: its own ```sh block, read from README.md (faqtest.readme), step by step, in a clone of this
checkout (the releases rewrite chart/), with

- a FAQ of the test's own (a made-up orchard) as the README's `my-faq.jsonl`,
- REGISTRY = a fresh repository path on the local cluster's registry, NAMESPACE = a fresh
  restricted namespace (the README's two settings lines, given these values),
- the README's question placeholder replaced with one of that FAQ's questions,
- on a PATH of the venv, helm, kubectl, Go and the system only (no test tool), as the section
  says a reader needs;

and one change, said here: `--public-bases` is dropped (no Docker Hub here; the local stand-ins
of ci/images/bases.sh, as tests/images/test_release_workflow.py builds).

It proves: each step exits 0; `faq-engine ask` and the deployed service (through the README's
own port-forward and curl, then the Service) answer that FAQ's questions with the right entries
as model 1.0; the pods run exactly the images the releases pushed to $REGISTRY; after the reader
edits the FAQ, step 5 (`ci/release model 1.1`) rolls the release out and the service answers the
new entry and the edited answer as 1.1."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from faqtest.common import ci_setting, clone_worktree
from faqtest.kube import unique_name, wait_for
from faqtest.lifecycle import helm
from faqtest.readme import QUESTION_PLACEHOLDER, walkthrough

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

FAQ = [
    {"id": "harvest", "question": "When does the apple harvest at Brambleway Orchard start?",
     "answer": "Picking starts on the first Saturday of September and runs for six weekends."},
    {"id": "dogs", "question": "Can I bring my dog to the orchard?",
     "answer": "Dogs on a short lead are welcome everywhere except the pressing barn."},
    {"id": "press", "question": "How do I book the cider press?",
     "answer": "Book a two-hour slot at the barn office; bring your own clean bottles."},
    {"id": "parking", "question": "Where do visitors park?",
     "answer": "Park in the meadow behind the blue gate on Quillan Lane."},
    {"id": "tokens", "question": "What are bramble tokens and how do I pay with them?",
     "answer": "Bramble tokens are the orchard's wooden coins, sold at the gate, five to a pound."},
]
#: The reader's edit before step 5: a changed answer and a new entry.
NEW_HARVEST = "Picking starts on the last Saturday of August this year and runs for seven weekends."
FESTIVAL = {"id": "wassail", "question": "When is the Brambleway wassail festival?",
            "answer": "The wassail is on twelfth night in January, with a bonfire at dusk."}
#: The question that replaces the README's placeholder (steps 1 and 4).
QUESTION = "How do I book the cider press?"
PORT = 8080  # the README's port-forward


def write_faq(path, entries) -> None:
    path.write_text("".join(json.dumps(e) + "\n" for e in entries), encoding="utf-8")


def answer(url: str, question: str) -> dict:
    req = urllib.request.Request(f"{url}/v1/answer", data=json.dumps({"question": question}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 - cluster-local URL
        return json.load(r)


def top(body: dict) -> str | None:
    return body["answers"][0]["id"] if body.get("answers") else None


def last_json(stdout: str) -> dict:
    """The JSON object a step prints last (`faq-engine ask`'s indented one, curl's one line)."""
    start = stdout.rfind("\n{") + 1 if "\n{" in stdout else stdout.find("{")
    assert start >= 0, f"no JSON in the step's output:\n{stdout}"
    return json.loads(stdout[start:])


def reader_env(repo, kubeconfig: str, bin_dir, image_prefix: str) -> dict[str, str]:
    """The reader's shell: the venv (with this checkout's code, as `pip install -e .` gives),
    helm, kubectl and Go, then the system; none of the test tools of $FAQ_CACHE/bin."""
    for tool in ("helm", "kubectl"):
        path = shutil.which(tool)
        assert path, f"{tool} is not on PATH (run under ci/with-env)"
        (bin_dir / tool).symlink_to(path)
    go = shutil.which("go")
    assert go, "go is not on PATH: ci/release builds its pinned helm with it"
    path = [os.path.dirname(sys.executable), str(bin_dir), os.path.dirname(go),
            "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
    env = {k: v for k, v in os.environ.items()
           if k not in ("REGISTRY", "NAMESPACE", "RELEASE", "DEPLOY", "FAQ", "MODEL_KIND",
                        "BASES", "CHART_DIR", "FAQ_RELEASE_ENV", "FAQ_RELEASE_CWD", "PYTHONPATH")}
    # Local image names of their own, so the shared podman store's localhost/faq-engine(-model)
    # tags (other tests' images) stay as they are; the pushed names are the README's.
    return {**env, "PATH": ":".join(path), "PYTHONPATH": str(repo / "app"),
            "KUBECONFIG": kubeconfig, "APP_IMAGE": f"{image_prefix}/faq-engine",
            "MODEL_IMAGE": f"{image_prefix}/faq-engine-model"}


def run_step(w, n: int, repo, env, timeout: float) -> str:
    """Step n in sh -e, in its own process group (the step's background port-forward is ended
    with it whatever happens); its stdout, or the test fails with both streams."""
    script = w.script(n)
    proc = subprocess.Popen(["sh", "-e", "-c", script], cwd=repo, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    started = time.monotonic()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"README step {n} did not finish in {timeout}s:\n{script}\n{out}\n{err[-4000:]}")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    print(f"README step {n} ({w.steps[n][0]}): {time.monotonic() - started:.1f}s")
    print("    " + "\n    ".join(err.strip().splitlines()[-12:]))
    if proc.returncode != 0:
        pytest.fail(f"README step {n} exited {proc.returncode}:\n{script}\n--- stdout\n{out}\n"
                    f"--- stderr\n{err[-6000:]}")
    return out


def test_readme_walkthrough_with_a_custom_faq(kubeconfig, kubectl, make_namespace, tmp_path):
    w0 = walkthrough()  # read before anything runs: a README that does not parse fails first
    with socket.socket() as s:  # the README's port-forward needs its port
        try:
            s.bind(("127.0.0.1", PORT))
        except OSError as e:
            pytest.fail(f"127.0.0.1:{PORT}, the README's port-forward port, is in use: {e}")

    ns = make_namespace("faq-readme", restricted=True)
    run_id = ns.rsplit("-", 1)[1]
    if os.environ.get("FAQ_CLUSTER") == "existing":
        registry = os.environ.get("REGISTRY") or pytest.fail(
            "FAQ_CLUSTER=existing: set REGISTRY to a registry that cluster pulls from")
        registry = f"{registry}/readme-{run_id}"
    else:
        registry = f"{ci_setting('LOCAL_REGISTRY')}/readme-{run_id}"
    w = w0.fill({"REGISTRY": registry, "NAMESPACE": ns}, {QUESTION_PLACEHOLDER: QUESTION,
                                                          " --public-bases": ""})
    repo = clone_worktree(tmp_path / "repo")
    (tmp_path / "bin").mkdir()
    image_prefix = f"localhost/{unique_name('readme')}"
    env = reader_env(repo, kubeconfig, tmp_path / "bin", image_prefix)
    faq = repo / "my-faq.jsonl"
    write_faq(faq, FAQ)
    # A reader who did the try-out above has the sample trained at build/models/1.0.
    subprocess.run(["faq-engine", "train", "--faq", "app/faq_engine/data/sample-faq.jsonl",
                    "--out", "build/models/1.0", "--version", "1.0"], cwd=repo, env=env,
                   check=True, capture_output=True)

    try:
        # 1. train and ask, no cluster
        body = last_json(run_step(w, 1, repo, env, timeout=300))
        assert top(body) == "press" and body["model"]["version"] == "1.0", body

        # 2. both images built and pushed to $REGISTRY; the chart in the clone points at them
        out = run_step(w, 2, repo, env, timeout=1200)
        refs = [line.split("=", 1)[1] for line in out.splitlines() if line.startswith("reference=")]
        assert len(refs) == 2, out
        app_ref, model_ref = refs
        assert app_ref.startswith(f"{registry}/faq-engine:") and "@sha256:" in app_ref, app_ref
        assert model_ref.startswith(f"{registry}/faq-engine-model:1.0@sha256:"), model_ref

        # 3. installed with the reader's repositories, helm test passed (the step exits 0)
        run_step(w, 3, repo, env, timeout=600)
        pods = [p for p in kubectl.json("get", "pods", namespace=ns)["items"]
                if not p["metadata"].get("deletionTimestamp")
                and [o["kind"] for o in p["metadata"].get("ownerReferences", [])] == ["ReplicaSet"]]
        assert pods, kubectl.events(ns)
        for p in pods:
            images = {c["name"]: c["image"] for c in p["spec"]["containers"]}
            inits = [c["image"] for c in p["spec"].get("initContainers", [])]
            assert app_ref in images.values(), images
            assert model_ref in inits, inits

        # 4. the README's port-forward and curl answer the question with the right entry
        body = last_json(run_step(w, 4, repo, env, timeout=120))
        assert top(body) == "press" and body["model"]["version"] == "1.0", body
        url = kubectl.service_url(ns, "faq-engine")
        for question, expected in [("When does the apple harvest start?", "harvest"),
                                   ("Can I bring my dog?", "dogs"),
                                   ("What are bramble tokens?", "tokens"),
                                   ("Where can I park my car?", "parking")]:
            body = answer(url, question)
            assert top(body) == expected and body["model"]["version"] == "1.0", (question, body)

        # 5. the reader edits the FAQ and rolls out the next model
        edited = [dict(e, answer=NEW_HARVEST) if e["id"] == "harvest" else e for e in FAQ]
        write_faq(faq, [*edited, FESTIVAL])
        out = run_step(w, 5, repo, env, timeout=1200)
        assert "rollout_seconds=" in out, f"step 5 did not upgrade the release:\n{out}"
        # helm upgrade --wait returns once the new pod is ready; the old one serves on through
        # its preStop pause until the Service's rules on this node drop it (kube-proxy syncs),
        # so a new connection may reach 1.0 for a few seconds: wait until ten in a row are 1.1.
        rolled = time.monotonic()

        def all_new() -> bool:
            return all(answer(url, "When is the wassail festival?")["model"]["version"] == "1.1"
                       for _ in range(10))

        wait_for(all_new, 60, "ten answers in a row from model 1.1")
        print(f"every answer from 1.1 {time.monotonic() - rolled:.1f}s after step 5 ended")
        for _ in range(10):
            body = answer(url, "When is the wassail festival?")
            assert top(body) == "wassail" and body["model"]["version"] == "1.1", body
        body = answer(url, "When does the apple harvest start?")
        assert top(body) == "harvest" and body["answers"][0]["answer"] == NEW_HARVEST, body
    finally:
        helm("uninstall", "faq-engine", "-n", ns, "--wait", check=False)
        # Only this test's local names go (the layers stay, shared with the other images).
        names = subprocess.run(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"],
                               capture_output=True, text=True).stdout.split()
        mine = [n for n in names if n.startswith(f"{image_prefix}/")]
        if mine:
            subprocess.run(["podman", "rmi", *mine], capture_output=True)
