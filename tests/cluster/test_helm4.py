"""What changes for users under Helm 4, on the local cluster (issue 21):

1. a release installed by Helm 3 (the `helm3` binary, HELM3_VERSION) upgraded by Helm 4 to model
   1.1 under continuous load, then rolled back by Helm 4: no failed request either way; Helm 4
   keeps the release's client-side apply (its `--server-side auto`);
2. server-side apply, the default of a release Helm 4 installs: after `kubectl scale` (HPA off) a
   `helm upgrade` stops on a field conflict over `.spec.replicas` and changes nothing;
   `--force-conflicts` takes the field back (the chart's replicaCount wins); with autoscaling on
   the chart leaves `replicas` out, so the HPA's count survives upgrades without a conflict;
   the HTTPRoute the chart renders is accepted by the API server against the Gateway API CRDs
   ci/cluster/up.sh installs (server-side dry run), and a bad one is refused;
3. the chart as users get it: `bash ci/up.sh` (make up) leaves it in the local registry, where
   `helm show chart` answers; `helm install --verify` from oci://127.0.0.1:5001/charts
   with the local key installs a release that answers; charts pushed there under other versions,
   changed after signing (with the genuine .prov) or re-signed with another key, are refused.

Every helm here is Helm 4 (`helm`), except the one install by `helm3`.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import time
import uuid
from pathlib import Path

import pytest
import requests
import yaml
from faqtest.common import ROOT
from faqtest.kube import FAQ_CACHE
from faqtest.lifecycle import (
    CHART,
    RESTRICTED_LABELS,
    Load,
    ask,
    helm,
    local_install_args,
    make_up,
    release_namespace,
    versions_answering,
)

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
RELEASE = "faq-engine"  # the fullname (Deployment, Service) is then "faq-engine"
REGISTRY = "127.0.0.1:5001"
CHART_META = yaml.safe_load((CHART / "Chart.yaml").read_text())
CHART_REF = f"oci://{REGISTRY}/charts/{CHART_META['name']}"


def helm3(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    assert shutil.which("helm3"), "helm3 is not on PATH (ci/with-env)"
    proc = subprocess.run(["helm3", *args], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f"helm3 {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def pushed(images, push_images):
    """{name: repository:tag@digest} of the app and model 1.0 and 1.1 in the cluster's registry."""
    names = ("app", "model-1.0", "model-1.1")
    refs = push_images(*(images[n] for n in names))
    return {n: refs[images[n]] for n in names}


def restricted(make_namespace, prefix: str) -> str:
    return make_namespace(prefix, RESTRICTED_LABELS)


def apply_method(namespace: str) -> str:
    out = helm("get", "metadata", RELEASE, "-n", namespace).stdout
    return next(line.split(":", 1)[1].strip() for line in out.splitlines()
                if line.startswith("APPLY_METHOD:"))


# -- 1. Helm 3 -> Helm 4 ------------------------------------------------------------------------

def test_helm3_release_upgraded_and_rolled_back_by_helm4_under_load(kubectl, make_namespace,
                                                                     pushed):
    ns = restricted(make_namespace, "faq-h3to4")
    start = time.monotonic()
    helm3("install", RELEASE, str(CHART), "-n", ns,
          *local_install_args(pushed["app"], pushed["model-1.0"]),
          "--set", "replicaCount=2", "--wait", "--timeout", "5m")
    installed_by = helm3("version", "--short").stdout.strip()
    url = kubectl.service_url(ns, RELEASE)
    assert versions_answering(url) == {"1.0": 30}
    print(f"\nhelm3 ({installed_by}) install: {time.monotonic() - start:.1f}s; "
          f"apply method: {apply_method(ns)}")

    with Load(url) as load:
        start = time.monotonic()
        helm("upgrade", RELEASE, str(CHART), "-n", ns, "--reuse-values",
             "--set", "model.tag=1.1", "--wait", "--timeout", "5m")
        upgrade_s = time.monotonic() - start
        time.sleep(3)
    r = load.result
    method = apply_method(ns)
    print(f"helm 3 -> 4 upgrade to model 1.1 under load: {r.summary()}; rollout {upgrade_s:.1f}s; "
          f"apply method after: {method}")
    assert r.failed == 0, r.summary()
    assert r.ok > 100 and r.versions["1.1"] > 0, r.summary()
    assert versions_answering(url) == {"1.1": 30}
    # Helm 4's --server-side auto keeps the method the release was installed with.
    assert method.startswith("client-side apply"), method

    with Load(url) as load:
        start = time.monotonic()
        helm("rollback", RELEASE, "-n", ns, "--wait", "--timeout", "5m")
        rollback_s = time.monotonic() - start
        time.sleep(3)
    r = load.result
    print(f"helm 4 rollback to model 1.0 under load: {r.summary()}; rollout {rollback_s:.1f}s")
    assert r.failed == 0, r.summary()
    assert r.ok > 100, r.summary()
    assert versions_answering(url) == {"1.0": 30}
    history = json.loads(helm("history", RELEASE, "-n", ns, "-o", "json").stdout)
    assert [h["status"] for h in history] == ["superseded", "superseded", "deployed"], history


