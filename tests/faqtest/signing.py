"""Keys and forgeries for the model-signature tests (unit, images, cluster)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from faq_engine.modeldir import MANIFEST, SUMS, dump_manifest, dump_sums, sha256_file


def make_key(directory: Path, name: str = "model") -> tuple[Path, Path]:
    """An ECDSA P-256 key pair made with openssl, as a user makes one: (private, public) PEM."""
    directory.mkdir(parents=True, exist_ok=True)
    private, public = directory / f"{name}.key.pem", directory / f"{name}.pub.pem"
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout",
                    "-out", str(private)], check=True, capture_output=True)
    subprocess.run(["openssl", "ec", "-in", str(private), "-pubout", "-out", str(public)],
                   check=True, capture_output=True)
    return private, public


def forge(model_dir: Path, name: str = "entries.jsonl") -> None:
    """Change ``name`` in a (signed) model directory and re-compute the manifest and
    SHA256SUMS, as someone who can push models but does not hold the key would: the checksums
    pass, the signature is left as it was."""
    path = model_dir / name
    data = path.read_bytes()
    if name == "entries.jsonl":
        # Same length, so the entries' offsets still hold: the forged answer is served as is.
        old, new = b"Run helm rollback faq-engine.", b"Run helm uninstall faq-engine"
        assert old in data
        data = data.replace(old, new, 1)
    else:
        data = bytes([data[0] ^ 1]) + data[1:]
    path.chmod(0o644)
    path.write_bytes(data)
    manifest = json.loads((model_dir / MANIFEST).read_text())
    for f in manifest["files"]:
        if f["path"] == name:
            f["sha256"], f["size"] = sha256_file(path), len(data)
    text = dump_manifest(manifest)
    for n in (MANIFEST, SUMS):
        (model_dir / n).chmod(0o644)
    (model_dir / MANIFEST).write_text(text)
    (model_dir / SUMS).write_text(dump_sums(manifest, text))


def model_from_image(image: str, dest: Path) -> Path:
    """The model directory (/model) of a model image, copied out with podman (pulled first if
    it is a reference into a registry, which may be plain HTTP on loopback)."""
    cid = subprocess.run(["podman", "create", "--tls-verify=false", image], check=True,
                         capture_output=True, text=True).stdout.strip()
    try:
        subprocess.run(["podman", "cp", f"{cid}:/model", str(dest)], check=True,
                       capture_output=True)
    finally:
        subprocess.run(["podman", "rm", "-f", cid], capture_output=True)
    return dest
