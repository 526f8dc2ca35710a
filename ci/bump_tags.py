#!/usr/bin/env python3
"""Bump the image tags or digests the Helm chart deploys, and the chart's own version.

Usage (run from the repository root; `ci/bump-tags` is the executable wrapper):

    ci/bump-tags [--app-tag T | --app-digest D] [--model-tag T | --model-digest D]
                 [--chart-bump patch|minor|major|none] [--chart-dir chart] [--dry-run]

What it changes, in <chart-dir>/values.yaml and <chart-dir>/Chart.yaml:
  --app-tag T       image.tag = "T" (replacing any digest the old tag carried) and Chart.yaml
                    appVersion = "T". T may carry its digest, "1.1.0@sha256:...", as Renovate
                    and Argo CD Image Updater write it; appVersion then gets the part before "@".
  --app-digest D    image.tag = "<its name>@D": the digest goes into the tag (the chart renders
                    repository:tag@digest: the digest decides, the tag is the readable name);
                    appVersion stays.
  --model-tag T     model.tag = "T" (likewise).
  --model-digest D  model.tag = "<its name>@D".
  There is no separate digest key: the chart retired image.digest / model.digest, because a
  digest kept apart from its tag outlived the next tag change. A values.yaml that still has one
  is refused, naming it.
  Chart.yaml version is bumped (semver; --chart-bump patch by default, minor/major reset the
  lower parts, none leaves it) only when one of the values above actually changed, so running
  the same bump twice changes nothing the second time.
  Artifact Hub annotations of Chart.yaml, when it has them (each a literal block, `key: |`):
  `artifacthub.io/images` is rewritten to list both images as values.yaml then deploys them
  (repository:tag, the tag with its digest; an empty app tag is appVersion), and when an image
  changed, `artifacthub.io/changes` gets one `kind: changed` entry per image: it replaces the
  entries when the chart version is bumped (they describe the new version), else they are
  appended.

Tags follow the Docker tag grammar [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}, optionally "@<digest>";
digests are "sha256:" and 64 lowercase hex digits. Tags, digests and appVersion are written as double-quoted strings, so a
tag like "1.10" stays a string.

Editing keeps the files as they are: each file is parsed with ruamel.yaml's round-trip parser,
which gives the exact position of every value to change; only those value tokens are replaced,
so every comment, blank line, key order, quote style and indentation elsewhere stays byte for
byte. The result is parsed again and must equal the original data with exactly the intended
changes, else nothing is written.

Bad input (a malformed tag or digest, a missing file or key, both --x-tag and --x-digest,
nothing to do) exits 2 with one line `bump-tags: error: ...` and touches no file. Files are
written only after everything validated, each atomically (temporary file + rename).
--dry-run prints a unified diff of what would change and writes nothing.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROG = "bump-tags"
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
# A tag may carry its digest the way Renovate and Argo CD Image Updater write it: 1.1@sha256:...
TAG_AT_DIGEST_RE = re.compile(rf"(?P<tag>{TAG_RE.pattern})?@(?P<digest>{DIGEST_RE.pattern})")
SEMVER_RE = re.compile(
    r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?"
)
BUMPS = ("patch", "minor", "major", "none")


class BumpError(Exception):
    """A problem with the input: reported as one line, exit code 2, no file touched."""


def valid_tag(value: str) -> str:
    if not (TAG_RE.fullmatch(value) or TAG_AT_DIGEST_RE.fullmatch(value)):
        raise BumpError(
            f"invalid image tag {value!r}: a tag is 1-128 characters of [A-Za-z0-9_.-] "
            "and must not start with '.' or '-', optionally followed by @sha256:<64 hex>"
        )
    return value


def split_tag(value: Any) -> tuple[str, str]:
    """A tag as written in values.yaml -> (tag, digest inside it or "")."""
    text = "" if value is None else str(value)
    m = TAG_AT_DIGEST_RE.fullmatch(text)
    return (m["tag"] or "", m["digest"]) if m else (text, "")


def valid_digest(value: str) -> str:
    if not DIGEST_RE.fullmatch(value):
        raise BumpError(
            f"invalid image digest {value!r}: expected 'sha256:' followed by 64 lowercase hex digits"
        )
    return value


def bump_version(version: str, part: str) -> str:
    """Bump a semver MAJOR.MINOR.PATCH; a pre-release or build suffix is dropped."""
    m = SEMVER_RE.fullmatch(version)
    if not m:
        raise BumpError(f"Chart.yaml version {version!r} is not a semantic version (X.Y.Z)")
    major, minor, patch = (int(g) for g in m.groups())
    if part == "major":
        return f"{major + 1}.0.0"
    if part == "minor":
        return f"{major}.{minor + 1}.0"
    if part == "patch":
        return f"{major}.{minor}.{patch + 1}"
    return version


@dataclass
class Edit:
    line: int
    start: int
    end: int
    text: str


@dataclass
class YamlFile:
    """A YAML file edited in place through the round-trip parser's value positions."""

    path: Path
    text: str
    data: Any
    edits: list[Edit] = field(default_factory=list)
    expected: Any = None  # plain data the edited text must parse to
    changes: list[tuple[str, Any, Any]] = field(default_factory=list)
    # (first line, end line, new lines): a literal block's content lines replaced
    block_edits: list[tuple[int, int, list[str]]] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> "YamlFile":
        from ruamel.yaml import YAML
        from ruamel.yaml.error import YAMLError

        if not path.is_file():
            raise BumpError(f"{path}: no such file")
        try:
            text = path.read_bytes().decode("utf-8")  # keeps \r\n line ends
        except (OSError, UnicodeDecodeError) as e:
            raise BumpError(f"{path}: cannot read: {e}") from None
        try:
            data = YAML(typ="rt").load(text)
        except YAMLError as e:
            raise BumpError(f"{path}: not valid YAML: {' '.join(str(e).split())}") from None
        if not isinstance(data, dict):
            raise BumpError(f"{path}: the top level is not a mapping")
        return cls(path, text, data, expected=_plain(data))

    def _lookup(self, dotted: str):
        node = self.data
        parts = dotted.split(".")
        for i, part in enumerate(parts):
            if not isinstance(node, dict) or part not in node:
                raise BumpError(f"{self.path}: missing key {dotted}")
            if i < len(parts) - 1:
                node = node[part]
        value = node[parts[-1]]
        if isinstance(value, (dict, list)):
            raise BumpError(f"{self.path}: {dotted} is not a single value")
        return node, parts[-1], value

    def require(self, dotted: str) -> Any:
        return self._lookup(dotted)[2]

    def set(self, dotted: str, new: str, quote: bool = True) -> bool:
        """Plan `dotted = new`; returns whether that is a change."""
        mapping, key, old = self._lookup(dotted)
        if isinstance(old, str) and old == new:
            return False
        if old is None and new == "":
            return False  # an empty (null) digest already means "no digest"
        line, start, end = self._value_span(mapping, key, old)
        replacement = f'"{new}"' if quote else new
        if old is None:
            replacement = " " + replacement
        self.edits.append(Edit(line, start, end, replacement))
        target = self.expected
        for part in dotted.split(".")[:-1]:
            target = target[part]
        target[key] = new
        self.changes.append((dotted, old, new))
        return True

    def _value_span(self, mapping, key: str, old: Any) -> tuple[int, int, int]:
        lines = self.text.split("\n")  # the parser counts lines by "\n" only
        if old is None:
            # An empty value: the parser points past it, so insert right after the key's colon.
            kline, kcol = mapping.lc.key(key)
            s = lines[kline]
            col = _scalar_end(s, kcol, flow=False, stop_at_colon=True)
            while col < len(s) and s[col] in " \t\r":
                col += 1
            if col >= len(s) or s[col] != ":":
                raise BumpError(f"{self.path}:{kline + 1}: cannot locate the value of {key}")
            return kline, col + 1, col + 1
        line, col = mapping.lc.value(key)
        s = lines[line]
        flow = bool(getattr(mapping, "fa", None) and mapping.fa.flow_style())
        if col >= len(s) or s[col] in "|>&!*":
            raise BumpError(
                f"{self.path}:{line + 1}: {key} must be a plain or quoted one-line value"
            )
        return line, col, _scalar_end(s, col, flow=flow)

    def set_block(self, section: str, key: str, new: str) -> bool:
        """Plan `section[key] = new` for a key whose value is a literal block (`key: |`,
        clip chomping): its content lines are replaced, indented as they were. `new` ends
        with one newline. Returns whether that is a change."""
        mapping = self.data.get(section)
        if not isinstance(mapping, dict) or key not in mapping:
            raise BumpError(f"{self.path}: missing key {section}.{key}")
        old = mapping[key]
        if old == new:
            return False
        lines = self.text.split("\n")
        kline, kcol = mapping.lc.key(key)
        s = lines[kline].rstrip("\r")
        end_of_key = kcol + len(key)
        if s[kcol:end_of_key] != key or s[end_of_key:end_of_key + 1] != ":" \
                or s[end_of_key + 1:].split("#")[0].strip() != "|":
            raise BumpError(f"{self.path}:{kline + 1}: {section}.{key} must be a literal "
                            "block (`{key}: |`)".replace("{key}", key))
        first = last = kline + 1
        indent = None
        for i in range(kline + 1, len(lines)):
            line = lines[i].rstrip("\r")
            if not line.strip():
                continue
            width = len(line) - len(line.lstrip(" "))
            if width <= kcol:
                break
            indent = width if indent is None else indent
            last = i + 1
        if indent is None:
            indent = kcol + 2
        cr = "\r" if lines[kline].endswith("\r") else ""
        self.block_edits.append(
            (first, last, [" " * indent + line + cr for line in new.rstrip("\n").split("\n")]))
        self.expected[section][key] = new
        self.changes.append((f"{section}.{key}", old, new))
        return True

    def render(self) -> str:
        if not self.edits and not self.block_edits:
            return self.text
        lines = self.text.split("\n")
        for e in sorted(self.edits, key=lambda e: (e.line, e.start), reverse=True):
            s = lines[e.line]
            lines[e.line] = s[: e.start] + e.text + s[e.end :]
        for first, last, new_lines in sorted(self.block_edits, reverse=True):
            lines[first:last] = new_lines
        new = "\n".join(lines)
        from ruamel.yaml import YAML

        try:
            got = YAML(typ="safe", pure=True).load(new)
        except Exception as e:  # noqa: BLE001 - any parse failure means we must not write
            raise BumpError(f"{self.path}: edit produced invalid YAML ({e}); nothing written")
        if got != self.expected:
            raise BumpError(
                f"{self.path}: could not edit the values safely (unusual formatting); "
                "nothing written"
            )
        return new