# -- 2. server-side apply ----------------------------------------------------------------------

def deployment(kubectl, ns: str) -> dict:
    return kubectl.json("get", "deployment", RELEASE, "--show-managed-fields", namespace=ns)


def replicas_managers(dep: dict) -> list[str]:
    """The field managers owning .spec.replicas (manager/operation[/subresource])."""
    owners = []
    for entry in dep["metadata"].get("managedFields", []):
        if "f:replicas" in (entry.get("fieldsV1", {}).get("f:spec") or {}):
            owners.append("/".join(filter(None, (entry["manager"], entry["operation"],
                                                 entry.get("subresource")))))
    return owners


def test_kubectl_scale_then_helm4_upgrade_is_a_conflict(kubectl, make_namespace, pushed):
    """HPA off: the chart sets replicas. After `kubectl scale --replicas=3` another field manager
    owns them, and Helm 4's server-side apply of the chart's replicaCount (1) is refused as a
    conflict: the upgrade fails, nothing changes, the 3 pods keep serving. An upgrade whose
    replicaCount agrees (3) goes through (the field is then shared); `--force-conflicts` applies
    the chart's value whatever it is, and Helm owns the field alone again."""
    ns = restricted(make_namespace, "faq-ssa")
    helm("install", RELEASE, str(CHART), "-n", ns,
         *local_install_args(pushed["app"], pushed["model-1.0"]), "--wait", "--timeout", "5m")
    assert apply_method(ns) == "server-side apply"
    assert deployment(kubectl, ns)["spec"]["replicas"] == 1
    kubectl("scale", "deployment", RELEASE, "--replicas=3", namespace=ns)
    kubectl("rollout", "status", "deployment", RELEASE, "--timeout=180s", namespace=ns, timeout=200)
    owners = replicas_managers(deployment(kubectl, ns))
    print(f"\nafter kubectl scale: .spec.replicas owned by {owners}")
    assert owners == ["kubectl/Update/scale"], owners

    res = helm("upgrade", RELEASE, str(CHART), "-n", ns, "--reuse-values",
               "--set", "podAnnotations.upgraded=yes", "--wait", "--timeout", "3m", check=False)
    print(f"helm upgrade after kubectl scale: exit {res.returncode}\n{res.stderr.strip()}")
    dep = deployment(kubectl, ns)
    status = json.loads(helm("status", RELEASE, "-n", ns, "-o", "json").stdout)["info"]["status"]
    print(f"  then: replicas {dep['spec']['replicas']}, release status {status}")
    assert res.returncode != 0, res.stdout
    assert "conflict" in res.stderr and ".spec.replicas" in res.stderr, res.stderr
    assert dep["spec"]["replicas"] == 3
    assert "upgraded" not in (dep["spec"]["template"]["metadata"].get("annotations") or {})
    assert status == "failed"
    assert versions_answering(kubectl.service_url(ns, RELEASE)) == {"1.0": 30}

    res = helm("upgrade", RELEASE, str(CHART), "-n", ns, "--reuse-values",
               "--set", "podAnnotations.upgraded=yes", "--set", "replicaCount=3",
               "--wait", "--timeout", "5m", check=False)
    dep = deployment(kubectl, ns)
    shared = replicas_managers(dep)
    print(f"helm upgrade --set replicaCount=3 (agreeing): exit {res.returncode}; replicas "
          f"{dep['spec']['replicas']}, owned by {shared}")
    assert res.returncode == 0, res.stderr
    assert dep["spec"]["replicas"] == 3
    assert dep["spec"]["template"]["metadata"]["annotations"]["upgraded"] == "yes"
    assert any(o.startswith("helm/Apply") for o in shared), shared
    assert any(o.startswith("kubectl") for o in shared), shared

    res = helm("upgrade", RELEASE, str(CHART), "-n", ns, "--reuse-values",
               "--set", "replicaCount=1", "--force-conflicts", "--wait", "--timeout", "3m",
               check=False)
    dep = deployment(kubectl, ns)
    print(f"helm upgrade --set replicaCount=1 --force-conflicts: exit {res.returncode}; replicas "
          f"{dep['spec']['replicas']}, owned by {replicas_managers(dep)}")
    assert res.returncode == 0, res.stderr
    assert dep["spec"]["replicas"] == 1
    assert replicas_managers(dep) == ["helm/Apply"]


