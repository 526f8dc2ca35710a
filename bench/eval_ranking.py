#!/usr/bin/env python3
"""Retrieval quality: BM25 alone, Doc2Vec alone, and the shipped hybrid ranking.

The corpus is assembled at run time from documentation a package installs: the Python FAQ in
Debian's python3.11-doc (/usr/share/doc/python3.11/html/faq/*.html; ci/setup-host.sh installs
it). None of its text is committed. Each FAQ question becomes a query whose one relevant entry
is its own answer, and the model indexes the answers only (question_weight=0): the queries and
the answers share few words, which is where retrieval quality shows.

Prints MRR@10 and top-1 accuracy for each ranking, in one run.
"""

from __future__ import annotations

import argparse
import html.parser
import json
import sys
import tempfile
from pathlib import Path

from faq_engine.ranking import Ranker
from faq_engine.trainer import RankParams, TrainParams, train

FAQ_DIR = Path("/usr/share/doc/python3.11/html/faq")


class _FaqParser(html.parser.HTMLParser):
    """Sphinx pages: a heading ending in '?' opens an entry; paragraphs and items fill it."""

    def __init__(self):
        super().__init__()
        self.entries: list[dict] = []
        self._heading: list[str] | None = None
        self._text_depth = 0
        self._current: dict | None = None

    def handle_starttag(self, tag, attrs):
        if tag in ("h1", "h2", "h3", "h4"):
            self._heading = []
        elif tag in ("p", "li", "pre") and self._current is not None:
            self._text_depth += 1
        elif tag == "a" and self._heading is not None and ("class", "headerlink") in attrs:
            self._heading.append("\0")  # the pilcrow link: stop collecting the heading here

    def handle_endtag(self, tag):
        if tag in ("h1", "h2", "h3", "h4") and self._heading is not None:
            text = " ".join("".join(self._heading).split("\0")[0].split())
            self._heading = None
            self._current = None
            if text.endswith("?"):
                self._current = {"question": text, "answer": []}
                self.entries.append(self._current)
        elif tag in ("p", "li", "pre") and self._text_depth:
            self._text_depth -= 1

    def handle_data(self, data):
        if self._heading is not None:
            self._heading.append(data)
        elif self._text_depth and self._current is not None:
            self._current["answer"].append(data)


def load_corpus(faq_dir: Path) -> list[dict]:
    pages = sorted(faq_dir.glob("*.html"))
    if not pages:
        sys.exit(f"no FAQ pages in {faq_dir}: install python3.11-doc (ci/setup-host.sh)")
    out = []
    for page in pages:
        p = _FaqParser()
        p.feed(page.read_text(encoding="utf-8"))
        for i, e in enumerate(p.entries):
            answer = " ".join(" ".join(e["answer"]).split())
            if len(answer) > 40:
                out.append({"id": f"{page.stem}-{i}", "question": e["question"], "answer": answer})
    return out


def evaluate(ranker: Ranker, corpus: list[dict], mode: str) -> tuple[float, float]:
    rr, top1 = 0.0, 0
    for i, e in enumerate(corpus):
        ranked = [a.index for a in ranker.rank(e["question"], 10, mode=mode)]
        if i in ranked:
            rank = ranked.index(i) + 1
            rr += 1.0 / rank
            top1 += rank == 1
    return rr / len(corpus), top1 / len(corpus)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faq-dir", type=Path, default=FAQ_DIR)
    ap.add_argument("--epochs", type=int, default=TrainParams.epochs)
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = ap.parse_args()

    corpus = load_corpus(args.faq_dir)
    with tempfile.TemporaryDirectory() as tmp:
        faq = Path(tmp) / "faq.jsonl"
        faq.write_text("".join(json.dumps(e) + "\n" for e in corpus))
        train(faq, Path(tmp) / "model", params=TrainParams(epochs=args.epochs),
              rank=RankParams(question_weight=0))
        ranker = Ranker(Path(tmp) / "model")
        results = {m: evaluate(ranker, corpus, m) for m in ("bm25", "doc2vec", "hybrid")}

    print(f"corpus: {len(corpus)} Python FAQ entries from {args.faq_dir} "
          "(queries: the questions; index: the answers)")
    print(f"{'ranking':<10} {'MRR@10':>8} {'top-1':>8}")
    for mode, (mrr, top1) in results.items():
        label = "shipped" if mode == "hybrid" else mode
        print(f"{label:<10} {mrr:8.3f} {top1:8.3f}")
    best_single = max(results["bm25"][0], results["doc2vec"][0])
    print(f"hybrid / best single-signal MRR@10: {results['hybrid'][0] / best_single:.3f}")
    if args.json:
        print(json.dumps({m: {"mrr10": r[0], "top1": r[1]} for m, r in results.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
