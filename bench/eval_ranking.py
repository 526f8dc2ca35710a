#!/usr/bin/env python3
"""Retrieval quality and abstention, per FAQ and kind: MRR@10 / top-1 / top-5 of BM25, the
Doc2Vec hybrid, the embedding alone, BM25 + embedding fusions and the shipped rankings on
paraphrased questions; and, at each kind's shipped min_score, the share of on-topic questions
answered and of off-topic questions declined (the measurement behind the thresholds in
faq_engine/abstain.py).

The FAQs are assembled at run time from documentation Debian packages install (bench/faqs.py:
the Python FAQ, the Debian FAQ, the sed FAQ); none of their text is committed. Both kinds are
trained on each as shipped. On-topic questions: bench/paraphrases*.json, written by hand the
way a user would ask (not the FAQ's wording), each mapped to the entry that answers it.
Off-topic questions: bench/offtopic.json (weather, cooking, sports, other software, ...).

"AUC" is the chance that an on-topic question's top score beats an off-topic one's (1: a
threshold separates them perfectly, 0.5: the score says nothing). "window" is the range of
thresholds that decline >= 90 % of off-topic questions while answering >= 95 % of on-topic
ones on that FAQ. Prints everything from one run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from faq_engine.abstain import DEFAULT_MIN_SCORES
from faq_engine.ranking import Ranker
from faq_engine.trainer import TrainParams, train
from faqs import FAQS, offtopic

ON_GOAL, OFF_GOAL = 0.95, 0.90


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


def top_scores(ranker: Ranker, questions: list[str], weights=None) -> np.ndarray:
    """The best served score of each question (-inf: no scorer had a signal, never answered)."""
    out = []
    for q in questions:
        s = ranker.scores(q, weights)
        out.append(float(s.max()) if s is not None else -np.inf)
    return np.asarray(out)


def auc(on: np.ndarray, off: np.ndarray) -> float:
    wins = (on[:, None] > off[None, :]).sum() + 0.5 * (on[:, None] == off[None, :]).sum()
    return float(wins / (len(on) * len(off)))


def window(on: np.ndarray, off: np.ndarray) -> tuple[float, float] | None:
    """[lo, hi]: any threshold t with lo < t <= hi declines >= OFF_GOAL of ``off`` (score < t)
    and answers >= ON_GOAL of ``on`` (score >= t); None when no threshold does both."""
    hi = float(np.sort(on)[int(np.floor((1 - ON_GOAL) * len(on)))])  # keep >= 95 %
    lo = float(np.sort(off)[int(np.ceil(OFF_GOAL * len(off))) - 1])  # decline >= 90 %
    return (lo, hi) if lo < hi else None


def abstention(on: np.ndarray, off: np.ndarray, threshold: float) -> dict:
    if threshold <= 0:  # 0 disables: everything with a signal is answered
        answered, declined = np.isfinite(on).mean(), (~np.isfinite(off)).mean()
    else:
        answered, declined = (on >= threshold).mean(), (off < threshold).mean()
    return {"min_score": threshold, "on_answered": float(answered),
            "off_declined": float(declined), "auc": auc(on, off), "window": window(on, off)}


def model(work: Path, faq: Path, kind: str, epochs: int) -> Ranker:
    """A model of ``kind`` for this FAQ; with --work, one trained earlier on the same FAQ text
    is reused (delete the directory after changing the trainer). The thresholds measured are
    DEFAULT_MIN_SCORES, whatever the model's manifest says."""
    out = work / kind
    digest = hashlib.sha256(faq.read_bytes()).hexdigest()
    try:
        m = json.loads((out / "manifest.json").read_text())
        if m.get("faq_sha256") == digest:
            return Ranker(out)
    except (OSError, ValueError):
        pass
    params = TrainParams(epochs=epochs) if kind == "doc2vec" else TrainParams()
    train(faq, out, kind=kind, params=params, force=True)
    return Ranker(out)


