"""The "seq2seq" recipe task: train a GRU encoder-decoder on parallel sentences, report BLEU.

Per epoch: Adam (or any [optimizer]) with teacher forcing and the masked cross-entropy,
gradient clipping at train.grad_clip, then the validation loss and greedy corpus BLEU; an
atomic checkpoint (model, optimizer, scheduler, RNG states, history) makes resume exact.
At the end: test corpus BLEU with greedy decoding and with beam search (test_bleu_greedy,
test_bleu_beam), every test translation in test_translations.tsv and a few in examples.txt.
BLEU is corpus BLEU (n <= 4, no smoothing) on the lower-cased word and punctuation tokens.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from scratchdl.errors import UserError
from scratchdl.text.corpora.translation import TranslationSplit, load_translation
from scratchdl.text.metrics.bleu import corpus_bleu
from scratchdl.text.translation.seq2seq import (
    Seq2Seq,
    masked_cross_entropy,
    teacher_forcing_input,
    translate,
)
from scratchdl.train.checkpoint import load_checkpoint, save_checkpoint
from scratchdl.train.device import resolve_device
from scratchdl.train.optim import build_optimizer, build_scheduler
from scratchdl.train.progress import progress, show
from scratchdl.train.run import RunContext
from scratchdl.train.seeding import data_order_seed, rng_state, seed_everything, set_rng_state
from scratchdl.train.tasks import register_task

MODELS: dict[str, dict[str, Any]] = {
    "gru-seq2seq": {
        "impl": "torch",  # torch (nn.GRU, fused) or scratch (scratchdl.nn.recurrent.GRU)
        "embed_size": 256,
        "hidden_size": 256,
        "num_layers": 2,
        "dropout": 0.2,  # between GRU layers
        "max_len": 32,  # longest source accepted / output generated, in tokens with <eos>
    }
}

DEFAULTS: dict[str, Any] = {
    "data": {
        "max_tokens": 20,  # keep pairs with at most this many tokens on both sides
        "min_freq": 2,  # rarer training tokens become <unk>
        "val_fraction": 0.05,  # of the split groups (Bible chapters)
        "test_fraction": 0.05,
        "split_seed": 0,  # fixed apart from train.seed so every run sees the same test set
        "train_limit": 0,  # > 0: only the first N training pairs (quick tests)
    },
    "decode": {
        "beam_size": 4,
        "alpha": 0.75,  # length normalisation: rank beams by log P / length**alpha
        "examples": 10,  # test translations written to examples.txt
    },
}


def model_options(name: str) -> dict[str, Any]:
    if name not in MODELS:
        raise UserError(f"unknown seq2seq model {name!r} (known: {', '.join(MODELS)})")
    return dict(MODELS[name])


def _batches(split: TranslationSplit, batch_size: int, order: torch.Tensor | None = None):
    """(src, src_len, tgt, tgt_len) batches, each cut to its longest sequence."""
    n = len(split)
    order = torch.arange(n) if order is None else order
    for i in range(0, n, batch_size):
        idx = order[i : i + batch_size]
        src_len, tgt_len = split.src_len[idx], split.tgt_len[idx]
        src = split.src[idx, : int(src_len.max())]
        tgt = split.tgt[idx, : int(tgt_len.max())]
        yield src, src_len, tgt, tgt_len


@torch.no_grad()
def _mean_loss(model: Seq2Seq, split: TranslationSplit, bos: int, batch: int, device) -> float:
    model.eval()
    total, tokens = 0.0, 0
    for src, src_len, tgt, tgt_len in _batches(split, batch):
        src, src_len, tgt, tgt_len = (t.to(device) for t in (src, src_len, tgt, tgt_len))
        logits = model(src, src_len, teacher_forcing_input(tgt, bos))
        n = int(tgt_len.sum())
        total += masked_cross_entropy(logits, tgt, tgt_len).item() * n
        tokens += n
    return total / tokens if tokens else float("nan")


def _bleu(hypotheses: list[list[str]], split: TranslationSplit) -> float:
    return corpus_bleu(hypotheses, split.tgt_tokens) if len(split) else float("nan")


def check_decode(dec: dict[str, Any]) -> None:
    """UserError for decoding settings that could only fail at the end of training."""
    if not isinstance(dec["beam_size"], int) or dec["beam_size"] < 1:
        raise UserError(f"decode.beam_size must be an integer >= 1, got {dec['beam_size']!r}")
    if dec["alpha"] < 0:
        raise UserError(f"decode.alpha (length normalisation) must be >= 0, got {dec['alpha']}")


@register_task("seq2seq", defaults=DEFAULTS, model_options=model_options)
def seq2seq(ctx: RunContext) -> dict[str, Any]:
    cfg, dcfg, mcfg, tcfg = ctx.cfg, ctx.cfg["data"], ctx.cfg["model"], ctx.cfg["train"]
    seed, epochs = tcfg["seed"], tcfg["epochs"]
    check_decode(ctx.cfg["decode"])  # fail now, not after training
    seed_everything(seed)
    device = resolve_device(tcfg["device"])
    data = load_translation(
        dcfg["dataset"],
        max_tokens=dcfg["max_tokens"],
        min_freq=dcfg["min_freq"],
        val_fraction=dcfg["val_fraction"],
        test_fraction=dcfg["test_fraction"],
        split_seed=dcfg["split_seed"],
        train_limit=dcfg["train_limit"],
    )
    if data.num_steps > mcfg["max_len"]:
        raise UserError(
            f"data.max_tokens={dcfg['max_tokens']} needs model.max_len >= {data.num_steps} "
            f"(tokens + <eos>), got {mcfg['max_len']}"
        )
    src_vocab, tgt_vocab = data.src_vocab, data.tgt_vocab
    src_vocab.save(ctx.run_dir / "src_vocab.json")
    tgt_vocab.save(ctx.run_dir / "tgt_vocab.json")
    model = Seq2Seq(
        len(src_vocab),
        len(tgt_vocab),
        embed_size=mcfg["embed_size"],
        hidden_size=mcfg["hidden_size"],
        num_layers=mcfg["num_layers"],
        dropout=mcfg["dropout"],
        impl=mcfg["impl"],
        max_len=mcfg["max_len"],
    ).to(device)
    batch_size, eval_bs = dcfg["batch_size"], dcfg["eval_batch_size"]
    steps_per_epoch = -(-len(data.train) // batch_size)
    optimizer = build_optimizer(model, cfg["optimizer"])
    scheduler = build_scheduler(optimizer, cfg["schedule"], steps_per_epoch, epochs)
    history: list[dict[str, float]] = []
    start_epoch = 0
    if ctx.resuming and ctx.checkpoint_path.exists():
        state = load_checkpoint(ctx.checkpoint_path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        history, start_epoch = list(state["history"]), state["epoch"]
        ctx.replace_history(history)

    bos = tgt_vocab.bos
    train_seconds, train_tokens, train_examples = 0.0, 0, 0
    for epoch in range(start_epoch + 1, epochs + 1):
        model.train()
        order_gen = torch.Generator().manual_seed(data_order_seed(seed) + epoch)
        order = torch.randperm(len(data.train), generator=order_gen)
        t0, loss_sum, tokens = time.perf_counter(), 0.0, 0
        bar = progress(
            _batches(data.train, batch_size, order),
            total=steps_per_epoch,
            desc=f"epoch {epoch}/{epochs}",
            enabled=not ctx.quiet,
        )
        for src, src_len, tgt, tgt_len in bar:
            src, src_len, tgt, tgt_len = (t.to(device) for t in (src, src_len, tgt, tgt_len))
            logits = model(src, src_len, teacher_forcing_input(tgt, bos))
            loss = masked_cross_entropy(logits, tgt, tgt_len)
            if not torch.isfinite(loss):
                raise UserError(f"loss became {loss.item()} at epoch {epoch}: lower optimizer.lr")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if tcfg["grad_clip"] > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), tcfg["grad_clip"])
            optimizer.step()
            scheduler.step()
            n = int(tgt_len.sum())
            loss_sum, tokens = loss_sum + loss.item() * n, tokens + n
            show(bar, loss=f"{loss.item():.3f}")
        elapsed = time.perf_counter() - t0
        train_seconds += elapsed
        train_tokens += tokens
        train_examples += len(data.train)
        val_hyp = translate(model, data.val.src_tokens, src_vocab, tgt_vocab, batch_size=eval_bs)
        row = {
            "epoch": epoch,
            "train_loss": loss_sum / tokens,
            "val_loss": _mean_loss(model, data.val, bos, eval_bs, device),
            "val_bleu": _bleu(val_hyp, data.val),
            "lr": optimizer.param_groups[0]["lr"],
            "tokens_per_s": tokens / elapsed,
            "examples_per_s": len(data.train) / elapsed,
        }
        history.append(row)
        save_checkpoint(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": rng_state(),
                "epoch": epoch,
                "history": history,
            },
            ctx.checkpoint_path,
        )
        ctx.log_epoch(epoch, row)

    dec = cfg["decode"]
    test = data.test
    greedy = translate(model, test.src_tokens, src_vocab, tgt_vocab, batch_size=eval_bs)
    beam = translate(
        model,
        test.src_tokens,
        src_vocab,
        tgt_vocab,
        beam_size=dec["beam_size"],
        alpha=dec["alpha"],
        batch_size=eval_bs,
    )
    _write_translations(ctx, test, greedy, beam, dec["examples"])
    final: dict[str, Any] = dict(history[-1]) if history else {}
    final.update(
        {
            "test_bleu_greedy": _bleu(greedy, test),
            "test_bleu_beam": _bleu(beam, test),
            "test_loss": _mean_loss(model, test, bos, eval_bs, device),
            "parameters": sum(p.numel() for p in model.parameters()),
            **{k: v for k, v in data.stats.items()},
            "src_vocab_size": len(src_vocab),
            "tgt_vocab_size": len(tgt_vocab),
        }
    )
    if train_seconds:  # throughput of this process's epochs (none when resuming a done run)
        final["tokens_per_s"] = train_tokens / train_seconds
        final["examples_per_s"] = train_examples / train_seconds
    return final


def _write_translations(
    ctx: RunContext,
    test: TranslationSplit,
    greedy: list[list[str]],
    beam: list[list[str]],
    examples: int,
) -> None:
    """test_translations.tsv (every test pair) and examples.txt (the first `examples`)."""
    lines = ["ref\tsource\treference\tgreedy\tbeam"]
    for i in range(len(test)):
        fields = [test.src_tokens[i], test.tgt_tokens[i], greedy[i], beam[i]]
        lines.append("\t".join([test.refs[i], *(" ".join(f) for f in fields)]))
    (ctx.run_dir / "test_translations.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    blocks = []
    for i in range(min(examples, len(test))):
        blocks.append(
            f"{test.refs[i]}\n"
            f"  source:    {' '.join(test.src_tokens[i])}\n"
            f"  reference: {' '.join(test.tgt_tokens[i])}\n"
            f"  greedy:    {' '.join(greedy[i])}\n"
            f"  beam:      {' '.join(beam[i])}\n"
        )
    (ctx.run_dir / "examples.txt").write_text("\n".join(blocks), encoding="utf-8")
