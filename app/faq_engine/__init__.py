"""faq-engine: answer questions from an FAQ, with a Doc2Vec + BM25 model or a sentence
embedding model (faq_engine.scorers)."""

from importlib.metadata import PackageNotFoundError, version

try:  # the one version: pyproject.toml's, as installed (pip install, or -e in ci/python-env.sh)
    __version__ = version("faq-engine")
except PackageNotFoundError:  # a source tree on PYTHONPATH that was never installed
    __version__ = "0+unknown"
