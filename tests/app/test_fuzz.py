"""Fuzz the API from its own OpenAPI document: no input may produce a 500 or break the schema."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faq_engine.web import create_app


@pytest.fixture(scope="module")
def api_schema(trained_model):
    return schemathesis.openapi.from_wsgi("/openapi.json", create_app({"MODEL_DIR": str(trained_model)}))


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi(case):
    case.call_and_validate()


@pytest.mark.parametrize("mode", [schemathesis.GenerationMode.POSITIVE,
                                  schemathesis.GenerationMode.NEGATIVE])
@given(data=st.data())
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_answer_valid_and_invalid_bodies(api_schema, mode, data):
    """Bodies the schema allows get 200; bodies it forbids get a 4xx JSON error, never a 500."""
    op = api_schema["/v1/answer"]["POST"]
    case = data.draw(op.as_strategy(generation_mode=mode))
    response = case.call()
    if mode == schemathesis.GenerationMode.POSITIVE:
        assert response.status_code == 200, response.text
    else:
        assert 400 <= response.status_code < 500, response.text
        assert response.json()["error"]["code"]


@given(body=st.binary(max_size=2048), content_type=st.sampled_from(
    ["application/json", "application/json; charset=latin-1", "text/plain", ""]))
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
def test_arbitrary_bytes_never_500(client, body, content_type):
    r = client.post("/v1/answer", data=body, content_type=content_type)
    assert r.status_code in (200, 400, 415), r.get_data(as_text=True)
    assert r.is_json
