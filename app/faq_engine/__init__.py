"""faq-engine: answer questions from an FAQ with a hybrid Doc2Vec + BM25 ranking."""

__version__ = "1.0.0"