def _plain(data: Any) -> Any:
    """ruamel round-trip data -> plain Python data, as a safe loader would return it."""
    if isinstance(data, dict):
        return {_plain(k): _plain(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_plain(v) for v in data]
    if isinstance(data, str):
        return str(data)
    if isinstance(data, bool):
        return bool(data)
    if isinstance(data, int):
        return int(data)
    if isinstance(data, float):
        return float(data)
    return copy.deepcopy(data)


def _scalar_end(s: str, col: int, flow: bool, stop_at_colon: bool = False) -> int:
    """End column of the one-line scalar starting at s[col] (a quoted or plain scalar)."""
    q = s[col] if col < len(s) else ""
    if q == '"':
        i = col + 1
        while i < len(s):
            if s[i] == "\\":
                i += 2
                continue
            if s[i] == '"':
                return i + 1
            i += 1
        raise BumpError(f"a double-quoted value spans lines: {s.strip()!r}")
    if q == "'":
        i = col + 1
        while i < len(s):
            if s[i] == "'":
                if i + 1 < len(s) and s[i + 1] == "'":
                    i += 2
                    continue
                return i + 1
            i += 1
        raise BumpError(f"a single-quoted value spans lines: {s.strip()!r}")
    i = col
    while i < len(s):
        c = s[i]
        if c == "#" and i > col and s[i - 1] in " \t":
            break
        if flow and c in ",]}":
            break
        if stop_at_colon and c == ":" and (i + 1 == len(s) or s[i + 1] in " \t"):
            break
        i += 1
    while i > col and s[i - 1] in " \t\r":
        i -= 1
    return i


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, as for every other input error
        fail(message)


def fail(message: str):
    print(f"{PROG}: error: {message}", file=sys.stderr)
    sys.exit(2)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = Parser(
        prog=PROG,
        description="Set the app/model image tag or digest in <chart-dir>/values.yaml, "
        "appVersion in Chart.yaml when the app tag changes, and bump the chart version when "
        "anything changed. A tag replaces the tag and any digest it carried; a digest goes into "
        "the tag, keeping its name (tag: \"1.1@sha256:...\", rendered repository:tag@digest), "
        "and leaves appVersion alone. A tag may carry its digest (1.1@sha256:...), as Renovate "
        "writes it. There is no separate digest key. Comments, blank lines "
        "and key order are kept. Bad input exits 2 and writes nothing.",
    )
    app = p.add_mutually_exclusive_group()
    app.add_argument("--app-tag", metavar="T", help="app image tag (may carry @digest); "
                     "sets appVersion")
    app.add_argument("--app-digest", metavar="D", help="app image digest sha256:<64 hex>, "
                     "written into image.tag after its name; keeps appVersion")
    model = p.add_mutually_exclusive_group()
    model.add_argument("--model-tag", metavar="T", help="model image tag (may carry @digest)")
    model.add_argument("--model-digest", metavar="D", help="model image digest "
                       "sha256:<64 hex>, written into model.tag after its name")
    p.add_argument("--chart-bump", choices=BUMPS, default="patch",
                   help="chart version bump when something changed (default: patch)")
    p.add_argument("--chart-dir", default="chart", type=Path,
                   help="chart directory holding values.yaml and Chart.yaml (default: chart)")
    p.add_argument("--dry-run", action="store_true",
                   help="print a unified diff of what would change; write nothing")
    return p.parse_args(argv)


def plan(args: argparse.Namespace) -> tuple[YamlFile, YamlFile]:
    """Validate everything and plan the edits; raises BumpError, writes nothing."""
    if not (args.app_tag or args.app_digest or args.model_tag or args.model_digest):
        if any(v == "" for v in (args.app_tag, args.app_digest, args.model_tag,
                                 args.model_digest)):
            raise BumpError("an empty tag or digest was given")
        raise BumpError(
            "nothing to do: give --app-tag/--app-digest and/or --model-tag/--model-digest"
        )
    for v in (args.app_tag, args.model_tag):
        if v is not None:
            valid_tag(v)
    for v in (args.app_digest, args.model_digest):
        if v is not None:
            valid_digest(v)
    if not args.chart_dir.is_dir():
        raise BumpError(f"{args.chart_dir}: no such chart directory")
    values = YamlFile.load(args.chart_dir / "values.yaml")
    chart = YamlFile.load(args.chart_dir / "Chart.yaml")
    version = chart.require("version")
    if not isinstance(version, str):
        version = str(version)
    if args.chart_bump != "none":
        bump_version(version, args.chart_bump)  # validate before anything else
    for prefix, tag, digest in (
        ("image", args.app_tag, args.app_digest),
        ("model", args.model_tag, args.model_digest),
    ):
        if tag is None and digest is None:
            continue
        values.require(f"{prefix}.tag")
        if isinstance(values.data.get(prefix), dict) and "digest" in values.data[prefix]:
            raise BumpError(f"{values.path}: {prefix}.digest is retired: remove it and keep the "
                            f"digest in {prefix}.tag (\"1.1@sha256:...\")")
    if args.app_tag is not None:
        chart.require("appVersion")

    for prefix, tag, digest in (
        ("image", args.app_tag, args.app_digest),
        ("model", args.model_tag, args.model_digest),
    ):
        if tag is not None:
            values.set(f"{prefix}.tag", tag)
        elif digest is not None:
            name, _ = split_tag(values.require(f"{prefix}.tag"))
            values.set(f"{prefix}.tag", f"{name}@{digest}")
    if args.app_tag is not None and split_tag(args.app_tag)[0]:
        chart.set("appVersion", split_tag(args.app_tag)[0])
    bumped = bool(values.changes or chart.changes) and args.chart_bump != "none"
    if bumped:
        old_text = chart.text.split("\n")
        mapping = chart.data
        line, col = mapping.lc.value("version")
        quoted = col < len(old_text[line]) and old_text[line][col] in "\"'"
        chart.set("version", bump_version(version, args.chart_bump), quote=quoted)
    artifacthub(values, chart, replace_changes=bumped)
    return values, chart


IMAGES = "artifacthub.io/images"
CHANGES = "artifacthub.io/changes"


def image_ref(values: dict, prefix: str, app_version: Any) -> str:
    """repository:tag[@digest] as the chart renders it (an empty app tag is appVersion)."""
    section = values[prefix]
    name, digest = split_tag(section.get("tag"))
    if not name and not digest and prefix == "image":
        name = "" if app_version is None else str(app_version)
    return f"{section['repository']}{f':{name}' if name else ''}{f'@{digest}' if digest else ''}"


def artifacthub(values: YamlFile, chart: YamlFile, replace_changes: bool) -> None:
    """Keep Chart.yaml's Artifact Hub annotations true to the planned values (when it has
    them): the images list, and a changes entry for each image that changed."""
    annotations = chart.data.get("annotations")
    if not isinstance(annotations, dict):
        return
    refs = {prefix: image_ref(values.expected, prefix, chart.expected.get("appVersion"))
            for prefix in ("image", "model")
            if isinstance(values.expected.get(prefix), dict)
            and "repository" in values.expected[prefix]}
    if IMAGES in annotations:
        chart.set_block("annotations", IMAGES, "".join(
            f"- name: {str(values.expected[prefix]['repository']).rsplit('/', 1)[-1]}\n"
            f"  image: {ref}\n" for prefix, ref in refs.items()))
    changed = [key.split(".")[0] for key, _, _ in values.changes]
    if CHANGES in annotations and changed:
        entries = "".join(
            f"- kind: changed\n  description: "
            f"{json.dumps(('app' if prefix == 'image' else 'model') + ' image ' + refs[prefix])}\n"
            for prefix in ("image", "model") if prefix in changed and prefix in refs)
        old = "" if replace_changes else str(annotations[CHANGES] or "")
        chart.set_block("annotations", CHANGES,
                        (old if not old or old.endswith("\n") else old + "\n") + entries)


def write_atomically(files: list[tuple[Path, str]]) -> None:
    temps: list[tuple[str, Path]] = []
    try:
        for path, text in files:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            temps.append((tmp, path))
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        for tmp, path in temps:
            os.replace(tmp, path)
    finally:
        for tmp, _ in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)


