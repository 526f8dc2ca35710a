"""model-copy.sh, the model image's entrypoint, run directly under busybox sh and dash."""

import json
import os
import shutil
import subprocess
import threading

import pytest

from faq_engine.modeldir import stamped



def manifest(model_dir):
    return json.loads((model_dir / "manifest.json").read_text())


def versions_on(target):
    return sorted(p.name for p in target.iterdir() if not p.name.startswith(".") and p.name != "current")


@pytest.fixture
def source(trained_model, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(trained_model, src)
    return src


@pytest.fixture
def target(tmp_path):
    t = tmp_path / "vol"
    t.mkdir()
    return t


def test_copy_then_cache_hit(run_copy, source, target):
    r = run_copy(source, target)
    assert r.returncode == 0, r.stderr
    assert "version=1.0 copied" in r.stdout and "bytes=" in r.stdout and "seconds=" in r.stdout
    dest = target / "1.0"
    for f in manifest(source)["files"]:
        assert (dest / f["path"]).read_bytes() == (source / f["path"]).read_bytes()
    assert (dest / "manifest.json").read_bytes() == (source / "manifest.json").read_bytes()
    assert os.readlink(target / "current") == str(dest)
    assert [p.name for p in target.iterdir() if p.name.startswith(".")] == []
    assert stamped(dest)  # the app then trusts the checksums (MODEL_VERIFY=auto)

    r = run_copy(source, target)
    assert r.returncode == 0 and "cache-hit" in r.stdout, r.stdout + r.stderr

    r = run_copy(source, target, MODEL_FORCE_VERIFY=1)
    assert r.returncode == 0 and "cache-hit verified" in r.stdout


def test_force_verify_repairs_a_damaged_version(run_copy, source, target):
    assert run_copy(source, target).returncode == 0
    victim = target / "1.0" / "vectors.npy"
    victim.chmod(0o644)
    victim.write_bytes(b"\0" * victim.stat().st_size)
    assert "cache-hit" in run_copy(source, target).stdout  # a stamp is trusted by default
    r = run_copy(source, target, MODEL_FORCE_VERIFY=1)
    assert r.returncode == 0, r.stderr
    assert "failed verification (vectors.npy: checksum mismatch" in r.stdout
    assert victim.read_bytes() == (source / "vectors.npy").read_bytes()


def _corrupt(source, name, how):
    p = source / name
    if how == "flip":
        data = bytearray(p.read_bytes())
        data[len(data) // 2] ^= 0xFF
        p.write_bytes(bytes(data))
    elif how == "truncate":
        p.write_bytes(p.read_bytes()[:-1])
    elif how == "delete":
        p.unlink()


@pytest.mark.parametrize("name, how, message", [
    ("vectors.npy", "flip", "vectors.npy: checksum mismatch"),
    ("doc2vec.model", "truncate", "doc2vec.model: size mismatch"),
    ("entries.jsonl", "delete", "entries.jsonl: missing file"),
])
def test_bad_file_fails_naming_it_and_leaves_nothing(run_copy, source, target, name, how, message):
    _corrupt(source, name, how)
    r = run_copy(source, target)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("model-copy: error: ") and message in lines[0]
    assert list(target.iterdir()) == []  # no version, no link, no staging left behind


@pytest.mark.parametrize("edit, message", [
    (lambda t: None, "manifest missing"),
    (lambda t: t.replace('"format": 1,', '"format": 9,'), 'no "format": 1'),
    (lambda t: t.replace('"version": "1.0"', '"version": "../x"'), "no single valid"),
    (lambda t: t.replace('"size": ', '"size": -', 1), "file entries"),
    (lambda t: json.dumps(json.loads(t)), "malformed manifest"),  # not the canonical layout
])
def test_bad_manifest(run_copy, source, target, edit, message):
    m = source / "manifest.json"
    text = edit(m.read_text())
    if text is None:
        m.unlink()
    else:
        m.write_text(text)
    r = run_copy(source, target)
    assert r.returncode == 1 and message in r.stderr, r.stderr
    assert list(target.iterdir()) == []


def test_target_missing_or_not_writable(run_copy, source, tmp_path):
    r = run_copy(source, tmp_path / "nope")
    assert r.returncode == 1 and "target directory does not exist" in r.stderr
    ro = tmp_path / "ro"
    ro.mkdir()
    # A read-only mount refuses writes even to root (the tests run as root).
    subprocess.run(["mount", "--bind", str(ro), str(ro)], check=True)
    subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)], check=True)
    try:
        r = run_copy(source, ro)
        assert r.returncode == 1 and "target not writable" in r.stderr, r.stderr
    finally:
        subprocess.run(["umount", str(ro)], check=True)


def test_disk_full_fails_cleanly(run_copy, source, tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    size = sum(f["size"] for f in manifest(source)["files"])
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size // 2}", "tmpfs", str(small)], check=True)
    try:
        r = run_copy(source, small)
        assert r.returncode == 1 and "disk full" in r.stderr, r.stderr
        assert versions_on(small) == [] and not (small / "current").exists()
        assert [p for p in small.iterdir()] == []
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_concurrent_copies_leave_one_intact_version(run_copy, source, target):
    results = []
    threads = [threading.Thread(target=lambda: results.append(run_copy(source, target)))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.returncode for r in results] == [0, 0, 0], [r.stderr for r in results]
    assert versions_on(target) == ["1.0"]
    assert [p.name for p in target.iterdir() if p.name.startswith(".")] == []
    for f in manifest(source)["files"]:
        assert (target / "1.0" / f["path"]).read_bytes() == (source / f["path"]).read_bytes()


def test_prunes_old_versions(run_copy, source, target):
    m = source / "manifest.json"
    for i, v in enumerate(["1", "2", "3", "4"]):
        m.write_text(m.read_text().replace(
            f'"version": "{manifest(source)["version"]}"', f'"version": "{v}"'))
        r = run_copy(source, target, MODEL_KEEP=2)
        assert r.returncode == 0, r.stderr
        # Recency is by modification time (seconds): space the versions out as real rollouts are.
        os.utime(target / v, (1_700_000_000 + i * 60,) * 2)
    assert versions_on(target) == ["3", "4"]
    assert os.readlink(target / "current") == str(target / "4")


def test_link_outside_the_target(run_copy, source, target, tmp_path):
    link = tmp_path / "run" / "model" / "current"
    r = run_copy(source, target, MODEL_LINK=link)
    assert r.returncode == 0, r.stderr
    assert os.readlink(link) == str(target / "1.0")
    assert not (target / "current").exists()
