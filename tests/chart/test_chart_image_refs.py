"""Image references written by the tag-bump tools: Renovate and Argo CD Image Updater put the
digest into the tag (`tag: "1.1@sha256:..."`). The real `helm template` must accept it, render
`repository:tag@digest` for the app and the model image in every volume mode, report the bare
version to the test pod's stand-in; the retired separate digest keys fail naming the key."""

from __future__ import annotations

import tomllib

import pytest
import yaml

from faqtest.chart import (
    CHART,
    LOCAL_APP,
    LOCAL_IMAGES,
    LOCAL_MODEL,
    container,
    env,
    helm_template_raw,
    volumes,
)
from faqtest.common import ci_setting

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
    # The test pod reads the expected version from the model image itself.
    assert container(m.test_pod["spec"], "expect-stable", init=True)["image"] == \
        f"{MODEL}:1.1@{DIGEST}"
    # The app compares the tag's version part (never the digest) with the model's VERSION.
    assert env(m.app)["MODEL_TAG"] == "1.1"


def test_set_string_from_the_command_line(render):
    m = render(set_strings=[f"model.tag=1.2@{DIGEST}"])
    assert model_refs(m)["rel-faq-engine"] == f"{MODEL}:1.2@{DIGEST}"


def test_plain_set_model_tag_still_works_after_a_digest_tag(render):
    """`helm upgrade --set model.tag=1.1` over values a bot pinned: the new tag, no stale digest."""
    m = render(values={"model": {"tag": f"1.0@{DIGEST}"}}, sets=["model.tag=1.1"])
    assert model_refs(m)["rel-faq-engine"] == f"{MODEL}:1.1"


def test_a_digest_alone_in_the_tag(render):
    m = render(values={"model": {"tag": f"@{DIGEST}"}})
    assert model_refs(m)["rel-faq-engine"] == f"{MODEL}@{DIGEST}"
    assert env(m.app)["MODEL_TAG"] == ""  # nothing to compare with the model's VERSION


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
    assert [c["image"] for c in m.test_pod["spec"]["initContainers"]] == [
        f"{MODEL}:1.0@{DIGEST}", f"{MODEL}:1.1@{DIGEST2}"]


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
    (the app: pyproject's version), with no digest (ci/up.sh puts the pushed ones in the tags)."""
    local = yaml.safe_load(LOCAL_IMAGES.read_text())
    registry = ci_setting("LOCAL_REGISTRY")
    assert local["image"]["repository"] == f"{registry}/faq-engine"
    assert local["model"]["repository"] == f"{registry}/faq-engine-model"
    pyproject = tomllib.loads((CHART.parent / "pyproject.toml").read_text())
    assert local["image"]["tag"] == pyproject["project"]["version"]
    assert "digest" not in local["image"] and "digest" not in local["model"]
    assert not LOCAL_IMAGES.name.endswith("-values.yaml"), "ct would take it for a test case"


# --- references rendered from the image and model blocks --------------------------------
@pytest.mark.parametrize("sets, expected", [
    ([], f"{LOCAL_MODEL}:1.0"),
    (["model.tag=1.1"], f"{LOCAL_MODEL}:1.1"),
    (["model.tag=2"], f"{LOCAL_MODEL}:2"),  # --set makes it an integer
    (["model.repository=reg.example.com:5000/ml/faq-model", "model.tag=v3"],
     "reg.example.com:5000/ml/faq-model:v3"),
])
def test_model_reference(render, sets, expected):
    assert container(render(sets=sets).pod, "model", init=True)["image"] == expected


@pytest.mark.parametrize("set_strings, expected", [
    ([f"model.tag=1.0@{DIGEST}"], f"{LOCAL_MODEL}:1.0@{DIGEST}"),  # the digest decides
    ([f"model.tag=@{DIGEST}"], f"{LOCAL_MODEL}@{DIGEST}"),
])
def test_model_reference_with_digest(render, set_strings, expected):
    assert container(render(set_strings=set_strings).pod, "model", init=True)["image"] == expected


@pytest.mark.parametrize("sets, expected", [
    ([], f"{LOCAL_APP}:1.0.0"),  # the local images' tag
    (["image.tag=1.2.3"], f"{LOCAL_APP}:1.2.3"),
    ([f"image.tag=1.2.3@{DIGEST}"], f"{LOCAL_APP}:1.2.3@{DIGEST}"),  # tag + digest
])
def test_app_image_reference(render, sets, expected):
    m = render(sets=["image.pullPolicy=Always"], set_strings=sets)
    assert m.app["image"] == expected and m.app["imagePullPolicy"] == "Always"
    assert m.test_pod["spec"]["containers"][0]["image"] == expected