def test_with_autoscaling_the_replica_count_is_not_helms(kubectl, make_namespace, pushed):
    """autoscaling.enabled: the chart leaves `replicas` out of the Deployment, so the count the
    HPA sets is nobody's conflict: helm upgrade succeeds and keeps it."""
    ns = restricted(make_namespace, "faq-ssa-hpa")
    helm("install", RELEASE, str(CHART), "-n", ns,
         *local_install_args(pushed["app"], pushed["model-1.0"]),
         "--set", "autoscaling.enabled=true", "--set", "autoscaling.minReplicas=2",
         "--wait", "--timeout", "5m")
    kubectl.wait_for(lambda: deployment(kubectl, ns)["spec"]["replicas"] == 2, 120,
                     "the HPA to raise the Deployment to minReplicas 2")
    # (No manager is listed for it on v1.37: the HPA's writes through the scale subresource
    # leave no entry. What matters is that Helm owns none.)
    owners = replicas_managers(deployment(kubectl, ns))
    assert not any(o.startswith("helm/") for o in owners), owners
    res = helm("upgrade", RELEASE, str(CHART), "-n", ns, "--reuse-values",
               "--set", "podAnnotations.upgraded=yes", "--wait", "--timeout", "5m", check=False)
    dep = deployment(kubectl, ns)
    print(f"\nautoscaling on: .spec.replicas owned by {owners}; helm upgrade exit "
          f"{res.returncode}; replicas after {dep['spec']['replicas']}")
    assert res.returncode == 0, res.stderr
    assert dep["spec"]["replicas"] == 2
    assert dep["spec"]["template"]["metadata"]["annotations"]["upgraded"] == "yes"


def rendered_route(ns: str, *sets: str) -> dict:
    out = helm("template", RELEASE, str(CHART), "-n", ns, "--set", "httpRoute.enabled=true",
               *sets, "--show-only", "templates/httproute.yaml").stdout
    return yaml.safe_load(out)


