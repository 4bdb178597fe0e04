"""Sequences: corpora, cleaning, tokenizers, vocabulary, batches, statistics, language models,
translation, BLEU and decoding.

    from scratchdl.text import Vocab, clean_text, load_corpus, sequential_batches, split_corpus
    from scratchdl.text import tokenize
    train, val, test = split_corpus(load_corpus("austen"))
    tokens = tokenize(clean_text(train), "char")
    vocab = Vocab(tokens)
    for X, Y in sequential_batches(vocab.encode(tokens), 32, 35):
        break  # X, Y: [32, 35] token ids, Y shifted one step ahead of X

Where things live:
  corpora/      the corpora and their readers (austen, shakespeare, time_machine, base: cache
                and checks; sword and translation: the parallel Bible; movie_reviews: sentence
                polarity), load_corpus, split_corpus
  tokens/       cleaning and tokenization, Vocab, training batches, corpus statistics
  lm/           language models (rnnlm: RNNLM and ClozeLM; ngram), decoding (generate), the LM
                tasks' data (data) and held-out scoring and samples (evaluate)
  translation/  the encoder-decoder model (seq2seq)
  metrics/      BLEU
The recipe tasks that train these live in scratchdl.tasks.

Names below are loaded on first use, so importing scratchdl.text costs nothing until one is
needed (stats pulls in matplotlib, corpora the data layer).
"""

from __future__ import annotations

import importlib

# Imported now: light, and the two most used names.
from scratchdl.text.tokens.tokenize import clean_text as clean_text
from scratchdl.text.tokens.tokenize import tokenize as tokenize

_EXPORTS = {
    "Vocab": "tokens.vocab",
    "load_corpus": "corpora",
    "list_corpora": "corpora",
    "split_corpus": "corpora",
    "read_text_file": "corpora.base",
    "random_batches": "tokens.batches",
    "sequential_batches": "tokens.batches",
    "ngram_counts": "tokens.stats",
    "zipf_exponent": "tokens.stats",
    "zipf_plot": "tokens.stats",
    "NGramLM": "lm.ngram",
    "RNNLM": "lm.rnnlm",
    "ClozeLM": "lm.rnnlm",
    "generate": "lm.generate",
    "beam_search": "lm.generate",
    "sentence_bleu": "metrics.bleu",
    "corpus_bleu": "metrics.bleu",
    "Seq2Seq": "translation.seq2seq",
    "load_translation": "corpora.translation",
    "load_movie_reviews": "corpora.movie_reviews",
}

__all__ = sorted([*_EXPORTS, "clean_text", "tokenize"])


def __getattr__(name: str):
    if name in _EXPORTS:
        module = importlib.import_module(f"scratchdl.text.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'scratchdl.text' has no attribute {name!r}")
