"""Artifact Hub's documented formats, as checks: the Helm annotations of Chart.yaml
(https://artifacthub.io/docs/topics/annotations/helm/) and the repository metadata file
artifacthub-repo.yml (https://github.com/artifacthub/hub/blob/master/docs/metadata/artifacthub-repo.yml).

Artifact Hub's own linter (`ah lint`, Go module github.com/artifacthub/hub) cannot be built here:
the Go module proxy answers 403 for that module. These checks follow its documentation and the
rules of its parser (a changes entry needs a description and one of the documented kinds, an
image a valid reference, a sign key a url). Each function returns the list of problems found.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import yaml

CHANGE_KINDS = {"added", "changed", "deprecated", "removed", "fixed", "security"}
# The distribution reference grammar (docker/distribution reference/regexp.go), simplified only
# in that the domain's port and path components are written out once.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?)"
IMAGE_REF_RE = re.compile(
    rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[\w][\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?")
# SPDX license identifiers: letters, digits, '.', '-', '+' (an expression joins them with AND/OR/WITH).
SPDX_RE = re.compile(r"[A-Za-z0-9.+-]+(?: (?:AND|OR|WITH) [A-Za-z0-9.+-]+)*")
MEDIA_CONFIG = "application/vnd.cncf.artifacthub.config.v1+yaml"
MEDIA_REPO_METADATA = "application/vnd.cncf.artifacthub.repository-metadata.layer.v1.yaml"


def _yaml_block(annotations: dict, key: str, errors: list[str]) -> Any:
    value = annotations[key]
    if not isinstance(value, str):
        errors.append(f"{key}: must be a string holding YAML (a `|` block), not {type(value).__name__}")
        return None
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError as e:
        errors.append(f"{key}: not valid YAML ({' '.join(str(e).split())})")
        return None


def annotation_errors(chart: dict) -> list[str]:
    """Problems in the artifacthub.io/* annotations of a parsed Chart.yaml."""
    errors: list[str] = []
    annotations = chart.get("annotations") or {}
    if not isinstance(annotations, dict):
        return ["annotations: not a mapping"]
    for key, value in annotations.items():
        if not isinstance(value, str):
            errors.append(f"{key}: Helm annotations are strings, not {type(value).__name__}")
    if "artifacthub.io/changes" in annotations:
        changes = _yaml_block(annotations, "artifacthub.io/changes", errors)
        if not isinstance(changes, list) or not changes:
            errors.append("artifacthub.io/changes: a non-empty list of strings or of {kind, description}")
        else:
            for i, change in enumerate(changes):
                if isinstance(change, str):
                    if not change.strip():
                        errors.append(f"artifacthub.io/changes[{i}]: empty description")
                    continue
                if not isinstance(change, dict):
                    errors.append(f"artifacthub.io/changes[{i}]: a string or a mapping")
                    continue
                if str(change.get("kind", "")).lower() not in CHANGE_KINDS:
                    errors.append(f"artifacthub.io/changes[{i}]: kind {change.get('kind')!r} "
                                  f"is not one of {sorted(CHANGE_KINDS)}")
                if not isinstance(change.get("description"), str) or not change["description"]:
                    errors.append(f"artifacthub.io/changes[{i}]: description not provided")
                for link in change.get("links") or []:
                    if not (isinstance(link, dict) and link.get("name") and link.get("url")):
                        errors.append(f"artifacthub.io/changes[{i}]: a link needs name and url")
                extra = set(change) - {"kind", "description", "links"}
                if extra:
                    errors.append(f"artifacthub.io/changes[{i}]: unknown fields {sorted(extra)}")
    if "artifacthub.io/images" in annotations:
        images = _yaml_block(annotations, "artifacthub.io/images", errors)
        if not isinstance(images, list) or not images:
            errors.append("artifacthub.io/images: a non-empty list of {name, image}")
        else:
            for i, image in enumerate(images):
                if not isinstance(image, dict):
                    errors.append(f"artifacthub.io/images[{i}]: a mapping")
                    continue
                if not image.get("name"):
                    errors.append(f"artifacthub.io/images[{i}]: name not provided")
                if not (isinstance(image.get("image"), str)
                        and IMAGE_REF_RE.fullmatch(image["image"])):
                    errors.append(f"artifacthub.io/images[{i}]: invalid image reference "
                                  f"{image.get('image')!r}")
                if "whitelisted" in image and not isinstance(image["whitelisted"], bool):
                    errors.append(f"artifacthub.io/images[{i}]: whitelisted is a boolean")
                if "platforms" in image and not (isinstance(image["platforms"], list) and all(
                        isinstance(p, str) and "/" in p for p in image["platforms"])):
                    errors.append(f"artifacthub.io/images[{i}]: platforms is a list like linux/amd64")
                extra = set(image) - {"name", "image", "whitelisted", "platforms"}
                if extra:
                    errors.append(f"artifacthub.io/images[{i}]: unknown fields {sorted(extra)}")
    if "artifacthub.io/license" in annotations:
        lic = annotations["artifacthub.io/license"]
        if not (isinstance(lic, str) and SPDX_RE.fullmatch(lic)):
            errors.append(f"artifacthub.io/license: {lic!r} is not an SPDX identifier")
    if "artifacthub.io/signKey" in annotations:
        key = _yaml_block(annotations, "artifacthub.io/signKey", errors)
        if not isinstance(key, dict):
            errors.append("artifacthub.io/signKey: a mapping {fingerprint, url}")
        else:
            if not (isinstance(key.get("url"), str) and re.match(r"[a-z][a-z0-9+.-]*://\S+$", key["url"])):
                errors.append("artifacthub.io/signKey: url not provided (mandatory)")
            if not (isinstance(key.get("fingerprint"), str)
                    and re.fullmatch(r"[0-9A-F]{40}", key["fingerprint"])):
                errors.append(f"artifacthub.io/signKey: fingerprint {key.get('fingerprint')!r} "
                              "is not an OpenPGP v4 fingerprint (40 upper-case hex digits)")
            extra = set(key) - {"fingerprint", "url"}
            if extra:
                errors.append(f"artifacthub.io/signKey: unknown fields {sorted(extra)}")
    return errors


def repo_metadata_errors(md: Any) -> list[str]:
    """Problems in a parsed artifacthub-repo.yml."""
    if not isinstance(md, dict):
        return ["artifacthub-repo.yml: the top level is a mapping"]
    errors = [f"unknown field {k!r}" for k in md if k not in {"repositoryID", "owners", "ignore"}]
    if "repositoryID" in md:
        try:
            uuid.UUID(str(md["repositoryID"]))
        except ValueError:
            errors.append(f"repositoryID {md['repositoryID']!r} is not a UUID")
    for i, owner in enumerate(md.get("owners") or []):
        if not (isinstance(owner, dict) and set(owner) <= {"name", "email"}
                and isinstance(owner.get("email"), str) and "@" in owner["email"]):
            errors.append(f"owners[{i}]: {{name, email}} with an email address")
    if "owners" in md and not isinstance(md["owners"], list):
        errors.append("owners: a list")
    for i, entry in enumerate(md.get("ignore") or []):
        if not (isinstance(entry, dict) and entry.get("name") and set(entry) <= {"name", "version"}):
            errors.append(f"ignore[{i}]: {{name, version (a regular expression)}}")
            continue
        if "version" in entry:
            try:
                re.compile(str(entry["version"]))
            except re.error:
                errors.append(f"ignore[{i}]: version is not a regular expression")
    return errors
