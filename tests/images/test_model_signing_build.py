"""ci/images/build.sh signs a model before building its image when given MODEL_SIGNING_KEY
(ci/release model always gives one): the image carries model.sig, which the app accepts with the
key's public half and refuses with another."""

from __future__ import annotations

import os
import subprocess

import pytest
from faqtest.common import ROOT, exclusive

from faq_engine.modeldir import ModelError
from faq_engine.signing import load_public_key, verify_signature
from faqtest.signing import make_key, model_from_image

pytestmark = [pytest.mark.images]

IMAGE = "localhost/faq-engine-model-signtest"


def test_build_signs_the_model_in_the_image(tmp_path):
    private, public = make_key(tmp_path / "keys")
    other = make_key(tmp_path / "keys", "other")[1]
    with exclusive("images"):  # ci/images/build.sh, one at a time (tests/conftest.py: images)
        proc = subprocess.run(["bash", "ci/images/build.sh", "model", "9.1"], cwd=ROOT,
                              capture_output=True, text=True, timeout=900,
                              env={**os.environ, "MODEL_SIGNING_KEY": str(private),
                                   "MODEL_IMAGE": IMAGE})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == [f"{IMAGE}:9.1"]
    try:
        model = model_from_image(f"{IMAGE}:9.1", tmp_path / "model")
    finally:
        subprocess.run(["podman", "rmi", f"{IMAGE}:9.1"], capture_output=True)
    assert verify_signature(model, load_public_key(public))["version"] == "9.1"
    with pytest.raises(ModelError, match="signed by another key"):
        verify_signature(model, load_public_key(other))
