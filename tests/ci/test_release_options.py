"""ci/release takes what a user chooses as documented flags (--faq, --kind, --registry,
--public-bases, ...), checks them before building anything, and says so in --help. The real
script runs (under ci/with-env --release); each case stops before podman is asked to build."""

from __future__ import annotations

import os
import subprocess

import pytest

from faqtest.common import ROOT


def release(*args, cwd=ROOT):
    return subprocess.run([str(ROOT / "ci" / "release"), *args], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


def test_help_documents_every_flag():
    r = release("--help")
    assert r.returncode == 0, r.stderr
    for flag in ("--faq FILE", "--kind KIND", "--registry REPO", "--public-bases", "--chart-dir DIR",
                 "--deploy auto|1|0", "--release NAME", "--namespace NS"):
        assert flag in r.stdout, flag


def test_a_relative_faq_is_read_from_the_callers_directory(tmp_path):
    r = release("model", "1.2", "--faq", "missing.jsonl", "--deploy", "0", cwd=tmp_path)
    assert r.returncode == 2
    assert f"release: error: --faq {tmp_path}/missing.jsonl: no such file" in r.stderr, r.stderr


@pytest.mark.parametrize("args, message", [
    (["model"], "usage: ci/release model VERSION"),
    (["model", "1.2", "--kind"], "--kind needs a value"),
    (["model", "1.2", "--colour", "red"], "unknown option --colour"),
    (["model", "bad/tag"], "'bad/tag' is not a valid image tag"),
    (["model", "1.2", "--chart-dir", "/nonexistent"], "/nonexistent/values.yaml not found"),
])
def test_bad_options_stop_before_building(args, message):
    r = release(*args)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert "building" not in r.stderr


DIGEST = "sha256:" + "0" * 64


@pytest.mark.parametrize("env, args, message", [
    ({"IMAGE_SIGNING": "gpg"}, [f"r/faq-engine@{DIGEST}"],
     "IMAGE_SIGNING must be key or keyless, not 'gpg'"),
    ({"IMAGE_SIGNING": "keyless", "GITHUB_WORKFLOW_REF": ""}, [f"r/faq-engine@{DIGEST}"],
     "IMAGE_SIGNING=keyless runs on GitHub Actions"),
    ({}, ["r/faq-engine:1.0"], "not a REPOSITORY[:TAG]@sha256:DIGEST: r/faq-engine:1.0"),
])
def test_image_signing_refuses_bad_settings_before_building_its_tools(env, args, message):
    """ci/images/sign.sh (ci/release's signing step) signs digests only, in a mode it knows;
    keyless needs GitHub's OIDC identity. Each refusal comes before cosign or syft is built."""
    r = subprocess.run(["bash", str(ROOT / "ci" / "images" / "sign.sh"), *args],
                       capture_output=True, text=True, timeout=60,
                       env={**os.environ, **env})
    assert r.returncode == 2 and message in r.stderr, r.stderr
