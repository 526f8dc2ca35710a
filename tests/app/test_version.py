"""The app's version has one owner: pyproject.toml, read from the installed package metadata."""

from __future__ import annotations

import subprocess
import sys
import tomllib

from faq_engine import __version__


def test_version_is_pyprojects(repo_root):
    with open(repo_root / "pyproject.toml", "rb") as fh:
        assert __version__ == tomllib.load(fh)["project"]["version"]


def test_a_release_version_reaches_the_api_and_the_models(tmp_path, sample_faq):
    """What `ci/release app 9.8.7` installs (package metadata 9.8.7) is what /openapi.json and
    the models this app trains report: no second literal to forget."""
    dist = tmp_path / "site" / "faq_engine-9.8.7.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: faq-engine\nVersion: 9.8.7\n")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import faq_engine\n"
            "from faq_engine.openapi import spec\n"
            "print(faq_engine.__version__, spec()['info']['version'])")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "site")],
                       capture_output=True, text=True, timeout=120)
    assert r.stdout.split() == ["9.8.7", "9.8.7"], r.stderr
