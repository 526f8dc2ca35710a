"""Render tests of what rolls the pods: a model, image or config change does, an unrelated one does not."""

from __future__ import annotations

import json

import pytest


DIGEST = "sha256:" + "ab" * 32
DIGEST2 = "sha256:" + "cd" * 32


def _template(m):
    return json.dumps(m.deployment["spec"]["template"], sort_keys=True)


@pytest.mark.parametrize("sets", [
    ["model.tag=1.1"],
    ["gunicorn.workers=4"],
    ["gunicorn.gracefulTimeout=20"],
    ["logLevel=DEBUG"],
    ["model.volume.emptyDir.sizeLimit=2Gi"],
    ["image.tag=1.0.1"],
])
def test_change_rolls_the_pods(render, sets):
    assert _template(render()) != _template(render(sets=sets))


def test_digest_change_rolls_the_pods(render):
    a = render(set_strings=[f"model.tag=1.0@{DIGEST}"])
    b = render(set_strings=[f"model.tag=1.0@{DIGEST2}"])
    assert _template(a) != _template(b)


def test_config_change_changes_checksum(render):
    def checksum(m):
        return m.deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    base = render()
    assert len(checksum(base)) == 64
    assert checksum(base) == checksum(render())  # stable across renders
    assert checksum(base) != checksum(render(sets=["gunicorn.workerConnections=800"]))
    assert checksum(base) != checksum(render(sets=["model.volume.type=pvc"]))


def test_unrelated_change_keeps_pod_template(render):
    assert _template(render()) == _template(render(sets=["ingress.enabled=true",
                                                         "service.port=8081"]))
