"""The "seq2seq" task: an encoder-decoder (model.name: gru-seq2seq, bahdanau-seq2seq,
transformer-seq2seq) on parallel sentences, reported in BLEU.

Units: data.tokenizer "word" or "bpe" (one BPE per language, learned on the training side);
BLEU is always on words (BPE output is decoded first).

Training: teacher forcing and the masked (optionally label-smoothed) cross-entropy (a mean
over real target tokens; train_loss is the epoch's mean over its tokens), clipping at
train.grad_clip (the engine's).
Per epoch: val_loss and greedy corpus BLEU (val_bleu). At the end: test corpus BLEU with
greedy decoding and with beam search (test_bleu_greedy, test_bleu_beam), every test
translation in test_translations.tsv and a few in examples.txt. BLEU is corpus BLEU (n <= 4,
no smoothing) on the lower-cased word and punctuation tokens.

Data parallel: epoch e's order is one permutation seeded by (train.seed, e); global batch i is
its slice of size batch_size * world_size and rank k takes every world_size-th pair of it, so
2 processes of batch b train on the pairs 1 process of batch 2b does. Each rank's loss is
rescaled by (its tokens * world_size / global tokens): DDP's gradient average is then the
gradient of the global mean over real tokens, as in one process.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from scratchdl.data.loader import data_order_seed
from scratchdl.errors import UserError
from scratchdl.metrics.bleu import corpus_bleu
from scratchdl.models import build_model
from scratchdl.models.text.seq2seq import (
    greedy_decode,
    masked_cross_entropy,
    teacher_forcing_input,
    translate,
)
from scratchdl.nn.losses import label_smoothed_cross_entropy
from scratchdl.plots.alignment import heatmaps
from scratchdl.tasks import register_task
from scratchdl.tasks.text._alignment import alignment
from scratchdl.text.corpora.translation import TranslationSplit, load_translation
from scratchdl.train import distributed as dist
from scratchdl.train.task import Task

DEFAULTS: dict[str, Any] = {
    "data": {
        "dataset": "bible-en-es",  # or tatoeba-eng-fra
        "max_tokens": 20,  # keep pairs with at most this many units (tokens) on both sides
        "tokenizer": "word",  # units: "word" (words and punctuation) or "bpe" (subwords)
        "bpe_vocab": 8000,  # tokenizer "bpe": symbols per language, learned on train only
        "min_freq": 2,  # rarer training tokens become <unk>
        "val_fraction": 0.05,  # of the split groups (Bible chapters)
        "test_fraction": 0.05,
        "split_seed": 0,  # fixed apart from train.seed so every run sees the same test set
        "train_limit": 0,  # > 0: only the first N training pairs (quick tests)
        "batch_size": 64,  # per process
        "eval_batch_size": 256,
    },
    "loss": {
        "label_smoothing": 0.0,  # > 0: training loss against (1 - eps) one-hot + eps uniform
    },
    "decode": {
        "beam_size": 4,
        "alpha": 0.75,  # length normalisation: rank beams by log P / length**alpha
        "examples": 10,  # test translations written to examples.txt
    },
    "target": {"metric": "test_bleu_beam"},
}

Batch = dict[str, torch.Tensor]


def batches(split: TranslationSplit, batch_size: int, order: torch.Tensor | None = None):
    """(src, src_len, tgt, tgt_len) batches in `order`, each cut to its longest sequence."""
    order = torch.arange(len(split)) if order is None else order
    for i in range(0, len(order), batch_size):
        yield cut(split, order[i : i + batch_size])


def cut(split: TranslationSplit, idx: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Rows `idx` of `split`, padded only to their longest source and target."""
    src_len, tgt_len = split.src_len[idx], split.tgt_len[idx]
    src = split.src[idx, : int(src_len.max())]
    tgt = split.tgt[idx, : int(tgt_len.max())]
    return src, src_len, tgt, tgt_len


def check_decode(dec: dict[str, Any]) -> None:
    """UserError for decoding settings that could only fail at the end of training."""
    beam = dec["beam_size"]
    if isinstance(beam, bool) or not isinstance(beam, int) or beam < 1:
        raise UserError(f"decode.beam_size must be an integer >= 1, got {beam!r}")
    if dec["alpha"] < 0:
        raise UserError(f"decode.alpha (length normalisation) must be >= 0, got {dec['alpha']}")


