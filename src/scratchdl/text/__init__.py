"""Sequences: corpora, cleaning, tokenizers, vocabulary, batches, statistics, language models,
translation, BLEU and decoding.

    from scratchdl.text import Vocab, clean_text, load_corpus, sequential_batches, split_corpus
    from scratchdl.text import tokenize
    train, val, test = split_corpus(load_corpus("austen"))
    tokens = tokenize(clean_text(train), "char")
    vocab = Vocab(tokens)
    for X, Y in sequential_batches(vocab.encode(tokens), 32, 35):
        break  # X, Y: [32, 35] token ids, Y shifted one step ahead of X

Names are loaded on first use, so importing scratchdl.text costs nothing until one is needed
(stats pulls in matplotlib, corpora the data layer).
"""

from __future__ import annotations

import importlib

# Imported now (it is light) because the function `tokenize` shares its module's name: bound
# here first, the name stays the function even after `import scratchdl.text.tokenize`.
from scratchdl.text.tokenize import clean_text as clean_text
from scratchdl.text.tokenize import tokenize as tokenize

_EXPORTS = {
    "Vocab": "vocab",
    "load_corpus": "corpora",
    "list_corpora": "corpora",
    "split_corpus": "corpora",
    "read_text_file": "corpora",
    "random_batches": "batches",
    "sequential_batches": "batches",
    "ngram_counts": "stats",
    "zipf_exponent": "stats",
    "zipf_plot": "stats",
    "NGramLM": "ngram",
    "RNNLM": "lm",
    "ClozeLM": "lm",
    "generate": "generate",
    "beam_search": "generate",
    "sentence_bleu": "bleu",
    "corpus_bleu": "bleu",
    "Seq2Seq": "seq2seq",
    "load_translation": "translation",
}

__all__ = sorted([*_EXPORTS, "clean_text", "tokenize"])


def __getattr__(name: str):
    if name in _EXPORTS:
        module = importlib.import_module(f"scratchdl.text.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'scratchdl.text' has no attribute {name!r}")
