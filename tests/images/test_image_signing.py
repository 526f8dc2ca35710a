"""Both images are signed by digest and carry their SBOM. `ci/release app` and `ci/release model`
build, push to a real registry (CNCF Distribution on loopback, the oci_registry fixture), sign
each pushed digest with cosign (a key pair made here, with a password) and attach syft's SBOM
(SPDX JSON) as a signed attestation. Everything is read back from the registry by digest with the
pinned cosign (ci/go-tools.sh), as a user verifies a release: the signature holds for the key and
the pushed digest only, and the attested SBOM names the app's Python dependencies in the app
image and busybox in the model image, not the other way round."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess

import pytest
from faqtest.common import ROOT
from faqtest.oci import push_image

pytestmark = [pytest.mark.images, pytest.mark.slow]

PASSWORD = "image-signing-test"
# What requirements.txt installs into the app image (names as the SPDX packages give them).
APP_PACKAGES = {"flask", "gunicorn", "gensim"}
LOOPBACK = ["--allow-insecure-registry", "--allow-http-registry"]
NAMES = {"app": "faq-engine", "model": "faq-engine-model"}


@pytest.fixture(scope="module")
def cosign() -> str:
    r = subprocess.run(["bash", str(ROOT / "ci" / "go-tools.sh"), "cosign", "syft"],
                       capture_output=True, text=True, timeout=3600)
    assert r.returncode == 0, f"ci/go-tools.sh cosign syft failed:\n{r.stderr[-3000:]}"
    return os.path.join(r.stdout.strip(), "cosign")


def key_pair(cosign: str, directory, password: str) -> tuple[str, str]:
    directory.mkdir()
    subprocess.run([cosign, "generate-key-pair", "--output-key-prefix", "cosign"], cwd=directory,
                   env={**os.environ, "COSIGN_PASSWORD": password}, check=True,
                   capture_output=True)
    return str(directory / "cosign.key"), str(directory / "cosign.pub")


@pytest.fixture(scope="module")
def released(oci_registry, cosign, tmp_path_factory):
    """ci/release of the app and of a model to the test registry, signed with a key made here;
    returns ({"app": outputs, "model": outputs}, public key)."""
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: run ci/setup-host.sh (make setup)")
    tmp = tmp_path_factory.mktemp("imgsign")
    key, pub = key_pair(cosign, tmp / "keys", PASSWORD)
    chart = tmp / "chart"
    shutil.copytree(ROOT / "chart", chart)  # the bump goes here, not into the checkout
    env = {**os.environ, "IMAGE_SIGNING": "key", "IMAGE_SIGNING_KEY": key,
           "COSIGN_PASSWORD": PASSWORD, "SBOM_DIR": str(tmp / "sboms"), "BASES": "local"}
    out = {}
    for what, version in (("app", "1.0.1"), ("model", "1.2")):
        r = subprocess.run([str(ROOT / "ci" / "release"), what, version, "--registry",
                            oci_registry, "--chart-dir", str(chart), "--deploy", "0"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
        (tmp / f"release-{what}.log").write_text(r.stderr)  # sign.sh's step times are here
        assert r.returncode == 0, f"ci/release {what} {version}:\n{r.stderr[-4000:]}"
        out[what] = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
        assert out[what]["image"] == f"{oci_registry}/{NAMES[what]}:{version}"
    return out, pub


def by_digest(outputs: dict[str, str]) -> str:
    return f"{outputs['image'].rsplit(':', 1)[0]}@{outputs['digest']}"


def verify(cosign: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([cosign, *args, *LOOPBACK, "--insecure-ignore-tlog=true"],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("what", ["app", "model"])
def test_the_pushed_digest_verifies_with_the_release_key(released, cosign, what):
    out, pub = released
    r = verify(cosign, "verify", "--key", pub, by_digest(out[what]))
    assert r.returncode == 0, r.stderr
    signed = json.loads(r.stdout)  # the verified claims: one per signature
    digests = {s["critical"]["image"]["docker-manifest-digest"] for s in signed}
    assert digests == {out[what]["digest"]}, r.stdout[:2000]


@pytest.mark.parametrize("what", ["app", "model"])
def test_another_key_does_not_verify(released, cosign, what, tmp_path):
    out, _ = released
    _, other = key_pair(cosign, tmp_path / "other", "")
    r = verify(cosign, "verify", "--key", other, by_digest(out[what]))
    assert r.returncode != 0, r.stdout
    assert "no matching signatures" in r.stderr or "verification failed" in r.stderr, r.stderr


def test_an_unsigned_digest_does_not_verify(released, oci_registry, cosign):
    out, pub = released
    digest = push_image(oci_registry, "faq-engine", "unsigned")  # same repository, never signed
    r = verify(cosign, "verify", "--key", pub, f"{oci_registry}/faq-engine@{digest}")
    assert r.returncode != 0, r.stdout
    assert "no signatures found" in r.stderr or "no matching" in r.stderr, r.stderr


def attested_sbom(cosign: str, pub: str, outputs: dict[str, str]) -> dict:
    """The SPDX document of the verified spdxjson attestation of the pushed digest."""
    r = verify(cosign, "verify-attestation", "--key", pub, "--type", "spdxjson",
               by_digest(outputs))
    assert r.returncode == 0, r.stderr
    envelopes = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    assert envelopes, r.stderr
    statements = [json.loads(base64.b64decode(e["payload"])) for e in envelopes]
    for s in statements:
        assert s["predicateType"] == "https://spdx.dev/Document", s["predicateType"]
        assert [d["digest"]["sha256"] for d in s["subject"]] == \
            [outputs["digest"].removeprefix("sha256:")]
    return statements[0]["predicate"]


def package_names(sbom: dict) -> set[str]:
    return {p["name"].lower() for p in sbom["packages"]}


def test_the_app_sbom_lists_its_python_dependencies_and_no_busybox(released, cosign):
    out, pub = released
    names = package_names(attested_sbom(cosign, pub, out["app"]))
    assert APP_PACKAGES <= names, sorted(names)
    assert "busybox" not in names


def test_the_model_sbom_lists_busybox_and_no_python_dependency(released, cosign):
    out, pub = released
    names = package_names(attested_sbom(cosign, pub, out["model"]))
    assert "busybox" in names, sorted(names)
    assert not APP_PACKAGES & names, sorted(names)


def test_the_app_sbom_lists_packages_not_every_file(released, cosign):
    """Small enough for a keyless attestation in the public Rekor (release.yaml), which refuses
    SBOMs of a few MB (as the app's is with every file its packages own)."""
    out, pub = released
    sbom = attested_sbom(cosign, pub, out["app"])
    assert len(json.dumps(sbom)) < 1_000_000, len(json.dumps(sbom))
    assert len(sbom["packages"]) > 50  # the Python and Debian packages are all still there


def test_the_release_keeps_the_sbom_it_attested(released, cosign):
    """ci/release prints the SPDX file it attested: the same document as in the registry."""
    out, pub = released
    for what in ("app", "model"):
        with open(out[what]["sbom"]) as f:
            assert json.load(f) == attested_sbom(cosign, pub, out[what])
