"""Tokenisation shared by training, indexing and queries (one definition, used everywhere)."""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9]+(?:[._+#-][a-z0-9]+)*")

# A short English stop list: these words carry no signal for the lexical score.
STOPWORDS = frozenset(
    """a an and are as at be been but by can could do does did for from had has have how i if in
    into is it its me my no not of on or our so than that the their them then there these they
    this those to us was we were what when where which while who why will with would you your
    should shall may might must am any all""".split()
)


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens; keeps things like 'gunicorn.conf.py', 'k8s', 'c++' whole."""
    return _WORD.findall(text.lower())


def stem(word: str) -> str:
    """A light suffix stripper (plurals, -ed, -ing) so 'answered' meets 'answer'."""
    if len(word) <= 4 or not word.isalpha():
        return word
    for suffix, keep in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                return word
            return word[: -len(suffix)] + keep
    return word


def content_terms(tokens: list[str]) -> list[str]:
    """The lexical (BM25) terms of a token list: stop words dropped, light stemming."""
    return [stem(t) for t in tokens if t not in STOPWORDS]
