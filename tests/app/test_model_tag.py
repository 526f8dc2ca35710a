"""A model image tagged with another version than the model inside (MODEL_TAG, set by the chart
from model.tag) is refused before users see it: /readyz says why and no answer is served. A
name like `prod`, `1.1-rc` or a digest alone is not a version number and is not compared."""

from __future__ import annotations

import pytest

from faq_engine.web import create_app


def client_for(model, tag):
    return create_app({"MODEL_DIR": str(model), "TESTING": True, "MODEL_TAG": tag}).test_client()


def test_a_version_tag_that_differs_is_refused(trained_model):
    c = client_for(trained_model, "1.1")
    r = c.get("/readyz")
    assert r.status_code == 503
    reason = r.get_json()["reason"]
    assert "model image tag 1.1 but the model inside reports version 1.0" in reason, reason
    assert c.post("/v1/answer", json={"question": "How do I roll back?"}).status_code == 503


@pytest.mark.parametrize("tag", ["1.0", "prod", "latest", "1.1-pad300", ""])
def test_matching_or_non_version_tags_serve(trained_model, tag):
    c = client_for(trained_model, tag)
    assert c.get("/readyz").status_code == 200
    r = c.post("/v1/answer", json={"question": "How do I roll back?"})
    assert r.status_code == 200 and r.get_json()["model"]["version"] == "1.0"
