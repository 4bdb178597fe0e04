"""The recurrent language-model tasks: "rnn-lm" (next token) and "cloze" (fill in the blank).

Data ([data] table) for both: scratchdl.text.lm_data (corpus split, cleaning, tokenization,
vocabulary, the endless resumable BatchStream); scoring and sample.txt:
scratchdl.tasks.text._lm_eval.
An "epoch" is train.steps_per_epoch batches (0: about one pass over the training text); the
batch stream runs on across pass boundaries, and its position is part of the checkpoint.

rnn-lm: an RNNLM (scratchdl.models.text.rnnlm) trained with truncated backpropagation through time.
data.partition "sequential": the training text is laid out as batch rows (sequential_batches,
a fresh random start offset every pass over the text), and the state is carried from batch to
batch and detached (gradients stop at the window edge); "random": random windows
(random_batches), the state starts from zeros in every batch. Each batch: cross-entropy, one
optimizer step (the engine clips the global gradient norm at train.grad_clip and steps the
schedule). After each epoch: val perplexity and accuracy on the first data.val_epoch_tokens
tokens of val (0: all of it). At the end: val and test perplexity and accuracy on the whole
splits, and sample.txt (greedy, sampled and beam-search continuations of generate.prefix).

Data parallel (torchrun with N processes): every process reads the stream of N x
data.batch_size rows that one process with that batch would read, and trains on its own rows
(rank r: rows r*b .. (r+1)*b-1), so N processes with batch b step exactly as one process
with batch N*b. The carried state is per rank (the state of its own rows); the checkpoint
holds the state of all rows (gathered at the end of each epoch), so a run may resume with
another number of processes that keeps the global batch.

cloze: a ClozeLM (bidirectional) trained on random windows of data.num_steps tokens to predict
every interior token from both sides. Cloze accuracy (and cloze perplexity) on a held-out split:
every position with at least cloze.context tokens on both sides is predicted once, from a window
holding at least cloze.context tokens of the true text on each side of it. The "left-only"
numbers come from a linear probe trained, on detached features, to predict the same token from
the forward direction alone: a one-sided baseline from the same network that does not change
its training. The probe has its own optimizer ("probe", the same [optimizer] and [schedule]),
left out of gradient clipping, so train.grad_clip bounds the model's own gradient norm only.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from scratchdl.errors import UserError
from scratchdl.models.text.rnnlm import CLOZE_CELLS, LM_CELLS, RNNLM, ClozeLM, lm_loss
from scratchdl.nn.bptt import detach_state
from scratchdl.tasks import register_task
from scratchdl.tasks.text._lm_eval import (
    GENERATE_DEFAULTS,
    cloze_scores,
    generation_prefix,
    heldout_scores,
    write_samples,
)
from scratchdl.text.lm_data import (
    CORPUS_DEFAULTS,
    SEQUENCE_DEFAULTS,
    BatchStream,
    _choice,
    _need_tokens,
    _positive_int,
    load_lm_data,
)
from scratchdl.train import distributed as dist
from scratchdl.train.optim import build_optimizer
from scratchdl.train.task import Task

TRAIN_DEFAULTS: dict[str, Any] = {
    "steps_per_epoch": 0,  # batches per epoch; 0: about one pass over the training text
}


def _to_device(state: Any, device: torch.device | str) -> Any:
    if state is None or isinstance(state, Tensor):
        return None if state is None else state.to(device)
    return tuple(_to_device(s, device) for s in state)


def _rows(state: Any, rows: slice) -> Any:
    """The batch rows `rows` of a recurrent state ([L, B, H] or an (h, c) pair)."""
    if state is None or isinstance(state, Tensor):
        return None if state is None else state[:, rows].contiguous()
    return tuple(_rows(s, rows) for s in state)


def _gather_rows(state: Any) -> Any:
    """Every rank's state rows concatenated in rank order (the one-process state); collective."""
    if state is None or dist.world_size() == 1:
        return state
    if isinstance(state, Tensor):
        parts = [torch.empty_like(state) for _ in range(dist.world_size())]
        torch.distributed.all_gather(parts, state.contiguous())
        return torch.cat(parts, dim=1)
    return tuple(_gather_rows(s) for s in state)


