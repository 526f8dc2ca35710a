"""ci/bump-tags: tag edits (a digest goes into the tag), appVersion, chart version bumps, idempotency, --dry-run,
formatting kept byte for byte, and bad input rejected with exit 2 and no file touched."""

from __future__ import annotations

import os
import shutil
import stat

import pytest
from ruamel.yaml import YAML

import bump_tags
from faqtest.common import tree_digest

D1 = "sha256:" + "a" * 64
D2 = "sha256:" + "0123456789abcdef" * 4


def load(path):
    return YAML(typ="safe", pure=True).load(path.read_text())


def bump(chart, *args):
    return bump_tags.main([*args, "--chart-dir", str(chart)])


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    a, b = before.splitlines(), after.splitlines()
    assert len(a) == len(b), "the number of lines changed"
    return [(x, y) for x, y in zip(a, b) if x != y]


# --- each change ------------------------------------------------------------------------------

def test_app_tag_sets_tag_and_app_version_and_bumps_patch(chart):
    before_v, before_c = (chart / "values.yaml").read_text(), (chart / "Chart.yaml").read_text()
    assert bump(chart, "--app-tag", "1.1.0") == 0
    v, c = load(chart / "values.yaml"), load(chart / "Chart.yaml")
    assert v["image"]["tag"] == "1.1.0" and "digest" not in v["image"]
    assert c["appVersion"] == "1.1.0" and c["version"] == "1.2.4"
    assert v["model"] == load_str_model(before_v)
    assert changed_lines(before_v, (chart / "values.yaml").read_text()) == [
        ('  tag: ""   # trailing comment on the tag', '  tag: "1.1.0"   # trailing comment on the tag'),
    ]
    assert changed_lines(before_c, (chart / "Chart.yaml").read_text()) == [
        ("version: 1.2.3", "version: 1.2.4"),
        ('appVersion: "1.0.0"   # app version comment', 'appVersion: "1.1.0"   # app version comment'),
    ]


def load_str_model(text):
    return YAML(typ="safe", pure=True).load(text)["model"]


def test_app_digest_goes_into_the_tag_and_keeps_app_version(chart):
    before_v = (chart / "values.yaml").read_text()
    assert bump(chart, "--app-digest", D1) == 0
    v, c = load(chart / "values.yaml"), load(chart / "Chart.yaml")
    assert v["image"]["tag"] == f"@{D1}" and "digest" not in v["image"]
    assert c["appVersion"] == "1.0.0" and c["version"] == "1.2.4"
    assert changed_lines(before_v, (chart / "values.yaml").read_text()) == [
        ('  tag: ""   # trailing comment on the tag', f'  tag: "@{D1}"   # trailing comment on the tag')]


def test_model_tag_is_a_quoted_string_and_replaces_the_digest(chart):
    assert bump(chart, "--model-digest", D1) == 0
    assert load(chart / "values.yaml")["model"]["tag"] == f"1.0@{D1}"
    assert bump(chart, "--model-tag", "1.10") == 0
    text = (chart / "values.yaml").read_text()
    assert '  tag: "1.10"' in text
    v, c = load(chart / "values.yaml"), load(chart / "Chart.yaml")
    assert v["model"]["tag"] == "1.10" and isinstance(v["model"]["tag"], str)
    assert c["appVersion"] == "1.0.0", "a model change must not touch appVersion"
    assert c["version"] == "1.2.5"


def test_model_digest_keeps_the_tag_name(chart):
    assert bump(chart, "--model-digest", D2) == 0
    v = load(chart / "values.yaml")
    assert v["model"]["tag"] == f"1.0@{D2}" and "digest" not in v["model"]
    assert v["image"]["tag"] == ""


def test_app_and_model_together_bump_the_chart_once(chart):
    assert bump(chart, "--app-digest", D1, "--model-digest", D2) == 0
    v, c = load(chart / "values.yaml"), load(chart / "Chart.yaml")
    assert (v["image"]["tag"], v["model"]["tag"]) == (f"@{D1}", f"1.0@{D2}")
    assert c["version"] == "1.2.4"


