"""ci/with-env: every checkout runs its own code, although the pinned venv is shared; its
`--tools` mode (what `make up` uses) builds only the Go tools it names."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from faqtest.common import ROOT, ci_setting

WHERE = "import faq_engine, pathlib; print(pathlib.Path(faq_engine.__file__).resolve())"


def test_two_checkouts_each_see_their_own_code(tmp_path) -> None:
    # A second checkout (same pins, so the same shared venv) runs the venv's setup last, which
    # points the editable install at itself; this checkout must still import its own app/.
    other = tmp_path / "other"
    for name in ("app", "ci"):
        shutil.copytree(ROOT / name, other / name, ignore=shutil.ignore_patterns("__pycache__"))
    for path in [ROOT / "pyproject.toml", ROOT / "README.md", *ROOT.glob("requirements*.txt")]:
        shutil.copy2(path, other / path.name)

    def where(checkout, first=""):
        r = subprocess.run([str(checkout / "ci" / "with-env"), "bash", "-c",
                            f'{first}python -c "{WHERE}"'], capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
        return r.stdout.strip()

    mine = ROOT / "app" / "faq_engine" / "__init__.py"
    theirs = (other / "app" / "faq_engine" / "__init__.py").resolve()
    assert where(ROOT, f'bash "{other}/ci/python-env.sh" >/dev/null; ') == str(mine)
    assert where(other, f'bash "{ROOT}/ci/python-env.sh" >/dev/null; ') == str(theirs)
    assert where(ROOT) == str(mine)


def test_tools_mode_puts_the_named_tools_on_path_and_builds_no_other(tmp_path) -> None:
    # What `make up` runs: `ci/with-env --tools helm`. A cache that holds the venv and a built
    # helm (as `make helm` leaves them) and nothing else: helm is used as it is, no other Go tool
    # and no checkov venv is built, and nothing needs Go.
    real = Path(ci_setting("FAQ_CACHE"))
    venv = Path(subprocess.run(["bash", str(ROOT / "ci" / "python-env.sh")], capture_output=True,
                               text=True, check=True, timeout=600).stdout.strip())
    cache = tmp_path / "cache"
    (cache / "bin").mkdir(parents=True)
    (cache / venv.name).symlink_to(venv)
    subprocess.run(["bash", str(ROOT / "ci" / "go-tools.sh"), "helm"], check=True,
                   capture_output=True, timeout=1800)  # the real cache's helm, built if missing
    for name in ("helm", ".helm.version"):
        shutil.copy2(real / "bin" / name, cache / "bin" / name)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path), "FAQ_CACHE": str(cache)}
    assert shutil.which("go", path=env["PATH"]) is None, "go is on the base PATH: pick another"
    r = subprocess.run([str(ROOT / "ci" / "with-env"), "--tools", "helm", "bash", "-c",
                        "command -v helm; helm version --short; command -v ct || echo no ct"],
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.splitlines()
    assert lines[0] == str(cache / "bin" / "helm")
    assert lines[1].startswith(ci_setting("HELM_VERSION"))
    assert lines[2] == "no ct"
    assert sorted(p.name for p in cache.iterdir()) == sorted(["bin", venv.name])
    assert sorted(p.name for p in (cache / "bin").iterdir() if not p.name.startswith(".")) == ["helm"]


def test_tools_mode_refuses_an_unknown_tool_and_a_missing_list(tmp_path) -> None:
    r = subprocess.run([str(ROOT / "ci" / "with-env"), "--tools", "helm,nosuchtool", "true"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 2 and "unknown tool 'nosuchtool'" in r.stderr, r.stderr
    r = subprocess.run([str(ROOT / "ci" / "with-env"), "--tools"], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 2 and "usage" in r.stderr, r.stderr



IMPORTED_FROM_BYTECODE = """
import importlib.util, json, os, sys
import flask, gensim, numpy, pytest, schemathesis  # noqa: F401  what the app and tests import
mods = [m.__name__ for m in list(sys.modules.values())
        if (getattr(m, "__file__", None) or "").endswith(".py") and m.__file__.startswith(sys.prefix)
        and not os.path.exists(importlib.util.cache_from_source(m.__file__))]
print(json.dumps({"modules": len(sys.modules), "without_bytecode": sorted(mods)}))
"""


def test_the_venv_is_byte_compiled_where_python_may_not_write() -> None:
    """With PYTHONDONTWRITEBYTECODE set (many CI environments and containers do), Python keeps
    no bytecode, so a venv without it compiles every import in every process: ci/python-env.sh
    compiles the venv once. Every module the app and the tests import comes from bytecode."""
    r = subprocess.run([str(ROOT / "ci" / "with-env"), "python", "-c", IMPORTED_FROM_BYTECODE],
                       capture_output=True, text=True, timeout=600,
                       env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.loads(r.stdout)
    assert got["modules"] > 500, got
    assert got["without_bytecode"] == [], f"{len(got['without_bytecode'])} modules: {got}"