class _SequenceTask(Task):
    """What rnn-lm and cloze share: data, the batch stream, config checks, epoch length."""

    cells: dict[str, str] = {}
    partition = "random"
    min_steps = 1

    def _setup_data(self, held_out_tokens: int, hint: str) -> None:
        d = self.cfg["data"]
        self.B = _positive_int(d["batch_size"], "data.batch_size")
        self.T = _positive_int(d["num_steps"], "data.num_steps", self.min_steps)
        self.eval_rows = _positive_int(d["eval_batch_size"], "data.eval_batch_size")
        self.val_epoch = _positive_int(d["val_epoch_tokens"], "data.val_epoch_tokens", 0)
        self.data = load_lm_data(d)
        # every process reads the global batch of world_size x B rows and keeps its own rows
        self.global_B = self.B * self.world_size
        _need_tokens(
            self.data.train,
            self.global_B * self.T + 1,
            "training",
            "lower data.batch_size or data.num_steps",
        )
        for split in ("val", "test"):
            _need_tokens(getattr(self.data, split), held_out_tokens, split, hint)
        if dist.is_main_process():
            self.data.vocab.save(self.run.run_dir / "vocab.json")
        seed = self.cfg["train"]["seed"]
        self.stream = BatchStream(self.data.train, self.global_B, self.T, self.partition, seed)
        steps = _positive_int(self.cfg["train"]["steps_per_epoch"], "train.steps_per_epoch", 0)
        self.steps = steps or self.stream.min_batches_per_pass()
        self.my_rows = slice(self.rank * self.B, (self.rank + 1) * self.B)

    def _model_kwargs(self) -> dict[str, Any]:
        m = self.cfg["model"]
        return {
            "hidden_size": m["hidden_size"],
            "num_layers": m["num_layers"],
            "cell": self.cells[m["name"]],
            "impl": m["impl"],
            "embed_size": m["embed_size"],
            "dropout": float(m["dropout"]),
        }

    def steps_per_epoch(self) -> int:
        return self.steps

    def _next_batch(self) -> tuple[bool, Tensor, Tensor]:
        first, X, Y = next(self.stream)
        return first, X[self.my_rows], Y[self.my_rows]

    def batch_size(self, batch: Any) -> tuple[int, int]:
        X = batch[1]
        return int(X.shape[0]), int(X.numel())  # windows, tokens

    def state_dict(self) -> dict[str, Any]:
        return {"stream": self.stream.position()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stream = BatchStream(
            self.data.train,
            self.global_B,
            self.T,
            self.partition,
            self.cfg["train"]["seed"],
            **state["stream"],
        )


@register_task("rnn-lm")
class RNNLMTask(_SequenceTask):
    defaults = {
        "data": {
            **CORPUS_DEFAULTS,
            **SEQUENCE_DEFAULTS,
            "partition": "sequential",  # sequential (state carried) or random (state reset)
            "eval_warmup": 256,  # unscored tokens each held-out row reads first
        },
        "train": dict(TRAIN_DEFAULTS),
        "generate": dict(GENERATE_DEFAULTS),
    }
    cells = LM_CELLS
    model_kinds = ("language-model",)
    supports_ddp = True

    @classmethod
    def model_options(cls, name: str) -> dict[str, Any]:
        """Only the recurrent language models (a GPT trains with task = "gpt-lm")."""
        options = super().model_options(name)
        if name not in cls.cells:
            raise UserError(
                f"task rnn-lm trains {', '.join(cls.cells)}, not {name!r}; "
                'a transformer language model uses task = "gpt-lm"'
            )
        return options

    def setup(self) -> None:
        d = self.cfg["data"]
        self.partition = _choice(d["partition"], ("sequential", "random"), "data.partition")
        self.warmup = _positive_int(d["eval_warmup"], "data.eval_warmup", 0)
        self._setup_data(2, "raise data.val_fraction/test_fraction")
        self.prefix, self.prefix_note = generation_prefix(self.data, self.cfg["generate"]["prefix"])
        self.model = RNNLM(len(self.data.vocab), **self._model_kwargs())
        self.carried: Any = None  # this rank's state after the last batch (detached)
        self.carried_all: Any = None  # every rank's, at the end of the last epoch (CPU)

    def train_batches(self, epoch: int):
        for _ in range(self.steps):
            yield self._next_batch()

    def end_train_epoch(self, epoch: int) -> None:
        """Every rank's carried state, for the checkpoint (a collective: all ranks call it)."""
        self.carried_all = _to_device(_gather_rows(self.carried), "cpu")

    def training_step(self, batch: Any, step: int) -> dict[str, Any]:
        first, X, Y = batch
        if self.partition == "random" or first:  # a new pass's rows start elsewhere: no carry
            self.carried = None
        logits, state = self.model(X, detach_state(self.carried))
        self.carried = detach_state(state)
        return {"loss": lm_loss(logits, Y)}

    def _score(self, ids: Tensor) -> dict[str, float]:
        model = self.module("model")
        return heldout_scores(
            model, ids, self.eval_rows, max(self.T, 256), self.warmup, self.device
        )

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
        if dist.is_main_process():
            write_samples(
                self.run.run_dir,
                self.data,
                self.module("model").step,
                self.prefix,
                self.cfg["generate"],
                self.device,
                note=self.prefix_note,
            )
        return {**out, **self.data.stats}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "carried": self.carried_all}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.carried_all = state["carried"]
        mine = _rows(self.carried_all, self.my_rows) if self.carried_all is not None else None
        if mine is not None and (mine[0] if isinstance(mine, tuple) else mine).shape[1] != self.B:
            raise UserError(
                "the checkpoint's carried state has fewer rows than processes x data.batch_size: "
                "resume with the same global batch"
            )
        self.carried = _to_device(mine, self.device)


