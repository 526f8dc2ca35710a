"""Fixtures shared by every test folder."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from faqtest.common import exclusive

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_FAQ = ROOT / "app" / "faq_engine" / "data" / "sample-faq.jsonl"

# `make test` records each suite (tests/app, tests/chart, ...) as a phase of its run (ci/phase,
# ci/phases.py): first start to last end, and its test count. Taken out of the environment, so
# that a `make` or ci/up.sh the tests run records nothing into this run's table.
PHASES = os.environ.pop("FAQ_PHASES", None)
_suites: dict[str, list] = {}  # suite -> [first start, last end, tests, failed]


def pytest_runtest_logstart(nodeid: str, location) -> None:
    if PHASES:
        suite = "/".join(nodeid.split("::")[0].split("/")[:2])
        _suites.setdefault(suite, [time.time(), 0.0, 0, 0])[2] += 1


def pytest_runtest_logreport(report) -> None:
    if PHASES:
        suite = "/".join(report.nodeid.split("::")[0].split("/")[:2])
        if suite in _suites:
            _suites[suite][1] = time.time()
            _suites[suite][3] += report.failed


def pytest_sessionfinish(session) -> None:
    if not PHASES or not _suites:
        return
    spec = importlib.util.spec_from_file_location("faq_phases", ROOT / "ci" / "phases.py")
    phases = sys.modules["faq_phases"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(phases)
    for suite, (start, end, tests, failed) in _suites.items():
        phases.append(Path(PHASES), phases.Phase(f"  {suite} ({tests} tests)", start,
                                                 max(end, start), 1 if failed else 0, "-"))


# `make test` runs the suites side by side (pytest-xdist, `--dist loadgroup
# --no-loadscope-reorder`, PYTEST_WORKERS in the Makefile). A work unit is a group that one worker
# runs in order: the cluster suite (one cluster, its releases one after another, as now), the
# images suite (podman builds and their cache), and otherwise one test file (its module
# fixtures, such as the embedding reference, are built once). The longest groups go first, so
# the cluster suite, which mostly waits on rollouts, overlaps everything else.
SERIAL_SUITES = ("cluster", "images")


def _suite(item: pytest.Item) -> str:
    parts = item.nodeid.split("::")[0].split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "tests" else ""


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook turns the groups into node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not getattr(config.option, "loadgroup", False):  # set in xdist's workers by --dist
        return
    for item in items:
        suite = _suite(item)
        group = suite if suite in SERIAL_SUITES else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))
    order = {s: i for i, s in enumerate(SERIAL_SUITES)}
    items.sort(key=lambda item: order.get(_suite(item), len(order)))  # stable: files keep theirs


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


@pytest.fixture(scope="session")
def oci_registry(tmp_path_factory):
    """A CNCF Distribution registry on 127.0.0.1 (a free port), storage in a temporary
    directory; yields "127.0.0.1:<port>"."""
    binary = _registry_binary()
    d = tmp_path_factory.mktemp("registry")
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
