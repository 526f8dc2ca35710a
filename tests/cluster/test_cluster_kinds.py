"""Switching a release between model kinds on a real cluster: Doc2Vec 1.0 -> embedding 2.0 with
only `helm upgrade --set model.tag=2.0`, under continuous load, with zero failed requests; and
back with `helm rollback`. One app image serves both kinds."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from faqtest.lifecycle import (
    CHART,
    RELEASE,
    helm,
    Load,
    local_install_args,
    release_namespace,
    versions_answering,
)

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


@pytest.fixture(scope="module")
def pushed(images, push_images) -> dict[str, str]:
    """The app and both models' images in the cluster's registry: {name: repository:tag@digest}."""
    refs = push_images(images["app"], images["model-1.0"], images["model-2.0"])
    return {name: refs[images[name]] for name in ("app", "model-1.0", "model-2.0")}


@pytest.fixture(scope="module")
def namespace(kubectl, pushed):
    with release_namespace(kubectl, "faq-kinds") as name:
        yield name


def model_info(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/v1/model", timeout=5) as r:  # noqa: S310 - cluster-local
        return json.load(r)


def test_doc2vec_to_embedding_and_back_under_load(kubectl, namespace, pushed):
    helm("install", RELEASE, str(CHART), "-n", namespace,
         *local_install_args(pushed["app"], pushed["model-1.0"]), "--set", "replicaCount=2",
         "--wait", "--timeout", "5m")
    url = kubectl.service_url(namespace, RELEASE)
    assert model_info(url)["kind"] == "doc2vec"
    assert versions_answering(url) == {"1.0": 30}

    with Load(url) as load:
        started = time.monotonic()
        helm("upgrade", RELEASE, str(CHART), "-n", namespace, "--reuse-values",
             "--set-string", "model.tag=" + pushed["model-2.0"].rsplit("/", 1)[1].split(":", 1)[1],
             "--wait", "--timeout", "5m")
        rollout = time.monotonic() - started
        time.sleep(3)
    r = load.result
    print(f"doc2vec 1.0 -> embedding 2.0: {r.summary()}; rollout {rollout:.1f}s")
    assert r.failed == 0, r.summary()
    assert r.ok > 100 and r.versions["2.0"] > 0
    assert versions_answering(url) == {"2.0": 30}
    info = model_info(url)
    assert info["kind"] == "embedding" and info["scorers"] == [{"name": "embedding", "weight": 1.0}]

    with Load(url) as load:
        helm("rollback", RELEASE, "-n", namespace, "--wait", "--timeout", "5m")
        time.sleep(3)
    print(f"rollback to doc2vec 1.0: {load.result.summary()}")
    assert load.result.failed == 0, load.result.summary()
    assert versions_answering(url) == {"1.0": 30}
