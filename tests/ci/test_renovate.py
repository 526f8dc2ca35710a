"""Renovate itself (the pinned npm package from ci/renovate/, run in its local platform mode)
against a clone of this repository with the shipped renovate.json:

- it extracts every pin: each annotated line of ci/versions.env (and every line there that looks
  like a version carries either an annotation or a `# no pin:` reason), each requirement line,
  each workflow action and workflow tool version, the npm packages of ci/renovate/;
- with a local OCI registry (CNCF Distribution on 127.0.0.1) as the chart's image registry, after
  new tags are pushed it proposes the new app tag and the new model tag, each with its digest.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from faqtest.common import ROOT
from faqtest.common import clone_worktree, commit
from faqtest.oci import push_image

VERSIONS_ENV = ROOT / "ci" / "versions.env"
ANNOTATION = re.compile(r"# renovate: datasource=(?P<datasource>\S+) depName=(?P<depName>\S+)"
                        r"(?: versioning=\S+)?\s*$")
ASSIGNMENT = re.compile(r"(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>\S*)\s*$")
VERSION_LIKE = re.compile(r"\d+\.\d+")


def renovate_log(path: Path) -> list[dict]:
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # node's own warnings
    return records


def message(records: list[dict], msg: str) -> dict:
    found = [r for r in records if r.get("msg") == msg]
    assert found, f"Renovate logged no {msg!r}; messages: {sorted({r.get('msg') for r in records})}"
    return found[-1]


def run_renovate(renovate: Path, repo: Path, tmp: Path, *args: str,
                 config: dict | None = None) -> list[dict]:
    """Renovate --platform=local in repo; returns its JSON log records."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RENOVATE_", "GITHUB_", "LOG_"))}
    env.update(LOG_LEVEL="debug", LOG_FORMAT="json", RENOVATE_BASE_DIR=str(tmp / "base"))
    if config is not None:
        (tmp / "config.json").write_text(json.dumps(config))
        env["RENOVATE_CONFIG_FILE"] = str(tmp / "config.json")
    log = tmp / "renovate.log"
    with log.open("w") as out:
        r = subprocess.run([str(renovate), "--platform=local", *args], cwd=repo, env=env,
                           stdout=out, stderr=subprocess.STDOUT, timeout=600)
    records = renovate_log(log)
    errors = [r for r in records if r.get("level", 0) >= 50]
    assert r.returncode == 0 and not errors, log.read_text()[-4000:]
    return records


