"""The local cluster's upgrade rule (ci/cluster/lib.sh `state_mismatch`, used by up.sh): cluster
state made by another Kubernetes minor or containerd minor, or before the stamp existed (the
v1.34 / containerd 1.6 cluster), is purged whole; the same minors keep it. Runs the real shell
functions against state directories laid out as up.sh leaves them, without touching the cluster.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from faqtest.common import ROOT, ci_setting

LIB = ROOT / "ci" / "cluster" / "lib.sh"


def sh(state: Path, script: str) -> str:
    proc = subprocess.run(["bash", "-c", f'. "{LIB}"; {script}'], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home()),
                               "FAQ_CLUSTER_STATE": str(state),
                               "FAQ_CLUSTER_RUN": str(state / "run")})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def make_state(tmp_path: Path, stamp: str | None, dirs=("etcd", "pki", "kubelet", "containerd")):
    state = tmp_path / "state"
    for d in dirs:
        (state / d).mkdir(parents=True)
    if stamp is not None:
        (state / "created-with").write_text(stamp + "\n")
    return state


def current_stamp() -> str:
    return (f"kubernetes={ci_setting('KUBERNETES_VERSION')} "
            f"containerd={ci_setting('CONTAINERD_VERSION')} runc={ci_setting('RUNC_VERSION')}")


def bump_patch(version: str) -> str:
    major_minor, patch = version.rsplit(".", 1)
    return f"{major_minor}.{int(patch) + 1}"


def older_minor(version: str) -> str:
    major, minor, _ = version.split(".")
    return f"{major}.{int(minor) - 1}.0"


def test_stamp_names_the_pinned_versions(tmp_path):
    assert sh(tmp_path, "state_stamp") == current_stamp()


@pytest.mark.parametrize("dirs", [(), ("etc", "logs")], ids=["empty", "configs-and-logs-only"])
def test_no_cluster_state_is_kept(tmp_path, dirs):
    assert sh(make_state(tmp_path, None, dirs), "state_mismatch") == ""


def test_state_from_the_same_versions_is_kept(tmp_path):
    assert sh(make_state(tmp_path, current_stamp()), "state_mismatch") == ""


def test_a_patch_bump_keeps_the_state(tmp_path):
    k8s, ctrd = ci_setting("KUBERNETES_VERSION"), ci_setting("CONTAINERD_VERSION")
    stamp = f"kubernetes={bump_patch(k8s)} containerd={bump_patch(ctrd)} runc=v0.0.1"
    assert sh(make_state(tmp_path, stamp), "state_mismatch") == ""


def test_unstamped_state_of_the_v134_containerd16_cluster_is_purged(tmp_path):
    why = sh(make_state(tmp_path, None), "state_mismatch")
    assert "no created-with stamp" in why and "containerd 1.6" in why, why


@pytest.mark.parametrize("component", ["kubernetes", "containerd"])
def test_another_minor_is_purged(tmp_path, component):
    parts = dict(p.split("=") for p in current_stamp().split())
    parts[component] = older_minor(parts[component])
    old = " ".join(f"{k}={v}" for k, v in parts.items())
    why = sh(make_state(tmp_path, old), "state_mismatch")
    assert f"created with '{old}'" in why and current_stamp() in why, why


def test_a_purge_removes_only_the_kubelets_links_to_this_clusters_pod_logs(tmp_path):
    """down.sh --purge calls remove_log_links: the kubelet's /var/log/containers links into the
    purged $STATE/pod-logs go; links elsewhere and plain files there stay."""
    state = make_state(tmp_path, None)
    links = tmp_path / "containers"
    links.mkdir()
    ours = links / "faq-engine-x_faq-engine_app-0123.log"
    ours.symlink_to(state / "pod-logs" / "faq-engine_faq-engine-x_uid" / "app" / "0.log")
    theirs = links / "other_ns_c-4567.log"
    theirs.symlink_to(tmp_path / "elsewhere" / "0.log")
    plain = links / "a-file.log"
    plain.write_text("kept")
    sh(state, f'CONTAINER_LOG_LINKS="{links}"; remove_log_links')
    assert sorted(p.name for p in links.iterdir()) == sorted([theirs.name, plain.name])
    sh(state, f'CONTAINER_LOG_LINKS="{tmp_path / "absent"}"; remove_log_links')
