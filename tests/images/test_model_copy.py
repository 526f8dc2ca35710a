"""model-copy.sh, the model image's entrypoint, run directly under busybox sh and dash."""

import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from faq_engine.modeldir import FORMAT, ModelError, dump_manifest, dump_sums, stamped, verify

ENTRYPOINT = Path(__file__).resolve().parents[2] / "model-image" / "model-copy.sh"


def manifest(model_dir):
    return json.loads((model_dir / "manifest.json").read_text())


def versions_on(target):
    return sorted(p.name for p in target.iterdir() if not p.name.startswith(".") and p.name != "current")


def leftovers(target):
    """Anything but versions, the link, the leases and their directories."""
    return sorted(p.name for p in target.iterdir()
                  if p.name.startswith(".") and p.name != ".leases")


def resign(model_dir, version=None):
    """Rewrite VERSION, the manifest and SHA256SUMS so they match the files as they are now:
    a model crafted to pass every checksum."""
    import hashlib

    m = manifest(model_dir)
    if version is not None:
        m["version"] = version
        (model_dir / "VERSION").write_text(version + "\n")
    for f in m["files"]:
        data = (model_dir / f["path"]).read_bytes()
        f.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    text = dump_manifest(m)
    (model_dir / "manifest.json").write_text(text)
    (model_dir / "SHA256SUMS").write_text(dump_sums(m, text))


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
    assert (dest / "SHA256SUMS").read_bytes() == (source / "SHA256SUMS").read_bytes()
    assert os.readlink(target / "current") == str(dest)
    assert leftovers(target) == []
    verify(dest, "sha256")  # what the busybox side accepted, the Python side accepts
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
    assert "failed verification (vectors.npy: checksum mismatch" in r.stdout, r.stdout
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
    ("doc2vec.syn1neg.npy", "truncate", "doc2vec.syn1neg.npy: checksum mismatch"),
    ("entries.jsonl", "delete", "entries.jsonl: missing file"),
    ("manifest.json", "flip", "manifest.json: checksum mismatch"),
    ("VERSION", "truncate", "VERSION: checksum mismatch"),
])
def test_bad_file_fails_naming_it_and_leaves_nothing(run_copy, source, target, name, how, message):
    """The contract from both sides: a model dir the trainer wrote, then damaged, is refused by
    the busybox entrypoint and by the app, each naming the file (issue 12 item 11)."""
    _corrupt(source, name, how)
    r = run_copy(source, target)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("model-copy: error: ") and message in lines[0]
    assert versions_on(target) == [] and leftovers(target) == []  # no version, link or staging
    assert not (target / "current").exists()
    with pytest.raises(ModelError) as e:
        verify(source, "sha256")
    assert e.value.file == name, e.value


@pytest.mark.parametrize("edit, message", [
    (lambda t: None, "SHA256SUMS: checksum list missing"),
    (lambda t: t.replace("  vectors.npy", " *vectors.npy"), "SHA256SUMS: malformed line"),
    (lambda t: t.replace("  vectors.npy", "  ../vectors.npy"), "SHA256SUMS: malformed line"),
    (lambda t: t + t.splitlines()[0] + "\n", "lists VERSION twice"),
    (lambda t: "\n".join(ln for ln in t.splitlines() if "manifest.json" not in ln) + "\n",
     "does not list manifest.json"),
])
def test_bad_checksum_list(run_copy, source, target, edit, message):
    m = source / "SHA256SUMS"
    text = edit(m.read_text())
    if text is None:
        m.unlink()
    else:
        m.write_text(text)
    r = run_copy(source, target)
    assert r.returncode == 1 and message in r.stderr, r.stderr
    assert list(target.iterdir()) == []


def test_a_new_manifest_format_needs_no_new_entrypoint(run_copy, source, target):
    """The entrypoint checks SHA256SUMS, never the manifest's format: the app decides which
    formats it reads (issue 12 item 11)."""
    m = manifest(source)
    m["format"] = FORMAT + 1
    m["something_new"] = {"nested": [1, 2]}
    text = json.dumps(m)  # any JSON layout
    (source / "manifest.json").write_text(text)
    (source / "SHA256SUMS").write_text(dump_sums(m, text))
    r = run_copy(source, target)
    assert r.returncode == 0, r.stderr
    with pytest.raises(ModelError, match=f"unsupported manifest format {FORMAT + 1}"):
        verify(target / "1.0")


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
        assert leftovers(small) == []
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
    assert leftovers(target) == []
    for f in manifest(source)["files"]:
        assert (target / "1.0" / f["path"]).read_bytes() == (source / f["path"]).read_bytes()


