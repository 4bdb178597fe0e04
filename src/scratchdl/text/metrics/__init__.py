"""Metrics of generated text: BLEU (bleu)."""
