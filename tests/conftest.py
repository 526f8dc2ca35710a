"""Fixtures shared by every test folder."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from faqtest.common import exclusive

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_FAQ = ROOT / "app" / "faq_engine" / "data" / "sample-faq.jsonl"

# `make test` records each suite (tests/app, tests/chart, ...) as a phase of its run (ci/phase,
# ci/phases.py): first start to last end, its test count, and the CPU seconds its tests took
# (the test process and the commands it ran: podman, helm, pip, the Go tools; for the cluster
# suite also the cluster's pods, whose containers run outside the tests' processes). Taken out
# of the environment, so that a `make` or ci/up.sh the tests run records nothing into this
# run's table.
PHASES = os.environ.pop("FAQ_PHASES", None)
# suite -> [first start, last end, tests, failed, busy0, busy1, cpu seconds, pods' cpu0, pods' cpu1]
_suites: dict[str, list] = {}


def _cpu_seconds() -> float:
    """CPU seconds of this process and of the child processes it has waited for."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def pods_cpu_seconds() -> float | None:
    """CPU seconds the local cluster's pods have used (the kubelet's kubepods cgroup), if here."""
    for path, scale in ((Path("/sys/fs/cgroup/cpuacct/kubepods/cpuacct.usage"), 1e9),
                        (Path("/sys/fs/cgroup/kubepods/cpu.stat"), 1e6)):
        try:
            text = path.read_text()
        except OSError:
            continue
        value = text.split()[1] if text.startswith("usage_usec") else text.split()[0]
        return int(value) / scale
    return None


def _measure(item: pytest.Item, when: str):
    start = _cpu_seconds()
    yield
    item.user_properties.append((f"cpu:{when}", _cpu_seconds() - start))


# In whichever process runs the test (an xdist worker or this one): its CPU seconds per phase go
# with the phase's report to the process that writes the table.
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    yield from _measure(item, "setup")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    yield from _measure(item, "call")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    yield from _measure(item, "teardown")


def _phases():
    if "faq_phases" not in sys.modules:
        spec = importlib.util.spec_from_file_location("faq_phases", ROOT / "ci" / "phases.py")
        sys.modules["faq_phases"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["faq_phases"])
    return sys.modules["faq_phases"]


def pytest_runtest_logstart(nodeid: str, location) -> None:
    if PHASES:
        suite = "/".join(nodeid.split("::")[0].split("/")[:2])
        if suite not in _suites:
            busy, pods = _phases().machine_busy(), pods_cpu_seconds()
            _suites[suite] = [time.time(), 0.0, 0, 0, busy, busy, 0.0, pods, pods]
        _suites[suite][2] += 1


def pytest_runtest_logreport(report) -> None:
    if PHASES:
        suite = "/".join(report.nodeid.split("::")[0].split("/")[:2])
        if suite in _suites:
            _suites[suite][1] = time.time()
            _suites[suite][3] += report.failed
            _suites[suite][5] = _phases().machine_busy()
            _suites[suite][6] += dict(report.user_properties).get(f"cpu:{report.when}", 0.0)
            _suites[suite][8] = pods_cpu_seconds()


def pytest_sessionfinish(session) -> None:
    if not PHASES or not _suites:
        return
    phases = _phases()
    for suite, (start, end, tests, failed, busy0, busy1, cpu, pods0, pods1) in _suites.items():
        busy = (busy0, busy1) if busy0 is not None and busy1 is not None else None
        name = f"  {suite} ({tests} tests, {cpu:.0f} cpu-s"
        if suite == "tests/cluster" and pods0 is not None and pods1 is not None:
            name += f" + pods {pods1 - pods0:.0f}"
        phases.append(Path(PHASES), phases.Phase(name + ")", start,
                                                 max(end, start), 1 if failed else 0, "-", busy))


# `make test` runs the suites side by side (pytest-xdist, `--dist loadgroup
# --no-loadscope-reorder`, PYTEST_WORKERS in the Makefile). A work unit is a group that one worker
# runs in order: the cluster suite in three lanes (each lane's files one after another, each file
# in its own namespaces), the images suite (podman builds and their cache), and otherwise one test
# file (its module fixtures, such as the embedding reference, are built once). The longest groups
# go first, so the cluster lanes, which mostly wait on rollouts, overlap everything else.
# Lane "cluster-nodes" holds the files that change or check every node (test_nodes adds, drains
# and kills a second node, which it taints for its own pods alone; the smoke tests check that
# every node is Ready); the files of each lane balance the lanes' seconds (docs/benchmarks.md);
# every cluster file not named here goes to lane "cluster".
SERIAL_SUITES = ("cluster", "images")
CLUSTER_LANES = {
    "cluster-nodes": ("test_cluster_smoke.py", "test_nodes.py", "test_signed_rollout.py",
                      "test_cluster_kinds.py", "test_batch_job.py", "test_up_down.py"),
    "cluster-lifecycle": ("test_lifecycle.py", "test_memory_medium.py"),
}
#: Handed out first, in this order: the lanes, the images suite and the longest single file (the
#: runner simulation of pr.yaml, minutes long: it must not be the last file to start); then the
#: other files as workers free up.
FIRST_GROUPS = (*CLUSTER_LANES, "cluster", "images", "tests/ci/test_workflows.py")


