"""Recipe tasks for language models: "ngram-lm", "rnn-lm" and "cloze" (book ch. 8-9).

Data (shared by the three tasks, [data] table). data.dataset names a corpus of
scratchdl.text.corpora ("austen", "shakespeare", "time-machine") or is the path of a UTF-8 text
file. The raw text is cut by split_corpus into whole blocks of data.block_chars characters
(val_fraction / test_fraction of them held out, spread evenly over the text); data.train_chars
> 0 keeps only about that many training characters, as whole blocks spread evenly over the
training split (so every novel still contributes). Each split is then cleaned
(data.clean: "letters" = the book's lower-case a-z and space, or "none") and tokenized
(data.level: "char" or "word"); the vocabulary is built from the training split only
(data.min_freq; rarer or unseen tokens become <unk>). Every model of one configuration sees
exactly the same training text and is scored on exactly the same held-out text.

Perplexity = exp(mean negative log-likelihood in nats per token) of the held-out split read as
one stream: the n-gram model scores every token given all tokens before it (only the last
order-1 matter); the recurrent model reads the split with its state carried over the whole
split. For speed the split is cut into data.eval_batch_size rows read side by side; each row
starts data.eval_warmup tokens early and does not score those, so every token but the first
eval_warmup of the split is predicted with at least eval_warmup tokens of context, as in a
single pass. Accuracy = fraction of tokens whose most likely prediction is right.

rnn-lm: an RNNLM (scratchdl.text.lm) trained with truncated backpropagation through time.
data.partition "sequential": the training text is laid out as batch_size long rows
(sequential_batches, a fresh random start offset every pass over the text), and the state is
carried from batch to batch and detached (gradients stop at the window edge); "random":
random windows (random_batches), the state starts from zeros in every batch. An "epoch" is
train.steps_per_epoch batches (0: about one pass over the training text); the batch stream
runs on across pass boundaries. Each batch: cross-entropy, backward, global-norm gradient
clipping at train.grad_clip (scratchdl.nn.bptt.clip_grad_norm), one optimizer step, one
schedule step. After each epoch: val perplexity and accuracy on the first data.val_epoch_tokens
tokens of val (0: all of it), logged. At the end: val and test perplexity and accuracy on the
whole splits, and sample.txt: the continuation of generate.prefix by greedy decoding, by
sampling (temperature, top-k) and by beam search.

ngram-lm: interpolated Kneser-Ney n-gram models (scratchdl.text.ngram) fitted on the training
split, one per candidate (ngram.orders x ngram.discounts; discount 0 = estimated per order from
counts of counts); the candidate with the lowest val perplexity is the model, and its test
perplexity is reported. sample.txt as for rnn-lm.

cloze: a ClozeLM (bidirectional) trained on random windows of data.num_steps tokens to predict
every interior token from both sides. Cloze accuracy (and cloze perplexity) on a held-out split:
every position with at least cloze.context tokens on both sides (all but the first and last
cloze.context tokens of the split) is predicted once, from a window holding at least
cloze.context tokens of the true text on each side of it (windows of num_steps + 2*context
tokens score their middle num_steps positions). The "left-only" numbers come from a linear
probe trained, on detached features, to predict the same token from the forward direction
alone (the features left of the blank): a one-sided baseline from the same network that does
not change its training. For a true left-to-right baseline compare with rnn-lm's
test_accuracy on the same data.

Every task writes vocab.json and an atomic checkpoint after each epoch (model, optimizer,
schedule, RNG states, data-stream position, the carried state), so a run killed at any moment
resumes bit-identically on CPU.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scratchdl.errors import UserError
from scratchdl.nn.bptt import clip_grad_norm, detach_state
from scratchdl.text.batches import random_batches, sequential_batches
from scratchdl.text.corpora import load_corpus, split_corpus
from scratchdl.text.generate import beam_search, generate, recompute_step
from scratchdl.text.lm import RNNLM, ClozeLM, lm_loss
from scratchdl.text.ngram import NGramLM
from scratchdl.text.tokenize import clean_text, tokenize
from scratchdl.text.vocab import Vocab
from scratchdl.train.checkpoint import load_checkpoint, save_checkpoint
from scratchdl.train.device import resolve_device
from scratchdl.train.optim import build_optimizer, build_scheduler
from scratchdl.train.progress import progress, show
from scratchdl.train.run import RunContext
from scratchdl.train.seeding import data_order_seed, rng_state, seed_everything, set_rng_state
from scratchdl.train.tasks import register_task

# ----------------------------------------------------------------------------- config

CORPUS_DEFAULTS: dict[str, Any] = {
    "dataset": "austen",  # a corpus name or the path of a UTF-8 .txt file
    "level": "char",  # char or word tokens
    "clean": "letters",  # letters (the book's: a-z and space) or none
    "min_freq": 1,  # rarer training tokens become <unk>
    "val_fraction": 0.05,
    "test_fraction": 0.05,
    "block_chars": 10_000,  # split_corpus block size (held-out blocks are whole blocks)
    "train_chars": 0,  # > 0: keep about this many training characters (whole blocks, spread)
}
SEQUENCE_DEFAULTS: dict[str, Any] = {
    "num_steps": 64,  # tokens per training window (the BPTT length)
    "batch_size": 32,
    "eval_batch_size": 64,  # rows read side by side when scoring a held-out split
    "val_epoch_tokens": 0,  # per-epoch val scores this many val tokens (0: all)
}
GENERATE_DEFAULTS: dict[str, Any] = {
    "prefix": "it is a truth universally acknowledged",
    "num_tokens": 200,
    "temperature": 0.8,  # sampling
    "top_k": 0,  # sampling: only the k most likely tokens (0: all)
    "beam_size": 4,
    "seed": 0,  # of the sampling generator
}
TRAIN_DEFAULTS: dict[str, Any] = {
    "steps_per_epoch": 0,  # batches per epoch; 0: about one pass over the training text
}
RNN_OPTIONS: dict[str, Any] = {
    "impl": "torch",  # torch (nn.RNN/GRU/LSTM) or scratch (scratchdl.nn.recurrent)
    "embed_size": 0,  # 0: one-hot inputs (the book's choice); > 0: a learned embedding
    "hidden_size": 256,
    "num_layers": 1,
    "dropout": 0.0,  # between layers and before the decoder
}
RNN_CELLS = {"rnn": "rnn", "gru": "gru", "lstm": "lstm"}
CLOZE_CELLS = {"birnn": "rnn", "bigru": "gru", "bilstm": "lstm"}


def _options(known: dict[str, str], what: str):
    def options(name: str) -> dict[str, Any]:
        if name not in known:
            raise UserError(f"unknown {what} model {name!r} (known: {', '.join(known)})")
        return dict(RNN_OPTIONS)

    return options


def _ngram_model(name: str) -> dict[str, Any]:
    if name != "ngram":
        raise UserError(f"the ngram-lm task's model.name must be 'ngram', got {name!r}")
    return {}


def _choice(value: Any, allowed: tuple[str, ...], key: str) -> str:
    if value not in allowed:
        raise UserError(f"{key} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _positive_int(value: Any, key: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserError(f"{key} must be an int >= {minimum}, got {value!r}")
    return value


# ----------------------------------------------------------------------------- data


@dataclass
class LMData:
    """Token ids of the three splits (int64 [N]) and the training vocabulary."""

    vocab: Vocab
    train: Tensor
    val: Tensor
    test: Tensor
    level: str
    clean: str
    stats: dict[str, float] = field(default_factory=dict)

    def encode_prefix(self, prefix: str) -> list[int]:
        """Ids of a generation prefix after the corpus's cleaning and tokenization.

        A token the vocabulary does not know is an error (it would silently become <unk>).
        """
        tokens = tokenize(clean_text(prefix, self.clean), self.level)
        if not tokens:
            raise UserError(
                f"generate.prefix {prefix!r} has no tokens after cleaning ({self.clean!r}); "
                "give some text"
            )
        unknown = sorted({t for t in tokens if t not in self.vocab})
        if unknown:
            raise UserError(
                f"generate.prefix has tokens the vocabulary does not know: {unknown[:10]}; "
                "use tokens of the training text (after data.clean) or lower data.min_freq"
            )
        return self.vocab[tokens]

    def join(self, ids: list[int]) -> str:
        sep = "" if self.level == "char" else " "
        return sep.join(self.vocab.decode(ids))


def _thin_blocks(text: str, block_chars: int, keep_chars: int) -> str:
    """About keep_chars characters of `text` as whole blocks spread evenly over it."""
    blocks = [text[i : i + block_chars] for i in range(0, len(text), block_chars)]
    keep = min(len(blocks), max(1, round(keep_chars / block_chars)))
    chosen = [blocks[(k * len(blocks)) // keep] for k in range(keep)]
    return "".join(chosen)


def load_lm_data(dcfg: dict[str, Any]) -> LMData:
    """Split, clean, tokenize and encode the corpus as described in the module doc."""
    level = _choice(dcfg["level"], ("char", "word"), "data.level")
    clean = _choice(dcfg["clean"], ("letters", "none"), "data.clean")
    block_chars = _positive_int(dcfg["block_chars"], "data.block_chars")
    text = load_corpus(str(dcfg["dataset"]))
    train, val, test = split_corpus(
        text, float(dcfg["val_fraction"]), float(dcfg["test_fraction"]), block_chars
    )
    train_chars = _positive_int(dcfg["train_chars"], "data.train_chars", minimum=0)
    if train_chars:
        train = _thin_blocks(train, block_chars, train_chars)
    parts = [tokenize(clean_text(part, clean), level) for part in (train, val, test)]
    if not parts[0]:
        raise UserError(
            f"the training split of {dcfg['dataset']!r} has no tokens after cleaning "
            f"({clean!r}); give a text with letters or use data.clean=none"
        )
    vocab = Vocab(parts[0], min_freq=_positive_int(dcfg["min_freq"], "data.min_freq", 0))
    ids = [vocab.encode(p) for p in parts]
    stats = {
        "vocab_size": len(vocab),
        "train_tokens": len(ids[0]),
        "val_tokens": len(ids[1]),
        "test_tokens": len(ids[2]),
        "val_unk_rate": float((ids[1] == vocab.unk).double().mean()) if len(ids[1]) else 0.0,
    }
    return LMData(vocab, ids[0], ids[1], ids[2], level, clean, stats)


def _need_tokens(ids: Tensor, count: int, split: str, hint: str) -> None:
    if len(ids) < count:
        raise UserError(
            f"the {split} split has {len(ids)} tokens, fewer than the {count} needed; {hint}"
        )


# ----------------------------------------------------------------------------- the batch stream


class BatchStream:
    """Endless training batches: pass after pass over the training ids, each pass with its own
    seeded generator (data_order_seed(seed) + pass), so (pass_index, batch_index) pins the
    position and a resumed run continues with exactly the batches it would have seen.

    sequential: sequential_batches with a random start offset in [0, num_steps) per pass;
    random: random_batches. next() -> (first batch of a pass?, X, Y), X and Y [B, T].
    """

    def __init__(
        self,
        ids: Tensor,
        batch_size: int,
        num_steps: int,
        partition: str,
        seed: int,
        pass_index: int = 0,
        batch_index: int = 0,
    ) -> None:
        self.ids, self.batch_size, self.num_steps = ids, batch_size, num_steps
        self.partition, self.seed = partition, seed
        self.pass_index, self.batch_index = pass_index, batch_index
        self._batches: Iterator | None = None

    def min_batches_per_pass(self) -> int:
        """Batches every pass has whatever its random offset (the last few may vary)."""
        N, B, T = len(self.ids), self.batch_size, self.num_steps
        if self.partition == "sequential":
            return max(1, ((N - T) // B) // T)
        return max(1, ((N - T) // T) // B)

    def _open(self) -> Iterator:
        gen = torch.Generator().manual_seed(data_order_seed(self.seed) + self.pass_index)
        B, T = self.batch_size, self.num_steps
        if self.partition == "random":
            batches = random_batches(self.ids, B, T, gen)
        else:  # keep one full batch: the offset may not eat into it
            max_offset = min(T, len(self.ids) - B * T)
            offset = int(torch.randint(max_offset, (1,), generator=gen))
            batches = sequential_batches(self.ids, B, T, offset)
        return islice(batches, self.batch_index, None)

    def __iter__(self) -> BatchStream:
        return self

    def __next__(self) -> tuple[bool, Tensor, Tensor]:
        if self._batches is None:
            self._batches = self._open()
        batch = next(self._batches, None)
        if batch is None:  # this pass is over: the next one starts from its first batch
            self.pass_index, self.batch_index = self.pass_index + 1, 0
            self._batches = self._open()
            batch = next(self._batches)
        first = self.batch_index == 0
        self.batch_index += 1
        return first, batch[0], batch[1]

    def position(self) -> dict[str, int]:
        return {"pass_index": self.pass_index, "batch_index": self.batch_index}


# ----------------------------------------------------------------------------- held-out scores


def _stream_rows(ids: Tensor, rows: int, warmup: int) -> tuple[Tensor, Tensor, Tensor]:
    """Lay ids [N] out as R rows read side by side: inputs X, targets Y, scored mask, [R, W].

    Target j (1 <= j < N) is predicted from ids[:j]. Row r scores the targets of a contiguous
    stretch of L = ceil((N-1)/R) inputs and starts up to `warmup` inputs early (not scored).
    Rows are left-aligned and padded on the right; padding is never scored.
    """
    M = len(ids) - 1  # number of targets
    L = -(-M // max(1, min(rows, M)))
    R = -(-M // L)
    starts = [max(0, r * L - warmup) for r in range(R)]
    ends = [min((r + 1) * L, M) for r in range(R)]
    width = max(e - s for s, e in zip(starts, ends, strict=True))
    X = torch.zeros(R, width, dtype=torch.int64)
    Y = torch.zeros(R, width, dtype=torch.int64)
    mask = torch.zeros(R, width, dtype=torch.bool)
    for r, (s, e) in enumerate(zip(starts, ends, strict=True)):
        X[r, : e - s] = ids[s:e]
        Y[r, : e - s] = ids[s + 1 : e + 1]
        mask[r, r * L - s : e - s] = True
    return X, Y, mask


@torch.no_grad()
def heldout_scores(
    model: RNNLM,
    ids: Tensor,
    rows: int = 64,
    num_steps: int = 256,
    warmup: int = 256,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """Perplexity, mean loss (nats/token) and accuracy of next-token prediction on ids [N].

    The state is carried along each row (see _stream_rows); windows of num_steps columns.
    """
    if len(ids) < 2:
        raise UserError(f"cannot score a held-out split of {len(ids)} tokens: need at least 2")
    was_training = model.training
    model.eval()
    X, Y, mask = (t.to(device) for t in _stream_rows(ids, rows, warmup))
    nll, correct, state = 0.0, 0, None
    for c in range(0, X.shape[1], num_steps):
        cols = slice(c, c + num_steps)
        logits, state = model(X[:, cols], state)
        m = mask[:, cols]
        losses = F.cross_entropy(logits.transpose(1, 2), Y[:, cols], reduction="none")
        nll += float(losses[m].double().sum())
        correct += int((logits.argmax(-1) == Y[:, cols])[m].sum())
    model.train(was_training)
    count = int(mask.sum())
    return {"loss": nll / count, "perplexity": math.exp(nll / count), "accuracy": correct / count}


# ----------------------------------------------------------------------------- generation


def write_samples(
    ctx: RunContext,
    data: LMData,
    step: Any,
    prefix: list[int],
    gcfg: dict[str, Any],
    device: torch.device | str = "cpu",
) -> dict[str, str]:
    """Continue the prefix greedily, by sampling and by beam search; write sample.txt."""
    n = _positive_int(gcfg["num_tokens"], "generate.num_tokens", 0)
    gen = torch.Generator().manual_seed(int(gcfg["seed"]))
    out = {
        "greedy": generate(step, prefix, n, device=device),
        "sample": generate(
            step,
            prefix,
            n,
            strategy="sample",
            temperature=float(gcfg["temperature"]),
            top_k=int(gcfg["top_k"]),
            generator=gen,
            device=device,
        ),
        "beam": beam_search(step, prefix, n, int(gcfg["beam_size"]), device=device),
    }
    texts = {k: data.join(v) for k, v in out.items()}
    heads = {
        "greedy": "greedy",
        "sample": f"sample (temperature {gcfg['temperature']}, top_k {gcfg['top_k']})",
        "beam": f"beam search (beam_size {gcfg['beam_size']})",
    }
    lines = [f"prefix: {data.join(prefix)}", ""]
    for k, text in texts.items():
        lines += [
            f"{heads[k]}:",
            data.join(prefix) + ("" if data.level == "char" else " ") + text,
            "",
        ]
    (ctx.run_dir / "sample.txt").write_text("\n".join(lines), encoding="utf-8")
    return texts


def ngram_step(model: NGramLM):
    """A generate/beam_search step function for an n-gram model (log-probabilities as logits)."""

    def step_full(ids: Tensor) -> Tensor:
        return torch.stack([model.prob(row.cpu()).log() for row in ids])

    return recompute_step(step_full)


# ----------------------------------------------------------------------------- shared helpers


def _resume_state(ctx: RunContext) -> dict[str, Any] | None:
    if ctx.resuming and ctx.checkpoint_path.exists():
        state = load_checkpoint(ctx.checkpoint_path)
        ctx.replace_history(list(state["history"]))
        return state
    return None


def _steps_per_epoch(tcfg: dict[str, Any], stream: BatchStream) -> int:
    steps = _positive_int(tcfg["steps_per_epoch"], "train.steps_per_epoch", 0)
    return steps or stream.min_batches_per_pass()


def _check_finite(loss: Tensor, epoch: int) -> None:
    if not torch.isfinite(loss):
        raise UserError(f"loss became {loss.item()} at epoch {epoch}: lower optimizer.lr")


# ----------------------------------------------------------------------------- ngram-lm


@register_task(
    "ngram-lm",
    defaults={
        "data": dict(CORPUS_DEFAULTS),
        "ngram": {
            "orders": [3, 4, 5, 6, 7, 8, 9],  # candidate n
            "discounts": [0.0],  # candidate Kneser-Ney discounts in (0, 1]; 0 = estimated
        },
        "generate": dict(GENERATE_DEFAULTS),
    },
    model_options=_ngram_model,
)
def ngram_lm(ctx: RunContext) -> dict[str, Any]:
    """Choose the Kneser-Ney n-gram model with the lowest val perplexity; report its test one."""
    cfg, ncfg = ctx.cfg, ctx.cfg["ngram"]
    orders = [_positive_int(n, "ngram.orders entries") for n in ncfg["orders"]]
    discounts = [float(d) for d in ncfg["discounts"]]
    if not orders or not discounts or not all(0 <= d <= 1 for d in discounts):
        raise UserError(
            f"ngram.orders must be a non-empty list of ints and ngram.discounts a non-empty "
            f"list of numbers in [0, 1] (0 = estimated), got {orders!r} and {discounts!r}"
        )
    data = load_lm_data(cfg["data"])
    data.vocab.save(ctx.run_dir / "vocab.json")
    prefix = data.encode_prefix(cfg["generate"]["prefix"])
    for split in ("val", "test"):
        _need_tokens(getattr(data, split), 1, split, "raise data.val_fraction/test_fraction")
    V = len(data.vocab)

    def fit(order: int, discount: float) -> NGramLM:
        return NGramLM(order, "kn", discount=discount or None).fit(data.train, V)

    state = _resume_state(ctx)
    if state is not None:  # the search is done: refit the chosen model only
        row = state["history"][-1]
        best = fit(int(row["order"]), float(row["discount"]))
        fit_seconds = float(row["fit_seconds"])
    else:
        row, best, best_ppl, fit_time = {"epoch": 1}, None, math.inf, {}
        for order in orders:
            t0 = time.perf_counter()
            model = fit(order, 0.0)
            fit_time[order] = time.perf_counter() - t0
            counts = model.to_dict()
            for d in discounts:  # a new discount only rebuilds the tables, no recount
                cand = model if d == 0 else NGramLM.from_dict({**counts, "discount": d})
                ppl = cand.perplexity(data.val)
                # named apart from val_*: one point per candidate, not a curve to plot
                row[f"candidate_n{order}_d{d:g}" if d else f"candidate_n{order}_dauto"] = ppl
                if ppl < best_ppl:
                    best, best_ppl = cand, ppl
                    row.update(order=order, discount=d)
            if not ctx.quiet:
                print(f"order {order}: best val perplexity so far {best_ppl:.4f}")
        fit_seconds = fit_time[row["order"]]
        row.update(val_perplexity=best_ppl, fit_seconds=fit_seconds)
        save_checkpoint(
            {
                "model": {"order": row["order"], "discount": row["discount"]},
                "epoch": 1,
                "history": [row],
            },
            ctx.checkpoint_path,
        )
        ctx.log_epoch(1, row)
    assert best is not None
    write_samples(ctx, data, ngram_step(best), prefix, cfg["generate"])
    test_nll = -best.log_prob_sequence(data.test) / len(data.test)
    return {
        **row,
        "test_perplexity": math.exp(test_nll),
        "test_loss": test_nll,
        "top_discount": best.discounts[-1],  # D of the highest order, as used
        # counting speed of the chosen order (training tokens per second)
        "tokens_per_s": len(data.train) / fit_seconds if fit_seconds else 0.0,
        "examples_per_s": len(data.train) / fit_seconds if fit_seconds else 0.0,
        **data.stats,
    }


# ----------------------------------------------------------------------------- rnn-lm


@register_task(
    "rnn-lm",
    defaults={
        "data": {
            **CORPUS_DEFAULTS,
            **SEQUENCE_DEFAULTS,
            "partition": "sequential",  # sequential (state carried) or random (state reset)
            "eval_warmup": 256,  # unscored tokens each held-out row reads first
        },
        "train": dict(TRAIN_DEFAULTS),
        "generate": dict(GENERATE_DEFAULTS),
    },
    model_options=_options(RNN_CELLS, "rnn-lm"),
)
def rnn_lm(ctx: RunContext) -> dict[str, Any]:
    """Train an RNN/GRU/LSTM language model with truncated BPTT; report held-out perplexity."""
    cfg, dcfg, mcfg, tcfg = ctx.cfg, ctx.cfg["data"], ctx.cfg["model"], ctx.cfg["train"]
    seed, epochs = tcfg["seed"], tcfg["epochs"]
    partition = _choice(dcfg["partition"], ("sequential", "random"), "data.partition")
    B = _positive_int(dcfg["batch_size"], "data.batch_size")
    T = _positive_int(dcfg["num_steps"], "data.num_steps")
    rows = _positive_int(dcfg["eval_batch_size"], "data.eval_batch_size")
    warmup = _positive_int(dcfg["eval_warmup"], "data.eval_warmup", 0)
    val_epoch = _positive_int(dcfg["val_epoch_tokens"], "data.val_epoch_tokens", 0)
    seed_everything(seed)
    device = resolve_device(tcfg["device"])
    data = load_lm_data(dcfg)
    _need_tokens(data.train, B * T + 1, "training", "lower data.batch_size or data.num_steps")
    for split in ("val", "test"):
        _need_tokens(getattr(data, split), 2, split, "raise data.val_fraction/test_fraction")
    data.vocab.save(ctx.run_dir / "vocab.json")
    prefix = data.encode_prefix(cfg["generate"]["prefix"])
    model = RNNLM(
        len(data.vocab),
        hidden_size=mcfg["hidden_size"],
        num_layers=mcfg["num_layers"],
        cell=RNN_CELLS[mcfg["name"]],
        impl=mcfg["impl"],
        embed_size=mcfg["embed_size"],
        dropout=float(mcfg["dropout"]),
    ).to(device)
    stream = BatchStream(data.train, B, T, partition, seed)
    steps = _steps_per_epoch(tcfg, stream)
    optimizer = build_optimizer(model, cfg["optimizer"])
    scheduler = build_scheduler(optimizer, cfg["schedule"], steps, epochs)
    history: list[dict[str, float]] = []
    start_epoch, carried = 0, None
    state = _resume_state(ctx)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        stream = BatchStream(data.train, B, T, partition, seed, **state["stream"])
        carried = state["carried"]
        carried = carried if carried is None else _to_device(carried, device)
        history, start_epoch = list(state["history"]), state["epoch"]

    def score(ids: Tensor) -> dict[str, float]:
        return heldout_scores(model, ids, rows, max(T, 256), warmup, device)

    val_ids = data.val[: val_epoch + 1] if val_epoch else data.val
    train_seconds, train_tokens = 0.0, 0
    for epoch in range(start_epoch + 1, epochs + 1):
        model.train()
        t0, loss_sum = time.perf_counter(), 0.0
        bar = progress(
            range(steps), total=steps, desc=f"epoch {epoch}/{epochs}", enabled=not ctx.quiet
        )
        for _ in bar:
            first, X, Y = next(stream)
            X, Y = X.to(device), Y.to(device)
            if partition == "random" or first:  # a new pass's rows start elsewhere: no carry
                carried = None
            logits, carried = model(X, detach_state(carried))
            loss = lm_loss(logits, Y)
            _check_finite(loss, epoch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if tcfg["grad_clip"] > 0:
                clip_grad_norm(model.parameters(), tcfg["grad_clip"])
            optimizer.step()
            scheduler.step()
            loss_sum += loss.item()
            show(bar, loss=f"{loss.item():.3f}")
        elapsed = time.perf_counter() - t0
        train_seconds, train_tokens = train_seconds + elapsed, train_tokens + steps * B * T
        val = score(val_ids)
        row = {
            "epoch": epoch,
            "train_loss": loss_sum / steps,
            "val_loss": val["loss"],
            "val_perplexity": val["perplexity"],
            "val_accuracy": val["accuracy"],
            "lr": optimizer.param_groups[0]["lr"],
            "tokens_per_s": steps * B * T / elapsed,
            "examples_per_s": steps * B / elapsed,  # windows of num_steps tokens per second
        }
        history.append(row)
        save_checkpoint(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": rng_state(),
                "stream": stream.position(),
                "carried": None if carried is None else _to_device(detach_state(carried), "cpu"),
                "epoch": epoch,
                "history": history,
            },
            ctx.checkpoint_path,
        )
        if not ctx.quiet:
            print(f"epoch {epoch}: val perplexity {val['perplexity']:.4f}")
        ctx.log_epoch(epoch, row)

    model.eval()  # no dropout from here on: scoring and generation
    final: dict[str, Any] = dict(history[-1]) if history else {}
    for split in ("val", "test"):
        s = score(getattr(data, split))
        final.update({f"{split}_{k}": v for k, v in s.items()})
    write_samples(ctx, data, model.step, prefix, cfg["generate"], device)
    final.update(parameters=sum(p.numel() for p in model.parameters()), **data.stats)
    if train_seconds:  # throughput of this process's epochs (none when resuming a done run)
        final["tokens_per_s"] = train_tokens / train_seconds
        final["examples_per_s"] = train_tokens / T / train_seconds
    return final


def _to_device(state: Any, device: torch.device | str) -> Any:
    if isinstance(state, Tensor):
        return state.to(device)
    return tuple(_to_device(s, device) for s in state)


# ----------------------------------------------------------------------------- cloze


def cloze_windows(ids: Tensor, span: int, context: int) -> list[Tensor]:
    """Windows of ids [N] that together score every position j with context <= j < N-context
    exactly once: full windows of span + 2*context tokens (stacked, [K, span + 2*context])
    scoring their middle `span` positions, and possibly one shorter last window [1, W]
    scoring all but its first and last `context` positions."""
    N, W = len(ids), span + 2 * context
    if N < 2 * context + 1:
        raise UserError(
            f"cloze: a split of {N} tokens has no position with {context} tokens on both "
            "sides; lower cloze.context or hold out more text"
        )
    out = []
    full = (N - 2 * context) // span if N >= W else 0
    if full:
        out.append(ids.unfold(0, W, span)[:full])
    if context + full * span < N - context:  # the rest, scored by one shorter window
        out.append(ids[full * span :][None])
    return out


@torch.no_grad()
def cloze_scores(
    model: ClozeLM,
    probe: nn.Linear | None,
    ids: Tensor,
    span: int,
    context: int,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """Cloze accuracy / loss / perplexity on ids [N] (see cloze_windows); with a probe, also
    the left-only probe's accuracy and loss on the same positions."""
    was_training = model.training
    model.eval()
    nll = probe_nll = 0.0
    correct = probe_correct = count = 0
    for windows in cloze_windows(ids, span, context):
        for i in range(0, len(windows), batch_size):
            X = windows[i : i + batch_size].to(device)
            left, right = model.features(X)
            pos = slice(context - 1, X.shape[1] - context - 1)  # feature rows of scored tokens
            target = X[:, context : X.shape[1] - context]
            logits = model.decode(left, right)[:, pos]
            nll += float(F.cross_entropy(logits.transpose(1, 2), target, reduction="sum"))
            correct += int((logits.argmax(-1) == target).sum())
            count += target.numel()
            if probe is not None:
                p_logits = probe(left).transpose(0, 1)[:, pos]
                probe_nll += float(
                    F.cross_entropy(p_logits.transpose(1, 2), target, reduction="sum")
                )
                probe_correct += int((p_logits.argmax(-1) == target).sum())
    model.train(was_training)
    out = {"loss": nll / count, "perplexity": math.exp(nll / count), "accuracy": correct / count}
    if probe is not None:
        out.update(left_only_loss=probe_nll / count, left_only_accuracy=probe_correct / count)
    return out


