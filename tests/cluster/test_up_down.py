"""`make up`'s Service lookup and `make down`'s uninstall, against releases on the cluster."""

from __future__ import annotations

import os
import subprocess

from faqtest.common import ROOT


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def test_service_address_found_by_release_labels(kubectl, make_namespace) -> None:
    # The chart names the Service "<release>-faq-engine" (or fullnameOverride), never the release.
    ns = make_namespace()
    for release, overrides, expect in [("web", [], "web-faq-engine"),
                                       ("web2", ["--set", "fullnameOverride=answers"], "answers")]:
        rendered = _run("helm", "template", release, "chart", "--namespace", ns,
                        "--show-only", "templates/service.yaml", *overrides)
        assert rendered.returncode == 0, rendered.stderr
        kubectl("apply", "-f", "-", namespace=ns, input=rendered.stdout)
        r = _run("bash", "ci/service-address.sh", release, ns)
        assert r.returncode == 0, r.stderr
        name, address = r.stdout.split()
        ip = kubectl("get", "svc", expect, "-o", "jsonpath={.spec.clusterIP}",
                     namespace=ns).stdout
        assert (name, address) == (expect, f"{ip}:80")
    r = _run("bash", "ci/service-address.sh", "absent", ns)
    assert r.returncode != 0 and "no Service" in r.stderr


def test_make_uninstall_removes_the_release_from_its_namespace(make_namespace) -> None:
    ns = make_namespace()
    installed = _run("helm", "install", "gone", "chart", "--namespace", ns,
                     "--set", "replicaCount=0")
    assert installed.returncode == 0, installed.stderr
    r = _run("make", "uninstall", env={"RELEASE": "gone", "NAMESPACE": ns})
    assert r.returncode == 0, r.stdout + r.stderr
    assert _run("helm", "status", "gone", "--namespace", ns).returncode != 0, \
        "the release is still installed"
    again = _run("make", "uninstall", env={"RELEASE": "gone", "NAMESPACE": ns})
    assert again.returncode == 0 and "nothing to uninstall" in again.stderr
