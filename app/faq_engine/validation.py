"""What a question request may hold: one definition for the HTTP API and batch answering.

The HTTP API turns a ``RequestError`` into a 400 JSON body; ``faq-engine batch`` reports it with
the input line number and skips the line.
"""

from __future__ import annotations

import json
from typing import Any

from .limits import DEFAULT_TOP_K, MAX_BODY, MAX_QUESTION, MAX_TOP_K

__all__ = ["MAX_BODY", "RequestError", "answer_request", "parse_json"]


class RequestError(ValueError):
    """A client mistake: ``code`` is the API error code, ``message`` says what is wrong."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    # ValueError covers JSONDecodeError, UnicodeDecodeError and an integer longer than Python
    # converts (sys.get_int_max_str_digits).
    except (ValueError, RecursionError) as e:
        raise RequestError("invalid_json", f"not valid JSON: {e}") from None


def answer_request(body: Any, extra: frozenset[str] = frozenset(),
                   default_top_k: int = DEFAULT_TOP_K) -> tuple[str, int]:
    """Check an answer request object; returns (question, top_k).

    ``extra`` names fields a caller accepts besides ``question`` and ``top_k`` (batch: ``id``).
    """
    if not isinstance(body, dict):
        raise RequestError("invalid_request", "request must be a JSON object")
    unknown = sorted(set(body) - {"question", "top_k"} - extra)
    if unknown:
        raise RequestError("invalid_request", f"unknown field(s): {', '.join(unknown)}")
    question = body.get("question")
    if not isinstance(question, str):
        raise RequestError("invalid_request", "'question' is required and must be a string")
    if not question.strip():
        raise RequestError("invalid_request", "'question' must not be empty")
    if len(question) > MAX_QUESTION:
        raise RequestError("invalid_request", f"'question' is longer than {MAX_QUESTION} characters")
    top_k: Any = body.get("top_k", default_top_k)
    if isinstance(top_k, float) and top_k.is_integer():
        top_k = int(top_k)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
        raise RequestError("invalid_request", f"'top_k' must be an integer from 1 to {MAX_TOP_K}")
    return question, top_k
