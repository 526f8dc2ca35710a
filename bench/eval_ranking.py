#!/usr/bin/env python3
"""Retrieval quality on paraphrased questions: BM25, the Doc2Vec hybrid, the embedding alone,
the shipped embedding ranking, and BM25 + embedding fusions (the measurement behind shipping
the embedding alone).

The corpus is assembled at run time from documentation a package installs: the Python FAQ in
Debian's python3.11-doc (/usr/share/doc/python3.11/html/faq/*.html; ci/setup-host.sh installs
it). None of its text is committed. Both kinds are trained on it as shipped (entries' question
and answer). The queries are bench/paraphrases.json: questions we wrote ourselves the way a user
would ask (not the FAQ's wording), each mapped to the FAQ question whose entry answers it.

Prints MRR@10, top-1 and top-5 for each ranking, in one run.
"""

from __future__ import annotations

import argparse
import html.parser
import json
import sys
import tempfile
from pathlib import Path

from faq_engine.ranking import Ranker
from faq_engine.trainer import TrainParams, train

FAQ_DIR = Path("/usr/share/doc/python3.11/html/faq")
PARAPHRASES = Path(__file__).with_name("paraphrases.json")


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


def queries(corpus: list[dict]) -> list[tuple[str, int]]:
    """(paraphrase, index of the entry answering it), for every paraphrase whose FAQ question
    is in this corpus."""
    by_question = {e["question"]: i for i, e in enumerate(corpus)}
    pairs = json.loads(PARAPHRASES.read_text(encoding="utf-8"))
    out = [(q, by_question[faq_q]) for faq_q, q in pairs.items() if faq_q in by_question]
    missing = [k for k in pairs if not k.startswith("_") and k not in by_question]
    if missing:
        print(f"warning: {len(missing)} paraphrased FAQ questions not in the corpus: {missing[:3]}",
              file=sys.stderr)
    return out


def evaluate(ranker: Ranker, qs: list[tuple[str, int]], weights=None) -> dict:
    rr, top1, top5 = 0.0, 0, 0
    for question, want in qs:
        ranked = [a.index for a in ranker.rank(question, 10, weights=weights)]
        if want in ranked:
            rank = ranked.index(want) + 1
            rr += 1.0 / rank
            top1 += rank == 1
            top5 += rank <= 5
    n = len(qs)
    return {"mrr10": rr / n, "top1": top1 / n, "top5": top5 / n}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faq-dir", type=Path, default=FAQ_DIR)
    ap.add_argument("--epochs", type=int, default=TrainParams.epochs)
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = ap.parse_args()

    corpus = load_corpus(args.faq_dir)
    qs = queries(corpus)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        faq = Path(tmp) / "faq.jsonl"
        faq.write_text("".join(json.dumps(e) + "\n" for e in corpus))
        train(faq, Path(tmp) / "d2v", params=TrainParams(epochs=args.epochs))
        train(faq, Path(tmp) / "emb", kind="embedding")
        d2v, emb = Ranker(Path(tmp) / "d2v"), Ranker(Path(tmp) / "emb")
        results["bm25"] = evaluate(d2v, qs, {"bm25": 1.0})
        results["doc2vec hybrid"] = evaluate(d2v, qs)
        results["embedding alone"] = evaluate(emb, qs, {"embedding": 1.0})
        # The embedding model ships its BM25 index too: fusions with it, for the record.
        emb.scorers.update(bm25=__import__("faq_engine.scorers.bm25", fromlist=["Scorer"])
                           .Scorer(_files(emb)))
        for w in (0.1, 0.2, 0.3, 0.5):
            results[f"embedding + {w} bm25"] = evaluate(emb, qs, {"embedding": 1.0, "bm25": w})
        results["shipped embedding"] = evaluate(emb, qs)
        shipped = ", ".join(f"{n} {w:g}" for n, w in emb.weights)

    print(f"corpus: {len(corpus)} Python FAQ entries from {args.faq_dir}; "
          f"{len(qs)} paraphrased questions ({PARAPHRASES.name}); index: question + answer")
    print(f"{'ranking':<24} {'MRR@10':>8} {'top-1':>8} {'top-5':>8}")
    for name, r in results.items():
        print(f"{name:<24} {r['mrr10']:8.3f} {r['top1']:8.3f} {r['top5']:8.3f}")
    ship, alone = results["shipped embedding"]["mrr10"], results["embedding alone"]["mrr10"]
    print(f"shipped embedding ranking ({shipped}): MRR@10 {ship:.3f} (goal >= 0.78); "
          f"shipped / embedding alone {ship / alone:.3f} (goal >= 1); "
          f"shipped / doc2vec hybrid {ship / results['doc2vec hybrid']['mrr10']:.3f}")
    if args.json:
        print(json.dumps(results))
    return 0


def _files(ranker: Ranker):
    from faq_engine.ranking import ModelFiles

    return ModelFiles(ranker.model_dir, ranker.manifest, len(ranker.entries))


if __name__ == "__main__":
    sys.exit(main())
