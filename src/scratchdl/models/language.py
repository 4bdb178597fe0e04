"""Registry entries of the text models: RNN/GRU/LSTM language models, bidirectional cloze
models, the GRU encoder-decoder and the Kneser-Ney n-gram model.

Their options are the [model] keys of the rnn-lm, cloze, seq2seq and ngram-lm recipes. The
model classes live in scratchdl.text; they are imported when a model is built, so listing
the registry stays cheap.
"""

from __future__ import annotations

from typing import Any

from scratchdl.models.registry import register_model

RNN_OPTIONS: dict[str, Any] = {
    "impl": "torch",  # torch (nn.RNN/GRU/LSTM) or scratch (scratchdl.nn.recurrent)
    "embed_size": 0,  # 0: one-hot inputs (the book's choice); > 0: a learned embedding
    "hidden_size": 256,
    "num_layers": 1,
    "dropout": 0.0,  # between layers and before the decoder
}
SEQ2SEQ_OPTIONS: dict[str, Any] = {
    "impl": "torch",  # torch (nn.GRU, fused) or scratch (scratchdl.nn.recurrent.GRU)
    "embed_size": 256,
    "hidden_size": 256,
    "num_layers": 2,
    "dropout": 0.2,  # between GRU layers
    "max_len": 32,  # longest source accepted / output generated, in tokens with <eos>
}
LM_CELLS = {"rnn": "rnn", "gru": "gru", "lstm": "lstm"}
CLOZE_CELLS = {"birnn": "rnn", "bigru": "gru", "bilstm": "lstm"}


def _language_model(cell: str):
    def build(*, vocab_size: int, **options: Any):
        from scratchdl.text.lm.rnnlm import RNNLM

        return RNNLM(vocab_size, cell=cell, **options)

    build.__doc__ = f"Next-token {cell.upper()} language model (truncated BPTT)."
    return build


def _cloze_model(cell: str):
    def build(*, vocab_size: int, **options: Any):
        from scratchdl.text.lm.rnnlm import ClozeLM

        return ClozeLM(vocab_size, cell=cell, **options)

    build.__doc__ = f"Bidirectional {cell.upper()} cloze model (fills a blank from both sides)."
    return build


for _name, _cell in LM_CELLS.items():
    register_model(_name, "language-model", options=RNN_OPTIONS)(_language_model(_cell))
for _name, _cell in CLOZE_CELLS.items():
    register_model(_name, "cloze", options=RNN_OPTIONS)(_cloze_model(_cell))


@register_model("gru-seq2seq", "seq2seq", options=SEQ2SEQ_OPTIONS)
def gru_seq2seq(*, src_vocab_size: int, tgt_vocab_size: int, **options: Any):
    """GRU encoder-decoder, the context vector fed to every decoder step (book ch. 10)."""
    from scratchdl.text.translation.seq2seq import Seq2Seq

    return Seq2Seq(src_vocab_size, tgt_vocab_size, **options)


@register_model("bahdanau-seq2seq", "seq2seq", options=SEQ2SEQ_OPTIONS)
def bahdanau_seq2seq(*, src_vocab_size: int, tgt_vocab_size: int, **options: Any):
    """GRU encoder-decoder with Bahdanau (additive) attention over the encoder outputs."""
    from scratchdl.text.translation.bahdanau import BahdanauSeq2Seq

    return BahdanauSeq2Seq(src_vocab_size, tgt_vocab_size, **options)


TRANSFORMER_SEQ2SEQ_OPTIONS: dict[str, Any] = {
    "d_model": 256,
    "nhead": 4,
    "num_layers": 3,  # encoder and decoder each
    "dim_feedforward": 1024,
    "dropout": 0.1,
    "norm_first": True,  # pre-norm blocks (False: the 2017 paper's post-norm)
    "tie_output": True,  # output projection shares the target embedding
    "use_sdpa": True,  # fused attention kernel (weights for plots are computed on request)
    "max_len": 64,  # longest source accepted / output generated, in tokens with <eos>
}


@register_model("transformer-seq2seq", "seq2seq", options=TRANSFORMER_SEQ2SEQ_OPTIONS)
def transformer_seq2seq(*, src_vocab_size: int, tgt_vocab_size: int, **options: Any):
    """Encoder-decoder Transformer (sinusoidal positions, KV-cached decoding)."""
    from scratchdl.text.translation.transformer import TransformerSeq2Seq

    return TransformerSeq2Seq(src_vocab_size, tgt_vocab_size, **options)


@register_model("ngram", "ngram", options={})
def ngram(*, order: int, discount: float | None):
    """Interpolated Kneser-Ney n-gram model (order and discount, None = estimated, come from
    the [ngram] search, not from [model])."""
    from scratchdl.text.lm.ngram import NGramLM

    return NGramLM(order, "kn", discount=discount)
