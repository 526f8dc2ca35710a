"""Fixtures for tests that need a Kubernetes cluster (marker ``cluster``).

The cluster is the local one from ``ci/cluster/up.sh`` (kubeconfig in
``$FAQ_CACHE/cluster/kubeconfig``) or, with ``FAQ_CLUSTER=existing``, whatever ``KUBECONFIG`` /
the current context points at. A missing tool or an unreachable cluster FAILS the test with a
message saying what to run; nothing is skipped.

Fixtures
--------
``kubeconfig`` (session) -> str
    Path of the kubeconfig in use (also exported as ``KUBECONFIG`` for subprocesses, e.g. helm).
``kubectl`` (session) -> Kubectl
    ``kubectl(*args, namespace=None, input=None, check=True, timeout=120)`` runs kubectl and
    returns the CompletedProcess; helpers: ``.json()``, ``.apply()``, ``.wait_for()``,
    ``.wait_pod_ready()``, ``.run_pod()``, ``.service_url()``, ``.port_forward()``,
    ``.events()``, ``.describe()``, ``.create_namespace(prefix, labels, restricted=False)``,
    ``.pod_manifest()`` (static). More in faqtest/kube.py (``http_get``, ``wait_for``, ...).
``push_images`` (session) -> callable(*images) -> dict[str, str]
    Pushes podman images to the cluster's registry with ``ci/images/push.sh`` (the local
    cluster's, ``LOCAL_REGISTRY``; for ``FAQ_CLUSTER=existing`` the one ``REGISTRY`` names, which
    that cluster must pull from) and returns {image: "repository:tag@digest" as pushed}.
``local_chart_args`` (session) -> list[str]
    The app image and model images 1.0 and 1.1 (``ci/images/build.sh``) pushed, and the helm
    flags that deploy them as ``make up`` does: ``-f chart/ci/local-images.yaml`` with app and
    model 1.0 as ``tag@digest`` (``--set model.tag=1.1`` later pulls 1.1 by tag).
``busybox_image`` (session) -> str
    The local busybox base image (``ALPINE_BASE`` in ci/versions.env), pushed to the registry.
``make_namespace`` (function) -> callable(prefix="faq-t", labels=None, restricted=False) -> str
    Creates uniquely named namespaces, all deleted at teardown.
``restricted_namespace`` (function) -> str
    A fresh namespace labelled ``pod-security.kubernetes.io/enforce=restricted`` (+warn, audit).
``run_pod`` (session) -> callable
    ``run_pod(namespace, command, image=None, ...) -> PodResult(name, phase, exit_code, logs)``:
    a short-lived pod with a restricted securityContext (uid 10001), waited for and deleted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from faqtest.common import ci_setting
from faqtest.kube import (
    BUSYBOX_IMAGE,
    FAQ_CACHE,
    LOCAL_KUBECONFIG,
    Kubectl,
    REPO,
    PodResult,
)


# -- fixtures ---------------------------------------------------------------------------------
def _tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.fail(
            f"'{name}' is not on PATH: build it with `bash ci/cluster/build.sh` and put "
            f"{FAQ_CACHE}/k8s/{ci_setting('KUBERNETES_VERSION')}/bin on PATH "
            "(make test-cluster does)"
        )
    return path


def _is_local_cluster(kubeconfig: str) -> bool:
    return Path(kubeconfig).resolve() == LOCAL_KUBECONFIG.resolve()


@pytest.fixture(scope="session")
def kubeconfig() -> str:
    kubectl_bin = _tool("kubectl")
    if os.environ.get("FAQ_CLUSTER") == "existing":
        path = os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
        hint = "FAQ_CLUSTER=existing: check KUBECONFIG / the current context"
    else:
        path = str(LOCAL_KUBECONFIG)
        hint = "bring the local cluster up with `bash ci/cluster/up.sh` (make cluster-up)"
        if not LOCAL_KUBECONFIG.exists():
            pytest.fail(f"no local cluster kubeconfig at {path}: {hint}")
    proc = subprocess.run(
        [kubectl_bin, "--kubeconfig", path, "get", "--raw", "/readyz", "--request-timeout=10s"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if proc.returncode != 0:
        pytest.fail(f"cluster API not reachable with {path}: {proc.stderr.strip()}\n{hint}")
    os.environ["KUBECONFIG"] = path  # for helm, ct and other tools the tests start
    return path


@pytest.fixture(scope="session")
def kubectl(kubeconfig: str) -> Kubectl:
    return Kubectl(_tool("kubectl"), kubeconfig)


@pytest.fixture(scope="session")
def push_images(kubeconfig: str) -> Callable[..., dict[str, str]]:
    def push(*images: str) -> dict[str, str]:
        if not _is_local_cluster(kubeconfig) and not os.environ.get("REGISTRY"):
            pytest.fail("FAQ_CLUSTER=existing: set REGISTRY to a registry that cluster pulls from")
        proc = subprocess.run(
            ["bash", str(REPO / "ci" / "images" / "push.sh"), *images],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0:
            pytest.fail(f"ci/images/push.sh {' '.join(images)} failed:\n{proc.stderr.strip()}")
        pushed = proc.stdout.split()
        assert len(pushed) == len(images), proc.stdout
        return dict(zip(images, pushed))

    return push


@pytest.fixture(scope="session")
def local_chart_args(images: dict[str, str], push_images: Callable[..., dict[str, str]]) -> list[str]:
    from faqtest.lifecycle import local_install_args

    pushed = push_images(images["app"], images["model-1.0"], images["model-1.1"])
    return local_install_args(pushed[images["app"]], pushed[images["model-1.0"]])


@pytest.fixture(scope="session")
def busybox_image(push_images: Callable[..., dict[str, str]]) -> str:
    ref = push_images(BUSYBOX_IMAGE)[BUSYBOX_IMAGE]
    return ref.split("@")[0]  # by tag, as a user's manifest names it


@pytest.fixture
def make_namespace(kubectl: Kubectl) -> Iterator[Callable[..., str]]:
    """``make_namespace(prefix="faq-t", labels=None, restricted=False) -> name``; all the
    namespaces made are deleted at teardown (without waiting)."""
    created: list[str] = []

    def make(
        prefix: str = "faq-t", labels: dict[str, str] | None = None, restricted: bool = False
    ) -> str:
        name = kubectl.create_namespace(prefix, labels, restricted=restricted)
        created.append(name)
        return name

    yield make
    for name in created:
        kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture
def restricted_namespace(make_namespace: Callable[..., str]) -> str:
    """A fresh namespace enforcing Pod Security "restricted"; deleted after the test."""
    return make_namespace("faq-t", restricted=True)


@pytest.fixture(scope="session")
def run_pod(kubectl: Kubectl, busybox_image: str) -> Callable[..., PodResult]:
    """``run_pod(namespace, command, image=busybox, **kw)``; see ``Kubectl.run_pod``."""

    def run(
        namespace: str, command: list[str] | str, image: str | None = None, **kwargs: Any
    ) -> PodResult:
        return kubectl.run_pod(namespace, command, image or busybox_image, **kwargs)

    return run
