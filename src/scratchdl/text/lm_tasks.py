"""Recipe tasks for language models: "ngram-lm", "rnn-lm" and "cloze" (book ch. 8-9).

Data (shared by the three tasks, [data] table): the corpus split, cleaning, tokenization and
vocabulary are described in scratchdl.text.lm_data; the training batch stream is its
BatchStream.

Perplexity and accuracy on held-out text (the state carried over the whole split, rows read
side by side with data.eval_warmup unscored tokens each) are described in
scratchdl.text.lm_eval, with cloze scoring and the sample.txt generation.

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
from typing import Any

import torch
from torch import Tensor, nn

from scratchdl.errors import UserError
from scratchdl.nn.bptt import clip_grad_norm, detach_state
from scratchdl.text.lm import RNNLM, ClozeLM, lm_loss

# `X as X` imports are re-exports: the helpers moved to lm_data and lm_eval stay importable
# from here.
from scratchdl.text.lm_data import BatchStream as BatchStream
from scratchdl.text.lm_data import LMData as LMData
from scratchdl.text.lm_data import _choice as _choice
from scratchdl.text.lm_data import _need_tokens as _need_tokens
from scratchdl.text.lm_data import _positive_int as _positive_int
from scratchdl.text.lm_data import _thin_blocks as _thin_blocks
from scratchdl.text.lm_data import load_lm_data as load_lm_data
from scratchdl.text.lm_eval import _stream_rows as _stream_rows
from scratchdl.text.lm_eval import cloze_scores as cloze_scores
from scratchdl.text.lm_eval import cloze_windows as cloze_windows
from scratchdl.text.lm_eval import heldout_scores as heldout_scores
from scratchdl.text.lm_eval import ngram_step as ngram_step
from scratchdl.text.lm_eval import write_samples as write_samples
from scratchdl.text.ngram import NGramLM
from scratchdl.train.checkpoint import load_checkpoint, save_checkpoint
from scratchdl.train.device import resolve_device
from scratchdl.train.optim import build_optimizer, build_scheduler
from scratchdl.train.progress import progress, show
from scratchdl.train.run import RunContext
from scratchdl.train.seeding import rng_state, seed_everything, set_rng_state
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


def _save_training(
    ctx: RunContext,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    stream: BatchStream,
    epoch: int,
    history: list[dict[str, float]],
    **extra: Any,
) -> None:
    """The end-of-epoch checkpoint of rnn-lm and cloze (atomic; everything exact resume needs)."""
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": rng_state(),
        "stream": stream.position(),
        **extra,
        "epoch": epoch,
        "history": history,
    }
    save_checkpoint(state, ctx.checkpoint_path)


def _restore_training(
    state: dict[str, Any], model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any
) -> tuple[list[dict[str, float]], int]:
    """Load what _save_training wrote into model/optimizer/scheduler and the global RNGs;
    returns (history, epochs done). The caller rebuilds its BatchStream from state["stream"]."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])
    return list(state["history"]), state["epoch"]


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
        history, start_epoch = _restore_training(state, model, optimizer, scheduler)
        stream = BatchStream(data.train, B, T, partition, seed, **state["stream"])
        carried = state["carried"]
        carried = carried if carried is None else _to_device(carried, device)

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
        cpu_state = None if carried is None else _to_device(detach_state(carried), "cpu")
        _save_training(ctx, model, optimizer, scheduler, stream, epoch, history, carried=cpu_state)
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
        history, start_epoch = _restore_training(state, both, optimizer, scheduler)
        stream = BatchStream(data.train, B, T, "random", seed, **state["stream"])

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
        _save_training(ctx, both, optimizer, scheduler, stream, epoch, history)
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
