"""Signed models: `faq-engine sign` (OpenSSF Model Signing), the app's own check of the bundle,
the upstream `model_signing verify` CLI, and a server that refuses what it cannot trust."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from faq_engine.modeldir import MANIFEST, SIGNATURE, STAMP, SUMS, sha256_file, verify
from faq_engine.signing import load_public_key, verify_signature
from faq_engine.web import create_app
from faqtest.signing import forge, make_key

BIN = Path(sys.executable).parent


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "faq_engine.cli", *args],
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    return make_key(d, "ours"), make_key(d, "theirs")


@pytest.fixture
def signed(trained_model, tmp_path, keys):
    dst = tmp_path / "1.0"
    shutil.copytree(trained_model, dst)
    r = cli("sign", "--model-dir", str(dst), "--key", str(keys[0][0]))
    assert r.returncode == 0, r.stderr
    return dst


def refused(model_dir: Path, public: Path) -> str:
    r = cli("verify", "--model-dir", str(model_dir), "--public-key", str(public))
    assert r.returncode == 1, r.stdout
    return r.stderr


def test_signature_covers_every_file_and_travels_in_the_directory(signed, keys):
    r = cli("verify", "--model-dir", str(signed), "--public-key", str(keys[0][1]))
    assert r.returncode == 0, r.stderr
    assert "signature verified" in r.stdout
    bundle = json.loads((signed / SIGNATURE).read_text())
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    names = {r["name"]: r["digest"] for r in statement["predicate"]["resources"]}
    on_disk = {p.name for p in signed.iterdir()} - {SIGNATURE}
    assert set(names) == on_disk and {MANIFEST, SUMS} <= on_disk
    assert all(names[n] == sha256_file(signed / n) for n in names)


def test_upstream_model_signing_cli_accepts_it(signed, keys, tmp_path):
    r = subprocess.run([str(BIN / "model_signing"), "verify", "key", str(signed),
                        "--signature", str(signed / SIGNATURE), "--public_key", str(keys[0][1])],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    # and refuses the other key, as we do
    r = subprocess.run([str(BIN / "model_signing"), "verify", "key", str(signed),
                        "--signature", str(signed / SIGNATURE), "--public_key", str(keys[1][1])],
                       capture_output=True, text=True)
    assert r.returncode != 0


def test_a_signature_made_by_the_upstream_cli_is_accepted(trained_model, tmp_path, keys):
    d = tmp_path / "m"
    shutil.copytree(trained_model, d)
    r = subprocess.run([str(BIN / "model_signing"), "sign", "key", str(d), "--signature",
                        str(d / SIGNATURE), "--private_key", str(keys[0][0])],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert verify_signature(d, load_public_key(keys[0][1]))["version"] == "1.0"


def test_unsigned_model_is_refused(trained_model, keys):
    err = refused(trained_model, keys[0][1])
    assert "model.sig: missing: the model is unsigned" in err


def test_model_signed_by_another_key_is_refused(signed, keys):
    err = refused(signed, keys[1][1])
    assert "signed by another key" in err


def test_signature_without_key_hint_by_another_key_is_refused(signed, keys):
    bundle = json.loads((signed / SIGNATURE).read_text())
    del bundle["verificationMaterial"]["publicKey"]
    (signed / SIGNATURE).write_text(json.dumps(bundle))
    assert "does not verify with the configured public key" in refused(signed, keys[1][1])


def test_forged_model_with_recomputed_checksums_is_refused(signed, keys):
    forge(signed)
    verify(signed, "sha256")  # the checksums alone pass: this is what signing is for
    err = refused(signed, keys[0][1])
    assert "entries.jsonl: changed after signing" in err


def test_altered_statement_is_refused(signed, keys):
    """Re-signing is impossible without the key; editing the signed digests breaks the
    signature."""
    forge(signed)
    bundle = json.loads((signed / SIGNATURE).read_text())
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    for r in statement["predicate"]["resources"]:
        if r["name"] in (MANIFEST, SUMS, "entries.jsonl"):
            r["digest"] = sha256_file(signed / r["name"])
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    (signed / SIGNATURE).write_text(json.dumps(bundle))
    assert "does not verify with the configured public key" in refused(signed, keys[0][1])


def test_file_added_after_signing_is_refused(signed, keys):
    extra = signed / "extra.json"
    extra.write_text("{}")
    manifest = json.loads((signed / MANIFEST).read_text())
    manifest["files"].append({"path": "extra.json", "size": 2, "sha256": sha256_file(extra)})
    from faq_engine.modeldir import dump_manifest, dump_sums

    text = dump_manifest(manifest)
    (signed / MANIFEST).write_text(text)
    (signed / SUMS).write_text(dump_sums(manifest, text))
    verify(signed, "sha256")
    assert "extra.json: not covered by the signature" in refused(signed, keys[0][1])


def test_malformed_signature_is_refused(signed, keys):
    (signed / SIGNATURE).write_text("{not json")
    assert "not a model signature bundle" in refused(signed, keys[0][1])


def test_model_copy_stamp_next_to_a_signed_model_is_fine(signed, keys):
    (signed / STAMP).write_text(sha256_file(signed / MANIFEST) + "\n")
    assert verify_signature(signed, load_public_key(keys[0][1]))["version"] == "1.0"


def test_bad_public_key_is_named(signed, tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key\n")
    assert "not a PEM public key" in refused(signed, bad)
    rsa = tmp_path / "rsa.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", str(tmp_path / "rsa.key")], check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", str(tmp_path / "rsa.key"), "-pubout", "-out",
                    str(rsa)], check=True, capture_output=True)
    assert "not an ECDSA" in refused(signed, rsa)


def test_sign_refuses_a_damaged_model(trained_model, tmp_path, keys):
    d = tmp_path / "m"
    shutil.copytree(trained_model, d)
    (d / "entries.jsonl").chmod(0o644)
    with open(d / "entries.jsonl", "r+b") as fh:
        fh.write(b"X")
    r = cli("sign", "--model-dir", str(d), "--key", str(keys[0][0]))
    assert r.returncode == 1 and "sha256 mismatch" in r.stderr
    assert not (d / SIGNATURE).exists()


@pytest.mark.parametrize("case", ["unsigned", "other-key", "forged"])
def test_app_with_a_public_key_stays_unready(signed, trained_model, keys, case):
    model, public = signed, keys[0][1]
    if case == "unsigned":
        model = trained_model
    elif case == "other-key":
        public = keys[1][1]
    else:
        forge(signed)
    client = create_app({"MODEL_DIR": str(model), "MODEL_PUBLIC_KEY": str(public),
                         "TESTING": True}).test_client()
    r = client.get("/readyz")
    assert r.status_code == 503
    reason = {"unsigned": "unsigned", "other-key": "signed by another key",
              "forged": "changed after signing"}[case]
    assert reason in r.get_data(as_text=True)
    r = client.post("/v1/answer", json={"question": "How do I roll back?"})
    assert r.status_code == 503


def test_app_serves_a_signed_model(signed, keys):
    client = create_app({"MODEL_DIR": str(signed), "MODEL_PUBLIC_KEY": str(keys[0][1]),
                         "TESTING": True}).test_client()
    assert client.get("/readyz").status_code == 200


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _readyz(port: int, proc: subprocess.Popen, want: int, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                status, body = r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read().decode()
        except OSError:
            time.sleep(0.2)
            continue
        if status == want:
            return body
        time.sleep(0.2)
    raise AssertionError(f"/readyz never answered {want}")


@pytest.mark.parametrize("how", ["flag", "env"])
def test_serve_public_key_flag_and_env(signed, keys, tmp_path, how):
    """`faq-engine serve --public-key` and FAQ_MODEL_PUBLIC_KEY reach the gunicorn app."""
    forge(signed)
    port = _port()
    args = ["serve", "--model-dir", str(signed), "--port", str(port), "--workers", "1"]
    env = dict(os.environ)
    if how == "flag":
        args += ["--public-key", str(keys[0][1])]
    else:
        env["FAQ_MODEL_PUBLIC_KEY"] = str(keys[0][1])
    with open(tmp_path / "log", "w+") as log:
        proc = subprocess.Popen([sys.executable, "-m", "faq_engine.cli", *args], stdout=log,
                                stderr=subprocess.STDOUT, env=env)
        try:
            assert "changed after signing" in _readyz(port, proc, 503)
        finally:
            proc.kill()
            proc.wait()