@register_task("cloze")
class ClozeTask(_SequenceTask):
    defaults = {
        "data": {**CORPUS_DEFAULTS, **SEQUENCE_DEFAULTS},
        "train": dict(TRAIN_DEFAULTS),
        "cloze": {"context": 32},  # held-out positions have >= this many tokens on each side
    }
    cells = CLOZE_CELLS
    model_kinds = ("cloze",)
    module_names = ("model", "probe")
    unclipped_optimizers = ("probe",)
    min_steps = 3

    def setup(self) -> None:
        self.context = _positive_int(self.cfg["cloze"]["context"], "cloze.context")
        self._setup_data(2 * self.context + 1, "lower cloze.context")
        V = len(self.data.vocab)
        self.model = ClozeLM(V, **self._model_kwargs())
        # left-only baseline on detached forward features
        self.probe = nn.Linear(self.cfg["model"]["hidden_size"], V)

    def configure_optimizers(self) -> dict[str, Any]:
        """The model and the probe apart: Adam is per parameter, so this equals one optimizer
        over both, and grad_clip measures the model's norm alone (unclipped_optimizers)."""
        ocfg = self.cfg["optimizer"]
        return {
            "main": build_optimizer(self.module("model").parameters(), ocfg),
            "probe": build_optimizer(self.module("probe").parameters(), ocfg),
        }

    def train_batches(self, epoch: int):
        for _ in range(self.steps):
            yield self._next_batch()

    def training_step(self, batch: Any, step: int) -> dict[str, Any]:
        _, X, _ = batch
        left, right = self.model.features(X)
        target = X[:, 1:-1]
        loss = lm_loss(self.model.decode(left, right), target)
        probe_loss = lm_loss(self.probe(left.detach()).transpose(0, 1), target)
        # no "loss" key: the engine backpropagates the sum of both (the probe's input is
        # detached, so each gradient is its own loss's)
        return {"cloze_loss": loss, "left_only_loss": probe_loss}

    def _score(self, ids: Tensor) -> dict[str, float]:
        model, probe = self.module("model"), self.module("probe")
        return cloze_scores(model, probe, ids, self.T, self.context, self.eval_rows, self.device)

    def evaluate(self, split: str) -> dict[str, float]:
        ids = getattr(self.data, split)
        if split == "val" and self.val_epoch:
            ids = ids[: max(self.val_epoch, 2 * self.context + 1)]
        s = self._score(ids)
        return {
            "cloze_loss": s["loss"],
            "cloze_accuracy": s["accuracy"],
            "left_only_accuracy": s["left_only_accuracy"],
        }

    def test(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for split in ("val", "test"):
            s = self._score(getattr(self.data, split))
            out.update(
                {
                    f"{split}_cloze_accuracy": s["accuracy"],
                    f"{split}_cloze_perplexity": s["perplexity"],
                    f"{split}_cloze_loss": s["loss"],
                    f"{split}_left_only_accuracy": s["left_only_accuracy"],
                    f"{split}_left_only_loss": s["left_only_loss"],
                }
            )
        params = sum(p.numel() for p in self.module("model").parameters())  # the probe apart
        return {**out, **self.data.stats, "parameters": params}
