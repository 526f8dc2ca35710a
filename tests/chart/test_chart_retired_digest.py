"""The separate digest keys are retired: a digest kept apart from its tag outlived the next tag
change (`helm upgrade --reuse-values --set model.tag=X` kept running the old digest). Setting one
fails naming the key and pointing at `tag: "1.1@sha256:..."`; `--set model.tag=...` replaces the
tag and its digest together, exactly as before."""

from __future__ import annotations

import pytest

from faqtest.chart import LOCAL_MODEL, container

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("values, key", [
    ({"image": {"digest": DIGEST}}, "image"),
    ({"model": {"digest": DIGEST}}, "model"),
    ({"canary": {"enabled": True, "model": {"tag": "1.1", "digest": DIGEST}}}, "canary.model"),
])
def test_a_digest_key_fails_naming_it(render_error, values, key):
    err = render_error(values=values)
    err = err.replace('\\"', '"')  # helm 3 escapes the quotes of a fail message, helm 4 not
    assert f"{key}.digest is retired" in err and f'{key}.tag: "1.1@sha256:..."' in err, err


def test_an_empty_digest_left_by_an_older_values_file_is_ignored(render):
    m = render(values={"image": {"digest": ""}, "model": {"digest": ""}})
    assert container(m.pod, "model", init=True)["image"] == f"{LOCAL_MODEL}:1.0"


def test_reuse_values_then_a_new_tag_runs_the_new_tag(render):
    """What `helm upgrade --reuse-values --set model.tag=1.2` does over a release that ci/release
    pinned to 1.1@digest: the user's values are layered, the last --set wins whole."""
    m = render(values={"model": {"tag": f"1.1@{DIGEST}"}}, sets=["model.tag=1.2"])
    assert container(m.pod, "model", init=True)["image"] == f"{LOCAL_MODEL}:1.2"