def test_the_httproute_is_accepted_by_the_api_server(kubectl, make_namespace):
    """Server-side dry run against the Gateway API CRDs ci/cluster/up.sh installed: the default
    route and one with every setting; a route the CRD's schema forbids is refused."""
    kubectl("get", "crd", "httproutes.gateway.networking.k8s.io")
    ns = make_namespace("faq-route")
    routes = {
        "default": rendered_route(ns),
        "full": rendered_route(ns,
            "--set", "httpRoute.parentRefs[0].name=edge",
            "--set", "httpRoute.parentRefs[0].namespace=gateways",
            "--set", "httpRoute.parentRefs[0].sectionName=https",
            "--set", "httpRoute.parentRefs[0].port=443",
            "--set", "httpRoute.hostnames[0]=faq.example.com",
            "--set", "httpRoute.hostnames[1]=*.faq.example.com",
            "--set", "httpRoute.annotations.team=faq"),
    }
    for name, route in routes.items():
        res = kubectl("apply", "--dry-run=server", "-f", "-", namespace=ns,
                      input=json.dumps(route), check=False)
        print(f"\n{name} HTTPRoute: {res.stdout.strip()}")
        assert res.returncode == 0, res.stderr
    bad = json.loads(json.dumps(routes["default"]))
    bad["spec"]["rules"][0]["matches"][0]["path"]["type"] = "Glob"
    res = kubectl("apply", "--dry-run=server", "-f", "-", namespace=ns, input=json.dumps(bad),
                  check=False)
    print(f"a path type Glob: {res.stderr.strip()}")
    assert res.returncode != 0 and "Glob" in res.stderr, res.stdout + res.stderr


# -- 3. from the registry ----------------------------------------------------------------------

LOCAL_KEY = FAQ_CACHE / "chart-key"


def test_make_up_leaves_the_chart_in_the_registry(kubectl):
    """`bash ci/up.sh` (make up) into a namespace of its own; then `helm show chart` of the
    registry's chart answers with this checkout's Chart.yaml, signKey added."""
    with release_namespace(kubectl, "faq-up") as ns:
        res = make_up(ns)
        assert res.returncode == 0, res.stderr[-4000:]
        assert "pushing the chart to oci://" in res.stderr
        assert '"answers"' in res.stdout, res.stdout
    shown = helm("show", "chart", CHART_REF, "--version", CHART_META["version"], "--plain-http")
    meta = yaml.safe_load(shown.stdout)
    print(f"helm show chart {CHART_REF} --version {CHART_META['version']}: version "
          f"{meta['version']}, appVersion {meta['appVersion']}, signKey "
          f"{meta['annotations'].get('artifacthub.io/signKey', '').splitlines()}")
    key = yaml.safe_load(meta["annotations"].pop("artifacthub.io/signKey"))
    for field in ("name", "version", "appVersion", "kubeVersion", "annotations"):
        assert meta[field] == CHART_META[field], field
    assert key["url"] == f"file://{LOCAL_KEY}/public.asc"


def install_verified(ref: str, version: str, ns: str, pushed: dict, *extra: str,
                     check: bool = True) -> subprocess.CompletedProcess:
    return helm("install", RELEASE, ref, "--version", version, "--plain-http", "--verify",
                "--keyring", str(LOCAL_KEY / "pubring.gpg"), "-n", ns,
                *local_install_args(pushed["app"], pushed["model-1.0"]), *extra,
                "--wait", "--timeout", "5m", check=check)


def test_install_verify_from_the_registry_answers(kubectl, make_namespace, pushed):
    """The chart `make up` pushed, signed with the local key: `helm install --verify` checks it
    against the public keyring, and the release answers."""
    ns = restricted(make_namespace, "faq-oci")
    res = install_verified(CHART_REF, CHART_META["version"], ns, pushed)
    url = kubectl.service_url(ns, RELEASE)

    def answered():  # --wait saw the pod Ready; kube-proxy's rules follow a moment later
        try:
            return ask(url)
        except OSError:
            return None
    status, version = kubectl.wait_for(answered, 60, "the Service to answer")
    print(f"\nhelm install --verify {CHART_REF} --version {CHART_META['version']}: "
          f"{res.stdout.splitlines()[:1]}; a question: HTTP {status}, model {version}")
    assert (status, version) == (200, "1.0")
    out = helm("get", "metadata", RELEASE, "-n", ns).stdout
    assert f"VERSION: {CHART_META['version']}" in out, out


