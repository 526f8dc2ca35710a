"""ci/python-env.sh refuses a Python older than pyproject.toml's requires-python with a message
naming both versions, before creating anything (the real script and interpreter, in a copy of
the repository whose requires-python is raised past the running Python)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_too_old_python_is_named(tmp_path):
    (tmp_path / "ci").mkdir()
    for name in ("ci/python-env.sh", "ci/versions.env", "requirements.txt",
                 "requirements-dev.txt", "requirements-embedding.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    need = f"{sys.version_info.major}.{sys.version_info.minor + 1}"
    text = (ROOT / "pyproject.toml").read_text()
    assert 'requires-python = ">=3.11"' in text
    (tmp_path / "pyproject.toml").write_text(text.replace('requires-python = ">=3.11"',
                                                          f'requires-python = ">={need}"'))
    cache = tmp_path / "cache"
    r = subprocess.run(["bash", str(tmp_path / "ci" / "python-env.sh")], capture_output=True,
                       text=True, timeout=120, env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
                                                    "HOME": str(tmp_path), "FAQ_CACHE": str(cache)})
    assert r.returncode != 0 and r.stdout == ""
    found = ".".join(map(str, sys.version_info[:3]))
    assert f"faq-engine needs Python {need} or newer" in r.stderr, r.stderr
    assert f"python3 here is {found}" in r.stderr, r.stderr
    assert not cache.exists() or not any(cache.iterdir())