def run_faq(name: str, work: Path, epochs: int, off_questions: list[str]) -> dict:
    f = FAQS[name]
    corpus = f.entries()
    qs = f.questions(corpus)
    work.mkdir(parents=True, exist_ok=True)
    faq = work / "faq.jsonl"
    text = "".join(json.dumps(e) + "\n" for e in corpus)
    if not faq.exists() or faq.read_text() != text:
        faq.write_text(text)
    d2v, emb = model(work, faq, "doc2vec", epochs), model(work, faq, "embedding", epochs)
    rankings = {
        "bm25": evaluate(d2v, qs, {"bm25": 1.0}),
        "doc2vec hybrid": evaluate(d2v, qs),
        "embedding alone": evaluate(emb, qs, {"embedding": 1.0}),
    }
    # Fusions with BM25, for the record: the Doc2Vec model's index of the same entries.
    emb.scorers["bm25"] = d2v.scorers["bm25"]
    for w in (0.1, 0.2, 0.3, 0.5):
        rankings[f"embedding + {w} bm25"] = evaluate(emb, qs, {"embedding": 1.0, "bm25": w})
    del emb.scorers["bm25"]
    rankings["shipped embedding"] = evaluate(emb, qs)

    on_q = [q for q, _ in qs]
    scores = {
        "doc2vec": (top_scores(d2v, on_q), top_scores(d2v, off_questions)),
        "embedding": (top_scores(emb, on_q), top_scores(emb, off_questions)),
    }
    # Doc2Vec's parts on their own: could one of them be thresholded?
    parts = {p: (top_scores(d2v, on_q, {p: 1.0}), top_scores(d2v, off_questions, {p: 1.0}))
             for p in ("bm25", "doc2vec")}
    bm = d2v.scorers["bm25"]
    raw = tuple(np.asarray([float(bm.raw_scores(tok(q)).max(initial=0)) for q in qs_])
                for qs_ in (on_q, off_questions))
    return {
        "entries": len(corpus), "source": str(f.source), "package": f.package,
        "on_topic": len(qs), "off_topic": len(off_questions), "rankings": rankings,
        "abstention": {k: abstention(on, off, DEFAULT_MIN_SCORES[k])
                       for k, (on, off) in scores.items()},
        "doc2vec_parts_auc": {"bm25 (scaled, best = 1)": auc(*parts["bm25"]),
                              "bm25 raw": auc(*raw),
                              "doc2vec cosine": auc(*parts["doc2vec"])},
        "_scores": {k: [v.tolist() for v in pair] for k, pair in scores.items()},
    }


def tok(q: str) -> list[str]:
    from faq_engine.text import tokenize

    return tokenize(q)


def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faq", action="append", choices=list(FAQS),
                    help="only this FAQ (repeatable; default: all)")
    ap.add_argument("--epochs", type=int, default=TrainParams.epochs)
    ap.add_argument("--work", type=Path,
                    help="keep the trained models here and reuse them on the next run (same "
                         "FAQ text); default: a temporary directory")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = ap.parse_args()

    names = args.faq or list(FAQS)
    off = offtopic()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = args.work or Path(tmp)
        for name in names:
            results[name] = run_faq(name, root / name, args.epochs, off)

    for name, r in results.items():
        print(f"\n== {name} FAQ: {r['entries']} entries ({r['package']}: {r['source']}); "
              f"{r['on_topic']} on-topic paraphrases, {r['off_topic']} off-topic questions")
        print(f"{'ranking':<24} {'MRR@10':>8} {'top-1':>8} {'top-5':>8}")
        for rk, m in r["rankings"].items():
            print(f"{rk:<24} {m['mrr10']:8.3f} {m['top1']:8.3f} {m['top5']:8.3f}")
        print(f"{'kind':<10} {'min_score':>9} {'on-topic answered':>18} "
              f"{'off-topic declined':>19} {'AUC':>6}  window (>= 95 % on, >= 90 % off)")
        for kind, a in r["abstention"].items():
            w = a["window"]
            print(f"{kind:<10} {a['min_score']:9g} {pct(a['on_answered']):>18} "
                  f"{pct(a['off_declined']):>19} {a['auc']:6.3f}  "
                  f"{'none' if w is None else f'{w[0]:.3f} .. {w[1]:.3f}'}")
        print("doc2vec parts, AUC of the top score: " + ", ".join(
            f"{k} {v:.3f}" for k, v in r["doc2vec_parts_auc"].items()))

    if len(results) > 1:
        print("\n== all FAQs")
        for kind in ("doc2vec", "embedding"):
            on = np.concatenate([r["_scores"][kind][0] for r in results.values()])
            off_all = np.concatenate([r["_scores"][kind][1] for r in results.values()])
            a = abstention(on, off_all, DEFAULT_MIN_SCORES[kind])
            w = a["window"]
            mrr = {n: r["rankings"]["shipped embedding" if kind == "embedding"
                                    else "doc2vec hybrid"]["mrr10"] for n, r in results.items()}
            print(f"{kind:<10} min_score {a['min_score']:g}: on-topic answered "
                  f"{pct(a['on_answered'])}, off-topic declined {pct(a['off_declined'])} "
                  f"(per FAQ: " + ", ".join(
                      f"{n} {pct(r['abstention'][kind]['on_answered'])} / "
                      f"{pct(r['abstention'][kind]['off_declined'])}"
                      for n, r in results.items())
                  + f"); AUC {a['auc']:.3f}; pooled window "
                  f"{'none' if w is None else f'{w[0]:.3f} .. {w[1]:.3f}'}; MRR@10 "
                  + ", ".join(f"{n} {v:.3f}" for n, v in mrr.items()))
        emb_ok = all(r["abstention"]["embedding"]["on_answered"] >= ON_GOAL
                     and r["abstention"]["embedding"]["off_declined"] >= OFF_GOAL
                     for r in results.values())
        print(f"embedding goal (>= 90 % off-topic declined with >= 95 % on-topic answered on "
              f"every FAQ): {'met' if emb_ok else 'NOT met'}")
    if args.json:
        print(json.dumps({n: {k: v for k, v in r.items() if k != "_scores"}
                          for n, r in results.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
