"""Artifact Hub metadata: Chart.yaml's artifacthub.io annotations and ci/artifacthub-repo.yml
follow Artifact Hub's documented formats (faqtest.artifacthub: `ah lint` cannot be built here, the
Go module proxy refuses github.com/artifacthub/hub), and say what is true: the images are the
ones values.yaml deploys, the license is pyproject.toml's, the repository's owners are the
chart's maintainers. The packaged chart's signKey is checked where it is made
(tests/ci/test_release_chart.py)."""

from __future__ import annotations

import copy
import tomllib

import pytest
import yaml
from faqtest.artifacthub import annotation_errors, repo_metadata_errors
from faqtest.common import ROOT

CHART = yaml.safe_load((ROOT / "chart" / "Chart.yaml").read_text())
VALUES = yaml.safe_load((ROOT / "chart" / "values.yaml").read_text())
REPO_METADATA = ROOT / "ci" / "artifacthub-repo.yml"


def block(key: str):
    return yaml.safe_load(CHART["annotations"][key])


def test_the_annotations_follow_artifact_hubs_format():
    assert annotation_errors(CHART) == []
    assert {"artifacthub.io/images", "artifacthub.io/changes", "artifacthub.io/license"} <= \
        set(CHART["annotations"])


def test_the_images_are_the_ones_values_yaml_deploys():
    """Both images, as the chart renders them (repository:tag, the digest inside the tag after a
    release); ci/bump-tags rewrites the list when it changes a tag."""
    def ref(section: str) -> str:
        repository, tag = VALUES[section]["repository"], VALUES[section]["tag"]
        tag = tag or (CHART["appVersion"] if section == "image" else "")
        return repository + (tag if tag.startswith("@") else f":{tag}")

    assert block("artifacthub.io/images") == [
        {"name": "faq-engine", "image": ref("image")},
        {"name": "faq-engine-model", "image": ref("model")}]


def test_the_license_is_the_projects():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert CHART["annotations"]["artifacthub.io/license"] == project["license"]["text"]


def test_the_source_chart_carries_no_sign_key():
    """An unsigned package (helm package of the source) must not claim a key: ci/release chart
    adds artifacthub.io/signKey to the package it signs."""
    assert "artifacthub.io/signKey" not in CHART["annotations"]


def test_the_repository_metadata_follows_the_documented_format():
    md = yaml.safe_load(REPO_METADATA.read_text())
    assert repo_metadata_errors(md) == []
    assert md["owners"] == [{"name": m["name"], "email": m["email"]} for m in CHART["maintainers"]]
    assert not (ROOT / "chart" / "artifacthub-repo.yml").exists(), \
        "in chart/ it would be packaged into every chart"


@pytest.mark.parametrize("key, value, message", [
    ("artifacthub.io/changes", "- kind: improved\n  description: x\n", "kind 'improved'"),
    ("artifacthub.io/changes", "- kind: added\n", "description not provided"),
    ("artifacthub.io/changes", "- kind: added\n  description: a: b\n", "not valid YAML"),
    ("artifacthub.io/images", "- name: app\n  image: Ghcr.io/X/Y:1.0\n", "invalid image reference"),
    ("artifacthub.io/images", "- name: app\n  image: ghcr.io/x/y:1.0@sha256:abc\n", "invalid image reference"),
    ("artifacthub.io/images", "- image: ghcr.io/x/y:1.0\n", "name not provided"),
    ("artifacthub.io/license", "Apache License 2.0", "not an SPDX identifier"),
    ("artifacthub.io/signKey", "fingerprint: ABCDEF\n", "url not provided"),
    ("artifacthub.io/signKey", "fingerprint: 0123\nurl: https://example.com/k.asc\n",
     "not an OpenPGP v4 fingerprint"),
])
def test_the_checks_reject_what_artifact_hub_rejects(key, value, message):
    chart = copy.deepcopy(CHART)
    chart["annotations"][key] = value
    errors = annotation_errors(chart)
    assert any(message in e for e in errors), errors


@pytest.mark.parametrize("md, message", [
    ({"repositoryID": "not-a-uuid"}, "not a UUID"),
    ({"owners": [{"name": "x"}]}, "owners[0]"),
    ({"ignore": [{"name": "x", "version": "("}]}, "not a regular expression"),
    ({"publisher": "x"}, "unknown field"),
])
def test_the_repository_metadata_checks_reject_bad_files(md, message):
    assert any(message in e for e in repo_metadata_errors(md)), repo_metadata_errors(md)
