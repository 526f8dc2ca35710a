"""One model version grammar (faq_engine.modeldir.SAFE_VERSION), followed by model-copy.sh and by
the chart's schema for model.tag: the same good and bad versions go to all three."""

from __future__ import annotations

import hashlib
import json

import pytest
from ruamel.yaml import YAML

from faq_engine.modeldir import FORMAT, dump_manifest, dump_sums, safe_version

GOOD = ["1.0", "1", "0", "2.0-rc.1", "v3_build.7", "A" * 64, "1.1-embedding", "current2",
        "Z.z-_9"]
BAD = ["", "-1", "_1", ".1", ".hidden", "a b", "../x", "a/b", "1:0", "1.0@x", "é1", "1,0",
       "current", "A" * 65, "1.0+build", "$(id)"]
VERSIONS = [(v, True) for v in GOOD] + [(v, False) for v in BAD]
IDS = [repr(v)[:20] for v, _ in VERSIONS]
DIGEST = "sha256:" + "ab" * 32


def test_the_lists_are_what_python_says():
    assert [v for v in GOOD if not safe_version(v)] == []
    assert [v for v in BAD if safe_version(v)] == []


@pytest.fixture(scope="module")
def chart_validator(repo_root):
    import jsonschema

    schema = json.loads((repo_root / "chart" / "values.schema.json").read_text())
    values = YAML(typ="safe").load((repo_root / "chart" / "values.yaml").read_text())
    validator = jsonschema.Draft7Validator(schema)

    def accepts(tag, where=("model",)) -> bool:
        v = json.loads(json.dumps(values))
        node = v
        for key in where:
            node = node.setdefault(key, {})
        node["tag"] = tag
        return not list(validator.iter_errors(v))

    assert accepts("1.0")
    return accepts


@pytest.mark.parametrize("version, good", VERSIONS, ids=IDS)
def test_chart_schema_follows_the_grammar(chart_validator, version, good):
    if version == "":
        return  # model.tag "" is refused by a rule of its own (a digest goes in the tag)
    assert chart_validator(version) is good
    assert chart_validator(f"{version}@{DIGEST}") is good  # as Renovate writes a pinned tag
    assert chart_validator(version, ("canary", "model")) is good


@pytest.mark.parametrize("version, good", VERSIONS, ids=IDS)
def test_model_copy_follows_the_grammar(run_copy, tmp_path, version, good):
    src, target = tmp_path / "src", tmp_path / "vol"
    src.mkdir()
    target.mkdir()
    data = version.encode() + b"\n"
    (src / "VERSION").write_bytes(data)
    m = {"format": FORMAT, "version": version, "files": [
        {"path": "VERSION", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}]}
    text = dump_manifest(m)  # the smallest model the Python side writes and checks
    (src / "manifest.json").write_text(text)
    (src / "SHA256SUMS").write_text(dump_sums(m, text))
    r = run_copy(src, target)
    assert (r.returncode == 0) is good, r.stdout + r.stderr
    if not good:
        assert "model-copy: error:" in r.stderr and "version" in r.stderr, r.stderr
