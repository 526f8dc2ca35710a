"""The README's "Deploy your own FAQ" walk-through as scripts, read from README.md itself.

The section's ```sh blocks are one walk-through: first the settings a reader sets
(``NAME=value`` lines, e.g. ``REGISTRY=registry.example.com/team``), then numbered steps, each
opening with a ``# N. what it does`` comment. ``walkthrough()`` parses them; ``Walkthrough.script(n)``
gives step n as a reader runs it: the settings lines (with the values given to ``fill``) first,
then the step's own lines, with the placeholders the README tells the reader to replace
(``fill(replace=...)``) replaced. Nothing else is changed.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from faqtest.common import ROOT

README = ROOT / "README.md"
SECTION = "Deploy your own FAQ"
#: The text a reader replaces with a question of their FAQ (the section says so).
QUESTION_PLACEHOLDER = "a question your FAQ answers"

_SETTING = re.compile(r"([A-Z][A-Z0-9_]*)=(\S*)(?:\s+#.*)?")
_STEP = re.compile(r"# (\d+)\. (.+)")


def section(text: str, title: str = SECTION) -> str:
    """The body of the ``## title`` section (up to the next ``## `` heading)."""
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    if not m:
        raise AssertionError(f"README.md has no '## {title}' section")
    return m.group(1)


def sh_blocks(body: str) -> list[str]:
    """The contents of the ```sh fenced blocks, in order."""
    return re.findall(r"^```sh\n(.*?)^```$", body, re.M | re.S)


@dataclass
class Walkthrough:
    settings: dict[str, str]  # name -> value as the README writes it
    steps: dict[int, tuple[str, str]]  # number -> (title, the step's lines)
    replace: dict[str, str] = field(default_factory=dict)

    def fill(self, settings: dict[str, str], replace: dict[str, str] | None = None) -> Walkthrough:
        """The same walk-through with the reader's values: every name in ``settings`` must be
        one the README sets, every key of ``replace`` must occur in some step."""
        unknown = set(settings) - set(self.settings)
        assert not unknown, f"the README's walk-through sets no {sorted(unknown)} ({self.settings})"
        for old in replace or {}:
            assert any(old in body for _, body in self.steps.values()), (
                f"{old!r} occurs in no step of the README's walk-through")
        return Walkthrough({**self.settings, **settings}, self.steps,
                           {**self.replace, **(replace or {})})

    def script(self, n: int) -> str:
        """Step n as a shell script: the settings, then the step (placeholders replaced)."""
        body = self.steps[n][1]
        for old, new in self.replace.items():
            body = body.replace(old, new)
        lines = [f"{k}={shlex.quote(v)}" for k, v in self.settings.items()]
        return "\n".join(lines) + "\n" + body


def walkthrough(readme: Path = README) -> Walkthrough:
    """Parse the section's sh blocks: settings lines, then ``# N. title`` steps, numbered 1, 2, ..."""
    lines = "".join(sh_blocks(section(readme.read_text(encoding="utf-8")))).splitlines()
    assert lines, f"the '{SECTION}' section of README.md has no ```sh block"
    settings: dict[str, str] = {}
    steps: dict[int, tuple[str, list[str]]] = {}
    for line in lines:
        step = _STEP.fullmatch(line)
        if step:
            n = int(step.group(1))
            assert n == len(steps) + 1, f"README walk-through: step {n} after step {len(steps)}"
            steps[n] = (step.group(2), [line])
        elif steps:
            steps[len(steps)][1].append(line)
        elif (setting := _SETTING.fullmatch(line)):
            settings[setting.group(1)] = setting.group(2)
        else:
            raise AssertionError(f"README walk-through: before step 1, {line!r} is not NAME=value")
    return Walkthrough(settings, {n: (title, "\n".join(body) + "\n")
                                  for n, (title, body) in steps.items()})
