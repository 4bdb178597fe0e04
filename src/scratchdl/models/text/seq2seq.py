"""GRU encoder-decoder for translation (book sec. 9.7): teacher forcing, masked loss, decoding.

    model = Seq2Seq(len(src_vocab), len(tgt_vocab), embed_size=256, hidden_size=256)
    logits = model(src, src_len, teacher_forcing_input(tgt, bos))   # [B, T, V]
    loss = masked_cross_entropy(logits, tgt, tgt_len)                # mean over real tokens
    greedy_decode(model, src, src_len, bos, eos)                     # list of id lists
    beam_translate(model, src, src_len, bos, eos, beam_size=4, alpha=0.75)

Shapes: batches are batch-first, src [B, S] and tgt [B, T] int64, with valid lengths [B]
counting the real tokens including <eos>. The encoder ignores padding exactly (packed
sequences for torch's GRU, a masked step loop for the from-scratch one), so a sentence gets
the same translation whatever it is batched with. Decoding functions do not switch the
model to eval mode (translate does): call model.eval() first, or dropout stays on.

Decoding protocol (so one greedy_decode / beam_translate / translate serves every translation
model: this GRU, the Bahdanau GRU, the Transformer): a model has max_len,
`start(src, src_len) -> state` (a tuple of tensors, batch on dim 0, nested tuples allowed)
and `advance(tokens [N], state) -> (log-probabilities [N, V], state)`; beam search repeats
and reorders the state's rows with select_state (None entries, e.g. an empty cache, pass).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from scratchdl.errors import UserError
from scratchdl.models._registry import register_model
from scratchdl.nn.recurrent import make_recurrent
from scratchdl.text.corpora.translation import build_arrays
from scratchdl.text.tokens.vocab import Vocab


def _check_batch(name: str, ids: torch.Tensor, lengths: torch.Tensor) -> None:
    if ids.dim() != 2 or ids.dtype != torch.int64:
        raise UserError(
            f"{name}: expected int64 ids [batch, steps], got {ids.dtype} {tuple(ids.shape)}"
        )
    if lengths.shape != (ids.shape[0],):
        raise UserError(
            f"{name}: expected valid lengths [{ids.shape[0]}], got {tuple(lengths.shape)}"
        )
    if len(lengths) and (lengths.min() < 1 or lengths.max() > ids.shape[1]):
        raise UserError(
            f"{name}: valid lengths must be in 1..{ids.shape[1]} (they count <eos>), "
            f"got {lengths.min().item()}..{lengths.max().item()}"
        )


class Seq2SeqEncoder(nn.Module):
    """Embedding + multi-layer GRU. forward(src [B,S], src_len [B]) ->
    (outputs [S,B,H], zero after each sequence's end; state [L,B,H] at each sequence's end)."""

    def __init__(
        self,
        vocab_size: int,
        embed_size: int,
        hidden_size: int,
        num_layers: int = 1,
        dropout: float = 0.0,
        impl: str = "torch",
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = make_recurrent("gru", impl, embed_size, hidden_size, num_layers, dropout=dropout)
        self.num_layers, self.hidden_size = num_layers, hidden_size

    def forward(
        self, src: torch.Tensor, src_len: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.embedding(src.t())  # time-major [S, B, E]
        if isinstance(self.rnn, nn.GRU):  # fused kernel: packing skips the padding
            packed = pack_padded_sequence(x, src_len.cpu(), enforce_sorted=False)
            out, state = self.rnn(packed)
            return pad_packed_sequence(out, total_length=x.shape[0])[0], state
        # A generic recurrent module: step by step, freezing each sequence's state at its end.
        batch = src.shape[0]
        state = x.new_zeros(self.num_layers, batch, self.hidden_size)
        outputs = []
        for t in range(x.shape[0]):
            out, new_state = self.rnn(x[t : t + 1], state)
            live = (t < src_len).to(x.device).view(1, batch, 1)
            state = torch.where(live, new_state, state)
            outputs.append(out * live)
        return torch.cat(outputs), state


class Seq2SeqDecoder(nn.Module):
    """Embedding + GRU + linear. Each step's input is the token embedding concatenated with
    the context (the encoder's top-layer final state); the GRU starts from the encoder state.
    forward(tgt_in [B,T], state [L,B,H], context [B,H]) -> (logits [B,T,V], state)."""

    def __init__(
        self,
        vocab_size: int,
        embed_size: int,
        hidden_size: int,
        num_layers: int = 1,
        dropout: float = 0.0,
        impl: str = "torch",
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = make_recurrent(
            "gru", impl, embed_size + hidden_size, hidden_size, num_layers, dropout=dropout
        )
        self.dense = nn.Linear(hidden_size, vocab_size)

    def forward(
        self, tgt_in: torch.Tensor, state: torch.Tensor, context: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.embedding(tgt_in.t())  # [T, B, E]
        x = torch.cat([x, context.unsqueeze(0).expand(x.shape[0], -1, -1)], dim=-1)
        out, state = self.rnn(x, state)
        return self.dense(out).transpose(0, 1), state


class Seq2Seq(nn.Module):
    """The encoder-decoder. max_len: the longest source it accepts and the longest output it
    generates, counted in tokens with <eos>; longer sources raise UserError."""

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        embed_size: int = 256,
        hidden_size: int = 256,
        num_layers: int = 2,
        dropout: float = 0.0,
        impl: str = "torch",
        max_len: int = 32,
    ) -> None:
        super().__init__()
        if max_len < 1:
            raise UserError(f"Seq2Seq: max_len must be >= 1, got {max_len}")
        args = (embed_size, hidden_size, num_layers, dropout, impl)
        self.encoder = Seq2SeqEncoder(src_vocab_size, *args)
        self.decoder = Seq2SeqDecoder(tgt_vocab_size, *args)
        self.max_len = max_len

    def encode(self, src: torch.Tensor, src_len: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(decoder start state [L,B,H], context [B,H]) for src [B,S], src_len [B]."""
        _check_batch("Seq2Seq source", src, src_len)
        if len(src_len) and src_len.max() > self.max_len:
            raise UserError(
                f"a source sentence has {src_len.max().item()} tokens with <eos>, more than "
                f"the model's max_len {self.max_len}: shorten it or train with a larger max_len"
            )
        _, state = self.encoder(src, src_len)
        return state, state[-1]

    def forward(
        self, src: torch.Tensor, src_len: torch.Tensor, tgt_in: torch.Tensor
    ) -> torch.Tensor:
        """Teacher forcing: logits [B,T,V] for the next token after each of tgt_in [B,T]."""
        if tgt_in.dim() != 2 or tgt_in.shape[0] != src.shape[0]:
            raise UserError(
                f"Seq2Seq: expected decoder input [{src.shape[0]}, steps], "
                f"got {tuple(tgt_in.shape)}"
            )
        state, context = self.encode(src, src_len)
        return self.decoder(tgt_in, state, context)[0]

    def step(
        self, tokens: torch.Tensor, state: torch.Tensor, context: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One decoding step: tokens [N] -> (log-probabilities [N,V], new state)."""
        logits, state = self.decoder(tokens.unsqueeze(1), state, context)
        logits = logits[:, 0]
        return F.log_softmax(logits.to(torch.promote_types(logits.dtype, torch.float32)), -1), state


    # -- the decoding protocol greedy_decode / beam_translate use (every translation model has it)
    def start(self, src: torch.Tensor, src_len: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Decoder state for a batch of sources: any tuple of tensors with batch on dim 0."""
        state, context = self.encode(src, src_len)
        return state.transpose(0, 1), context

    def advance(
        self, tokens: torch.Tensor, state: tuple[torch.Tensor, ...]
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """tokens [N] -> (log-probabilities [N,V] of the next token, new state)."""
        hidden, context = state
        log_probs, hidden = self.step(tokens, hidden.transpose(0, 1).contiguous(), context)
        return log_probs, (hidden.transpose(0, 1), context)


def select_state(state: tuple, rows: torch.Tensor) -> tuple:
    """The decoder state of batch rows `rows` (repeat for a beam, reorder by parent)."""
    return tuple(
        x if x is None
        else select_state(x, rows) if isinstance(x, tuple)
        else x.index_select(0, rows)
        for x in state
    )


def teacher_forcing_input(tgt: torch.Tensor, bos: int) -> torch.Tensor:
    """<bos> followed by tgt without its last column: [B,T] -> [B,T]."""
    return torch.cat([torch.full_like(tgt[:, :1], bos), tgt[:, :-1]], dim=1)


def masked_cross_entropy(
    logits: torch.Tensor, target: torch.Tensor, valid_len: torch.Tensor
) -> torch.Tensor:
    """Cross-entropy averaged over the real tokens only: position t of row b counts when
    t < valid_len[b]. logits [B,T,V], target [B,T], valid_len [B] -> scalar (0 if none).

    (The book's MaskedSoftmaxCELoss zeroes the padding but then averages over all T
    positions, so its value changes with the amount of padding.)
    """
    if logits.dim() != 3 or target.shape != logits.shape[:2] or valid_len.shape != target.shape[:1]:
        raise UserError(
            f"masked_cross_entropy: expected logits [B,T,V], target [B,T], valid_len [B], got "
            f"{tuple(logits.shape)}, {tuple(target.shape)}, {tuple(valid_len.shape)}"
        )
    steps = torch.arange(target.shape[1], device=target.device)
    mask = steps.unsqueeze(0) < valid_len.to(target.device).unsqueeze(1)
    losses = F.cross_entropy(logits.transpose(1, 2), target, reduction="none")  # [B, T]
    return torch.where(mask, losses, 0.0).sum() / mask.sum().clamp(min=1)


@torch.no_grad()
def greedy_decode(
    model: nn.Module,
    src: torch.Tensor,
    src_len: torch.Tensor,
    bos: int,
    eos: int,
    max_len: int | None = None,
) -> list[list[int]]:
    """The most probable next token at each step, batched. Returns per sentence its ids
    without <eos>; a sentence stops at <eos> or after max_len tokens (default model.max_len)."""
    max_len = _check_max_len(model, max_len)
    state = model.start(src, src_len)
    batch = src.shape[0]
    tokens = torch.full((batch,), bos, dtype=torch.int64, device=src.device)
    outputs: list[list[int]] = [[] for _ in range(batch)]
    done = [False] * batch
    for _ in range(max_len):
        log_probs, state = model.advance(tokens, state)
        tokens = log_probs.argmax(dim=-1)
        for b, token in enumerate(tokens.tolist()):
            if done[b]:
                continue
            if token == eos:
                done[b] = True
            else:
                outputs[b].append(token)
        if all(done):
            break
    return outputs


@dataclass
class Hypothesis:
    """A finished beam: ids without <eos>, its total log-probability (with <eos> when it
    ended with one), and the score it was ranked by: log_prob / length**alpha."""

    tokens: list[int]
    log_prob: float
    score: float


def _check_max_len(model: nn.Module, max_len: int | None) -> int:
    max_len = model.max_len if max_len is None else max_len
    if max_len < 1:
        raise UserError(f"max_len must be >= 1, got {max_len}")
    return max_len


@torch.no_grad()
def beam_translate(
    model: nn.Module,
    src: torch.Tensor,
    src_len: torch.Tensor,
    bos: int,
    eos: int,
    beam_size: int,
    max_len: int | None = None,
    alpha: float = 0.0,
) -> list[Hypothesis]:
    """Beam search, batched; returns the best finished hypothesis per sentence.

    Each step extends every live hypothesis by every token and keeps the beam_size best
    extensions by log-probability; those ending in <eos>, and all at max_len tokens, are
    finished and leave the beam. Finished hypotheses are ranked by log P / L**alpha, L = the
    number of tokens generated (with <eos>); alpha = 0 is plain log-probability. beam_size 1
    is greedy decoding; a beam holding every prefix is an exhaustive search.
    """
    if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
        raise UserError(f"beam_size must be an int >= 1, got {beam_size!r}")
    max_len = _check_max_len(model, max_len)
    batch, k, device = src.shape[0], beam_size, src.device
    beams = torch.arange(batch, device=device).repeat_interleave(k)  # beam j of b: row b*k + j
    state = select_state(model.start(src, src_len), beams)
    scores = torch.full((batch, k), float("-inf"), device=device, dtype=torch.float32)
    scores[:, 0] = 0.0  # one live hypothesis (the empty one) to start
    tokens = torch.full((batch * k,), bos, dtype=torch.int64, device=device)
    prefixes = torch.zeros(batch, k, 0, dtype=torch.int64, device=device)
    finished: list[list[Hypothesis]] = [[] for _ in range(batch)]
    for length in range(1, max_len + 1):
        log_probs, state = model.advance(tokens, state)
        vocab = log_probs.shape[-1]
        candidates = (scores.unsqueeze(-1) + log_probs.view(batch, k, vocab)).view(batch, -1)
        top, index = candidates.topk(k, dim=1)  # dead beams are -inf and sort last
        parent, token = index // vocab, index % vocab
        prefixes = torch.cat(
            [
                prefixes.gather(1, parent.unsqueeze(-1).expand(-1, -1, prefixes.shape[-1])),
                token.unsqueeze(-1),
            ],
            dim=-1,
        )
        real = torch.isfinite(top)
        ends = real & ((token == eos) | (length == max_len))
        for b, j in ends.nonzero().tolist():
            ids = prefixes[b, j].tolist()
            if ids[-1] == eos:
                ids = ids[:-1]
            log_p = top[b, j].item()
            finished[b].append(Hypothesis(ids, log_p, log_p / length**alpha))
        scores = torch.where(real & ~ends, top, float("-inf"))
        if not torch.isfinite(scores).any():
            break
        rows = (torch.arange(batch, device=device).unsqueeze(1) * k + parent).view(-1)
        state = select_state(state, rows)
        tokens = token.view(-1)
    return [max(hyps, key=lambda h: h.score) for hyps in finished]


def translate(
    model: nn.Module,
    sentences: list[list[str]],
    src_vocab: Vocab,
    tgt_vocab: Vocab,
    beam_size: int = 1,
    alpha: float = 0.0,
    batch_size: int = 256,
    max_len: int | None = None,
) -> list[list[str]]:
    """Translate tokenised sentences (greedy for beam_size 1, else beam search), in batches.

    Each batch is padded to its longest sentence; the encoder ignores padding, so results do
    not depend on batch_size. A sentence longer than model.max_len - 1 tokens is a UserError.
    """
    if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
        raise UserError(f"beam_size must be an int >= 1, got {beam_size!r}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out: list[list[str]] = []
    try:
        for i in range(0, len(sentences), batch_size):
            chunk = sentences[i : i + batch_size]
            longest = max(len(s) for s in chunk) + 1
            if longest > model.max_len:
                raise UserError(
                    f"a sentence has {longest - 1} tokens; this model takes at most "
                    f"{model.max_len - 1} (its max_len {model.max_len} counts <eos>): shorten it"
                )
            src, src_len = build_arrays(chunk, src_vocab, longest)
            src, src_len = src.to(device), src_len.to(device)
            bos, eos = tgt_vocab.bos, tgt_vocab.eos
            if beam_size == 1:
                ids = greedy_decode(model, src, src_len, bos, eos, max_len)
            else:
                hyps = beam_translate(model, src, src_len, bos, eos, beam_size, max_len, alpha)
                ids = [h.tokens for h in hyps]
            out.extend(tgt_vocab.decode(seq) for seq in ids)
    finally:
        model.train(was_training)
    return out


SEQ2SEQ_OPTIONS: dict[str, Any] = {
    "impl": "torch",  # torch (nn.GRU, fused) or scratch (scratchdl.nn.recurrent.GRU)
    "embed_size": 256,
    "hidden_size": 256,
    "num_layers": 2,
    "dropout": 0.2,  # between GRU layers
    "max_len": 32,  # longest source accepted / output generated, in tokens with <eos>
}


@register_model("gru-seq2seq", "seq2seq", options=SEQ2SEQ_OPTIONS)
def gru_seq2seq(*, src_vocab_size: int, tgt_vocab_size: int, **options: Any) -> Seq2Seq:
    """GRU encoder-decoder, the context vector fed to every decoder step (book ch. 10)."""
    return Seq2Seq(src_vocab_size, tgt_vocab_size, **options)
