"""model-copy carries a model's signature onto the volume, where the app checks it (run directly
under busybox sh and dash, as tests/images/test_model_copy.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from faq_engine.modeldir import SIGNATURE, ModelError, verify
from faq_engine.signing import load_public_key, verify_signature
from faqtest.signing import forge, make_key


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return make_key(tmp_path_factory.mktemp("keys"))


def sign(model_dir, private):
    r = subprocess.run([sys.executable, "-m", "faq_engine.cli", "sign", "--model-dir",
                        str(model_dir), "--key", str(private)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@pytest.fixture
def source(trained_model, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(trained_model, src)
    return src


def test_signature_lands_with_the_model_and_verifies_there(run_copy, source, tmp_path, keys):
    sign(source, keys[0])
    target = tmp_path / "vol"
    target.mkdir()
    r = run_copy(source, target)
    assert r.returncode == 0, r.stderr
    dest = target / "1.0"
    assert (dest / SIGNATURE).read_bytes() == (source / SIGNATURE).read_bytes()
    assert oct((dest / SIGNATURE).stat().st_mode & 0o777) == "0o444"
    verify_signature(dest, load_public_key(keys[1]))
    verify(dest, "auto")


def test_a_cached_unsigned_copy_takes_the_signature_of_a_signed_image(run_copy, source, tmp_path,
                                                                      keys):
    target = tmp_path / "vol"
    target.mkdir()
    assert run_copy(source, target).returncode == 0
    with pytest.raises(ModelError, match="unsigned"):
        verify_signature(target / "1.0", load_public_key(keys[1]))
    sign(source, keys[0])  # the same files, now signed: a cache hit brings the signature along
    r = run_copy(source, target)
    assert r.returncode == 0 and "cache-hit" in r.stdout, r.stdout + r.stderr
    verify_signature(target / "1.0", load_public_key(keys[1]))


def test_a_forged_image_copies_fine_and_the_app_refuses_it(run_copy, source, tmp_path, keys):
    """model-copy checks SHA256SUMS only: a forgery with re-computed sums passes it; the
    signature check where the model is consumed is what stops it."""
    sign(source, keys[0])
    forge(source)
    target = tmp_path / "vol"
    target.mkdir()
    r = run_copy(source, target)
    assert r.returncode == 0, r.stderr
    with pytest.raises(ModelError, match="entries.jsonl: changed after signing"):
        verify_signature(target / "1.0", load_public_key(keys[1]))
