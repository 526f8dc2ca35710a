"""The OpenAPI 3 document served at /openapi.json (tests fuzz the app against it)."""

from __future__ import annotations

from . import __version__
from .abstain import REASONS
from .limits import DEFAULT_TOP_K, MAX_QUESTION, MAX_TOP_K


def _json(schema_ref: str, description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}}}


def _errors(*statuses: int) -> dict:
    text = {400: "Malformed JSON or invalid fields", 404: "Unknown route",
            405: "Method not allowed", 413: "Body too large",
            415: "Content-Type is not application/json", 503: "Model not loaded yet"}
    return {str(s): _json("Error", text[s]) for s in statuses}


def spec() -> dict:
    return {
        "openapi": "3.0.3",
        "info": {"title": "faq-engine", "version": __version__,
                 "description": "Answers questions from an FAQ with a sentence-embedding "
                                "model or a Doc2Vec + BM25 model (the model's kind: "
                                "GET /v1/model)."},
        "paths": {
            "/v1/answer": {"post": {
                "operationId": "answer",
                "summary": "Rank the FAQ entries for a question, best first.",
                "description": "Only entries scoring the model's min_score or more are "
                               "answers (FAQ_MIN_SCORE overrides it; 0 disables it). When "
                               "none does, answers is empty, no_answer is true and reason "
                               "says why.",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/AnswerRequest"}}}},
                "responses": {"200": _json("AnswerResponse", "The best answers"),
                              **_errors(400, 413, 415, 503)},
            }},
            "/v1/model": {"get": {
                "operationId": "model", "summary": "The loaded model's manifest (public fields).",
                "responses": {"200": _json("Model", "The model"), **_errors(503)},
            }},
            "/healthz": {"get": {
                "operationId": "healthz", "summary": "The process is alive.",
                "responses": {"200": _json("Status", "Alive")},
            }},
            "/readyz": {"get": {
                "operationId": "readyz", "summary": "A verified model is loaded.",
                "responses": {"200": _json("Status", "Ready"), "503": _json("Status", "Not ready")},
            }},
            "/metrics": {"get": {
                "operationId": "metrics", "summary": "Prometheus metrics across all workers.",
                "responses": {"200": {"description": "Prometheus text format",
                                      "content": {"text/plain": {"schema": {"type": "string"}}}}},
            }},
            "/openapi.json": {"get": {
                "operationId": "openapi", "summary": "This document.",
                "responses": {"200": {"description": "OpenAPI 3 document",
                                      "content": {"application/json": {"schema": {"type": "object"}}}}},
            }},
        },
        "components": {"schemas": {
            "AnswerRequest": {
                "type": "object", "additionalProperties": False, "required": ["question"],
                "properties": {
                    "question": {"type": "string", "minLength": 1, "maxLength": MAX_QUESTION,
                                 "pattern": r"\S"},
                    "top_k": {"type": "integer", "minimum": 1, "maximum": MAX_TOP_K, "default": DEFAULT_TOP_K},
                },
            },
            "Answer": {
                "type": "object", "required": ["id", "question", "answer", "score"],
                "properties": {"id": {"type": "string"}, "question": {"type": "string"},
                               "answer": {"type": "string"}, "score": {"type": "number"}},
            },
            "ModelRef": {"type": "object", "required": ["version"],
                         "properties": {"version": {"type": "string"}}},
            "AnswerResponse": {
                "type": "object", "required": ["answers", "no_answer", "model"],
                "properties": {"answers": {"type": "array", "maxItems": MAX_TOP_K,
                                           "items": {"$ref": "#/components/schemas/Answer"}},
                               "no_answer": {"type": "boolean",
                                             "description": "true when answers is empty"},
                               "reason": {"$ref": "#/components/schemas/NoAnswerReason"},
                               "model": {"$ref": "#/components/schemas/ModelRef"}},
            },
            "NoAnswerReason": {
                "type": "object", "required": ["code", "message"],
                "description": "Why there is no answer (present only when no_answer is true).",
                "properties": {"code": {"type": "string", "enum": list(REASONS)},
                               "message": {"type": "string"}},
            },
            "Model": {"type": "object", "required": ["version", "format", "files", "bytes"],
                      "properties": {"version": {"type": "string"}, "format": {"type": "integer"},
                                     "files": {"type": "integer"}, "bytes": {"type": "integer"}}},
            "Status": {"type": "object", "required": ["status"],
                       "properties": {"status": {"type": "string"}}},
            "Error": {
                "type": "object", "required": ["error"],
                "properties": {"error": {"type": "object", "required": ["code", "message"],
                                         "properties": {"code": {"type": "string"},
                                                        "message": {"type": "string"}}}},
            },
        }},
    }
