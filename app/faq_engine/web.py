"""The HTTP API: a Flask app built by ``create_app()``.

Every client mistake gets a 4xx JSON body ``{"error": {"code", "message"}}``; the model is
loaded and verified once, when the app is created (in the gunicorn master, before forking).
"""

from __future__ import annotations

import logging
import os
import re
import time
from flask import Flask, Response, g, jsonify, request
from gunicorn.http.errors import NoMoreData, ParseException
from werkzeug.exceptions import HTTPException

from . import abstain, metrics
from .logs import configure as configure_logging
from .modeldir import (DEFAULT_MODEL_DIR, MANIFEST, VERIFY_MODES, ModelError, public_fields,
                       resolve)
from .openapi import spec
from .ranking import Ranker
from .validation import MAX_BODY, RequestError, answer_request, parse_json

log = logging.getLogger("faq_engine")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify(error={"code": code, "message": message}), status


def tag_mismatch(tag: str, version: str) -> str | None:
    """Why a model image tag and the model's own version disagree, or None.

    A tag that is a version number (digits and dots: ``1.2``) must be that version; a name like
    ``prod`` or ``1.1-rc``, or no tag (a digest alone), is not checked. ``tag`` is the tag
    without any ``@digest``, as the chart passes it (MODEL_TAG)."""
    if tag == version or not re.fullmatch(r"[0-9]+(\.[0-9]+)*", tag):
        return None
    return (f"model image tag {tag} but the model inside reports version {version}: tag the "
            f"model image with the --version it was trained with ({version}), or retrain it as "
            f"{tag}")


def _load_model(model_dir: str, verify_mode: str,
                public_key: str = "", tag: str = "") -> tuple[Ranker | None, str | None]:
    try:
        path = resolve(model_dir)
        if public_key:  # the signature first: nothing unsigned is even parsed
            from .signing import load_public_key, verify_signature

            started = time.perf_counter()
            verify_signature(path, load_public_key(public_key))
            log.info("model signature verified", extra={
                "model_dir": str(path), "seconds": round(time.perf_counter() - started, 3)})
        ranker = Ranker(path, verify_mode)
        if (mismatch := tag_mismatch(tag, ranker.version)) is not None:
            log.error("model not ready: %s", mismatch, extra={"model_dir": model_dir})
            return None, mismatch
    except ModelError as e:
        log.error("model not ready: %s", e, extra={"file": e.file, "model_dir": model_dir})
        return None, str(e)
    except Exception as e:  # a model that cannot load must never take the process down
        log.exception("model not ready: failed to load", extra={"model_dir": model_dir})
        return None, f"failed to load model from {model_dir}: {e}"
    log.info("model loaded", extra={"version": ranker.version, "model_dir": str(path),
                                    "seconds": round(ranker.load_seconds, 3)})
    metrics.MODEL_INFO.labels(version=ranker.version).set(1)
    metrics.MODEL_READY.set(1)
    metrics.MODEL_LOAD.set(ranker.load_seconds)
    return ranker, None


def _read_body() -> bytes:
    length = request.content_length
    if length is not None and length > MAX_BODY:
        raise ApiError(413, "payload_too_large", f"request body is larger than {MAX_BODY} bytes")
    try:
        # A chunked body has no length up front: read one byte more than allowed and refuse it
        # here. (Read from the server's stream itself: werkzeug's would turn a read deadline
        # or a malformed chunk into a generic 400.)
        raw = request.environ["wsgi.input"].read(MAX_BODY + 1 if length is None else length)
    except TimeoutError as e:  # faq_engine.worker's whole-request read deadline
        raise ApiError(408, "request_timeout", str(e) or "request body not read in time") from None
    except (ParseException, NoMoreData) as e:  # gunicorn: a malformed or cut chunked body
        name = type(e).__name__
        raise ApiError(400, "malformed_body", f"request body is malformed ({name}: {e})") from None
    if len(raw) > MAX_BODY:
        raise ApiError(413, "payload_too_large", f"request body is larger than {MAX_BODY} bytes")
    if length is not None and len(raw) < length:
        raise ApiError(400, "malformed_body", f"request body ended after {len(raw)} of {length} bytes")
    return raw


def _parse_answer_request() -> tuple[str, int]:
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "Content-Type must be application/json")
    raw = _read_body()
    try:
        return answer_request(parse_json(raw))
    except RequestError as e:
        message = f"request body is {e.message}" if e.code == "invalid_json" else e.message
        raise ApiError(400, e.code, message) from None


