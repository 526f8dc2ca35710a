"""ci/with-env: every checkout runs its own code, although the pinned venv is shared."""

from __future__ import annotations

import shutil
import subprocess

from helpers import ROOT

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