def tampered_package(genuine: Path, version: str, dest: Path) -> Path:
    """The genuine package with one value changed and the version set to `version`, repacked
    under its new name (what `helm push` tags it with)."""
    dest.mkdir(parents=True, exist_ok=True)
    name = CHART_META["name"]
    out = dest / f"{name}-{version}.tgz"
    with tarfile.open(genuine) as src, tarfile.open(out, "w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else None
            if member.name == f"{name}/values.yaml":
                data = data.replace(b"replicaCount: 1", b"replicaCount: 9", 1)
            if member.name == f"{name}/Chart.yaml":
                data = data.replace(f"version: {CHART_META['version']}".encode(),
                                    f"version: {version}".encode(), 1)
            if data is not None:
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data) if data is not None else None)
    return out


def delete_tag(version: str) -> None:
    """Remove a test's chart version from the shared registry (Distribution, delete enabled)."""
    base = f"http://{REGISTRY}/v2/charts/{CHART_META['name']}"
    r = requests.head(f"{base}/manifests/{version}", timeout=10, headers={
        "Accept": "application/vnd.oci.image.manifest.v1+json"})
    if r.status_code == 200:
        requests.delete(f"{base}/manifests/{r.headers['Docker-Content-Digest']}", timeout=10)


def test_tampered_charts_in_the_registry_are_refused(kubectl, make_namespace, pushed, tmp_path):
    """Two charts pushed to the same repository under other versions: the genuine chart changed
    after signing, beside the genuine .prov; and the changed chart signed again with another key
    (an attacker's, as one who can push but does not hold the release key would). `helm install
    --verify` with the local public key refuses both and installs nothing."""
    ns = restricted(make_namespace, "faq-tamper")
    pulled = tmp_path / "pulled"
    pulled.mkdir()
    helm("pull", CHART_REF, "--version", CHART_META["version"], "--plain-http", "--verify",
         "--keyring", str(LOCAL_KEY / "pubring.gpg"), "-d", str(pulled))
    genuine = pulled / f"{CHART_META['name']}-{CHART_META['version']}.tgz"
    suffix = "x" + uuid.uuid4().hex[:8]  # a semver pre-release part (no leading zero)
    outcomes = {}
    versions = []
    try:
        # (a) changed after signing, with the genuine .prov
        v = f"0.0.0-tampered.{suffix}"
        versions.append(v)
        bad = tampered_package(genuine, v, tmp_path / "a")
        shutil.copyfile(f"{genuine}.prov", f"{bad}.prov")
        helm("push", str(bad), f"oci://{REGISTRY}/charts", "--plain-http")
        # (b) changed and re-signed with another key
        v = f"0.0.0-resigned.{suffix}"
        versions.append(v)
        other = tmp_path / "other-key"
        key = subprocess.run(["bash", str(ROOT / "ci" / "chart-key.sh")], capture_output=True,
                             text=True, check=True,
                             env={**os.environ, "CHART_KEY_DIR": str(other)}).stdout
        name, secring, _ = key.rstrip("\n").split("\t")
        unpacked = tmp_path / "b-src"
        with tarfile.open(tampered_package(genuine, v, tmp_path / "b-tgz")) as t:
            t.extractall(unpacked, filter="data")
        helm("package", str(unpacked / CHART_META["name"]), "--sign", "--key", name,
             "--keyring", secring, "-d", str(tmp_path / "b"))
        helm("push", str(tmp_path / "b" / f"{CHART_META['name']}-{v}.tgz"),
             f"oci://{REGISTRY}/charts", "--plain-http")
        for v in versions:
            res = install_verified(CHART_REF, v, ns, pushed, check=False)
            outcomes[v] = res.stderr.strip()
            print(f"\nhelm install --verify --version {v}: exit {res.returncode}: {outcomes[v]}")
            assert res.returncode != 0, res.stdout
            assert helm("status", RELEASE, "-n", ns, check=False).returncode != 0, \
                "a release was installed from a chart that failed verification"
        assert "signature made by unknown entity" in outcomes[versions[1]]
        # Without --verify the same tampered chart would install: the refusal is the check's.
        res = helm("template", RELEASE, CHART_REF, "--version", versions[0], "--plain-http",
                   "--show-only", "templates/deployment.yaml", "-f",
                   str(CHART / "ci" / "local-images.yaml"))
        assert "replicas: 9" in res.stdout
    finally:
        for v in versions:
            delete_tag(v)
