"""Helpers for the chart tests: the real `helm template`, parsed into Kubernetes objects.

Tools are found on PATH (`bin=$(bash ci/go-tools.sh)`, `venv=$(bash ci/python-env.sh)`,
`PATH=$bin:$venv/bin:$PATH`). A missing tool fails the test, it never skips it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from faqtest.common import go_cli_env, kube_minor

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "chart"
# chart/ci/*-values.yaml: linted and installed by ct; chart/ci/lint-only/: rendered and linted
# only (they need a CRD, Kubernetes >= 1.35 or a pre-made claim that `ct install` lacks).
CI_VALUES = sorted((CHART / "ci").rglob("*-values.yaml"))
# Kubernetes version used by default: our local cluster's minor (KUBERNETES_VERSION).
KUBE_VERSION = f"1.{kube_minor()}.0"
# Every render starts from the local loop's images, as `make up`, `ct install` and the cluster
# tests deploy: chart/values.yaml is the release pointer that a release bump rewrites (tags,
# digests, appVersion), so the tests take image names from this fixture, never from it.
LOCAL_IMAGES = CHART / "ci" / "local-images.yaml"
_local = yaml.safe_load(LOCAL_IMAGES.read_text())
LOCAL_APP = _local["image"]["repository"]
LOCAL_MODEL = _local["model"]["repository"]
LOCAL_APP_TAG = _local["image"]["tag"]
LOCAL_MODEL_TAG = _local["model"]["tag"]
#: Chart.yaml (version and appVersion move with every release bump).
# The app's routes that must never be published (only POST /v1/answer is).
INTERNAL_ROUTES = ("/metrics", "/v1/model", "/healthz", "/readyz")

CHART_META = yaml.safe_load((CHART / "Chart.yaml").read_text())


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"required tool {name!r} is not on PATH; run: bin=$(bash ci/go-tools.sh); "
            "venv=$(bash ci/python-env.sh); export PATH=$bin:$venv/bin:$PATH",
            pytrace=False,
        )
    return path


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    """A tool's command line, run to completion from the repository root (Go's collector as
    for every such command: faqtest.common.go_cli_env)."""
    require_tool(cmd[0])
    return subprocess.run(cmd, capture_output=True, text=True, cwd=kw.pop("cwd", ROOT),
                          env=go_cli_env(kw.pop("env", None)), **kw)


def _flags(values: dict | None, files, sets, set_strings, kube_version,
           base: Path | None = LOCAL_IMAGES) -> list[str]:
    args = ["--kube-version", kube_version]
    if base is not None:
        args += ["-f", str(base)]
    for f in files or []:
        args += ["-f", str(f)]
    if values is not None:
        # JSON is YAML: pass the dict as a values file on stdin.
        args += ["-f", "-"]
    for s in sets or []:
        args += ["--set", s]
    for s in set_strings or []:
        args += ["--set-string", s]
    return args


def helm_template_raw(values=None, files=None, sets=None, set_strings=None,
                      kube_version=KUBE_VERSION, release="rel",
                      base: Path | None = LOCAL_IMAGES) -> subprocess.CompletedProcess:
    """`helm template` over chart/ci/local-images.yaml (base=None: chart/values.yaml alone).

    The same render asked twice in a process (the same helm, arguments, values and values
    files' contents; the chart does not change during a run) is run once."""
    cmd = ["helm", "template", release, str(CHART), "--namespace", "faq"]
    cmd += _flags(values, files, sets, set_strings, kube_version, base)
    stdin = json.dumps(values) if values is not None else None
    key = (shutil.which("helm"), tuple(cmd), stdin,
           tuple(Path(f).read_bytes() for f in files or []))
    if key not in _renders:
        _renders[key] = run(cmd, input=stdin)
    return _renders[key]


_renders: dict[tuple, subprocess.CompletedProcess] = {}


# libyaml's loader (PyYAML's wheels ship it): a render parses in a tenth of the pure-Python time.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_manifests(text: str) -> list[dict]:
    """The objects of a multi-document YAML stream (a render), empty documents dropped."""
    return [d for d in yaml.load_all(text, Loader=_LOADER) if d]


class Manifests(list):
    """The rendered objects, with lookups by kind and name."""

    def kind(self, kind: str) -> list[dict]:
        return [d for d in self if d["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> dict:
        found = [d for d in self.kind(kind) if name is None or d["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name or ''}, got {[d['metadata']['name'] for d in found]}"
        return found[0]

    def deployments(self) -> dict[str, dict]:
        return {d["metadata"]["name"]: d for d in self.kind("Deployment")}

    @property
    def deployment(self) -> dict:
        return self.one("Deployment", "rel-faq-engine")

    @property
    def pod(self) -> dict:
        return self.deployment["spec"]["template"]["spec"]

    @property
    def app(self) -> dict:
        return container(self.pod, "app")

    @property
    def test_pod(self) -> dict:
        return self.one("Pod", "rel-faq-engine-test-answer")


def container(pod_spec: dict, name: str, init: bool = False) -> dict:
    key = "initContainers" if init else "containers"
    found = [c for c in pod_spec.get(key) or [] if c["name"] == name]
    assert found, f"no {key[:-1]} {name!r} in {[c['name'] for c in pod_spec.get(key) or []]}"
    return found[0]


def env(c: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in c.get("env") or []}


def volumes(pod_spec: dict) -> dict[str, dict]:
    return {v["name"]: v for v in pod_spec.get("volumes") or []}


def mounts(c: dict) -> dict[str, dict]:
    return {m["mountPath"]: m for m in c.get("volumeMounts") or []}


def assert_restricted(pod_spec: dict, where: str):
    """Pod Security Standard "restricted" (v1.30+) checks, per container."""
    psc = pod_spec.get("securityContext") or {}
    assert not pod_spec.get("hostNetwork") and not pod_spec.get("hostPID")
    assert not pod_spec.get("hostIPC")
    for v in pod_spec.get("volumes") or []:
        assert set(v) - {"name"} <= {"emptyDir", "persistentVolumeClaim", "configMap", "secret",
                                     "projected", "downwardAPI", "image", "ephemeral", "csi"}, v
    for c in (pod_spec.get("initContainers") or []) + pod_spec["containers"]:
        sc = c.get("securityContext") or {}
        label = f"{where}/{c['name']}"
        assert sc.get("allowPrivilegeEscalation") is False, label
        assert "ALL" in sc.get("capabilities", {}).get("drop", []), label
        assert not sc.get("capabilities", {}).get("add"), label
        assert not sc.get("privileged"), label
        assert sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, label
        assert sc.get("runAsUser", psc.get("runAsUser", 1)) != 0, label
        prof = sc.get("seccompProfile") or psc.get("seccompProfile") or {}
        assert prof.get("type") in ("RuntimeDefault", "Localhost"), label
        assert sc.get("readOnlyRootFilesystem") is True, label  # our own default, beyond PSS


def render_notes(tmp_path: Path, values: dict | None = None, sets=None) -> str:
    """NOTES.txt rendered with the values. `helm install --dry-run=client` of Helm 3 still
    contacts a cluster, so this renders a copy of the chart that exposes NOTES.txt through tpl."""
    import shutil

    copy = tmp_path / "chart"
    shutil.copytree(CHART, copy)
    shutil.copyfile(CHART / "templates" / "NOTES.txt", copy / "notes.txt")
    (copy / "templates" / "notes-probe.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\n"
        'data: {notes: {{ tpl (.Files.Get "notes.txt") . | quote }}}\n')
    cmd = ["helm", "template", "rel", str(copy), "--namespace", "faq",
           "--show-only", "templates/notes-probe.yaml"]
    cmd += _flags(values, None, sets, None, KUBE_VERSION)
    res = run(cmd, input=json.dumps(values) if values is not None else None)
    assert res.returncode == 0, res.stderr
    return yaml.safe_load(res.stdout)["data"]["notes"]
