"""`ci/release chart`: the chart packaged reproducibly (the same bytes from two clones of the
same commit, made at different times), signed (Helm provenance, a key made for the test) and
pushed with its .prov to an OCI registry (CNCF Distribution on 127.0.0.1); what the registry
serves verifies against the public key, and a tampered chart is refused. The package names its
signing key for Artifact Hub (artifacthub.io/signKey), and ci/artifacthub-repo.yml is in the
chart's repository under the tag artifacthub.io, as Artifact Hub reads it."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
import requests
import yaml

from faqtest.artifacthub import MEDIA_CONFIG, MEDIA_REPO_METADATA, annotation_errors
from faqtest.common import ROOT
from faqtest.common import clone_worktree

CHART_META = yaml.safe_load((ROOT / "chart" / "Chart.yaml").read_text())
NAME, VERSION = CHART_META["name"], CHART_META["version"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def helm(*args: str, **kw) -> subprocess.CompletedProcess:
    assert shutil.which("helm"), "helm is not on PATH (ci/with-env)"
    return subprocess.run(["helm", *args], capture_output=True, text=True, timeout=300, **kw)


@pytest.fixture(scope="module")
def signing_key(tmp_path_factory) -> dict[str, str]:
    """A key made for the test by ci/chart-key.sh: name, secret and public keyrings."""
    d = tmp_path_factory.mktemp("chart-key")
    res = subprocess.run(["bash", str(ROOT / "ci" / "chart-key.sh")], capture_output=True,
                         text=True, env={**os.environ, "CHART_KEY_DIR": str(d / "key")})
    assert res.returncode == 0, res.stderr
    name, secring, pubring = res.stdout.rstrip("\n").split("\t")
    return {"name": name, "secring": secring, "pubring": pubring}


def release_chart(repo: Path, registry: str, key: dict, out: Path) -> dict[str, str]:
    env = {**os.environ, "REGISTRY": registry, "CHART_SIGN_KEY": key["name"],
           "CHART_KEYRING": key["secring"], "CHART_OUT": str(out)}
    env.pop("SOURCE_DATE_EPOCH", None)
    res = subprocess.run([str(repo / "ci" / "release"), "chart"], cwd=repo, env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    return dict(line.split("=", 1) for line in res.stdout.splitlines() if "=" in line)


@pytest.fixture(scope="module")
def released(oci_registry, signing_key, tmp_path_factory):
    """Two releases of the same commit from two clones made seconds apart (other file times)."""
    tmp = tmp_path_factory.mktemp("release-chart")
    first = clone_worktree(tmp / "a")
    time.sleep(1.1)
    second = tmp / "b"
    subprocess.run(["git", "clone", "-q", str(first), str(second)], check=True)
    os.utime(second / "chart" / "values.yaml")  # touched after checkout: a later mtime
    outs = [release_chart(repo, oci_registry, signing_key, tmp / f"out-{i}")
            for i, repo in enumerate((first, second))]
    return outs


def test_the_package_is_reproducible(released):
    a, b = (Path(r["package"]) for r in released)
    assert a.name == b.name == f"{NAME}-{VERSION}.tgz"
    assert sha256(a) == sha256(b), "two packages of the same commit differ"
    # (The OCI manifests differ: each carries its own .prov, whose signature has its own time.)
    print(f"\nreproducible: {a.name} sha256:{sha256(a)} from both clones")


def test_the_release_names_the_chart_and_its_version(released, oci_registry):
    r = released[0]
    assert r["version"] == VERSION
    assert r["chart"] == f"oci://{oci_registry}/charts/{NAME}"
    assert r["digest"].startswith("sha256:") and len(r["digest"]) == 71
    res = helm("show", "chart", r["chart"], "--version", VERSION, "--plain-http")
    assert res.returncode == 0, res.stderr
    assert yaml.safe_load(res.stdout)["version"] == VERSION


def test_the_registry_serves_a_chart_that_verifies(released, signing_key, tmp_path):
    """`helm pull --verify` fetches the .prov from the registry with the chart and checks both."""
    res = helm("pull", released[0]["chart"], "--version", VERSION, "--plain-http", "--verify",
               "--keyring", signing_key["pubring"], "-d", str(tmp_path))
    assert res.returncode == 0, res.stdout + res.stderr
    assert (tmp_path / f"{NAME}-{VERSION}.tgz").is_file()
    assert sha256(tmp_path / f"{NAME}-{VERSION}.tgz") == sha256(Path(released[0]["package"]))


def test_verification_fails_with_another_key(released, tmp_path):
    other = tmp_path / "other"
    res = subprocess.run(["bash", str(ROOT / "ci" / "chart-key.sh")], capture_output=True,
                         text=True, env={**os.environ, "CHART_KEY_DIR": str(other)})
    assert res.returncode == 0, res.stderr
    res = helm("pull", released[0]["chart"], "--version", VERSION, "--plain-http", "--verify",
               "--keyring", str(other / "pubring.gpg"), "-d", str(tmp_path))
    assert res.returncode != 0, res.stdout
    print(f"\nanother key: {res.stderr.strip()}")


def tampered(package: Path, dest: Path) -> Path:
    """The package with one value changed, repacked under the same name."""
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / package.name
    with tarfile.open(package) as src, tarfile.open(out, "w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else None
            if member.name.endswith("/values.yaml") and member.name.count("/") == 1:
                data = data.replace(b"replicaCount: ", b"replicaCount: 9 #", 1)
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data) if data is not None else None)
    shutil.copyfile(f"{package}.prov", f"{out}.prov")
    return out


def test_a_tampered_chart_is_refused(released, signing_key, oci_registry, tmp_path):
    """The same .prov next to a chart whose values changed: `helm verify` refuses it locally,
    and so does `helm pull --verify` once it is pushed to the registry in place of the real one."""
    bad = tampered(Path(released[0]["package"]), tmp_path / "bad")
    res = helm("verify", str(bad), "--keyring", signing_key["pubring"])
    assert res.returncode != 0 and "sha256 sum does not match" in res.stderr, res.stderr
    local_refusal = res.stderr.strip()
    repo = f"oci://{oci_registry}/tampered"
    res = helm("push", str(bad), repo, "--plain-http")
    assert res.returncode == 0, res.stderr
    (tmp_path / "pulled").mkdir()
    res = helm("pull", f"{repo}/{NAME}", "--version", VERSION, "--plain-http", "--verify",
               "--keyring", signing_key["pubring"], "-d", str(tmp_path / "pulled"))
    assert res.returncode != 0, res.stdout
    assert "sha256 sum does not match" in res.stderr, res.stderr
    pulled_refusal = res.stderr.strip()  # (helm pull leaves the file it refused in -d)
    # What installs: `helm install --verify` refuses the tampered chart before rendering it.
    res = helm("install", "rel", f"{repo}/{NAME}", "--version", VERSION, "--plain-http",
               "--verify", "--keyring", signing_key["pubring"], "--dry-run=client",
               "-f", str(ROOT / "chart" / "ci" / "local-images.yaml"))
    assert res.returncode != 0 and "sha256 sum does not match" in res.stderr, res.stderr
    print(f"\ntampered: helm verify: {local_refusal}\n  helm pull --verify: {pulled_refusal}"
          f"\n  helm install --verify: {res.stderr.strip()}")


def test_the_genuine_chart_installs_with_verify(released, signing_key):
    """The counterpart of the refusal: the released chart passes `helm install --verify`."""
    res = helm("install", "rel", released[0]["chart"], "--version", VERSION, "--plain-http",
               "--verify", "--keyring", signing_key["pubring"], "--dry-run=client",
               "-f", str(ROOT / "chart" / "ci" / "local-images.yaml"))
    assert res.returncode == 0, res.stderr
    assert "kind: Deployment" in res.stdout


def key_fingerprint(keyring: str) -> str:
    out = subprocess.run(["gpg", "--batch", "--with-colons", "--show-keys", keyring],
                         capture_output=True, text=True, check=True).stdout
    return next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:"))


def test_the_package_names_its_signing_key_for_artifact_hub(released, signing_key, oci_registry):
    """artifacthub.io/signKey in the package (and as the registry serves it): the fingerprint of
    the key that signed it, and where its public half is (here the public.asc beside the test
    keyring); every annotation in Artifact Hub's format."""
    with tarfile.open(released[0]["package"]) as tar:
        packaged = yaml.safe_load(tar.extractfile(f"{NAME}/Chart.yaml").read())
    key = yaml.safe_load(packaged["annotations"]["artifacthub.io/signKey"])
    public = Path(signing_key["pubring"]).parent / "public.asc"
    assert key == {"fingerprint": key_fingerprint(signing_key["pubring"]),
                   "url": f"file://{public}"}
    assert annotation_errors(packaged) == []
    # The rest of Chart.yaml is the source's.
    packaged["annotations"].pop("artifacthub.io/signKey")
    assert packaged == CHART_META
    res = helm("show", "chart", released[0]["chart"], "--version", VERSION, "--plain-http")
    assert res.returncode == 0, res.stderr
    shown = yaml.safe_load(res.stdout)["annotations"]["artifacthub.io/signKey"]
    assert yaml.safe_load(shown) == key


