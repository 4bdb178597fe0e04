"""The "gpt-lm" task: a decoder-only transformer language model (scratchdl.models.text.gpt).

Same data pipeline, split and training characters as the recurrent "rnn-lm" task
(scratchdl.text.lm_data, the [data] table), so perplexities of gpt-austen, the *-austen RNNs
and ngram-austen compare. What differs is how the model sees text: a GPT reads a fixed
window, not a carried state. Training batches are random windows of data.num_steps tokens
(the book's random partition, one pass = every window once, in a seeded order; the stream
position is checkpointed); data.num_steps may not exceed model.block_size.

Held-out scoring (window_scores): the split is read as one stream by windows of
model.block_size tokens that advance by data.eval_stride tokens (0: half the block); the first
window scores all its targets, every later one only its last eval_stride targets, so every
token is scored once and, after the first block, with at least block_size - eval_stride tokens
of context. At the end: val and test perplexity and accuracy on the whole splits, and
sample.txt (greedy, sampled with temperature / top-k / top-p, and beam search, all with the
KV cache; windows longer than the block are cropped, see GPT.step), and attention.png/.pdf:
the last layer's attention weights on (the last 48 tokens of) the prefix, one panel per head.

Data parallel: as rnn-lm, every process reads the global batch and trains on its own rows.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from scratchdl.errors import UserError
from scratchdl.models import build_model, model_options
from scratchdl.models.text.gpt import check_options
from scratchdl.models.text.rnnlm import lm_loss
from scratchdl.plots.attention import attention_heatmaps
from scratchdl.tasks import register_task
from scratchdl.tasks.text._lm_eval import GENERATE_DEFAULTS, generation_prefix, write_samples
from scratchdl.tasks.text.language_model import TRAIN_DEFAULTS, _SequenceTask
from scratchdl.text.decoding import check_sampling
from scratchdl.text.lm_data import CORPUS_DEFAULTS, SEQUENCE_DEFAULTS, _positive_int
from scratchdl.train import distributed as dist

GPT_MODELS = ("gpt",)


def _window_plan(num_targets: int, block: int, stride: int) -> list[tuple[int, int, int]]:
    """(start, end, first scored) of each window over targets 0..num_targets-1.

    Window k feeds inputs [start, end) and scores targets [first, end) (target j is token
    j + 1, predicted from tokens 0..j); consecutive windows score consecutive stretches.
    """
    plan, done = [], 0
    end = min(block, num_targets)
    while True:
        plan.append((max(0, end - block), end, done))
        if end == num_targets:
            return plan
        done, end = end, min(end + stride, num_targets)


@torch.no_grad()
def window_scores(
    model: torch.nn.Module,
    ids: Tensor,
    block: int,
    stride: int,
    rows: int = 64,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """Perplexity, mean loss (nats/token) and accuracy of next-token prediction on ids [N],
    read by sliding windows (see the module doc); `rows` windows per forward pass."""
    if len(ids) < 2:
        raise UserError(f"cannot score a held-out split of {len(ids)} tokens: need at least 2")
    if not 1 <= stride <= block:
        raise UserError(f"data.eval_stride must be in [1, block_size={block}], got {stride}")
    was_training = model.training
    model.eval()
    plan = _window_plan(len(ids) - 1, block, stride)
    nll, correct, count = 0.0, 0, 0
    for i in range(0, len(plan), rows):
        chunk = plan[i : i + rows]
        width = max(e - s for s, e, _ in chunk)
        X = torch.zeros(len(chunk), width, dtype=torch.int64)
        Y = torch.zeros_like(X)
        mask = torch.zeros(len(chunk), width, dtype=torch.bool)
        for r, (s, e, first) in enumerate(chunk):
            X[r, : e - s], Y[r, : e - s] = ids[s:e], ids[s + 1 : e + 1]
            mask[r, first - s : e - s] = True
        X, Y, mask = X.to(device), Y.to(device), mask.to(device)
        logits, _ = model(X)
        losses = F.cross_entropy(logits.transpose(1, 2), Y, reduction="none")
        nll += float(losses[mask].double().sum())
        correct += int((logits.argmax(-1) == Y)[mask].sum())
        count += int(mask.sum())
    model.train(was_training)
    return {"loss": nll / count, "perplexity": math.exp(nll / count), "accuracy": correct / count}


@register_task("gpt-lm")
class GPTLMTask(_SequenceTask):
    defaults = {
        "data": {
            **CORPUS_DEFAULTS,
            **SEQUENCE_DEFAULTS,
            "eval_stride": 0,  # held-out windows advance by this many tokens (0: block / 2)
        },
        "train": dict(TRAIN_DEFAULTS),
        "generate": {**GENERATE_DEFAULTS, "top_p": 1.0},  # top_p: nucleus sampling (1: off)
    }
    model_kinds = ("language-model",)
    supports_ddp = True
    partition = "random"

    @classmethod
    def model_options(cls, name: str) -> dict[str, Any]:
        """Only the transformer language models (the RNNs are rnn-lm's)."""
        options = model_options(name, cls.model_kinds)
        if name not in GPT_MODELS:
            raise UserError(
                f"task gpt-lm trains {', '.join(GPT_MODELS)}, not {name!r}; "
                "recurrent language models use task = \"rnn-lm\""
            )
        return options

    @classmethod
    def check_config(cls, cfg: dict[str, Any]) -> None:
        m = cfg["model"]
        check_options(m["n_layer"], m["n_head"], m["n_embd"], m["block_size"], m["positions"])
        block = _positive_int(m["block_size"], "model.block_size")
        steps = _positive_int(cfg["data"]["num_steps"], "data.num_steps")
        if steps > block:
            raise UserError(
                f"data.num_steps={steps} exceeds model.block_size={block}: a GPT sees at most "
                "block_size tokens; lower data.num_steps or raise model.block_size"
            )
        stride = _positive_int(cfg["data"]["eval_stride"], "data.eval_stride", 0)
        if stride > block:
            raise UserError(
                f"data.eval_stride={stride} exceeds model.block_size={block}; use 0 (block / 2)"
            )
        g = cfg["generate"]
        check_sampling(float(g["temperature"]), g["top_k"], g["top_p"], "generate")
        _positive_int(g["beam_size"], "generate.beam_size")

    def setup(self) -> None:
        self.check_config(self.cfg)
        m = self.cfg["model"]
        self.block = int(m["block_size"])
        self.stride = int(self.cfg["data"]["eval_stride"]) or max(1, self.block // 2)
        self._setup_data(2, "raise data.val_fraction/test_fraction")
        self.prefix, self.prefix_note = generation_prefix(self.data, self.cfg["generate"]["prefix"])
        options = {k: v for k, v in m.items() if k != "name"}
        self.model = build_model(m["name"], vocab_size=len(self.data.vocab), **options)

    def train_batches(self, epoch: int):
        for _ in range(self.steps):
            yield self._next_batch()

    def training_step(self, batch: Any, step: int) -> dict[str, Any]:
        _, X, Y = batch
        logits, _ = self.model(X)
        return {"loss": lm_loss(logits, Y)}

    def _score(self, ids: Tensor) -> dict[str, float]:
        model = self.module("model")
        return window_scores(model, ids, self.block, self.stride, self.eval_rows, self.device)

    def evaluate(self, split: str) -> dict[str, float]:
        ids = getattr(self.data, split)
        if split == "val" and self.val_epoch:
            ids = ids[: self.val_epoch + 1]
        return self._score(ids)

    def test(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for split in ("val", "test"):
            out.update(
                {f"{split}_{k}": v for k, v in self._score(getattr(self.data, split)).items()}
            )
        model = self.module("model")
        if dist.is_main_process():
            model.eval()
            write_samples(
                self.run.run_dir,
                self.data,
                model.step,
                self.prefix,
                self.cfg["generate"],
                self.device,
                note=self.prefix_note,
            )
            ids = torch.tensor(self.prefix[-min(len(self.prefix), self.block, 48) :])
            attention_heatmaps(
                model.attention_maps(ids.to(self.device)),
                self.data.vocab.decode(ids.tolist()),
                self.run.run_dir / "attention",
                title=f"{self.cfg['recipe']}: last layer's attention on the prefix",
            )
            model.train()
        params = sum(p.numel() for p in model.parameters())
        return {**out, **self.data.stats, "parameters": params}