def create_app(config: dict | None = None) -> Flask:
    """Build the app. Config (or the environment): MODEL_DIR, MODEL_VERIFY, LOG_LEVEL,
    MODEL_PUBLIC_KEY (env FAQ_MODEL_PUBLIC_KEY: a PEM file; the model must be signed with it),
    MIN_SCORE (env FAQ_MIN_SCORE: overrides the model's own threshold; 0 disables it), MODEL_TAG
    (the model image's tag, which must match the model's version when it is a version number)."""
    app = Flask(__name__)
    app.json.sort_keys = False
    app.config.update(
        MODEL_DIR=os.environ.get("MODEL_DIR", DEFAULT_MODEL_DIR),
        MODEL_VERIFY=os.environ.get("MODEL_VERIFY", "auto"),
        MODEL_PUBLIC_KEY=os.environ.get("FAQ_MODEL_PUBLIC_KEY", ""),
        MODEL_TAG=os.environ.get("MODEL_TAG", ""),
        LOG_LEVEL=os.environ.get("LOG_LEVEL", "info"),
        MIN_SCORE=abstain.from_env(),
        MAX_CONTENT_LENGTH=MAX_BODY,
    )
    app.config.update(config or {})
    configure_logging(app.config["LOG_LEVEL"])
    if app.config["MODEL_VERIFY"] not in VERIFY_MODES:
        raise ValueError(f"MODEL_VERIFY must be one of {', '.join(VERIFY_MODES)}")
    override = app.config["MIN_SCORE"]
    if override is not None:
        override = abstain.parse(override, abstain.ENV)
    ranker, load_error = _load_model(app.config["MODEL_DIR"], app.config["MODEL_VERIFY"],
                                     app.config["MODEL_PUBLIC_KEY"], app.config["MODEL_TAG"])
    if ranker is not None:
        if override is not None:
            ranker.min_score = override
        log.info("answers need a score of %g or more", ranker.min_score,
                 extra={"min_score": ranker.min_score,
                        "min_score_from": "manifest" if override is None else abstain.ENV})
    # Liveness watches the model directory itself: one served that disappears (pruned from a
    # shared volume) or one that is not there at all makes /healthz fail, so the kubelet
    # restarts the container and the failure shows, instead of an unready pod that looks alive
    # for ever. A model that is there but fails its checks only keeps the pod unready.
    served_manifest = (ranker.model_dir / MANIFEST) if ranker is not None else None

    def model_gone() -> str | None:
        if served_manifest is not None:
            return None if os.path.exists(served_manifest) else f"{served_manifest.parent} is gone"
        where = resolve(app.config["MODEL_DIR"])
        return None if os.path.exists(where) else f"no model directory at {where}"
    api_spec = spec()

    @app.before_request
    def _start():
        g.started = time.perf_counter()

    @app.after_request
    def _finish(resp: Response) -> Response:
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        route = request.url_rule.rule if request.url_rule else "unmatched"
        metrics.REQUESTS.labels(metrics.method_label(request.method), route,
                                metrics.status_label(resp.status_code)).inc()
        metrics.LATENCY.labels(route).observe(elapsed)
        if ranker is not None:
            resp.headers["X-Model-Version"] = ranker.version
        if route not in ("/healthz", "/readyz", "/metrics"):
            fields = {
                "method": request.method, "path": request.path, "status": resp.status_code,
                "duration_ms": round(elapsed * 1000, 3), "remote": request.remote_addr,
            }
            if "no_answer" in g:  # an answer was computed: say whether it found one
                fields["no_answer"] = g.no_answer
            log.info("request", extra=fields)
        return resp

    @app.errorhandler(ApiError)
    def _client_error(e: ApiError):
        return error(e.status, e.code, e.message)

    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException):
        codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large",
                 415: "unsupported_media_type"}
        code = codes.get(e.code or 500, "bad_request" if (e.code or 500) < 500 else "server_error")
        message = {413: f"request body is larger than {MAX_BODY} bytes"}.get(e.code, e.description)
        resp, status = error(e.code or 500, code, message)
        if e.code == 405 and e.valid_methods:
            resp.headers["Allow"] = ", ".join(e.valid_methods)
        return resp, status

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):
        log.exception("unhandled error", extra={"path": request.path})
        return error(500, "internal_error", "internal server error")

    def _require_model() -> Ranker:
        if ranker is None:
            raise ApiError(503, "model_not_ready", load_error or "model not loaded")
        return ranker

    @app.get("/healthz")
    def healthz():
        gone = model_gone()
        if gone:
            return jsonify(status="model-gone", reason=gone), 503
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz():
        if ranker is None:
            return jsonify(status="unready", reason=load_error), 503
        return jsonify(status="ready", model={"version": ranker.version})

    @app.post("/v1/answer")
    def answer():
        question, top_k = _parse_answer_request()
        model = _require_model()
        body = abstain.reply(model, question, top_k, model.min_score)
        g.no_answer = body["no_answer"]
        if body["no_answer"]:
            metrics.UNANSWERED.labels(body["reason"]["code"]).inc()
        return jsonify(**body, model={"version": model.version})

    @app.get("/v1/model")
    def model_info():
        return jsonify(public_fields(_require_model().manifest))

    @app.get("/metrics")
    def prometheus():
        body, content_type = metrics.render()
        return Response(body, content_type=content_type)

    @app.get("/openapi.json")
    def openapi():
        return jsonify(api_spec)

    return app