def _label(side: str, path: Path) -> str:
    return str(path) if path.is_absolute() else f"{side}/{path.as_posix()}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import ruamel.yaml  # noqa: F401
    except ImportError:
        fail("ruamel.yaml is not installed (pip install -r requirements-dev.txt)")
    try:
        files = plan(args)
        rendered = [(f, f.render()) for f in files]
    except BumpError as e:
        fail(str(e))
    changed = [(f, new) for f, new in rendered if new != f.text]
    if not changed:
        print(f"{PROG}: nothing changed (the chart already has these values)", file=sys.stderr)
        return 0
    if args.dry_run:
        for f, new in changed:
            sys.stdout.writelines(difflib.unified_diff(
                f.text.splitlines(keepends=True), new.splitlines(keepends=True),
                fromfile=_label("a", f.path), tofile=_label("b", f.path)))
        return 0
    try:
        write_atomically([(f.path, new) for f, new in changed])
    except OSError as e:
        fail(f"cannot write: {e}")
    for f, _ in changed:
        for key, old, new in f.changes:
            if "\n" in str(new):  # an Artifact Hub annotation (a block)
                print(f"{f.path}: {key}: rewritten")
                continue
            print(f'{f.path}: {key}: "{"" if old is None else old}" -> "{new}"')
    return 0


if __name__ == "__main__":
    sys.exit(main())
