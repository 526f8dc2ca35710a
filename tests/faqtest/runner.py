"""A local stand-in for a GitHub-hosted runner: runs the `run:` steps of a workflow's jobs in
order, each job on its own clean clone, as a non-root user, with GitHub's environment variables
(GITHUB_WORKSPACE, GITHUB_PATH, GITHUB_ENV, ...), the workflow/job/step `env:` and GitHub's
default shell (`bash --noprofile --norc -eo pipefail`). `uses:` steps are stood in for by what
they provide: checkout by the clone, setup-python/setup-go by the host's python3 and go (their
versions checked against the workflow's). Steps after a cluster is created (kind) are not run.
"""

from __future__ import annotations

import itertools
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML

RUNNER_USER = "faq-runner"
CLUSTER_ACTIONS = ("helm/kind-action@",)
# The machine's network settings (proxy, trusted CAs, pip's), which a hosted runner's image has
# in its environment too: passed through, everything else of this process's environment is not.
MACHINE_ENV = re.compile(r"(?i)proxy|_CA_|CA_BUNDLE|CA_CERTS|CERT_(FILE|DIR)|SSL_|^PIP_")
EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@dataclass
class StepResult:
    job: str
    name: str
    returncode: int
    log: str
    seconds: float


@dataclass
class Runner:
    """Who runs the steps (uid/gid) and where (a work directory that user owns)."""

    uid: int
    gid: int
    work: Path
    results: list[StepResult] = field(default_factory=list)

    @classmethod
    def create(cls) -> "Runner":
        """As root: a system user `faq-runner` (created if missing); otherwise the caller."""
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam(RUNNER_USER)
            except KeyError:
                subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                                "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                                RUNNER_USER], check=True)
                pw = pwd.getpwnam(RUNNER_USER)
            uid, gid = pw.pw_uid, pw.pw_gid
        else:
            uid, gid = os.getuid(), os.getgid()
        assert uid != 0
        work = Path(tempfile.mkdtemp(prefix="faq-runner-", dir="/tmp"))
        os.chmod(work, 0o755)
        r = cls(uid, gid, work)
        (work / "home").mkdir()
        (work / "temp").mkdir()
        r.chown(work)
        return r

    def chown(self, path: Path) -> None:
        if os.geteuid() == 0:
            subprocess.run(["chown", "-R", f"{self.uid}:{self.gid}", str(path)], check=True)

    def as_user(self, argv: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return argv
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups",
                "--", *argv]

    def cleanup(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


def load_workflow(path: Path) -> dict:
    return YAML(typ="safe", pure=True).load(path.read_text())


def job_order(wf: dict) -> list[str]:
    """Jobs in an order that honours `needs:`."""
    done: list[str] = []
    jobs = wf["jobs"]
    while len(done) < len(jobs):
        ready = [j for j in jobs if j not in done
                 and set(_needs(jobs[j])) <= set(done)]
        assert ready, f"cyclic needs: {jobs.keys() - set(done)}"
        done.extend(ready)
    return done


def matrix_runs(job_name: str, job: dict) -> list[tuple[str, dict[str, str]]]:
    """(label, matrix values) of each run of a job: one per combination of its
    `strategy.matrix` lists (no include/exclude), labelled `job (v1, v2)`; else (job, {})."""
    matrix = (job.get("strategy") or {}).get("matrix") or {}
    assert not {"include", "exclude"} & set(matrix), f"{job_name}: matrix include/exclude"
    if not matrix:
        return [(job_name, {})]
    keys = list(matrix)
    return [(f"{job_name} ({', '.join(map(str, combo))})", dict(zip(keys, map(str, combo))))
            for combo in itertools.product(*(matrix[k] for k in keys))]


def _needs(job: dict) -> list[str]:
    n = job.get("needs", [])
    return [n] if isinstance(n, str) else list(n)


def _expand(text: str, env: dict[str, str]) -> str:
    def sub(m: re.Match) -> str:
        expr = m.group(1)
        if expr.startswith("env."):
            return env.get(expr[4:], "")
        if expr.startswith("matrix."):
            return env[f"matrix.{expr[7:]}"]
        raise AssertionError(f"the simulation cannot evaluate ${{{{ {expr} }}}}")
    return EXPR.sub(sub, str(text))


def _version_of(cmd: list[str]) -> str:
    return subprocess.run(cmd, capture_output=True, text=True).stdout + \
        subprocess.run(cmd, capture_output=True, text=True).stderr


def run_workflow(runner: Runner, workflow: Path, clone, extra_env: dict[str, str],
                 timeout_scale: float = 1.0) -> list[StepResult]:
    """Run every runnable step of every job of `workflow`; `clone(dest)` makes a clean checkout.
    Stops at the first failing step. Returns the results (the failing one last)."""
    import time

    wf = load_workflow(workflow)
    base_path = ["/usr/local/bin", "/usr/bin", "/bin"]
    for tool in ("go", "npm"):  # what setup-go and the runner image put on PATH
        found = shutil.which(tool)
        if found:
            base_path.insert(0, str(Path(found).parent))
    runs = [(name, label, values) for name in job_order(wf)
            for label, values in matrix_runs(name, wf["jobs"][name])]
    for job_id, job_name, matrix in runs:
        job = wf["jobs"][job_id]
        workspace = runner.work / "workspace" / re.sub(r"\W+", "-", job_name)
        clone(workspace)
        runner.chown(workspace)
        files = {k: runner.work / "temp" / f"{workspace.name}-{k}" for k in ("path", "env", "output")}
        for f in files.values():
            f.write_text("")
        runner.chown(runner.work / "temp")
        env = {k: v for k, v in os.environ.items() if MACHINE_ENV.search(k)}
        env.update({
            "HOME": str(runner.work / "home"), "USER": RUNNER_USER, "LANG": "C.UTF-8",
            "CI": "true", "GITHUB_ACTIONS": "true", "RUNNER_OS": "Linux",
            "RUNNER_TEMP": str(runner.work / "temp"), "GITHUB_WORKSPACE": str(workspace),
            "GITHUB_WORKFLOW": str(wf.get("name", workflow.stem)), "GITHUB_JOB": job_id,
            "GITHUB_EVENT_NAME": "pull_request", "GITHUB_REPOSITORY": "faq-engine/faq-engine",
            "GITHUB_PATH": str(files["path"]), "GITHUB_ENV": str(files["env"]),
            "GITHUB_OUTPUT": str(files["output"]),
        })
        env.update({k: str(v) for k, v in (wf.get("env") or {}).items()})
        env.update({f"matrix.{k}": v for k, v in matrix.items()})
        env.update({k: _expand(v, env) for k, v in (job.get("env") or {}).items()})
        env.update(extra_env)
        cluster = False
        for step in job.get("steps", []):
            uses = step.get("uses", "")
            name = step.get("name") or uses or step.get("run", "").splitlines()[0]
            if uses.startswith(CLUSTER_ACTIONS):
                cluster = True
            if cluster:
                continue  # needs a kind cluster: only GitHub shows these
            if uses:
                _stand_in(uses, step, env, job_name)
                continue
            added = [p for p in files["path"].read_text().splitlines() if p.strip()]
            step_env = {k: v for k, v in env.items() if not k.startswith("matrix.")}
            step_env.update({k: _expand(v, env) for k, v in (step.get("env") or {}).items()})
            for line in files["env"].read_text().splitlines():
                if "=" in line:
                    k, v = line.split("=", 1)
                    step_env[k] = v
            step_env["PATH"] = ":".join([*reversed(added), *base_path])
            script = runner.work / "temp" / f"step-{len(runner.results)}.sh"
            script.write_text(_expand(step["run"], env))
            runner.chown(script)
            cwd = workspace / step.get("working-directory", ".")
            minutes = step.get("timeout-minutes") or job.get("timeout-minutes") or 60
            t0 = time.monotonic()
            try:
                p = subprocess.run(
                    runner.as_user(["bash", "--noprofile", "--norc", "-eo", "pipefail",
                                    str(script)]),
                    cwd=cwd, env=step_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                    text=True, timeout=minutes * 60 * timeout_scale)
                rc, log = p.returncode, p.stdout
            except subprocess.TimeoutExpired as e:
                rc, log = -1, f"timed out after {minutes} min\n{e.output or ''}"
            runner.results.append(StepResult(job_name, name, rc, log,
                                             time.monotonic() - t0))
            if rc != 0:
                return runner.results
    return runner.results


def _stand_in(uses: str, step: dict, env: dict[str, str], job: str) -> None:
    """What a `uses:` step provides, checked on this host."""
    w = {k: _expand(v, env) for k, v in (step.get("with") or {}).items()}
    if uses.startswith("actions/checkout@"):
        return  # the job's clean clone
    if uses.startswith("actions/setup-python@"):
        want = w.get("python-version", "")
        got = _version_of(["python3", "--version"])
        assert f"Python {want}" in got, f"{job}: setup-python {want}, host has {got}"
        return
    if uses.startswith("actions/setup-go@"):
        want = w.get("go-version", "")
        got = _version_of(["go", "version"])
        assert f"go{want}" in got, f"{job}: setup-go {want}, host has {got}"
        return
    if uses.startswith(("docker/", "actions/cache@")):
        return  # image builds and caches: not a `run:` step, and no Docker here
    raise AssertionError(f"{job}: no stand-in for {uses}")