@pytest.mark.parametrize("section", ["image", "model"])
def test_a_retired_digest_key_is_refused_naming_it(chart, run_cli, section):
    values = chart / "values.yaml"
    tag_line = '  tag: ""   # trailing comment on the tag\n' if section == "image" else "  tag: '1.0'\n"
    values.write_text(values.read_text().replace(tag_line, tag_line + '  digest: ""\n', 1))
    before = tree_digest(chart)
    flag = "--app-digest" if section == "image" else "--model-digest"
    r = run_cli(flag, D1, "--chart-dir", str(chart))
    assert r.returncode == 2 and tree_digest(chart) == before
    assert f"{section}.digest is retired" in r.stderr and f"{section}.tag" in r.stderr, r.stderr


@pytest.mark.parametrize("part,expected", [
    ("patch", "1.2.4"), ("minor", "1.3.0"), ("major", "2.0.0"), ("none", "1.2.3")])
def test_chart_bump(chart, part, expected):
    assert bump(chart, "--model-tag", "2.0", "--chart-bump", part) == 0
    assert load(chart / "Chart.yaml")["version"] == expected
    assert load(chart / "values.yaml")["model"]["tag"] == "2.0"


@pytest.mark.parametrize("old,part,new", [
    ("0.1.0", "patch", "0.1.1"), ("1.9.9", "minor", "1.10.0"), ("1.2.3-rc.1", "patch", "1.2.4"),
    ("3.4.5+build.7", "major", "4.0.0"), ("1.2.3", "none", "1.2.3")])
def test_bump_version(old, part, new):
    assert bump_tags.bump_version(old, part) == new


@pytest.mark.parametrize("tag", ["1.0", "1.10", "v1.2.3-rc.1", "_x", "latest", "A" * 128, "1"])
def test_valid_tags(tag):
    assert bump_tags.valid_tag(tag) == tag


# --- idempotency and no-ops ---------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["--app-tag", "1.1.0"], ["--app-digest", D1], ["--model-tag", "1.1"],
    ["--model-digest", D2], ["--app-tag", "2.0.0", "--model-digest", D1, "--chart-bump", "major"]])
def test_same_bump_twice_changes_nothing_the_second_time(chart, args, capsys):
    assert bump(chart, *args) == 0
    first = tree_digest(chart)
    capsys.readouterr()
    assert bump(chart, *args) == 0
    assert tree_digest(chart) == first
    assert "nothing changed" in capsys.readouterr().err


def test_tag_equal_to_current_is_no_change(chart):
    before = tree_digest(chart)
    assert bump(chart, "--model-tag", "1.0") == 0
    assert tree_digest(chart) == before


# --- formatting is kept -------------------------------------------------------------------------

def test_comments_blank_lines_order_and_other_values_survive(chart):
    before = (chart / "values.yaml").read_text()
    assert bump(chart, "--app-tag", "9.9.9", "--model-digest", D1) == 0
    after = (chart / "values.yaml").read_text()
    diff = changed_lines(before, after)
    assert [b for _, b in diff] == ['  tag: "9.9.9"   # trailing comment on the tag', f'  tag: "1.0@{D1}"']
    # Everything else, byte for byte: comments, blank lines, `null`, flow maps, list indents.
    for line in ("# A second header comment line.", "  - name: regcred", "  minAvailable: null",
                 "  limits: {memory: 128Mi}", "zLast: true   # key order: this stays last",
                 "\n\n\n  # -- Two blank lines above must survive."):
        assert line in after
    chart_text = (chart / "Chart.yaml").read_text()
    assert "description: >-\n  A folded description that\n  spans two lines.\n" in chart_text
    assert list(load(chart / "values.yaml")) == list(YAML(typ="safe").load(before))


def test_flow_mapping_and_unquoted_tag(tmp_path):
    d = tmp_path / "c"
    d.mkdir()
    (d / "values.yaml").write_text(
        "image: {repository: r, tag: 1.0}  # flow style\n"
        "model:\n  tag: 1.0\n  # comment after the tag\n  keep: 3\n")
    (d / "Chart.yaml").write_text('version: "0.1.0"\nappVersion: 1.0.0\n')
    # A float-looking unquoted tag 1.0 becomes the string "1.0": that is a change.
    assert bump(d, "--app-tag", "1.0", "--model-digest", D1) == 0
    assert (d / "values.yaml").read_text() == (
        "image: {repository: r, tag: \"1.0\"}  # flow style\n"
        f"model:\n  tag: \"1.0@{D1}\"\n  # comment after the tag\n  keep: 3\n")
    assert (d / "Chart.yaml").read_text() == 'version: "0.1.1"\nappVersion: "1.0"\n'


