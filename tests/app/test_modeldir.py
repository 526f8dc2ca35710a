import hashlib
import json

import pytest

from faq_engine.modeldir import (
    ModelError,
    dump_manifest,
    dump_sums,
    read_sums,
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
    (lambda m: m.update(format=4), "unsupported manifest format 4 .this app reads 2 to 3"),
    (lambda m: m.update(format=1), "unsupported manifest format 1"),
    (lambda m: m.update(format=0), "unsupported manifest format"),
    (lambda m: m.update(format=True), "unsupported manifest format"),
    (lambda m: m.update(version="1.0\n"), "bad model version"),
    (lambda m: m.update(version="current"), "bad model version"),
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


# --- the model/app contract (issue 12 item 11) ------------------------------------------------

def test_sums_and_manifest_agree(model_copy):
    sums = read_sums(model_copy)
    m = read_manifest(model_copy)
    assert set(sums) == {f["path"] for f in m["files"]} | {"manifest.json"}
    assert sums["manifest.json"] == hashlib.sha256((model_copy / "manifest.json").read_bytes()).hexdigest()
    assert "VERSION" in sums and (model_copy / "VERSION").read_text() == "1.0\n"


def _set_sum(model_dir, name, digest):
    p = model_dir / "SHA256SUMS"
    lines = [f"{digest}  {name}" if ln.endswith(f"  {name}") else ln for ln in p.read_text().splitlines()]
    p.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("damage, file, message", [
    (lambda d: _set_sum(d, "vectors.npy", "0" * 64), "vectors.npy", "differs between manifest.json and SHA256SUMS"),
    (lambda d: (d / "SHA256SUMS").write_text("\n".join(
        ln for ln in (d / "SHA256SUMS").read_text().splitlines() if not ln.endswith("  entries.jsonl")) + "\n"),
     "entries.jsonl", "SHA256SUMS: does not list entries.jsonl"),
    (lambda d: (d / "manifest.json").write_text((d / "manifest.json").read_text().replace('"entries": ', '"entries": 1')),
     "manifest.json", "manifest.json: sha256 mismatch .SHA256SUMS"),
    (lambda d: (d / "SHA256SUMS").write_text("not a checksum line\n"), "SHA256SUMS", "malformed line 1"),
    (lambda d: (d / "SHA256SUMS").unlink(), "SHA256SUMS", "SHA256SUMS: missing"),
])
def test_sums_that_disagree_are_refused_naming_the_file(model_copy, damage, file, message):
    damage(model_copy)
    for mode in ("size", "sha256"):
        with pytest.raises(ModelError, match=message) as e:
            verify(model_copy, mode)
        assert e.value.file == file


def test_version_file_must_match(model_copy):
    (model_copy / "VERSION").chmod(0o644)
    (model_copy / "VERSION").write_text("9.9\n")
    digest = hashlib.sha256(b"9.9\n").hexdigest()
    m = json.loads((model_copy / "manifest.json").read_text())
    for f in m["files"]:
        if f["path"] == "VERSION":
            f["sha256"] = digest
    text = dump_manifest(m)
    (model_copy / "manifest.json").write_text(text)
    (model_copy / "SHA256SUMS").write_text(dump_sums(m, text))
    with pytest.raises(ModelError, match="VERSION: version '9.9' is not the manifest's '1.0'"):
        verify(model_copy)
