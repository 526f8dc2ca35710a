"""Image references written by the tag-bump tools: Renovate and Argo CD Image Updater put the
digest into the tag (`tag: "1.1@sha256:..."`). The real `helm template` must accept it, render
`repository:tag@digest` for the app and the model image in every volume mode, report the bare
version to the test pod, and refuse two different digests naming both keys."""

from __future__ import annotations

import tomllib

import pytest
import yaml

from chart_helpers import (
    CHART,
    LOCAL_APP,
    LOCAL_IMAGES,
    LOCAL_MODEL,
    container,
    env,
    helm_template_raw,
    volumes,
)
from helpers import ci_setting

DIGEST = "sha256:" + "ab" * 32
DIGEST2 = "sha256:" + "cd" * 32
MODEL = LOCAL_MODEL
APP = LOCAL_APP


def model_refs(m) -> dict[str, str]:
    """Deployment name -> the model image it runs (init container or image volume)."""
    out = {}
    for name, d in m.deployments().items():
        pod = d["spec"]["template"]["spec"]
        vol = volumes(pod)["model"]
        out[name] = vol["image"]["reference"] if "image" in vol else \
            container(pod, "model", init=True)["image"]
    return out


@pytest.mark.parametrize("mode, kube", [("emptyDir", "1.34.0"), ("pvc", "1.34.0"),
                                        ("image", "1.35.0")])
def test_tag_with_digest_renders_repo_tag_at_digest_in_every_volume_mode(render, mode, kube):
    m = render(values={"image": {"tag": f"1.1.0@{DIGEST2}"},
                       "model": {"tag": f"1.1@{DIGEST}", "volume": {"type": mode}}},
               kube_version=kube)
    assert model_refs(m) == {"rel-faq-engine": f"{MODEL}:1.1@{DIGEST}"}
    assert m.app["image"] == f"{APP}:1.1.0@{DIGEST2}"
    assert m.test_pod["spec"]["containers"][0]["image"] == f"{APP}:1.1.0@{DIGEST2}"
    # The test pod expects the model version, not the digest.
    assert env(m.test_pod["spec"]["containers"][0])["EXPECTED_MODEL_VERSIONS"] == "1.1"


def test_set_string_from_the_command_line(render):
    m = render(set_strings=[f"model.tag=1.2@{DIGEST}"])
    assert model_refs(m)["rel-faq-engine"] == f"{MODEL}:1.2@{DIGEST}"


def test_plain_set_model_tag_still_works_after_a_digest_tag(render):
    """`helm upgrade --set model.tag=1.1` over values a bot pinned: the new tag, no stale digest."""
    m = render(values={"model": {"tag": f"1.0@{DIGEST}"}}, sets=["model.tag=1.1"])
    assert model_refs(m)["rel-faq-engine"] == f"{MODEL}:1.1"


@pytest.mark.parametrize("values, expected", [
    # The same digest in both places is fine.
    ({"model": {"tag": f"1.1@{DIGEST}", "digest": DIGEST}}, f"{MODEL}:1.1@{DIGEST}"),
    # A digest alone in the tag (no version): repository@digest.
    ({"model": {"tag": f"@{DIGEST}"}}, f"{MODEL}@{DIGEST}"),
    # The separate digest value keeps working beside a plain tag, and alone.
    ({"model": {"tag": "1.1", "digest": DIGEST}}, f"{MODEL}:1.1@{DIGEST}"),
    ({"model": {"tag": "", "digest": DIGEST}}, f"{MODEL}@{DIGEST}"),
])
def test_digest_precedence(render, values, expected):
    assert model_refs(render(values=values))["rel-faq-engine"] == expected


@pytest.mark.parametrize("values, key", [
    ({"model": {"tag": f"1.1@{DIGEST}", "digest": DIGEST2}}, "model"),
    ({"image": {"tag": f"1.1.0@{DIGEST}", "digest": DIGEST2}}, "image"),
    ({"canary": {"enabled": True, "model": {"tag": f"1.1@{DIGEST}", "digest": DIGEST2}}},
     "canary.model"),
])
def test_conflicting_digests_fail_naming_both_keys(render_error, values, key):
    err = render_error(values=values)
    assert f"{key}.tag" in err and f"{key}.digest is {DIGEST2}" in err and DIGEST in err, err