@register_task(
    "cloze",
    defaults={
        "data": {**CORPUS_DEFAULTS, **SEQUENCE_DEFAULTS},
        "train": dict(TRAIN_DEFAULTS),
        "cloze": {"context": 32},  # held-out positions have >= this many tokens on each side
    },
    model_options=_options(CLOZE_CELLS, "cloze"),
)
def cloze(ctx: RunContext) -> dict[str, Any]:
    """Train a bidirectional cloze model on random windows; report held-out cloze accuracy."""
    cfg, dcfg, mcfg, tcfg = ctx.cfg, ctx.cfg["data"], ctx.cfg["model"], ctx.cfg["train"]
    seed, epochs = tcfg["seed"], tcfg["epochs"]
    B = _positive_int(dcfg["batch_size"], "data.batch_size")
    T = _positive_int(dcfg["num_steps"], "data.num_steps", 3)
    eval_bs = _positive_int(dcfg["eval_batch_size"], "data.eval_batch_size")
    val_epoch = _positive_int(dcfg["val_epoch_tokens"], "data.val_epoch_tokens", 0)
    context = _positive_int(cfg["cloze"]["context"], "cloze.context")
    seed_everything(seed)
    device = resolve_device(tcfg["device"])
    data = load_lm_data(dcfg)
    _need_tokens(data.train, B * T + 1, "training", "lower data.batch_size or data.num_steps")
    for split in ("val", "test"):
        _need_tokens(getattr(data, split), 2 * context + 1, split, "lower cloze.context")
    data.vocab.save(ctx.run_dir / "vocab.json")
    V = len(data.vocab)
    model = ClozeLM(
        V,
        hidden_size=mcfg["hidden_size"],
        num_layers=mcfg["num_layers"],
        cell=CLOZE_CELLS[mcfg["name"]],
        impl=mcfg["impl"],
        embed_size=mcfg["embed_size"],
        dropout=float(mcfg["dropout"]),
    ).to(device)
    probe = nn.Linear(mcfg["hidden_size"], V).to(device)  # left-only baseline, detached inputs
    stream = BatchStream(data.train, B, T, "random", seed)
    steps = _steps_per_epoch(tcfg, stream)
    both = nn.ModuleDict({"model": model, "probe": probe})
    optimizer = build_optimizer(both, cfg["optimizer"])
    scheduler = build_scheduler(optimizer, cfg["schedule"], steps, epochs)
    history: list[dict[str, float]] = []
    start_epoch = 0
    state = _resume_state(ctx)
    if state is not None:
        both.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        stream = BatchStream(data.train, B, T, "random", seed, **state["stream"])
        history, start_epoch = list(state["history"]), state["epoch"]

    def score(ids: Tensor) -> dict[str, float]:
        return cloze_scores(model, probe, ids, T, context, eval_bs, device)

    val_ids = data.val[: max(val_epoch, 2 * context + 1)] if val_epoch else data.val
    train_seconds, train_tokens = 0.0, 0
    for epoch in range(start_epoch + 1, epochs + 1):
        model.train()
        t0, loss_sum = time.perf_counter(), 0.0
        bar = progress(
            range(steps), total=steps, desc=f"epoch {epoch}/{epochs}", enabled=not ctx.quiet
        )
        for _ in bar:
            _, X, _ = next(stream)
            X = X.to(device)
            left, right = model.features(X)
            target = X[:, 1:-1]
            loss = lm_loss(model.decode(left, right), target)
            _check_finite(loss, epoch)
            probe_loss = lm_loss(probe(left.detach()).transpose(0, 1), target)
            optimizer.zero_grad(set_to_none=True)
            (loss + probe_loss).backward()
            if tcfg["grad_clip"] > 0:  # the model's own gradients only: the probe is apart
                clip_grad_norm(model.parameters(), tcfg["grad_clip"])
            optimizer.step()
            scheduler.step()
            loss_sum += loss.item()
            show(bar, loss=f"{loss.item():.3f}")
        elapsed = time.perf_counter() - t0
        train_seconds, train_tokens = train_seconds + elapsed, train_tokens + steps * B * T
        val = score(val_ids)
        row = {
            "epoch": epoch,
            "train_loss": loss_sum / steps,
            "val_loss": val["loss"],
            "val_cloze_accuracy": val["accuracy"],
            "val_left_only_accuracy": val["left_only_accuracy"],
            "lr": optimizer.param_groups[0]["lr"],
            "tokens_per_s": steps * B * T / elapsed,
            "examples_per_s": steps * B / elapsed,
        }
        history.append(row)
        save_checkpoint(
            {
                "model": both.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": rng_state(),
                "stream": stream.position(),
                "epoch": epoch,
                "history": history,
            },
            ctx.checkpoint_path,
        )
        if not ctx.quiet:
            print(f"epoch {epoch}: val cloze accuracy {val['accuracy']:.4f}")
        ctx.log_epoch(epoch, row)

    final: dict[str, Any] = dict(history[-1]) if history else {}
    for split in ("val", "test"):
        s = score(getattr(data, split))
        final.update(
            {
                f"{split}_cloze_accuracy": s["accuracy"],
                f"{split}_cloze_perplexity": s["perplexity"],
                f"{split}_cloze_loss": s["loss"],
                f"{split}_left_only_accuracy": s["left_only_accuracy"],
                f"{split}_left_only_loss": s["left_only_loss"],
            }
        )
    final.update(parameters=sum(p.numel() for p in model.parameters()), **data.stats)
    if train_seconds:
        final["tokens_per_s"] = train_tokens / train_seconds
        final["examples_per_s"] = train_tokens / T / train_seconds
    return final