def test_prunes_old_versions(run_copy, source, target):
    for i, v in enumerate(["1", "2", "3", "4"]):
        resign(source, version=v)
        # Each version by another pod that is gone since (no lease counts: TTL 0).
        r = run_copy(source, target, MODEL_KEEP=2, MODEL_LEASE_TTL=0, HOSTNAME=f"pod-{v}")
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


# --- disk full, killed runs, names in the way (issue 12 item 9) ----------------------------------

def test_disk_full_during_the_copy_says_so(run_copy, source, tmp_path):
    """Room enough by `df` for the bytes, not for the pages the files take: the copy itself
    hits ENOSPC, which must come out as the documented line, not `sh: write error`."""
    small = tmp_path / "small"
    small.mkdir()
    total = sum((source / n).stat().st_size for n in os.listdir(source))
    size = (total + 4095) // 4096 * 4096 + 4096
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(small)], check=True)
    try:
        r = run_copy(source, small)
        assert r.returncode == 1, r.stdout
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "disk full while copying" in lines[0], r.stderr
        assert "write error" not in r.stderr and "copy failed" not in r.stderr
        assert versions_on(small) == [] and leftovers(small) == []
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_retry_after_kill_9_as_pid_1(source, target, tmp_path, busybox):
    """An init container killed mid-copy restarts with the same hostname and PID 1: the retry
    must not trip over what the killed run left."""
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True).stdout.split()
    bb = tmp_path / "bb"
    bb.mkdir()
    for a in applets:
        (bb / a).symlink_to(busybox)
    # A large file keeps the copy going long enough to kill it mid-way (busybox sh runs its
    # own cat, so a slow wrapper on PATH would not be used).
    with open(source / "big.bin", "wb") as fh:
        fh.truncate(400 << 20)
    m = manifest(source)
    m["files"].append({"path": "big.bin", "size": 0, "sha256": "0" * 64})
    (source / "manifest.json").write_text(dump_manifest(m))
    resign(source)
    env = {"PATH": f"{bb}:/usr/bin:/bin", "MODEL_SOURCE": str(source),
           "MODEL_TARGET": str(target), "HOSTNAME": "test", "MODEL_COPY_JOBS": "1"}
    # PID 1 in its own PID namespace, as in a container.
    killed = subprocess.Popen(["unshare", "--fork", "--pid", busybox, "sh", str(ENTRYPOINT)],
                              env=env, start_new_session=True)
    for _ in range(3000):
        if any(p.name.startswith(".staging-") for p in target.iterdir()):
            break
        threading.Event().wait(0.005)
    else:
        killed.kill()
        pytest.fail("the slow copy never started staging")
    os.killpg(killed.pid, 9)
    killed.wait()
    stale = [p.name for p in target.iterdir() if p.name.startswith(".staging-")]
    assert len(stale) == 1
    r = subprocess.run(["unshare", "--fork", "--pid", busybox, "sh", str(ENTRYPOINT)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "version=1.0 copied" in r.stdout
    # The killed run's staging stays until a prune finds it 2 hours old.
    assert leftovers(target) == stale and versions_on(target) == ["1.0"]
    verify(target / "current", "sha256")


def test_a_version_named_like_the_link_is_refused(run_copy, source, target):
    resign(source, version="current")
    r = run_copy(source, target)
    assert r.returncode == 1 and "is the name of the link" in r.stderr, r.stderr
    assert list(target.iterdir()) == []


def test_a_stray_current_directory_is_refused_and_left_alone(run_copy, source, target):
    (target / "current").mkdir()
    r = run_copy(source, target)
    assert r.returncode == 1 and "current: exists and is not a symlink" in r.stderr, r.stderr
    assert list((target / "current").iterdir()) == []
    assert leftovers(target) == [] and versions_on(target) == []
    # A stray link in the place of the temporary one (a killed run) does not end up inside a
    # verified version either.
    (target / "current").rmdir()
    assert run_copy(source, target).returncode == 0
    (target / ".current.tmp.test").symlink_to(target / "1.0")
    assert run_copy(source, target).returncode == 0
    assert sorted(p.name for p in (target / "1.0").iterdir() if p.is_symlink()) == []
    assert leftovers(target) == []


# --- concurrent versions, shared volumes (issue 12 items 6 and 7) --------------------------------

def _version_source(source, tmp_path, v):
    src = tmp_path / f"src-{v}"
    shutil.copytree(source, src)
    resign(src, version=v)
    return src


def test_concurrent_versions_never_leave_the_link_dangling(run_copy, source, target, tmp_path):
    """MODEL_KEEP=1 and two versions copied at once, many rounds: both succeed and the link
    always points at a complete version."""
    srcs = [_version_source(source, tmp_path, v) for v in ("1.0", "1.1")]
    for rnd in range(10):
        results = []
        threads = [threading.Thread(target=lambda s=s: results.append(
            run_copy(s, target, MODEL_KEEP=1))) for s in srcs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
        current = target / "current"
        assert current.is_dir() and stamped(current.resolve()), (rnd, os.readlink(current))
        verify(current, "sha256")
        assert leftovers(target) == []
        for v in versions_on(target):  # next round copies both again
            shutil.rmtree(target / v)
        shutil.rmtree(target / ".leases")


def test_prune_spares_a_version_a_live_pod_holds(run_copy, source, target, tmp_path):
    """Stable on 1.0, a canary and later versions on the same volume with keep 1: 1.0 stays
    while the stable pod's lease is fresh, and goes once nobody refreshed it for the TTL."""
    s10, s11, s12 = (_version_source(source, tmp_path, v) for v in ("1.0", "1.1", "1.2"))
    stable_link = tmp_path / "stable" / "current"
    assert run_copy(s10, target, HOSTNAME="stable", MODEL_LINK=stable_link).returncode == 0
    os.utime(target / "1.0", (1_700_000_000,) * 2)  # old: first in line for pruning
    for s in (s11, s12):
        r = run_copy(s, target, HOSTNAME="canary", MODEL_KEEP=1,
                     MODEL_LINK=tmp_path / "canary" / "current")
        assert r.returncode == 0, r.stderr
        assert "kept version 1.0 (leased by a live pod)" in r.stdout
    assert "1.0" in versions_on(target)
    verify(stable_link, "sha256")
    # The stable pod is gone: its lease ages past the TTL, the next prune takes 1.0.
    lease = target / ".leases" / "1.0" / "stable"
    os.utime(lease, (1_700_000_000,) * 2)
    r = run_copy(s12, target, HOSTNAME="canary-2", MODEL_KEEP=1,
                 MODEL_LINK=tmp_path / "canary" / "current")
    assert r.returncode == 0 and "pruned version 1.0" in r.stdout, r.stdout
    assert "1.0" not in versions_on(target) and not (target / ".leases" / "1.0").exists()


def test_hold_keeps_the_lease_fresh_and_drops_it_on_term(run_copy, shell, source, target, tmp_path):
    bb = tmp_path / "bb"
    env = {"PATH": f"{bb}:/usr/bin:/bin", "MODEL_SOURCE": str(source), "MODEL_TARGET": str(target),
           "HOSTNAME": "pod-a", "MODEL_LEASE_REFRESH": "1"}
    hold = subprocess.Popen([*shell, str(ENTRYPOINT), "hold"], env=env, stdout=subprocess.PIPE,
                            text=True)
    try:
        lease = target / ".leases" / "1.0" / "pod-a"
        for _ in range(100):
            if lease.exists():
                break
            threading.Event().wait(0.05)
        assert lease.exists()
        os.utime(lease, (1_700_000_000,) * 2)
        threading.Event().wait(2.5)
        assert lease.stat().st_mtime > 1_700_000_000 + 1000  # refreshed
        hold.terminate()
        assert hold.wait(10) == 0
        assert not lease.exists()
    finally:
        hold.kill()


# --- issue 18: leaked trash, stale-lock takeover, the volume's clock, manifest cross-checks -----

def _wrapped_path(tmp_path, busybox, wrappers: dict[str, str]) -> str:
    """A PATH of busybox applets where some are shell wrappers (dash runs external commands
    from PATH; busybox sh would run its own applets, so these tests run under dash)."""
    if shutil.which("dash") is None:
        pytest.fail("dash is not installed: run ci/setup-host.sh")
    bb = tmp_path / "wbb"
    bb.mkdir(exist_ok=True)
    for a in subprocess.run([busybox, "--list"], capture_output=True, text=True).stdout.split():
        if a in wrappers:
            w = bb / a
            w.write_text(f"#!/bin/sh\n{wrappers[a]}\nexec {busybox} {a} \"$@\"\n")
            w.chmod(0o755)
        else:
            (bb / a).symlink_to(busybox)
    return f"{bb}:/usr/bin:/bin"


def _dash_copy(source, target, path, **env):
    e = {"PATH": path, "MODEL_SOURCE": str(source), "MODEL_TARGET": str(target), "HOSTNAME": "test"}
    e.update({k: str(v) for k, v in env.items()})
    return subprocess.run(["dash", str(ENTRYPOINT)], env=e, capture_output=True, text=True,
                          timeout=300)


def test_trash_left_by_a_killed_run_is_swept(run_copy, source, target):
    """A run killed while deleting a pruned version leaves .trash-*; the next run removes it,
    read-only files and directories included (issue 18 item 6)."""
    assert run_copy(source, target).returncode == 0
    leaked = target / ".trash-0.9-gone-pod-42"
    (leaked / "sub").mkdir(parents=True)
    for i in range(50):
        (leaked / "sub" / f"f{i}").write_text("x")
        (leaked / "sub" / f"f{i}").chmod(0o444)
    (leaked / "sub").chmod(0o555)
    r = run_copy(source, target)
    assert r.returncode == 0, r.stderr
    assert leftovers(target) == [], leftovers(target)


@pytest.mark.slow
def test_stale_lock_takeover_lets_one_run_in(source, target, tmp_path, busybox):
    """A lock left by a run killed with -9, found stale by several runs at once, with random
    delays injected before every file operation on the lock: never two runs inside the lock (issue 18
    item 7). What runs inside the lock is seen through the lease's touch (in both locked
    steps of a run), which records when it starts and ends and holds the lock half a second."""
    log = tmp_path / "inside.log"
    delay = (f'case "$*" in *.lock*) n=$({busybox} od -An -N1 -tu1 /dev/urandom); '
             f'{busybox} sleep "0.$(( n % 10 ))$(( n / 26 ))";; esac')
    path = _wrapped_path(tmp_path, busybox, {
        **{a: delay for a in ("mkdir", "rm", "rmdir", "mv", "stat", "find", "cat")},
        "touch": f'case "$*" in */.leases/*) echo "start $$ $(/bin/date +%s.%N)" >> {log}; '
                 f'{busybox} sleep 0.5; echo "end $$ $(/bin/date +%s.%N)" >> {log};; esac',
    })
    assert _dash_copy(source, target, path).returncode == 0  # the version is there: cache hits
    for rnd in range(3):
        stale = target / ".lock"
        stale.mkdir()
        (stale / "owner").write_text("killed-pod 1\n")
        os.utime(stale, (1_700_000_000,) * 2)
        log.write_text("")
        results = []
        threads = [threading.Thread(target=lambda h=h: results.append(
            _dash_copy(source, target, path, HOSTNAME=f"pod-{h}"))) for h in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [r.returncode for r in results] == [0] * 4, [r.stderr for r in results]
        spans, open_ = [], {}
        for line in log.read_text().splitlines():
            what, pid, at = line.split()
            if what == "start":
                open_[pid] = float(at)
            else:
                spans.append((open_.pop(pid), float(at)))
        spans.sort()
        assert len(spans) == 8  # two locked steps a run
        for (_, end), (start, _) in zip(spans, spans[1:]):
            assert start >= end, (rnd, spans)  # one run inside at a time
        assert not (target / ".lock").exists() and leftovers(target) == []


def test_lease_ages_use_the_volumes_clock(source, target, tmp_path, busybox):
    """A pod whose clock runs 11 minutes ahead of the volume's must not prune a version another
    pod just leased (issue 18 item 8): ages compare mtimes on the volume, never `date`."""
    skewed = 'if [ "$1" = +%s ]; then echo $(( $(/bin/date +%s) + 660 )); exit 0; fi'
    path = _wrapped_path(tmp_path, busybox, {"date": skewed})
    s10, s11, s12 = (_version_source(source, tmp_path, v) for v in ("1.0", "1.1", "1.2"))
    assert _dash_copy(s10, target, path, HOSTNAME="stable",
                      MODEL_LINK=tmp_path / "stable" / "current").returncode == 0
    os.utime(target / "1.0", (1_700_000_000,) * 2)  # first in line for pruning
    for s in (s11, s12):
        r = _dash_copy(s, target, path, HOSTNAME="canary", MODEL_KEEP=1,
                       MODEL_LINK=tmp_path / "canary" / "current")
        assert r.returncode == 0, r.stderr
        assert "kept version 1.0 (leased by a live pod)" in r.stdout, r.stdout
    assert "1.0" in versions_on(target)
    # A lease stamped in the future (a node ahead of the volume touched it with its own time)
    # is fresh, not negative-aged garbage; one 11 minutes old on the volume's clock is stale.
    lease = target / ".leases" / "1.0" / "stable"
    os.utime(lease, (time.time() + 3600,) * 2)
    r = _dash_copy(s12, target, path, HOSTNAME="canary-2", MODEL_KEEP=1,
                   MODEL_LINK=tmp_path / "canary" / "current")
    assert r.returncode == 0 and "kept version 1.0" in r.stdout, r.stdout
    os.utime(lease, (time.time() - 660,) * 2)
    r = _dash_copy(s12, target, path, HOSTNAME="canary-3", MODEL_KEEP=1,
                   MODEL_LINK=tmp_path / "canary" / "current")
    assert r.returncode == 0 and "pruned version 1.0" in r.stdout, r.stdout


def test_a_stale_lock_is_judged_on_the_volumes_clock(source, target, tmp_path, busybox):
    """A lock taken a second ago is not stale, however far this pod's clock is ahead; one whose
    mtime is 3 minutes old on the volume is, and is broken."""
    path = _wrapped_path(tmp_path, busybox, {
        "date": 'if [ "$1" = +%s ]; then echo $(( $(/bin/date +%s) + 3600 )); exit 0; fi'})
    (target / ".lock").mkdir()
    (target / ".lock" / "owner").write_text("live-pod 7\n")
    started = time.monotonic()
    p = subprocess.Popen(["dash", str(ENTRYPOINT)], stdout=subprocess.PIPE, text=True, env={
        "PATH": path, "MODEL_SOURCE": str(source), "MODEL_TARGET": str(target), "HOSTNAME": "t"})
    threading.Event().wait(2)
    assert p.poll() is None and (target / ".lock").is_dir()  # waits for the live holder
    os.utime(target / ".lock", (time.time() - 180,) * 2)
    out, _ = p.communicate(timeout=60)
    assert p.returncode == 0 and "removed a stale lock" in out, out
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("fmt", [1, 2, 3])
def test_manifest_and_checksums_must_agree_whatever_the_format(run_copy, source, target, fmt):
    """A manifest saying version 9.9 over a VERSION of 1.0, or another sha256 for a file than
    SHA256SUMS, is refused by model-copy whatever its "format" (issue 18 item 9)."""
    m = manifest(source)
    m["format"], m["version"] = fmt, "9.9"
    text = dump_manifest(m)
    (source / "manifest.json").write_text(text)
    (source / "SHA256SUMS").write_text(dump_sums(m, text))
    r = run_copy(source, target)
    assert r.returncode == 1 and "version '1.0' is not the manifest's '9.9'" in r.stderr, r.stderr
    assert list(target.iterdir()) == []

    m["version"] = "1.0"
    entry = next(f for f in m["files"] if f["path"] == "vectors.npy")
    entry["sha256"] = "0" * 64
    text = dump_manifest(m)
    (source / "manifest.json").write_text(text)
    sums = dump_sums(m, text).splitlines()
    real = next(ln for ln in (source / "SHA256SUMS").read_text().splitlines() if "vectors.npy" in ln)
    (source / "SHA256SUMS").write_text("\n".join(real if "vectors.npy" in ln else ln
                                                 for ln in sums) + "\n")
    r = run_copy(source, target)
    assert r.returncode == 1, r.stdout
    assert "vectors.npy: sha256 differs between manifest.json and SHA256SUMS" in r.stderr, r.stderr


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('"version": "1.0"', '"version": "1.0", "version": "1.1"'),
     'two "version" keys'),
    (lambda t: t.replace('"version": "1.0"', '"vers\\u0069on": "1.0", "version": "1.0"'),
     "an escaped key"),
    (lambda t: t.replace('"version": "1.0"', '"version": "1\\u002e0"'), "an escape in version"),
    (lambda t: t[:-3], "unreadable"),
    (lambda t: t.replace('"files": [', '"files": {"a": [').replace("\n  ]\n}", "\n  ]}\n}"),
     "files is not a list"),
])
def test_a_manifest_read_two_ways_is_refused(run_copy, source, target, edit, message):
    """What a JSON parser could read otherwise than busybox's reader is refused, naming why."""
    text = edit((source / "manifest.json").read_text())
    (source / "manifest.json").write_text(text)
    resign_sums = [ln for ln in (source / "SHA256SUMS").read_text().splitlines()
                   if not ln.endswith("  manifest.json")]
    import hashlib
    resign_sums.append(f"{hashlib.sha256(text.encode()).hexdigest()}  manifest.json")
    (source / "SHA256SUMS").write_text("\n".join(sorted(resign_sums, key=lambda ln: ln[66:])) + "\n")
    r = run_copy(source, target)
    assert r.returncode == 1 and message in r.stderr, r.stderr
    assert list(target.iterdir()) == []


def test_the_lease_sidecar_works_with_the_charts_narrow_mount(run_copy, shell, source, target,
                                                             tmp_path):
    """The chart's model-lease sidecar mounts only <volume>/.leases (issue 18: its write access
    as narrow as the design allows). Rebuild the mounts it renders, with the rest of its file
    system read-only, and run `model-copy hold` there: the lease lands on the volume."""
    import yaml

    from faqtest.common import kube_minor

    root = ENTRYPOINT.parents[1]
    out = subprocess.run(
        ["helm", "template", "rel", str(root / "chart"), "-f", str(root / "chart/ci/local-images.yaml"),
         "--set", "model.volume.type=pvc", "--kube-version", f"1.{kube_minor()}.0"],
        capture_output=True, text=True, check=True).stdout
    dep = next(d for d in yaml.safe_load_all(out) if d and d["kind"] == "Deployment")
    sidecar = next(c for c in dep["spec"]["template"]["spec"]["initContainers"]
                   if c["name"] == "model-lease")
    env = {e["name"]: e["value"] for e in sidecar["env"]}
    assert all(m["name"] == "model" for m in sidecar["volumeMounts"])
    assert run_copy(source, target).returncode == 0  # the init container's run: leases exist
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    mounted = []
    try:
        for m in sidecar["volumeMounts"]:
            at = rootfs / m["mountPath"].lstrip("/")
            at.mkdir(parents=True)
            subprocess.run(["mount", "--bind", str(target / m.get("subPath", "")), str(at)],
                           check=True)
            mounted.append(at)
        subprocess.run(["mount", "--bind", str(rootfs), str(rootfs)], check=True)
        subprocess.run(["mount", "-o", "remount,bind,ro", str(rootfs)], check=True)
        mounted.insert(0, rootfs)
        for m in sidecar["volumeMounts"]:  # the volume's mounts stay writable under it
            subprocess.run(["mount", "--bind", str(target / m.get("subPath", "")),
                            str(rootfs / m["mountPath"].lstrip("/"))], check=True)
            mounted.insert(0, rootfs / m["mountPath"].lstrip("/"))
        hold = subprocess.Popen(
            [*shell, str(ENTRYPOINT), "hold"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env={"PATH": f"{tmp_path / 'bb'}:/usr/bin:/bin", "MODEL_SOURCE": str(source),
                            "MODEL_TARGET": str(rootfs / env["MODEL_TARGET"].lstrip("/")),
                            "HOSTNAME": "pod-b", "MODEL_LEASE_REFRESH": "1"})
        lease = target / ".leases" / "1.0" / "pod-b"
        for _ in range(100):
            if lease.exists() or hold.poll() is not None:
                break
            threading.Event().wait(0.05)
        assert lease.exists(), hold.communicate(timeout=5)
        hold.terminate()
        assert hold.wait(10) == 0
        assert not lease.exists()
    finally:
        for at in mounted:
            subprocess.run(["umount", str(at)], check=False)
