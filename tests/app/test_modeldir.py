import hashlib
import json

import pytest

from faq_engine.modeldir import (
    ModelError,
    public_fields,
    read_manifest,
    resolve,
    stamped,
    verify,
)


def test_verify_ok(model_copy):
    assert verify(model_copy)["version"] == "1.0"


def test_missing_file(model_copy):
    (model_copy / "vectors.npy").unlink()
    with pytest.raises(ModelError, match="vectors.npy: missing") as e:
        verify(model_copy)
    assert e.value.file == "vectors.npy"


def test_wrong_size(model_copy):
    with open(model_copy / "entries.jsonl", "ab") as fh:
        fh.write(b"x")
    with pytest.raises(ModelError, match="entries.jsonl: size") as e:
        verify(model_copy)
    assert e.value.file == "entries.jsonl"


def test_wrong_checksum_same_size(model_copy):
    p = model_copy / "bm25.data.npy"
    data = bytearray(p.read_bytes())
    data[-1] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="bm25.data.npy: sha256 mismatch"):
        verify(model_copy)
    verify(model_copy, "size")  # size-only mode does not read the data
    with pytest.raises(ModelError, match="sha256 mismatch"):
        verify(model_copy, "auto")  # no stamp from model-copy: hash everything


def _stamp(model_dir, manifest_bytes=None):
    digest = hashlib.sha256(manifest_bytes or (model_dir / "manifest.json").read_bytes())
    (model_dir / ".complete").write_text(digest.hexdigest() + "\n")


def test_auto_trusts_a_matching_model_copy_stamp(model_copy):
    p = model_copy / "bm25.data.npy"
    data = bytearray(p.read_bytes())
    data[-1] ^= 0xFF
    p.write_bytes(bytes(data))
    _stamp(model_copy)
    assert stamped(model_copy)
    verify(model_copy, "auto")  # model-copy checked these bytes: sizes only
    with pytest.raises(ModelError, match="sha256 mismatch"):
        verify(model_copy, "sha256")
    _stamp(model_copy, b"another manifest")
    assert not stamped(model_copy)
    with pytest.raises(ModelError, match="sha256 mismatch"):
        verify(model_copy, "auto")
    (model_copy / "vectors.npy").unlink()
    _stamp(model_copy)
    with pytest.raises(ModelError, match="vectors.npy: missing"):
        verify(model_copy, "auto")  # sizes and presence are always checked


def test_unknown_verify_mode(model_copy):
    with pytest.raises(ValueError, match="verify mode"):
        verify(model_copy, "none")


@pytest.mark.parametrize("mutate, message", [
    (lambda m: m.update(format=2), "unsupported manifest format"),
    (lambda m: m.update(version="../evil"), "bad model version"),
    (lambda m: m.update(version="1.0\n"), "bad model version"),  # "$" matches before a newline
    (lambda m: m.update(files=[]), "no files listed"),
    (lambda m: m["files"][0].update(path="../x"), "malformed file entry"),
    (lambda m: m["files"][0].update(sha256="zz"), "malformed file entry"),
    (lambda m: m["files"][0].update(path=m["files"][0]["path"] + "\n"), "malformed file entry"),
])
def test_malformed_manifest(model_copy, mutate, message):
    path = model_copy / "manifest.json"
    m = json.loads(path.read_text())
    mutate(m)
    path.write_text(json.dumps(m))
    with pytest.raises(ModelError, match=message) as e:
        read_manifest(model_copy)
    assert e.value.file == "manifest.json"


def test_unreadable_and_missing_manifest(model_copy):
    (model_copy / "manifest.json").write_text("{")
    with pytest.raises(ModelError, match="manifest unreadable"):
        verify(model_copy)
    (model_copy / "manifest.json").unlink()
    with pytest.raises(ModelError, match="manifest missing"):
        verify(model_copy)


def test_resolve_follows_current(tmp_path, model_copy):
    (tmp_path / "vol").mkdir()
    (tmp_path / "vol" / "current").symlink_to(model_copy)
    assert resolve(tmp_path / "vol") == model_copy.resolve()
    assert resolve(model_copy) == model_copy.resolve()


def test_public_fields_hide_checksums(trained_model):
    manifest = verify(trained_model)
    pub = public_fields(manifest)
    assert pub["version"] == "1.0" and isinstance(pub["files"], int) and pub["bytes"] > 0
    text = json.dumps(pub)
    assert not any(f["sha256"] in text for f in manifest["files"])