@register_task("seq2seq")
class Seq2SeqTask(Task):
    defaults = DEFAULTS
    supports_ddp = True
    log_per_token = True

    model_kinds = ("seq2seq",)

    @classmethod
    def check_config(cls, cfg: dict[str, Any]) -> None:
        check_decode(cfg["decode"])
        eps = cfg["loss"]["label_smoothing"]
        if isinstance(eps, bool) or not isinstance(eps, int | float) or not 0 <= eps < 1:
            raise UserError(f"loss.label_smoothing must be a number in [0, 1), got {eps!r}")
        dcfg = cfg["data"]
        if dcfg["tokenizer"] not in ("word", "bpe"):
            raise UserError(f"data.tokenizer must be 'word' or 'bpe', got {dcfg['tokenizer']!r}")
        vocab = dcfg["bpe_vocab"]
        if isinstance(vocab, bool) or not isinstance(vocab, int) or vocab < 1:
            raise UserError(f"data.bpe_vocab must be an integer >= 1, got {vocab!r}")
        need = cfg["data"]["max_tokens"] + 1  # tokens + <eos>
        if need > cfg["model"]["max_len"]:
            raise UserError(
                f"data.max_tokens={cfg['data']['max_tokens']} needs model.max_len >= {need} "
                f"(tokens + <eos>), got {cfg['model']['max_len']}"
            )

    # -- building ------------------------------------------------------------------------
    def setup(self) -> None:
        dcfg, mcfg = self.cfg["data"], self.cfg["model"]
        self.check_config(self.cfg)
        self.data = load_translation(
            dcfg["dataset"],
            max_tokens=dcfg["max_tokens"],
            min_freq=dcfg["min_freq"],
            val_fraction=dcfg["val_fraction"],
            test_fraction=dcfg["test_fraction"],
            split_seed=dcfg["split_seed"],
            train_limit=dcfg["train_limit"],
            tokenizer=dcfg["tokenizer"],
            bpe_vocab=dcfg["bpe_vocab"],
        )
        self.src_vocab, self.tgt_vocab = self.data.src_vocab, self.data.tgt_vocab
        if dist.is_main_process():
            self.src_vocab.save(self.run.run_dir / "src_vocab.json")
            self.tgt_vocab.save(self.run.run_dir / "tgt_vocab.json")
            for side, bpe in (("src", self.data.src_bpe), ("tgt", self.data.tgt_bpe)):
                if bpe is not None:
                    bpe.save(self.run.run_dir / f"{side}_bpe.json")
        options = {k: v for k, v in mcfg.items() if k != "name"}
        self.model = build_model(
            mcfg["name"],
            src_vocab_size=len(self.src_vocab),
            tgt_vocab_size=len(self.tgt_vocab),
            **options,
        )

    # -- training ------------------------------------------------------------------------
    def _global_batch(self) -> int:
        return int(self.cfg["data"]["batch_size"]) * self.world_size

    def steps_per_epoch(self) -> int:
        return -(-len(self.data.train) // self._global_batch())

    def train_batches(self, epoch: int) -> Iterator[Batch]:
        """This rank's share of each global batch of the epoch's seeded permutation."""
        train, g = self.data.train, self._global_batch()
        gen = torch.Generator().manual_seed(data_order_seed(self.cfg["train"]["seed"]) + epoch)
        order = torch.randperm(len(train), generator=gen)
        for i in range(0, len(order), g):
            mine = order[i : i + g][self.rank :: self.world_size]
            real = len(mine) > 0
            if not real:  # a short last batch left this rank nothing: one pair, weight 0
                mine = order[i : i + 1]
            src, src_len, tgt, tgt_len = cut(train, mine)
            yield {
                "src": src,
                "src_len": src_len,
                "tgt": tgt,
                "tgt_len": tgt_len,
                "real": torch.tensor(1.0 if real else 0.0),
            }

    def training_step(self, batch: Batch, step: int) -> dict[str, Any]:
        tgt, tgt_len = batch["tgt"], batch["tgt_len"]
        logits = self.model(
            batch["src"], batch["src_len"], teacher_forcing_input(tgt, self.tgt_vocab.bos)
        )
        loss = self._loss(logits, tgt, tgt_len) * batch["real"]
        if self.world_size > 1:
            tokens = (tgt_len.sum() * batch["real"]).to(torch.float64)
            total = dist.all_reduce_sum(tokens.detach().clone())
            scaled = loss * (tokens * self.world_size / total).to(loss.dtype)
            # the value stays this rank's mean (logged, checked); the gradient is the scaled one
            loss = loss.detach() + (scaled - scaled.detach())
        return {"loss": loss}

    def _loss(self, logits: torch.Tensor, tgt: torch.Tensor, tgt_len: torch.Tensor) -> torch.Tensor:
        """Mean over real target tokens: cross-entropy, label-smoothed when loss.label_smoothing
        > 0 (val/test losses stay plain cross-entropy, comparable across models)."""
        eps = float(self.cfg["loss"]["label_smoothing"])
        if eps == 0:
            return masked_cross_entropy(logits, tgt, tgt_len)
        pad = torch.arange(tgt.shape[1], device=tgt.device) >= tgt_len.to(tgt.device)[:, None]
        target = tgt.masked_fill(pad, -100)
        return label_smoothed_cross_entropy(logits.transpose(1, 2), target, eps)

    def batch_size(self, batch: Batch) -> tuple[int, int]:
        if float(batch["real"]) == 0:
            return 0, 0
        return int(batch["src"].shape[0]), int(batch["tgt_len"].sum())

    # -- evaluation ----------------------------------------------------------------------
    def _mean_loss(self, split: TranslationSplit) -> float:
        model, bos = self.module("model"), self.tgt_vocab.bos
        total, tokens = 0.0, 0
        for src, src_len, tgt, tgt_len in batches(split, self.cfg["data"]["eval_batch_size"]):
            src, src_len, tgt, tgt_len = (t.to(self.device) for t in (src, src_len, tgt, tgt_len))
            logits = model(src, src_len, teacher_forcing_input(tgt, bos)).float()
            n = int(tgt_len.sum())
            total += masked_cross_entropy(logits, tgt, tgt_len).item() * n
            tokens += n
        return total / tokens if tokens else float("nan")

    def _translate(self, split: TranslationSplit, beam_size: int = 1) -> list[list[str]]:
        """Words of the translation of each source of `split` (BPE output decoded)."""
        dec = self.cfg["decode"]
        units = translate(
            self.module("model"),
            split.src_units,
            self.src_vocab,
            self.tgt_vocab,
            beam_size=beam_size,
            alpha=dec["alpha"] if beam_size > 1 else 0.0,
            batch_size=self.cfg["data"]["eval_batch_size"],
        )
        return [self.data.words(u) for u in units]

    @staticmethod
    def _bleu(hypotheses: list[list[str]], split: TranslationSplit) -> float:
        return corpus_bleu(hypotheses, split.tgt_tokens) if len(split) else float("nan")

    def evaluate(self, split: str) -> dict[str, float]:
        part = getattr(self.data, split)
        return {"loss": self._mean_loss(part), "bleu": self._bleu(self._translate(part), part)}

    def test(self) -> dict[str, float]:
        test = self.data.test
        greedy = self._translate(test)
        beam = self._translate(test, self.cfg["decode"]["beam_size"])
        if dist.is_main_process():
            self._write_translations(greedy, beam)
            self._plot_alignment()
        return {
            "test_bleu_greedy": self._bleu(greedy, test),
            "test_bleu_beam": self._bleu(beam, test),
            "test_loss": self._mean_loss(test),
        }

    def summary(self, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
        final = dict(results[""])
        final.update(self.data.stats)
        final.update(src_vocab_size=len(self.src_vocab), tgt_vocab_size=len(self.tgt_vocab))
        return final

    def _write_translations(self, greedy: list[list[str]], beam: list[list[str]]) -> None:
        """test_translations.tsv (every test pair) and examples.txt (the first few)."""
        test, run_dir = self.data.test, self.run.run_dir
        lines = ["ref\tsource\treference\tgreedy\tbeam"]
        for i in range(len(test)):
            fields = [test.src_tokens[i], test.tgt_tokens[i], greedy[i], beam[i]]
            lines.append("\t".join([test.refs[i], *(" ".join(f) for f in fields)]))
        (run_dir / "test_translations.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        blocks = []
        for i in range(min(self.cfg["decode"]["examples"], len(test))):
            blocks.append(
                f"{test.refs[i]}\n"
                f"  source:    {' '.join(test.src_tokens[i])}\n"
                f"  reference: {' '.join(test.tgt_tokens[i])}\n"
                f"  greedy:    {' '.join(greedy[i])}\n"
                f"  beam:      {' '.join(beam[i])}\n"
            )
        (run_dir / "examples.txt").write_text("\n".join(blocks), encoding="utf-8")

    def _plot_alignment(self) -> None:
        """alignment.png/.pdf: the attention of an attention model on one test verse (the
        first with 8..20 source units, else the longest), translated greedily."""
        model = self.module("model")
        if not hasattr(model, "cross_attention") and not hasattr(model, "attention_weights"):
            return
        test = self.data.test
        if not len(test):
            return
        sizes = [len(u) for u in test.src_units]
        pick = next((i for i, n in enumerate(sizes) if 8 <= n <= 20), None)
        if pick is None:
            pick = max(range(len(test)), key=lambda i: (sizes[i] <= 20, sizes[i]))
        src, src_len = test.src[pick : pick + 1], test.src_len[pick : pick + 1]
        src = src[:, : int(src_len[0])].to(self.device)
        was_training = model.training
        model.eval()
        out = greedy_decode(model, src, src_len.to(self.device), self.tgt_vocab.bos,
                            self.tgt_vocab.eos)[0]
        model.train(was_training)
        weights = alignment(model, src, src_len.to(self.device), out, self.tgt_vocab.bos)
        source = [*test.src_units[pick], "<eos>"]
        ended = len(out) < model.max_len  # else the last row is a step past max_len
        output = [*self.tgt_vocab.decode(out), "<eos>" if ended else "(cut)"]
        what = "encoder-decoder attention, last layer" if weights.shape[0] > 1 else "alignment"
        title = f"{test.refs[pick]}: {what}"
        heatmaps(weights, source, output, title, self.run.run_dir / "alignment")