@pytest.mark.parametrize("tag", [
    "1.1@sha256:abc",               # short digest
    f"1.1@{DIGEST.upper()}",        # upper-case hex
    f"1.1@md5:{'0' * 32}",          # unknown algorithm
    f"1.1@{DIGEST}@{DIGEST}",       # two digests
    f".1@{DIGEST}",                 # bad tag before the digest
])
def test_schema_rejects_a_malformed_tag_digest(render_error, tag):
    err = render_error(values={"model": {"tag": tag}})
    assert "/model/tag" in err, err


def test_canary_with_digest_tags_in_image_mode(render):
    m = render(values={"model": {"tag": f"1.0@{DIGEST}", "volume": {"type": "image"}},
                       "canary": {"enabled": True, "model": {"tag": f"1.1@{DIGEST2}"}}},
               kube_version="1.35.0")
    assert model_refs(m) == {"rel-faq-engine": f"{MODEL}:1.0@{DIGEST}",
                             "rel-faq-engine-canary": f"{MODEL}:1.1@{DIGEST2}"}
    assert env(m.test_pod["spec"]["containers"][0])["EXPECTED_MODEL_VERSIONS"] == "1.0,1.1"


def test_changing_only_the_digest_in_the_tag_rolls_the_pods(render):
    a = render(values={"model": {"tag": f"1.1@{DIGEST}"}}).deployment["spec"]["template"]
    b = render(values={"model": {"tag": f"1.1@{DIGEST2}"}}).deployment["spec"]["template"]
    assert a != b


def test_default_app_tag_is_the_app_version():
    """values.yaml names the app tag (Renovate skips an empty one) and it is appVersion."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert str(values["image"]["tag"]).split("@")[0] == chart["appVersion"]


def test_batch_job_runs_the_same_tag_at_digest_images(render):
    m = render(values={"batch": {"enabled": True}, "image": {"tag": f"1.1.0@{DIGEST2}"},
                       "model": {"tag": f"1.1@{DIGEST}"}})
    pod = m.one("Job")["spec"]["template"]["spec"]
    assert container(pod, "model", init=True)["image"].endswith(f":1.1@{DIGEST}")
    assert {c["image"] for c in pod["containers"]} == {f"{APP}:1.1.0@{DIGEST2}"}


# --- chart/values.yaml is the product, chart/ci/local-images.yaml the local loop ----------------

def test_values_yaml_names_the_published_images_not_local_ones():
    """Defaults are what a user deploys: the registry the release publishes to."""
    text = (CHART / "values.yaml").read_text()
    values = yaml.safe_load(text)
    assert values["image"]["repository"] == "ghcr.io/faq-engine/faq-engine"
    assert values["model"]["repository"] == "ghcr.io/faq-engine/faq-engine-model"
    assert "localhost/" not in text and ci_setting("LOCAL_REGISTRY") not in text
    res = helm_template_raw(base=None)
    assert res.returncode == 0, res.stderr
    assert 'image: "ghcr.io/faq-engine/faq-engine-model:' in res.stdout
    assert 'image: "ghcr.io/faq-engine/faq-engine:' in res.stdout


def test_local_images_are_what_the_local_loop_builds_and_pushes():
    """chart/ci/local-images.yaml names the local registry and the tags ci/images/build.sh gives
    (the app: pyproject's version), with no digest (ci/up.sh adds the ones it pushed)."""
    local = yaml.safe_load(LOCAL_IMAGES.read_text())
    registry = ci_setting("LOCAL_REGISTRY")
    assert local["image"]["repository"] == f"{registry}/faq-engine"
    assert local["model"]["repository"] == f"{registry}/faq-engine-model"
    pyproject = tomllib.loads((CHART.parent / "pyproject.toml").read_text())
    assert local["image"]["tag"] == pyproject["project"]["version"]
    assert local["image"]["digest"] == "" and local["model"]["digest"] == ""
    assert not LOCAL_IMAGES.name.endswith("-values.yaml"), "ct would take it for a test case"
