"""`faq-engine train --out` where the model cannot be written: one clear line and exit 1, no
traceback, nothing left behind; a missing parent directory is created."""

from __future__ import annotations

import subprocess
import sys

import pytest


def train(sample_faq, out, cwd):
    return subprocess.run([sys.executable, "-m", "faq_engine.cli", "train", "--faq", str(sample_faq),
                           "--out", str(out), "--epochs", "2"],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


def test_missing_parent_is_created(sample_faq, tmp_path):
    r = train(sample_faq, tmp_path / "new" / "dirs" / "1.0", tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "new" / "dirs" / "1.0" / "manifest.json").is_file()
    assert sorted(p.name for p in (tmp_path / "new" / "dirs").iterdir()) == ["1.0"]


@pytest.mark.parametrize("case", ["parent is a file", "read-only directory"])
def test_unwritable_out_is_one_clear_error(sample_faq, tmp_path, case):
    if case == "parent is a file":
        (tmp_path / "afile").write_text("x")
        out = tmp_path / "afile" / "1.0"
    else:
        # /proc/self refuses new entries even to root (a chmod 555 directory does not stop root).
        out = "/proc/self/faq-model"
    r = train(sample_faq, out, tmp_path)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.startswith("faq-engine train: error:")]
    assert len(lines) == 1 and f"cannot write the model to {out}" in lines[0], r.stderr
    if case == "parent is a file":
        assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]
