"""The `faq-engine` command: train a model directory, serve one, or ask it a question."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from .faq import FaqError


def _train(args: argparse.Namespace) -> int:
    from .trainer import TrainParams, train

    params = TrainParams(vector_size=args.vector_size, epochs=args.epochs, seed=args.seed,
                         min_count=args.min_count, workers=args.workers)
    try:
        manifest = train(args.faq, args.out, version=args.version, params=params, force=args.force)
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


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="faq-engine", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model directory from an FAQ file")
    t.add_argument("--faq", required=True, help="JSON Lines (or .csv) with id, question, answer")
    t.add_argument("--out", required=True, help="model directory to write")
    t.add_argument("--version", default="1.0", help="model version (default 1.0)")
    t.add_argument("--epochs", type=int, default=80)
    t.add_argument("--vector-size", type=int, default=100)
    t.add_argument("--min-count", type=int, default=1)
    t.add_argument("--seed", type=int, default=42)
    t.add_argument("--workers", type=int, default=1,
                   help="training threads; more is faster but not reproducible (default 1)")
    t.add_argument("--force", action="store_true", help="replace an existing --out directory")
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
