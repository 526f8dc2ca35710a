"""A minimal OCI image pushed to a registry over the distribution API (blob uploads, then the
manifest): enough for tag-bump tools, which read tags, manifests and config labels."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile

import requests

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _upload_blob(base: str, repo: str, data: bytes) -> str:
    digest = _digest(data)
    r = requests.post(f"{base}/v2/{repo}/blobs/uploads/", timeout=30)
    r.raise_for_status()
    location = r.headers["Location"]
    if location.startswith("/"):
        location = base + location
    sep = "&" if "?" in location else "?"
    r = requests.put(f"{location}{sep}digest={digest}", data=data, timeout=30,
                     headers={"Content-Type": "application/octet-stream"})
    r.raise_for_status()
    return digest


def push_image(registry: str, repo: str, tag: str) -> str:
    """Push a one-layer image (a file naming repo and tag) as repo:tag; returns its digest."""
    base = f"http://{registry}"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        body = f"{repo}:{tag}\n".encode()
        info = tarfile.TarInfo("version")
        info.size, info.mtime = len(body), 0
        tar.addfile(info, io.BytesIO(body))
    layer = gzip.compress(raw.getvalue(), mtime=0)
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Labels": {"org.opencontainers.image.version": tag}},
        "rootfs": {"type": "layers", "diff_ids": [_digest(raw.getvalue())]},
    }).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": _upload_blob(base, repo, config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": _upload_blob(base, repo, layer), "size": len(layer)}],
    }).encode()
    r = requests.put(f"{base}/v2/{repo}/manifests/{tag}", data=manifest, timeout=30,
                     headers={"Content-Type": OCI_MANIFEST})
    r.raise_for_status()
    assert r.headers["Docker-Content-Digest"] == _digest(manifest)
    return r.headers["Docker-Content-Digest"]
