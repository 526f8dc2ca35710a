"""The README's "Deploy your own FAQ" block has the shape tests/cluster/test_readme_walkthrough.py
runs (settings, then numbered steps from training to the next model's rollout), and each step
as a reader runs it is a valid POSIX sh script (sh -n, shellcheck). No cluster: this catches a
README edit that the cluster walk-through would only find much later."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from faqtest.readme import QUESTION_PLACEHOLDER, walkthrough


def test_settings_then_the_five_steps():
    w = walkthrough()
    assert set(w.settings) == {"REGISTRY", "NAMESPACE"}, w.settings
    titles = [w.steps[n][0] for n in sorted(w.steps)]
    assert len(titles) == 5, titles
    for n, word in enumerate(["train", "push", "install", "ask", "roll out"], 1):
        assert word in w.steps[n][0], (n, w.steps[n][0])


def test_every_step_uses_the_settings_not_fixed_names():
    w = walkthrough()
    # The registry and namespace are the reader's: no step names the example ones.
    for n, (_, body) in w.steps.items():
        assert w.settings["REGISTRY"] not in body, (n, body)
        assert "-n faq-engine" not in body and "--namespace faq-engine" not in body, (n, body)
    for n in (2, 3, 5):
        assert '"$REGISTRY' in w.steps[n][1], n
    for n in (3, 4, 5):
        assert '"$NAMESPACE"' in w.steps[n][1], n
    # What the walk-through test replaces is there to replace.
    assert QUESTION_PLACEHOLDER in w.steps[1][1] and QUESTION_PLACEHOLDER in w.steps[4][1]
    assert "--public-bases" in w.steps[2][1] and "--public-bases" in w.steps[5][1]


def test_fill_refuses_what_the_readme_does_not_have():
    w = walkthrough()
    with pytest.raises(AssertionError, match="sets no"):
        w.fill({"RELEASE": "x"})
    with pytest.raises(AssertionError, match="occurs in no step"):
        w.fill({}, {"no such text": "x"})


def test_the_block_is_valid_sh(tmp_path):
    """Each step alone (as the walk-through test runs it) parses; the whole block, as a reader
    pastes it, passes shellcheck (SC2034 aside: the wait loop's unused counter)."""
    w = walkthrough().fill({"REGISTRY": "127.0.0.1:5001/readme-x", "NAMESPACE": "faq-t-x"},
                           {QUESTION_PLACEHOLDER: "Can I bring my dog?"})
    for n in w.steps:
        r = subprocess.run(["sh", "-n"], input=w.script(n), capture_output=True, text=True)
        assert r.returncode == 0, (n, r.stderr)
    script = tmp_path / "walkthrough.sh"
    script.write_text(w.script(1) + "".join(body for n, (_, body) in w.steps.items() if n > 1))
    if not shutil.which("shellcheck"):
        pytest.fail("shellcheck is not installed: run ci/setup-host.sh")
    r = subprocess.run(["shellcheck", "-s", "sh", "-e", "SC2034", str(script)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
