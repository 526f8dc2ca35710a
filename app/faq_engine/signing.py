"""Model signatures in the OpenSSF Model Signing format, checked where the model is served.

``faq-engine sign`` writes ``model.sig`` into the model directory with the ``model-signing``
package (PyPI; a release-time dependency, ``pip install 'faq-engine[sign]'``): a Sigstore bundle
(v0.3) holding a DSSE envelope over an in-toto statement that lists every file of the
directory (``manifest.json`` and ``SHA256SUMS`` included) with its sha256. The upstream
``model_signing verify key`` accepts it.

The app does not need ``model-signing`` to check it: :func:`verify_signature` checks the
envelope's ECDSA signature with ``cryptography`` and compares the signed digests with the
manifest's (and those of ``manifest.json`` and ``SHA256SUMS`` themselves). The checksum pass
that already runs at load (:func:`faq_engine.modeldir.verify`) then ties every file to the
manifest, so a signed model costs one signature check and two small hashes, not a second pass
over the weights. A model changed after signing, even with re-computed checksums and manifest,
no longer matches the signed ``manifest.json`` digest.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from pathlib import Path

from .modeldir import MANIFEST, SIGNATURE, STAMP, SUMS, ModelError, open_regular, read_manifest

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://model_signing/signature/v1.0"
MAX_SIGNATURE_BYTES = 16 << 20  # a bundle lists one digest a file: a few hundred bytes each
# Files that may sit next to a model on a volume without being signed: model-copy's stamp.
UNSIGNED = (STAMP,)


class KeyProblem(ModelError):
    """The configured public key cannot be used (not a model's fault)."""


def load_public_key(path: str | Path):
    """The PEM public key at ``path`` (ECDSA P-256, P-384 or P-521). Raises KeyProblem."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise KeyProblem(f"public key {path}: unreadable ({e.strerror})") from None
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as e:
        raise KeyProblem(f"public key {path}: not a PEM public key ({e})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in (
            "secp256r1", "secp384r1", "secp521r1"):
        raise KeyProblem(f"public key {path}: not an ECDSA P-256/P-384/P-521 key")
    return key


def key_hint(public_key) -> str:
    """The bundle's key identifier: sha256 of the key's PEM (SubjectPublicKeyInfo)."""
    from cryptography.hazmat.primitives import serialization

    pem = public_key.public_bytes(serialization.Encoding.PEM,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(pem).hexdigest()


def _pae(payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding of an in-toto payload."""
    return b"DSSEv1 %d %s %d %s" % (len(PAYLOAD_TYPE), PAYLOAD_TYPE.encode(), len(payload),
                                     payload)


def _bad(model_dir: Path, why: str) -> ModelError:
    return ModelError(f"{model_dir / SIGNATURE}: {why}", SIGNATURE)


def signed_digests(model_dir: str | Path, public_key) -> dict[str, str]:
    """Check ``model.sig`` against ``public_key``; returns the signed {file name: sha256}.

    Raises ModelError naming the reason: unsigned, signed by another key, an altered or
    malformed signature."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    model_dir = Path(model_dir)
    try:
        with open_regular(model_dir / SIGNATURE, SIGNATURE) as fh:
            raw = fh.read(MAX_SIGNATURE_BYTES + 1)
    except ModelError as e:
        if str(e).endswith(": missing"):
            raise _bad(model_dir, "missing: the model is unsigned and a public key is "
                                  "configured (sign it: faq-engine sign)") from None
        raise
    if len(raw) > MAX_SIGNATURE_BYTES:
        raise _bad(model_dir, f"larger than {MAX_SIGNATURE_BYTES} bytes")
    try:
        bundle = json.loads(raw)
        if bundle.get("mediaType") != BUNDLE_MEDIA_TYPE:
            raise ValueError(f"media type {bundle.get('mediaType')!r}, want {BUNDLE_MEDIA_TYPE}")
        envelope = bundle["dsseEnvelope"]
        if envelope.get("payloadType") != PAYLOAD_TYPE:
            raise ValueError(f"payload type {envelope.get('payloadType')!r}")
        payload = base64.b64decode(envelope["payload"], validate=True)
        sigs = [base64.b64decode(s["sig"], validate=True) for s in envelope["signatures"]]
        if not sigs:
            raise ValueError("no signature in the envelope")
        hint = ((bundle.get("verificationMaterial") or {}).get("publicKey") or {}).get("hint")
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error,
            RecursionError) as e:
        raise _bad(model_dir, f"not a model signature bundle ({e})") from None
    ours = key_hint(public_key)
    if hint and hint != ours:
        raise _bad(model_dir, f"signed by another key (key {hint[:16]}..., the configured "
                              f"public key is {ours[:16]}...)")
    algorithm = {256: hashes.SHA256, 384: hashes.SHA384, 521: hashes.SHA512}[
        public_key.curve.key_size]()
    message = _pae(payload)
    for sig in sigs:
        try:
            public_key.verify(sig, message, ec.ECDSA(algorithm))
            break
        except InvalidSignature:
            continue
    else:
        raise _bad(model_dir, "the signature does not verify with the configured public key "
                              "(signed by another key, or the signature was altered)")
    return _statement_digests(model_dir, payload)


def _statement_digests(model_dir: Path, payload: bytes) -> dict[str, str]:
    try:
        statement = json.loads(payload)
        if statement.get("_type") != STATEMENT_TYPE:
            raise ValueError(f"statement type {statement.get('_type')!r}")
        if statement.get("predicateType") != PREDICATE_TYPE:
            raise ValueError(f"predicate type {statement.get('predicateType')!r}, want "
                             f"{PREDICATE_TYPE}")
        predicate = statement["predicate"]
        ser = predicate["serialization"]
        if ser.get("method") != "files" or ser.get("hash_type") != "sha256":
            raise ValueError(f"serialization {ser.get('method')!r}/{ser.get('hash_type')!r}: "
                             "this app checks per-file sha256 signatures ('files', 'sha256')")
        digests: dict[str, str] = {}
        root = hashlib.sha256()
        for r in predicate["resources"]:
            name, digest = r["name"], r["digest"]
            if r.get("algorithm") != "sha256" or not isinstance(name, str) or name in digests:
                raise ValueError(f"bad resource {r!r}")
            root.update(bytes.fromhex(digest))
            digests[name] = digest
        (subject,) = statement["subject"]
        if subject["digest"]["sha256"] != root.hexdigest():
            raise ValueError("the subject's digest does not match the listed resources")
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as e:
        raise _bad(model_dir, f"unusable signed statement ({e})") from None
    return digests


def verify_signature(model_dir: str | Path, public_key) -> dict:
    """Check that the model directory is what ``public_key``'s holder signed: the signature,
    then every file the manifest lists plus ``manifest.json`` and ``SHA256SUMS`` against the
    signed digests (the files themselves are tied to the manifest by the checksum pass of
    :func:`faq_engine.modeldir.verify`, which must follow). Returns the manifest.

    Raises ModelError naming the reason."""
    from .modeldir import sha256_file

    model_dir = Path(model_dir)
    signed = signed_digests(model_dir, public_key)
    manifest = read_manifest(model_dir)  # also checks SHA256SUMS against the manifest
    have = {f["path"]: f["sha256"] for f in manifest["files"]}
    have[MANIFEST] = sha256_file(model_dir / MANIFEST)
    have[SUMS] = sha256_file(model_dir / SUMS)
    for name in [*sorted(set(have) - {MANIFEST, SUMS}), MANIFEST, SUMS]:  # the content first
        if name not in signed:
            raise ModelError(f"{model_dir / name}: not covered by the signature (added after "
                             "signing)", name)
        if signed[name] != have[name]:
            raise ModelError(f"{model_dir / name}: changed after signing (its sha256 is not the "
                             "signed one; re-computed checksums do not make it signed)", name)
    extra = sorted(set(signed) - set(have) - {SIGNATURE, *UNSIGNED})
    if extra:
        raise ModelError(f"{model_dir / extra[0]}: signed but no longer in the manifest (removed "
                         "after signing)", extra[0])
    return manifest


def sign(model_dir: str | Path, private_key: str | Path, password: str | None = None) -> Path:
    """Sign every file of ``model_dir`` (but model-copy's stamp) into ``model_dir/model.sig``
    with the ``model-signing`` package. Checks the directory first: a model whose files do not
    match its manifest is not signed."""
    from .modeldir import verify

    model_dir = Path(model_dir)
    verify(model_dir, "sha256")
    try:
        from model_signing import hashing, signing
    except ImportError as e:
        raise RuntimeError("signing needs the model-signing package: pip install "
                           f"'faq-engine[sign]' ({e})") from None
    out = model_dir / SIGNATURE
    (signing.Config()
     .use_elliptic_key_signer(private_key=Path(private_key), password=password)
     .set_hashing_config(hashing.Config().set_ignored_paths(paths=[SIGNATURE, *UNSIGNED]))
     .sign(model_dir, out))
    return out