def test_the_artifact_hub_metadata_is_in_the_charts_repository(released, oci_registry):
    """The tag `artifacthub.io` of oci://REGISTRY/charts/faq-engine: config media type
    application/vnd.cncf.artifacthub.config.v1+yaml, one layer of media type
    application/vnd.cncf.artifacthub.repository-metadata.layer.v1.yaml holding
    ci/artifacthub-repo.yml byte for byte, beside the chart's version tag."""
    base = f"http://{oci_registry}/v2/charts/{NAME}"
    tags = requests.get(f"{base}/tags/list", timeout=10).json()["tags"]
    assert {VERSION, "artifacthub.io"} <= set(tags), tags
    r = requests.get(f"{base}/manifests/artifacthub.io", timeout=10, headers={
        "Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert r.status_code == 200, r.text
    manifest = r.json()
    assert manifest["config"]["mediaType"] == MEDIA_CONFIG, manifest
    (layer,) = [la for la in manifest["layers"] if la["mediaType"] == MEDIA_REPO_METADATA]
    blob = requests.get(f"{base}/blobs/{layer['digest']}", timeout=10).content
    assert blob == (ROOT / "ci" / "artifacthub-repo.yml").read_bytes()
    print(f"\nartifacthub.io: config {manifest['config']['mediaType']} "
          f"({manifest['config']['size']} bytes), layer {layer['mediaType']} {layer['size']} bytes")
