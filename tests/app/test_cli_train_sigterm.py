"""SIGTERM while `faq-engine train` runs: it stops with 143 and leaves no hidden temporary
directory (and no model) behind."""

from __future__ import annotations

import signal
import subprocess
import sys
import time


def test_sigterm_leaves_nothing(sample_faq, tmp_path):
    out = tmp_path / "models" / "1.0"
    proc = subprocess.Popen([sys.executable, "-m", "faq_engine.cli", "train", "--faq",
                             str(sample_faq), "--out", str(out), "--epochs", "1000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        # The temporary directory is made just before training starts (1,000 epochs: it is
        # still training when the signal comes).
        while not list(tmp_path.glob("models/.1.0.tmp-*")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "training never started"
            time.sleep(0.05)
        time.sleep(1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err and "stopped; nothing written" in err, err
    assert list((tmp_path / "models").iterdir()) == [], list((tmp_path / "models").iterdir())
