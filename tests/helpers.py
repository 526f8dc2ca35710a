"""Plain helpers shared by test folders (tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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
