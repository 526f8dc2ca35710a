"""Plain helpers shared by test folders (tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Answer requests every front end rejects (HTTP 400, a skipped batch line), with the error code:
# raw bytes/str are sent as they are, anything else as JSON.
BAD_ANSWER_BODIES = [
    (b"{not json", "invalid_json"),
    (b"\xff\xfe", "invalid_json"),
    (b"[" * 5000 + b"]" * 5000, "invalid_json"),  # nesting deeper than the parser allows
    ([1, 2], "invalid_request"),
    ("null", "invalid_request"),
    ({}, "invalid_request"),
    ({"question": 5}, "invalid_request"),
    ({"question": None}, "invalid_request"),
    ({"question": ""}, "invalid_request"),
    ({"question": "   \n"}, "invalid_request"),
    ({"question": "x" * 1001}, "invalid_request"),
    ({"question": "ok", "top_k": 0}, "invalid_request"),
    ({"question": "ok", "top_k": 21}, "invalid_request"),
    ({"question": "ok", "top_k": -1}, "invalid_request"),
    ({"question": "ok", "top_k": "3"}, "invalid_request"),
    ({"question": "ok", "top_k": True}, "invalid_request"),
    ({"question": "ok", "top_k": 2.5}, "invalid_request"),
    ({"question": "ok", "top_k": 1e300}, "invalid_request"),
    ({"question": "ok", "extra": 1}, "invalid_request"),
]


def ci_setting(name: str) -> str:
    """A setting of ci/versions.env, as the ci/ scripts see it (sourced, so $FAQ_CACHE expands)."""
    return subprocess.run(["bash", "-c", f'. "{ROOT}/ci/versions.env"; printf %s "${name}"'],
                          capture_output=True, text=True, check=True).stdout


def build_corrupt_model_image(tag: str, version_dir: str = "1.1") -> str:
    """A model image whose vectors.npy differs from its manifest by one bit."""
    import tempfile

    ctx = Path(tempfile.mkdtemp(prefix="faq-corrupt-"))
    try:
        shutil.copytree(ROOT / "model-image", ctx / "model-image")
        shutil.copytree(ROOT / "build" / "models" / version_dir, ctx / "model")
        p = ctx / "model" / "vectors.npy"
        data = bytearray(p.read_bytes())
        data[-5] ^= 0x01
        p.write_bytes(bytes(data))
        base = ci_setting("ALPINE_BASE")
        subprocess.run(["podman", "build", "-q", "-f", str(ROOT / "Dockerfile.model"),
                        "--build-arg", f"BASE_IMAGE={base}", "--build-arg", "MODEL_DIR=model",
                        "-t", tag, str(ctx)], check=True, capture_output=True)
    finally:
        shutil.rmtree(ctx, ignore_errors=True)
    return tag
