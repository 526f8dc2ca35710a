"""The FAQs bench/eval_ranking.py measures on, assembled at run time from documentation that
Debian packages install (none of their text is committed), and the questions asked of them.

| FAQ      | package (ci/setup-host.sh installs it) | source                                  |
|----------|----------------------------------------|-----------------------------------------|
| `python` | python3.11-doc                         | /usr/share/doc/python3.11/html/faq/*.html |
| `debian` | debian-faq                             | /usr/share/doc/debian/FAQ/*.en.html     |
| `sed`    | sed (Essential: on every Debian)       | /usr/share/doc/sed/sedfaq.txt.gz        |

Entries: a heading opens an entry (its text, without the section number, is the entry's
question), the text up to the next heading is its answer; entries whose answer is 40
characters or less are left out. The Python FAQ keeps only headings ending in '?', as before.

On-topic questions: ``paraphrases*.json``, one per FAQ, written by hand (not the FAQ's
wording): {FAQ question: how a user might ask it}. Off-topic questions: ``offtopic.json``,
written by hand, grouped by topic; none is answered by any of these FAQs.
"""

from __future__ import annotations

import gzip
import html.parser
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
OFFTOPIC = HERE / "offtopic.json"
_NUMBER = re.compile(r"^(\d+(?:\.\d+)*)\.?\s+")


class _HeadingParser(html.parser.HTMLParser):
    """HTML pages: a heading opens an entry; paragraphs, items and code blocks fill it."""

    def __init__(self, questions_only: bool):
        super().__init__()
        self.questions_only = questions_only
        self.entries: list[dict] = []
        self._heading: list[str] | None = None
        self._text_depth = 0
        self._current: dict | None = None

    def handle_starttag(self, tag, attrs):
        if tag in ("h1", "h2", "h3", "h4", "h5"):
            self._heading = []
        elif tag in ("p", "li", "pre") and self._current is not None:
            self._text_depth += 1
        elif tag == "a" and self._heading is not None and ("class", "headerlink") in attrs:
            self._heading.append("\0")  # Sphinx's pilcrow link: stop collecting the heading

    def handle_endtag(self, tag):
        if tag in ("h1", "h2", "h3", "h4", "h5") and self._heading is not None:
            text = " ".join("".join(self._heading).split("\0")[0].split())
            text = _NUMBER.sub("", text)
            self._heading = None
            self._current = None
            if text and (text.endswith("?") or not self.questions_only) and tag != "h1":
                self._current = {"question": text, "answer": []}
                self.entries.append(self._current)
        elif tag in ("p", "li", "pre") and self._text_depth:
            self._text_depth -= 1

    def handle_data(self, data):
        if self._heading is not None:
            self._heading.append(data)
        elif self._text_depth and self._current is not None:
            self._current["answer"].append(data)


def _finish(raw: list[tuple[str, str, str]]) -> list[dict]:
    """(id, question, answer text) -> entries with an answer of more than 40 characters."""
    out = []
    for ident, question, answer in raw:
        answer = " ".join(answer.split())
        if len(answer) > 40:
            out.append({"id": ident, "question": question, "answer": answer})
    return out


def _html_faq(pages: list[Path], questions_only: bool) -> list[dict]:
    raw = []
    for page in pages:
        p = _HeadingParser(questions_only)
        p.feed(page.read_text(encoding="utf-8"))
        stem = page.name.split(".")[0]
        raw += [(f"{stem}-{i}", e["question"], " ".join(e["answer"]))
                for i, e in enumerate(p.entries)]
    return _finish(raw)


def load_python(source: Path) -> list[dict]:
    return _html_faq(sorted(source.glob("*.html")), questions_only=True)


def load_debian(source: Path) -> list[dict]:
    return _html_faq(sorted(source.glob("*.en.html")), questions_only=False)


def load_sed(source: Path) -> list[dict]:
    """The sed FAQ, plain text: a table of contents, then the body, where a line at column 0
    starting with a section number opens an entry (the heading runs to the next blank line)."""
    lines = gzip.open(source, "rt", encoding="latin-1").read().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("1.1. ")]
    if len(starts) < 2:
        return []
    raw: list[tuple[str, str, str]] = []
    i, heading, number, body = starts[1], None, "", []
    while i < len(lines):
        line = lines[i]
        m = _NUMBER.match(line) if line[:1].isdigit() else None
        if m:
            if heading is not None:
                raw.append((f"sed-{number}", heading, " ".join(body)))
            number, head = m[1], [line[m.end():]]
            while i + 1 < len(lines) and lines[i + 1].strip():
                i += 1
                head.append(lines[i])
            heading, body = " ".join(" ".join(head).split()), []
        elif heading is not None:
            body.append(line)
        i += 1
    if heading is not None:
        raw.append((f"sed-{number}", heading, " ".join(body)))
    return _finish(raw)


@dataclass(frozen=True)
class Faq:
    name: str
    package: str
    source: Path
    load: Callable[[Path], list[dict]]
    paraphrases: Path

    def entries(self) -> list[dict]:
        if not self.source.exists():
            sys.exit(f"{self.name} FAQ: {self.source} missing: install the Debian package "
                     f"{self.package} (ci/setup-host.sh does)")
        out = self.load(self.source)
        if not out:
            sys.exit(f"{self.name} FAQ: no entries found in {self.source}")
        return out

    def questions(self, corpus: list[dict]) -> list[tuple[str, int]]:
        """(paraphrase, index of the entry answering it) for every paraphrase whose FAQ
        question is in the corpus; a paraphrase whose question is not is reported."""
        by_question = {e["question"]: i for i, e in enumerate(corpus)}
        pairs = json.loads(self.paraphrases.read_text(encoding="utf-8"))
        out = [(q, by_question[faq_q]) for faq_q, q in pairs.items() if faq_q in by_question]
        missing = [k for k in pairs if not k.startswith("_") and k not in by_question]
        if missing:
            print(f"warning: {self.name}: {len(missing)} paraphrased FAQ questions not in the "
                  f"corpus: {missing[:3]}", file=sys.stderr)
        return out


FAQS = {
    "python": Faq("python", "python3.11-doc", Path("/usr/share/doc/python3.11/html/faq"),
                  load_python, HERE / "paraphrases.json"),
    "debian": Faq("debian", "debian-faq", Path("/usr/share/doc/debian/FAQ"),
                  load_debian, HERE / "paraphrases-debian.json"),
    "sed": Faq("sed", "sed", Path("/usr/share/doc/sed/sedfaq.txt.gz"),
               load_sed, HERE / "paraphrases-sed.json"),
}


def offtopic() -> list[str]:
    """The off-topic questions, every topic's list in one."""
    groups = json.loads(OFFTOPIC.read_text(encoding="utf-8"))
    return [q for topic, qs in groups.items() if not topic.startswith("_") for q in qs]
