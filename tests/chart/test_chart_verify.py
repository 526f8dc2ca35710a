"""model.verify: the public key the app checks model signatures with, rendered into every
Deployment (stable and canary) in every model volume mode."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from faqtest.chart import container, env, mounts, volumes
from faqtest.signing import make_key

KEY_DIR = "/etc/faq-engine/model-key"


@pytest.fixture(scope="module")
def pem(tmp_path_factory) -> str:
    return make_key(tmp_path_factory.mktemp("key"))[1].read_text()


def app_pods(m) -> dict[str, dict]:
    return {name: d["spec"]["template"] for name, d in m.deployments().items()}


def test_off_by_default_renders_nothing(render):
    m = render(sets=["canary.enabled=true", "canary.model.tag=1.1"])
    assert not [c for c in m.kind("ConfigMap") if c["metadata"]["name"].endswith("-model-key")]
    for tpl in app_pods(m).values():
        assert "model-key" not in volumes(tpl["spec"])
        assert "FAQ_MODEL_PUBLIC_KEY" not in env(container(tpl["spec"], "app"))
        assert "checksum/model-key" not in tpl["metadata"]["annotations"]


@pytest.mark.parametrize("volume_type", ["emptyDir", "pvc", "image"])
def test_inline_key_reaches_the_app_of_both_tracks_in_every_volume_mode(render, pem, volume_type):
    m = render(values={"model": {"verify": {"publicKey": pem}, "volume": {"type": volume_type}},
                       "canary": {"enabled": True, "model": {"tag": "1.1"}}})
    cm = m.one("ConfigMap", "rel-faq-engine-model-key")
    # What the app reads is the key itself, as cryptography loads it.
    loaded = serialization.load_pem_public_key(cm["data"]["model.pub"].encode())
    assert loaded.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo).decode() == pem
    pods = app_pods(m)
    assert set(pods) == {"rel-faq-engine", "rel-faq-engine-canary"}
    for tpl in pods.values():
        spec = tpl["spec"]
        app = container(spec, "app")
        assert env(app)["FAQ_MODEL_PUBLIC_KEY"] == f"{KEY_DIR}/model.pub"
        mount = mounts(app)[KEY_DIR]
        assert mount["name"] == "model-key" and mount["readOnly"] is True
        assert volumes(spec)["model-key"]["configMap"]["name"] == "rel-faq-engine-model-key"
        # A new key rolls the pods (the app reads it once, at start).
        assert len(tpl["metadata"]["annotations"]["checksum/model-key"]) == 64
        if volume_type == "image":  # no init container: the app is the only place to check
            assert not spec.get("initContainers")


def test_existing_secret_with_key_name(render):
    m = render(values={"model": {"verify": {"existingSecret": "model-signer",
                                            "keyName": "cosign.pub"}}})
    spec = m.pod
    assert volumes(spec)["model-key"]["secret"] == {
        "secretName": "model-signer", "items": [{"key": "cosign.pub", "path": "cosign.pub"}]}
    assert env(m.app)["FAQ_MODEL_PUBLIC_KEY"] == f"{KEY_DIR}/cosign.pub"
    assert not [c for c in m.kind("ConfigMap") if c["metadata"]["name"].endswith("-model-key")]


def test_existing_configmap(render):
    m = render(values={"model": {"verify": {"existingConfigMap": "model-keys"}},
                       "extraEnv": [{"name": "X", "value": "1"}]})
    assert volumes(m.pod)["model-key"]["configMap"] == {
        "name": "model-keys", "items": [{"key": "model.pub", "path": "model.pub"}]}
    assert env(m.app) == {"MODEL_TAG": "1.0", "CPU_LIMIT_MILLICORES": None,
                          "FAQ_MODEL_PUBLIC_KEY": f"{KEY_DIR}/model.pub", "X": "1"}


def test_two_key_sources_are_refused(render_error, pem):
    err = render_error(values={"model": {"verify": {"publicKey": pem,
                                                    "existingSecret": "s"}}})
    assert "model.verify: set only one of publicKey, existingSecret and existingConfigMap" in err


@pytest.mark.parametrize("key,value", [
    ("publicKey", "-----BEGIN PRIVATE KEY-----\nMIG\n-----END PRIVATE KEY-----\n"),
    ("publicKey", "not a key"),
    ("existingSecret", "Not_A_Name"),
    ("existingConfigMap", "a/b"),
    ("keyName", "a/b"),
    ("unknown", "x"),
])
def test_schema_rejects_bad_values_naming_the_key(render_error, key, value):
    err = render_error(values={"model": {"verify": {key: value}}})
    assert "/model/verify" in err and (key in err)