def _suite(item: pytest.Item) -> str:
    parts = item.nodeid.split("::")[0].split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "tests" else ""


def _group(item: pytest.Item) -> str:
    path = item.nodeid.split("::")[0]
    suite = _suite(item)
    if suite == "cluster":
        name = path.rsplit("/", 1)[-1]
        return next((lane for lane, files in CLUSTER_LANES.items() if name in files), "cluster")
    return suite if suite in SERIAL_SUITES else path


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook turns the groups into node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not getattr(config.option, "loadgroup", False):  # set in xdist's workers by --dist
        return
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_group(item)))
    order = {group: i for i, group in enumerate(FIRST_GROUPS)}
    items.sort(key=lambda item: order.get(_group(item), len(order)))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def sample_faq() -> Path:
    return SAMPLE_FAQ


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory) -> Path:
    """The sample FAQ trained once per session (version 1.0). Treat it as read-only."""
    from faq_engine.trainer import train

    out = tmp_path_factory.mktemp("model") / "1.0"
    train(SAMPLE_FAQ, out, version="1.0")
    return out


@pytest.fixture(scope="session")
def embedding_model(tmp_path_factory) -> Path:
    """The sample FAQ as an embedding model (version 2.0, default weights). Read-only."""
    from faq_engine.trainer import train

    out = tmp_path_factory.mktemp("embedding") / "2.0"
    train(SAMPLE_FAQ, out, version="2.0", kind="embedding")
    return out


@pytest.fixture(scope="session")
def images() -> dict[str, str]:
    """Build the app image and model images 1.0 and 1.1 through the project's own script.

    Returns {"app": ref, "model-1.0": ref, "model-1.1": ref}.
    """
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: run ci/setup-host.sh (make setup)")
    with exclusive("images"):
        r = subprocess.run(["bash", str(ROOT / "ci" / "images" / "build.sh")], cwd=ROOT,
                           capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"ci/images/build.sh failed:\n{r.stderr[-3000:]}")
    built = r.stdout.split()
    app = next(i for i in built if "/faq-engine:" in i)
    models = {i.rsplit(":", 1)[1]: i for i in built if "/faq-engine-model:" in i}
    return {"app": app, **{f"model-{v}": ref for v, ref in models.items()}}


def _registry_binary() -> Path:
    """CNCF Distribution at the pin of ci/versions.env (the local cluster's registry), built
    from the Go module proxy into $FAQ_CACHE/bin by `ci/go-tools.sh registry`."""
    if not shutil.which("go"):
        pytest.fail("go is not installed: the registry is built from the Go module proxy")
    with exclusive("go-tools"):
        r = subprocess.run(["bash", str(ROOT / "ci" / "go-tools.sh"), "registry"],
                           capture_output=True, text=True, timeout=1200)
    if r.returncode != 0:
        pytest.fail(f"ci/go-tools.sh registry failed:\n{r.stderr[-3000:]}")
    return Path(r.stdout.strip()) / "registry"


@contextlib.contextmanager
def _registry(d: Path) -> Iterator[str]:
    """A CNCF Distribution registry on 127.0.0.1 (a free port), storage under `d`; yields
    "127.0.0.1:<port>" and stops it afterwards."""
    binary = _registry_binary()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (d / "config.yml").write_text(
        "version: 0.1\n"
        f"storage:\n  filesystem:\n    rootdirectory: {d / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
        "log:\n  level: warn\n")
    log = (d / "registry.log").open("w")
    proc = subprocess.Popen([str(binary), "serve", str(d / "config.yml")], stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/v2/", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the registry did not start: {(d / 'registry.log').read_text()}")
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="session")
def oci_registry(tmp_path_factory):
    """A registry for the whole session of this process (one xdist worker runs several files
    against it: a test that must see only its own pushes takes `empty_registry`)."""
    with _registry(tmp_path_factory.mktemp("registry")) as address:
        yield address


@pytest.fixture
def empty_registry(tmp_path_factory):
    """A registry of this test's own, empty at the start."""
    with _registry(tmp_path_factory.mktemp("registry")) as address:
        yield address
