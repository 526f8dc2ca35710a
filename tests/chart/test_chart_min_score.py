"""Render tests of model.minScore: the answer threshold that overrides the model's own."""

from __future__ import annotations

import pytest

from faqtest.chart import container

BATCH = ["batch.enabled=true"]


def _config(m) -> dict:
    return m.one("ConfigMap", "rel-faq-engine")["data"]


def _batch_args(m) -> list[str]:
    pod = m.one("Job", "rel-faq-engine-batch-1")["spec"]["template"]["spec"]
    return container(pod, "batch")["args"]


def test_unset_renders_nothing_so_the_models_own_threshold_applies(render):
    m = render(sets=BATCH)
    assert "FAQ_MIN_SCORE" not in _config(m)
    assert not [a for a in _batch_args(m) if a.startswith("--min-score")]


@pytest.mark.parametrize("how, value, rendered", [
    ("values", 0, "0"),            # 0 disables the threshold: rendered, not dropped
    ("values", 0.35, "0.35"),
    ("sets", "0.35", "0.35"),      # --set passes a string of digits
    ("values", 1, "1"),
])
def test_set_value_reaches_the_server_and_batch(render, how, value, rendered):
    if how == "values":
        m = render(values={"model": {"minScore": value}}, sets=BATCH)
    else:
        m = render(sets=BATCH + [f"model.minScore={value}"])
    assert _config(m)["FAQ_MIN_SCORE"] == rendered
    assert f"--min-score={rendered}" in _batch_args(m)
    # the server reads it through the ConfigMap, which the pod template's checksum covers
    app = container(m.pod, "app")
    assert {"configMapRef": {"name": "rel-faq-engine"}} in app["envFrom"]


@pytest.mark.parametrize("value", [-0.1, "abc", "1e5", "-1", True, [0.3]])
def test_bad_value_is_rejected_naming_the_key(render_error, value):
    err = render_error(values={"model": {"minScore": value}})
    assert "/model/minScore" in err
