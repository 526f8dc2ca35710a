"""Prometheus metrics, correct across gunicorn workers.

Under gunicorn, gunicorn.conf.py points PROMETHEUS_MULTIPROC_DIR at a fresh directory before
anything imports prometheus_client; every worker then writes its samples to files there and
GET /metrics sums them. Without gunicorn (tests, flask run) the default registry is used.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from .abstain import REASONS

# Label values come from closed sets, so a client cannot add series: a method outside this set
# counts as "other" (routes are the app's own rules, or "unmatched"), a status outside 100-599 too.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"})
OTHER = "other"


def method_label(method: str) -> str:
    return method if method in METHODS else OTHER


def status_label(status: int) -> str:
    return str(status) if 100 <= status <= 599 else OTHER


REQUESTS = Counter(
    "faq_http_requests_total", "HTTP requests served.", ["method", "route", "status"]
)
LATENCY = Histogram(
    "faq_http_request_duration_seconds", "Time spent serving a request.", ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
UNANSWERED = Counter(
    "faq_unanswered_questions_total",
    "Questions answered with no answer (no entry reached the model's min_score, or no word of "
    "the question is known), by reason.", ["reason"],
)
for _reason in REASONS:  # every series from the start, at 0
    UNANSWERED.labels(_reason)
MODEL_INFO = Gauge(
    "faq_model_info", "The loaded model (value 1), labelled by version.", ["version"],
    multiprocess_mode="max",
)
MODEL_READY = Gauge("faq_model_ready", "1 when a verified model is loaded.", multiprocess_mode="max")
MODEL_LOAD = Gauge(
    "faq_model_load_seconds", "Seconds spent loading and verifying the model.",
    multiprocess_mode="max",
)


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