def test_crlf_line_endings_are_kept(chart):
    for name in ("values.yaml", "Chart.yaml"):
        (chart / name).write_bytes((chart / name).read_bytes().replace(b"\n", b"\r\n"))
    assert bump(chart, "--app-tag", "1.1.0", "--model-digest", D1) == 0
    raw = (chart / "values.yaml").read_bytes()
    assert b'  tag: "1.1.0"   # trailing comment on the tag\r\n' in raw
    assert f'  tag: "1.0@{D1}"\r\n'.encode() in raw
    assert raw.count(b"\n") == raw.count(b"\r\n")
    chart_raw = (chart / "Chart.yaml").read_bytes()
    assert b"version: 1.2.4\r\n" in chart_raw
    assert b'appVersion: "1.1.0"   # app version comment\r\n' in chart_raw


def test_write_keeps_mode_and_leaves_no_temp_files(chart):
    os.chmod(chart / "values.yaml", 0o640)
    assert bump(chart, "--app-digest", D1) == 0
    assert stat.S_IMODE((chart / "values.yaml").stat().st_mode) == 0o640
    assert sorted(p.name for p in chart.iterdir()) == ["Chart.yaml", "values.yaml"]


# --- dry run ------------------------------------------------------------------------------------

def test_dry_run_prints_a_unified_diff_and_writes_nothing(chart, run_cli, tmp_path):
    before = tree_digest(chart)
    r = run_cli("--app-tag", "1.1.0", "--model-digest", D1, "--dry-run", "--chart-dir", "chart",
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert tree_digest(chart) == before
    out = r.stdout
    assert "--- a/chart/values.yaml\n+++ b/chart/values.yaml\n" in out
    assert "--- a/chart/Chart.yaml\n+++ b/chart/Chart.yaml\n" in out
    assert "\n@@ " in out
    assert '\n-  tag: ""   # trailing comment on the tag\n' in out
    assert '\n+  tag: "1.1.0"   # trailing comment on the tag\n' in out
    assert f'\n+  tag: "1.0@{D1}"\n' in out
    assert "\n-version: 1.2.3\n" in out and "\n+version: 1.2.4\n" in out
    assert '\n+appVersion: "1.1.0"   # app version comment\n' in out


def test_dry_run_with_nothing_to_change_prints_no_diff(chart, run_cli):
    r = run_cli("--model-tag", "1.0", "--dry-run", "--chart-dir", str(chart))
    assert r.returncode == 0 and r.stdout == ""


def test_cli_success_reports_each_change(chart, run_cli):
    r = run_cli("--app-digest", D1, "--chart-dir", str(chart))
    assert r.returncode == 0, r.stderr
    assert f'image.tag: "" -> "@{D1}"' in r.stdout
    assert 'version: "1.2.3" -> "1.2.4"' in r.stdout


def test_help_explains_the_digest_goes_into_the_tag(run_cli):
    r = run_cli("--help")
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    assert "a digest goes into the tag" in text and "There is no separate digest key" in text


# --- bad input: exit 2, one line, no file touched ------------------------------------------------

BAD_ARGS = {
    "tag starts with dot": (["--app-tag", ".1"], "invalid image tag"),
    "tag starts with dash": (["--model-tag=-x"], "invalid image tag"),
    "tag with slash": (["--app-tag", "a/b"], "invalid image tag"),
    "tag with colon": (["--model-tag", "1.0:x"], "invalid image tag"),
    "tag too long": (["--app-tag", "a" * 129], "invalid image tag"),
    "empty tag": (["--app-tag", ""], "empty"),
    "digest uppercase": (["--app-digest", "sha256:" + "A" * 64], "invalid image digest"),
    "digest short": (["--model-digest", "sha256:" + "a" * 63], "invalid image digest"),
    "digest sha512": (["--app-digest", "sha512:" + "a" * 64], "invalid image digest"),
    "digest without algorithm": (["--model-digest", "a" * 64], "invalid image digest"),
    "app tag and digest": (["--app-tag", "1", "--app-digest", D1], "not allowed with"),
    "model tag and digest": (["--model-digest", D1, "--model-tag", "1"], "not allowed with"),
    "nothing to do": ([], "nothing to do"),
    "only a chart bump": (["--chart-bump", "minor"], "nothing to do"),
    "bad chart bump": (["--model-tag", "1", "--chart-bump", "huge"], "invalid choice"),
    "unknown option": (["--app-tags", "1"], "unrecognized arguments"),
    "chart dir missing": (["--model-tag", "1", "--chart-dir", "nope"], "nope: no such chart directory"),
}


@pytest.mark.parametrize("args,message", BAD_ARGS.values(), ids=BAD_ARGS.keys())
def test_bad_arguments_exit_2_with_one_line_and_touch_nothing(chart, run_cli, args, message):
    before = tree_digest(chart)
    if "--chart-dir" not in args:
        args = [*args, "--chart-dir", str(chart)]
    r = run_cli(*args, cwd=chart.parent)
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("bump-tags: error: "), r.stderr
    assert message in lines[0]
    assert tree_digest(chart) == before


def _drop(text, line):
    assert line in text
    return text.replace(line, "", 1)


BAD_CHARTS = {
    "values.yaml missing": ("values.yaml", None, ["--app-tag", "1"], "values.yaml: no such file"),
    "Chart.yaml missing": ("Chart.yaml", None, ["--app-tag", "1"], "Chart.yaml: no such file"),
    "image.tag missing": ("values.yaml", lambda t: _drop(t, '  tag: ""   # trailing comment on the tag\n'),
                          ["--app-digest", D1], "missing key image.tag"),
    "model.tag missing": ("values.yaml", lambda t: _drop(t, "  tag: '1.0'\n"),
                          ["--model-tag", "1"], "missing key model.tag"),
    "model section missing": ("values.yaml", lambda t: t.replace("model:", "other:"),
                              ["--app-tag", "1", "--model-tag", "1"], "missing key model.tag"),
    "image is not a map": ("values.yaml", lambda t: "image: x\n" + t.replace("image:", "imageX:"),
                           ["--app-tag", "1"], "missing key image.tag"),
    "tag is a map": ("values.yaml", lambda t: t.replace('  tag: ""   #', "  tag: {a: 1}   #"),
                     ["--app-tag", "1"], "image.tag is not a single value"),
    "appVersion missing": ("Chart.yaml", lambda t: _drop(t, 'appVersion: "1.0.0"   # app version comment\n'),
                           ["--app-tag", "1"], "missing key appVersion"),
    "version missing": ("Chart.yaml", lambda t: _drop(t, "version: 1.2.3\n"),
                        ["--model-tag", "1"], "missing key version"),
    "version not semver": ("Chart.yaml", lambda t: t.replace("version: 1.2.3", "version: 1.2"),
                           ["--model-tag", "1"], "not a semantic version"),
    "invalid yaml": ("values.yaml", lambda t: t + "bad: [unclosed\n", ["--app-tag", "1"],
                     "not valid YAML"),
    "top level a list": ("Chart.yaml", lambda t: "- a\n- b\n", ["--app-tag", "1"],
                         "not a mapping"),
}


@pytest.mark.parametrize("name,mutate,args,message", BAD_CHARTS.values(), ids=BAD_CHARTS.keys())
def test_bad_chart_exits_2_and_touches_no_file(chart, run_cli, name, mutate, args, message):
    if mutate is None:
        (chart / name).unlink()
    else:
        (chart / name).write_text(mutate((chart / name).read_text()))
    before = tree_digest(chart)
    r = run_cli(*args, "--chart-dir", str(chart))
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("bump-tags: error: "), r.stderr
    assert message in lines[0]
    assert r.stdout == ""
    assert tree_digest(chart) == before


def test_a_bad_second_option_leaves_the_first_file_alone(chart, run_cli):
    """values.yaml would change, but Chart.yaml is bad: neither file may be written."""
    (chart / "Chart.yaml").write_text("version: x\nappVersion: '1'\n")
    before = tree_digest(chart)
    r = run_cli("--model-digest", D1, "--chart-dir", str(chart))
    assert r.returncode == 2 and tree_digest(chart) == before


# --- the real chart -----------------------------------------------------------------------------

def test_real_chart_keeps_every_comment(root, tmp_path, run_cli):
    src = root / "chart"
    assert (src / "values.yaml").is_file() and (src / "Chart.yaml").is_file(), \
        "chart/values.yaml and chart/Chart.yaml must exist"
    values = load(src / "values.yaml")
    for section in ("image", "model"):
        assert section in values, f"chart/values.yaml has no {section} section"
        assert "tag" in values[section], f"chart/values.yaml lacks {section}.tag"
        assert "digest" not in values[section], f"chart/values.yaml still has {section}.digest"
    dst = tmp_path / "chart"
    shutil.copytree(src, dst)
    before_v, before_c = (dst / "values.yaml").read_text(), (dst / "Chart.yaml").read_text()
    r = run_cli("--app-tag", "7.7.7", "--model-digest", D1, "--chart-dir", str(dst))
    assert r.returncode == 0, r.stderr
    after_v, after_c = (dst / "values.yaml").read_text(), (dst / "Chart.yaml").read_text()
    comments = [line for line in before_v.splitlines() if line.lstrip().startswith("#")]
    assert comments and comments == [
        line for line in after_v.splitlines() if line.lstrip().startswith("#")]
    assert len(changed_lines(before_v, after_v)) == 2  # image.tag, model.tag
    v, c = load(dst / "values.yaml"), load(dst / "Chart.yaml")
    # version, appVersion, and the Artifact Hub annotations: both images, and the changes of the
    # new version (one entry per image) in place of the old version's
    images = yaml_block(c["annotations"]["artifacthub.io/images"])
    assert images == [{"name": "faq-engine", "image": f"{values['image']['repository']}:7.7.7"},
                      {"name": "faq-engine-model", "image": f"{values['model']['repository']}:"
                                                            f"{values['model']['tag']}@{D1}"}]
    assert [e["description"] for e in yaml_block(c["annotations"]["artifacthub.io/changes"])] \
        == [f"app image {images[0]['image']}", f"model image {images[1]['image']}"]
    before_c_data, after_c_data = load(src / "Chart.yaml"), dict(c)
    for data in (before_c_data, after_c_data):
        for key in ("version", "appVersion", "annotations"):
            data.pop(key)
    assert before_c_data == after_c_data
    assert [line for line in before_c.splitlines() if line.lstrip().startswith("#")] == \
        [line for line in after_c.splitlines() if line.lstrip().startswith("#")]
    assert v["image"]["tag"] == "7.7.7"
    assert v["model"]["tag"] == f"{values['model']['tag']}@{D1}"
    assert c["appVersion"] == "7.7.7"
    assert c["version"] == bump_tags.bump_version(str(load(src / "Chart.yaml")["version"]), "patch")
    # Everything else in values.yaml is unchanged data.
    for section in ("image", "model"):
        values[section].pop("tag")
        v[section].pop("tag")
    assert v == values


# --- tags carrying their digest (Renovate, Argo CD Image Updater) -------------------------

def test_model_tag_with_digest_is_written_as_given(chart):
    assert bump(chart, "--model-tag", f"1.1@{D1}") == 0
    assert load(chart / "values.yaml")["model"]["tag"] == f"1.1@{D1}"


def test_app_tag_with_digest_sets_app_version_to_the_tag_name(chart):
    assert bump(chart, "--app-tag", f"1.1.0@{D1}") == 0
    assert load(chart / "values.yaml")["image"]["tag"] == f"1.1.0@{D1}"
    assert load(chart / "Chart.yaml")["appVersion"] == "1.1.0"


def test_digest_replaces_the_one_a_tag_carries(chart):
    """After Renovate wrote `tag: "1.1@sha256:..."`, a release's --model-digest replaces that
    digest: one line changes."""
    assert bump(chart, "--model-tag", f"1.1@{D1}", "--chart-bump", "none") == 0
    before = (chart / "values.yaml").read_text()
    assert bump(chart, "--model-digest", D2) == 0
    after = (chart / "values.yaml").read_text()
    assert changed_lines(before, after) == [(f'  tag: "1.1@{D1}"', f'  tag: "1.1@{D2}"')]


@pytest.mark.parametrize("tag", ["1.1@sha256:abc", f"1.1@{D1}@{D1}", f".1@{D1}",
                                 f"1.1@{D1.upper()}", "1.1@"])
def test_malformed_tag_with_digest_exits_2(chart, run_cli, tag):
    before = tree_digest(chart)
    r = run_cli("--model-tag", tag, "--chart-dir", str(chart))
    assert r.returncode == 2 and "invalid image tag" in r.stderr, r.stderr
    assert tree_digest(chart) == before


def test_split_tag():
    assert bump_tags.split_tag(f"1.1@{D1}") == ("1.1", D1)
    assert bump_tags.split_tag(f"@{D1}") == ("", D1)
    assert bump_tags.split_tag("1.1") == ("1.1", "")
    assert bump_tags.split_tag(None) == ("", "")
    assert bump_tags.split_tag(2) == ("2", "")


# --- Artifact Hub annotations in Chart.yaml --------------------------------------------------

ANNOTATIONS = """\
# Artifact Hub metadata
annotations:
  artifacthub.io/license: Apache-2.0
  artifacthub.io/images: |
    - name: faq-engine
      image: localhost/faq-engine:1.0.0
    - name: faq-engine-model
      image: localhost/faq-engine-model:1.0
  artifacthub.io/changes: |
    - kind: added
      description: "The first version"
  artifacthub.io/zLast: "true"   # stays last
"""


def yaml_block(text):
    return YAML(typ="safe", pure=True).load(text)


@pytest.fixture
def annotated(chart):
    with (chart / "Chart.yaml").open("a") as f:  # the fixture chart, then its annotations
        f.write(ANNOTATIONS)
    return chart


def annotations(chart):
    return load(chart / "Chart.yaml")["annotations"]


def test_images_annotation_follows_the_tags_and_digests(annotated):
    before = (annotated / "Chart.yaml").read_text()
    assert bump(annotated, "--app-tag", "1.1.0", "--model-digest", D1) == 0
    after = (annotated / "Chart.yaml").read_text()
    assert yaml_block(annotations(annotated)["artifacthub.io/images"]) == [
        {"name": "faq-engine", "image": "localhost/faq-engine:1.1.0"},
        {"name": "faq-engine-model", "image": f"localhost/faq-engine-model:1.0@{D1}"}]
    # Only the image lines change inside the images block; the rest of the file stays.
    assert "      image: localhost/faq-engine:1.1.0\n" in after
    assert after.split("annotations:")[0] == before.split("annotations:")[0].replace(
        "version: 1.2.3", "version: 1.2.4").replace('appVersion: "1.0.0"', 'appVersion: "1.1.0"')
    assert after.endswith('  artifacthub.io/zLast: "true"   # stays last\n')
    assert annotations(annotated)["artifacthub.io/license"] == "Apache-2.0"


def test_an_empty_app_tag_is_listed_as_app_version(annotated):
    """The fixture's image.tag is empty (the chart renders appVersion): a model bump lists the
    app image as repository:appVersion, as it runs."""
    assert bump(annotated, "--model-tag", "1.1") == 0
    assert yaml_block(annotations(annotated)["artifacthub.io/images"])[0]["image"] == \
        "localhost/faq-engine:1.0.0"


def test_changes_describe_the_new_version(annotated):
    assert bump(annotated, "--model-tag", f"1.1@{D1}") == 0
    assert yaml_block(annotations(annotated)["artifacthub.io/changes"]) == [
        {"kind": "changed", "description": f"model image localhost/faq-engine-model:1.1@{D1}"}]
    assert load(annotated / "Chart.yaml")["version"] == "1.2.4"


def test_changes_are_appended_when_the_version_stays(annotated):
    assert bump(annotated, "--app-tag", "1.1.0", "--chart-bump", "none") == 0
    assert yaml_block(annotations(annotated)["artifacthub.io/changes"]) == [
        {"kind": "added", "description": "The first version"},
        {"kind": "changed", "description": "app image localhost/faq-engine:1.1.0"}]


def test_the_same_bump_twice_leaves_the_annotations_alone(annotated, capsys):
    assert bump(annotated, "--model-tag", "1.1") == 0
    before = tree_digest(annotated)
    assert bump(annotated, "--model-tag", "1.1") == 0
    assert tree_digest(annotated) == before
    assert "nothing changed" in capsys.readouterr().err


def test_annotation_blocks_keep_crlf(annotated):
    path = annotated / "Chart.yaml"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert bump(annotated, "--model-digest", D1) == 0
    raw = path.read_bytes()
    assert raw.count(b"\n") == raw.count(b"\r\n")
    assert f"      image: localhost/faq-engine-model:1.0@{D1}\r\n".encode() in raw


def test_an_annotation_not_written_as_a_literal_block_is_refused(annotated, run_cli):
    path = annotated / "Chart.yaml"
    path.write_text(path.read_text().replace(
        "artifacthub.io/images: |\n    - name: faq-engine\n      image: localhost/faq-engine:1.0.0\n"
        "    - name: faq-engine-model\n      image: localhost/faq-engine-model:1.0\n",
        "artifacthub.io/images: '[]'\n"))
    before = tree_digest(annotated)
    r = run_cli("--model-tag", "1.1", "--chart-dir", str(annotated))
    assert r.returncode == 2 and "must be a literal block" in r.stderr, r.stderr
    assert tree_digest(annotated) == before