@pytest.fixture(scope="module")
def renovate() -> Path:
    if not shutil.which("npm"):
        pytest.fail("npm is not installed (ci/setup-host.sh installs it)")
    r = subprocess.run(["bash", str(ROOT / "ci" / "renovate" / "install.sh")],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    return Path(r.stdout.strip()) / "bin" / "renovate"


@pytest.fixture(scope="module")
def extracted(renovate, tmp_path_factory) -> dict[str, list[dict]]:
    """packageFile -> deps, as Renovate's own extraction (--dry-run=extract) reports them."""
    tmp = tmp_path_factory.mktemp("renovate-extract")
    repo = clone_worktree(tmp / "repo")
    records = run_renovate(renovate, repo, tmp, "--dry-run=extract")
    out: dict[str, list[dict]] = {}
    for manager, files in message(records, "Extracted dependencies")["packageFiles"].items():
        for f in files:
            out.setdefault(f["packageFile"], []).extend(
                dict(d, manager=manager) for d in f["deps"])
    return out


# --- ci/versions.env: the annotation convention -------------------------------------------

def versions_env_pins() -> list[tuple[str, str, dict]]:
    """(name, value, annotation groups) of every annotated assignment in ci/versions.env; fails
    for a version-like assignment with neither an annotation nor a `# no pin:` reason."""
    lines = VERSIONS_ENV.read_text().splitlines()
    pins, bare = [], []
    for i, line in enumerate(lines):
        m = ASSIGNMENT.match(line)
        if not m:
            continue
        above = lines[i - 1] if i else ""
        a = ANNOTATION.match(above)
        if a:
            pins.append((m["name"], m["value"], a.groupdict()))
        elif above.startswith("# renovate:"):
            pytest.fail(f"ci/versions.env:{i}: malformed annotation {above!r}")
        elif above.startswith("# no pin:"):
            continue
        elif "$" not in m["value"] and (VERSION_LIKE.search(m["value"])
                                          or m["name"].endswith("_VERSION")):
            bare.append(f"line {i + 1}: {line}")
    if bare:
        pytest.fail("ci/versions.env pins without a `# renovate: datasource=<name> "
                    "depName=<name>` line right above (or `# no pin: <reason>`):\n"
                    + "\n".join(bare))
    return pins


def test_every_versions_env_pin_is_annotated():
    pins = versions_env_pins()
    assert len(pins) >= 9, pins  # the Go tools, Kubernetes, CoreDNS, busybox, the registry


def test_a_bare_pin_is_caught(tmp_path, monkeypatch):
    """The check above fails for a new pin added without its annotation."""
    bad = tmp_path / "versions.env"
    bad.write_text(VERSIONS_ENV.read_text() + "NEWTOOL_VERSION=v1.2.3\n")
    monkeypatch.setattr(sys.modules[__name__], "VERSIONS_ENV", bad)
    with pytest.raises(pytest.fail.Exception, match="NEWTOOL_VERSION=v1.2.3"):
        versions_env_pins()


def test_renovate_extracts_every_versions_env_pin(extracted):
    deps = {d["depName"]: d for d in extracted.get("ci/versions.env", [])}
    for name, value, a in versions_env_pins():
        assert a["depName"] in deps, f"Renovate did not extract {name} ({a['depName']})"
        d = deps[a["depName"]]
        assert d["datasource"] == a["datasource"], (name, d)
        assert value.endswith(d["currentValue"]) and d["currentValue"], (name, value, d)
        assert not d.get("skipReason"), (name, d)


MAJOR_PATH = re.compile(r"/v(?P<major>\d+)$")


def test_go_pins_on_a_major_module_path_stay_on_it(extracted):
    """Renovate's Go datasource also offers the next major's versions for a module path ending in
    /vN (helm.sh/helm/v3 was offered v4.x), which ci/go-tools.sh would try to build under the old
    path. Such a pin carries a regex versioning admitting only vN.x.y, and Renovate reads it."""
    deps = {d["depName"]: d for d in extracted.get("ci/versions.env", [])}
    majors = 0
    for name, value, a in versions_env_pins():
        m = MAJOR_PATH.search(a["depName"])
        if a["datasource"] != "go" or not m:
            continue
        majors += 1
        versioning = deps[a["depName"]].get("versioning", "")
        assert versioning.startswith("regex:"), f"{name} ({a['depName']}): no regex versioning"
        admits = re.compile(versioning.removeprefix("regex:").replace("(?<", "(?P<")).match
        major = int(m["major"])
        assert admits(value), (name, value, versioning)
        assert admits(f"v{major}.99.0") and not admits(f"v{major + 1}.0.0"), (name, versioning)
    assert majors >= 2, "the two Helm pins are on /vN paths"  # helm.sh/helm/v4, helm.sh/helm/v3


def requirement_pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        name, sep, version = line.partition("==")
        assert sep, f"{path.name}: {line!r} is not pinned with =="
        pins[re.sub(r"\[.*\]", "", name).strip().lower()] = version.split(";")[0].strip()
    return pins


REQUIREMENT_FILES = sorted(
    f for f in subprocess.run(["git", "ls-files", "*requirements*.txt"], cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout.split())


def test_the_requirement_files_are_found():
    assert {"requirements.txt", "requirements-dev.txt"} <= set(REQUIREMENT_FILES)


@pytest.mark.parametrize("name", REQUIREMENT_FILES)
def test_renovate_extracts_every_requirement_pin(extracted, name):
    deps = {d["depName"].lower(): d for d in extracted.get(name, [])}
    for pkg, version in requirement_pins(ROOT / name).items():
        assert pkg in deps, f"Renovate did not extract {pkg} from {name}"
        assert deps[pkg]["currentValue"] == f"=={version}" and deps[pkg]["datasource"] == "pypi"


def workflow_pins(path: Path) -> tuple[set[str], dict[str, str]]:
    """(`uses:` actions, env values annotated for Renovate) of a workflow file."""
    wf = YAML(typ="safe", pure=True).load(path.read_text())
    uses = {s["uses"].split("@")[0] for job in wf["jobs"].values()
            for s in job.get("steps", []) if "uses" in s and not s["uses"].startswith("./")}
    lines = path.read_text().splitlines()
    env = {}
    for i, line in enumerate(lines[1:], 1):
        a = ANNOTATION.match(lines[i - 1].strip())
        m = re.match(r'\s+[A-Z][A-Z0-9_]*: *"?([^"\s#]+)"?', line)
        if a and m:
            env[a["depName"]] = m.group(1)
    return uses, env


WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_renovate_extracts_every_workflow_action_and_tool_version(extracted, path):
    rel = path.relative_to(ROOT).as_posix()
    deps = extracted.get(rel, [])
    uses, env = workflow_pins(path)
    actions = {d["depName"] for d in deps if d["manager"] == "github-actions"
               and d.get("depType") == "action"}
    assert uses and uses <= actions, f"{rel}: not extracted: {uses - actions}"
    for d in deps:  # each action pinned by digest, its version in the comment
        if d.get("depType") == "action":
            assert re.fullmatch(r"[0-9a-f]{40}", d.get("currentDigest", "")), d
    # Tool versions in env blocks (the setup-* actions read them): annotated and extracted.
    text = path.read_text()
    for var in ("PYTHON_VERSION", "GO_VERSION"):
        if re.search(rf"^\s+{var}:", text, re.M):
            assert re.search(rf"# renovate: datasource=\S+ depName=\S+\n\s+{var}:", text), \
                f"{rel}: {var} has no `# renovate:` annotation"
    regex = {d["depName"]: d["currentValue"] for d in deps if d["manager"] == "regex"}
    assert regex == env, f"{rel}: annotated env values {env}, Renovate extracted {regex}"


def test_renovate_extracts_the_npm_packages_and_the_dockerfile_bases(extracted):
    package = json.loads((ROOT / "ci/renovate/package.json").read_text())
    deps = {d["depName"]: d["currentValue"] for d in extracted["ci/renovate/package.json"]}
    assert deps == package["dependencies"]
    for dockerfile in ("Dockerfile.app", "Dockerfile.model"):
        bases = [d for d in extracted[dockerfile] if d.get("depType") == "final"]
        assert bases and all(d["currentValue"] for d in bases), extracted[dockerfile]


def test_renovate_sees_both_chart_images(extracted):
    deps = {d["depName"]: d for d in extracted["chart/values.yaml"]}
    values = YAML(typ="safe", pure=True).load((ROOT / "chart/values.yaml").read_text())
    app, model = values["image"], values["model"]
    assert deps[app["repository"]]["manager"] == "helm-values"
    assert deps[app["repository"]]["currentValue"] == app["tag"].split("@")[0]
    assert deps[model["repository"]]["manager"] == "regex"
    assert deps[model["repository"]]["currentValue"] == str(model["tag"]).split("@")[0]


# --- proposals from a real registry --------------------------------------------------------

def set_chart_images(repo: Path, registry: str) -> None:
    """Point the clone's chart at the registry (as a user points it at theirs), at 1.0.0 / 1.0."""
    path = repo / "chart" / "values.yaml"
    yaml = YAML()  # round trip: comments and layout stay
    yaml.width = 4096
    yaml.preserve_quotes = True
    values = yaml.load(path.read_text())
    values["image"]["repository"] = f"{registry}/faq-engine"
    values["model"]["repository"] = f"{registry}/faq-engine-model"
    with path.open("w") as f:
        yaml.dump(values, f)
    subprocess.run([str(ROOT / "ci" / "bump-tags"), "--app-tag", "1.0.0", "--model-tag", "1.0",
                    "--chart-bump", "none", "--chart-dir", str(repo / "chart")],
                   check=True, capture_output=True)
    commit(repo, "chart: images from the local registry")


def updates_by_dep(records: list[dict]) -> dict[str, dict]:
    out = {}
    for manager, files in message(records, "packageFiles with updates")["config"].items():
        for f in files:
            for d in f["deps"]:
                out[d["depName"]] = dict(d, manager=manager)
    return out


def test_renovate_proposes_the_new_app_and_model_tags(renovate, empty_registry, tmp_path):
    # A registry of its own: Renovate proposes the newest tag there, and other tests of this
    # worker push newer ones (the release workflow's model 1.2) to the session's registry.
    registry = empty_registry
    old = {"faq-engine": push_image(registry, "faq-engine", "1.0.0"),
           "faq-engine-model": push_image(registry, "faq-engine-model", "1.0")}
    repo = clone_worktree(tmp_path / "repo")
    set_chart_images(repo, registry)
    # The new releases of each image.
    new = {"faq-engine": push_image(registry, "faq-engine", "1.1.0"),
           "faq-engine-model": push_image(registry, "faq-engine-model", "1.1")}
    config = {
        # Only the chart: the other pins' registries are not this test's business.
        "includePaths": ["chart/values.yaml"],
        # The loopback registry speaks plain http; Renovate may call an internal host only
        # when a host rule names it.
        "packageRules": [{"matchDatasources": ["docker"],
                          "registryUrls": [f"http://{registry}"]}],
        "hostRules": [{"matchHost": f"http://{registry}", "allowInternal": True}],
        "internalHostAccess": "block",
    }
    records = run_renovate(renovate, repo, tmp_path, config=config)
    deps = updates_by_dep(records)
    app, model = deps[f"{registry}/faq-engine"], deps[f"{registry}/faq-engine-model"]
    assert app["manager"] == "helm-values" and model["manager"] == "regex"
    for dep, current, wanted, name in ((app, "1.0.0", "1.1.0", "faq-engine"),
                                       (model, "1.0", "1.1", "faq-engine-model")):
        assert dep["currentValue"] == current
        proposed = {(u["newValue"], u.get("newDigest")) for u in dep["updates"]
                    if not u.get("isPinDigest")}
        assert proposed == {(wanted, new[name])}, dep["updates"]
        pins = {(u["newValue"], u.get("newDigest")) for u in dep["updates"] if u.get("isPinDigest")}
        assert pins == {(current, old[name])}, dep["updates"]
    # What Renovate proposed, for the record (`pytest -s` shows it).
    flat = [r for r in records if "flattened updates found" in r.get("msg", "")]
    print("\n".join(r["msg"] for r in flat))
    for d in (app, model):
        for u in d["updates"]:
            print(f'{d["depName"]}: {d["currentValue"]} -> {u["newValue"]}@{u.get("newDigest")} '
                  f'({u["updateType"]}, branch {u["branchName"]})')
