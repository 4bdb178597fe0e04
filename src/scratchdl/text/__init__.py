"""Sequences: corpora, cleaning, tokenizers, vocabulary, batches, embeddings and decoding.

    from scratchdl.text import Vocab, clean_text, load_corpus, sequential_batches, split_corpus
    from scratchdl.text import tokenize
    train, val, test = split_corpus(load_corpus("austen"))
    tokens = tokenize(clean_text(train), "char")
    vocab = Vocab(tokens)
    for X, Y in sequential_batches(vocab.encode(tokens), 32, 35):
        break  # X, Y: [32, 35] token ids, Y shifted one step ahead of X

Where things live:
  corpora/         the corpora and their readers (austen, shakespeare, time_machine, base: cache
                   and checks; sword and translation: the parallel Bible; movie_reviews: sentence
                   polarity; brown: tagged words), load_corpus, split_corpus
  tokens/          cleaning and tokenization (tokenizer), Vocab, BPE, WordPiece, training
                   batches, corpus counts
  embeddings/      word vectors (ours or GloVe), word2vec's sampling, the analogy report
  decoding         greedy, sampled and beam decoding for any autoregressive step function
  lm_data, sentiment_data, bert_inputs, bert_pairs: what the text tasks feed their models
The models are in scratchdl.models.text, BLEU in scratchdl.metrics.bleu, and the recipe tasks
that train them in scratchdl.tasks.text.

Names below are loaded on first use, so importing scratchdl.text costs nothing until one is
needed (corpora pull in the data layer).
"""

from __future__ import annotations

import importlib

# Imported now: light, and the two most used names.
from scratchdl.text.tokens.tokenizer import clean_text as clean_text
from scratchdl.text.tokens.tokenizer import tokenize as tokenize

_EXPORTS = {
    "Vocab": "tokens.vocab",
    "load_corpus": "corpora",
    "list_corpora": "corpora",
    "split_corpus": "corpora",
    "read_text_file": "corpora.base",
    "random_batches": "tokens.batches",
    "sequential_batches": "tokens.batches",
    "ngram_counts": "tokens.counts",
    "zipf_exponent": "tokens.counts",
    "generate": "decoding",
    "beam_search": "decoding",
    "load_translation": "corpora.translation",
    "load_movie_reviews": "corpora.movie_reviews",
}

__all__ = sorted([*_EXPORTS, "clean_text", "tokenize"])


def __getattr__(name: str):
    if name in _EXPORTS:
        module = importlib.import_module(f"scratchdl.text.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'scratchdl.text' has no attribute {name!r}")
