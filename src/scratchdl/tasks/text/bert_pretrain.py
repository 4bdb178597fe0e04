"""The "bert-pretrain" task: a small BERT trained from scratch with MLM + NSP on offline prose.

Data (scratchdl.text.bert_pairs): sentence pairs of the corpus's train/val/test blocks, half
true next sentences, WordPiece-encoded with MiniLM's vocabulary compacted to the training
pieces. Each training batch is masked afresh (the 80/10/10 rule, seeded by train.seed and the
step, so a resumed run masks as the uninterrupted one); the held-out splits are masked once
with data.split_seed, so every epoch and every run is scored on the same targets.
Loss = MLM cross-entropy (mean over the masked tokens) + NSP cross-entropy (mean over pairs).
Metrics: mlm_loss, mlm_accuracy, nsp_loss, nsp_accuracy on train (per batch) and val/test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F

from scratchdl.data.loader import data_order_seed
from scratchdl.errors import UserError
from scratchdl.models import build_model
from scratchdl.models.text.bert import mask_tokens
from scratchdl.models.text.bert_heads import BertPretrain
from scratchdl.tasks import register_task
from scratchdl.text.bert_pairs import PairSet, PretrainData, load_pretrain_data
from scratchdl.train.task import Task

DEFAULTS: dict[str, Any] = {
    "data": {
        "dataset": "austen",  # a registered corpus or a UTF-8 text file
        "block_chars": 10_000,  # held-out val/test blocks of this many characters (split_corpus)
        "max_len": 64,  # [CLS] A [SEP] B [SEP] cut to this many pieces
        "mask_prob": 0.15,
        "split_seed": 0,  # pairs and held-out masks; fixed apart from train.seed
        "train_limit": 0,  # > 0: only the first N training pairs (quick tests)
        "batch_size": 128,
        "eval_batch_size": 256,
    },
    "target": {"metric": "test_mlm_loss"},
}

MASK_ID = 4


def maskable(ids: torch.Tensor) -> torch.Tensor:
    """Positions that may be MLM targets: real pieces, not [PAD]/[CLS]/[SEP]/[MASK]."""
    return (ids != 0) & (ids != 2) & (ids != 3) & (ids != 4)


@register_task("bert-pretrain")
class BertPretrainTask(Task):
    defaults = DEFAULTS
    model_kinds = ("bert",)

    @classmethod
    def check_config(cls, cfg: dict[str, Any]) -> None:
        d, m = cfg["data"], cfg["model"]
        if cfg["model"]["name"] != "bert":
            raise UserError("bert-pretrain trains model.name = 'bert' from scratch")
        if not 0 < d["mask_prob"] < 1:
            raise UserError(f"data.mask_prob must be in (0, 1), got {d['mask_prob']}")
        if d["max_len"] < 5 or d["max_len"] > m["max_positions"]:
            raise UserError(
                f"data.max_len={d['max_len']} must be in 5..model.max_positions "
                f"({m['max_positions']}): raise model.max_positions or lower data.max_len"
            )
        if m["hidden"] % m["heads"]:
            raise UserError(f"model.hidden={m['hidden']} must be divisible by model.heads")

    def setup(self) -> None:
        from scratchdl.models.text.bert_weights import minilm_dir
        from scratchdl.text.corpora import load_corpus, split_corpus
        from scratchdl.text.tokens.wordpiece import WordPiece

        self.check_config(self.cfg)
        d = self.cfg["data"]
        wp = WordPiece.from_file(minilm_dir() / "vocab.txt")
        parts = split_corpus(load_corpus(d["dataset"]), block_chars=d["block_chars"])
        self.data: PretrainData = load_pretrain_data(
            parts, wp, d["max_len"], seed=d["split_seed"], train_limit=d["train_limit"]
        )
        (self.run.run_dir / "vocab.txt").write_text("\n".join(self.data.tokens) + "\n")
        options = {k: v for k, v in self.cfg["model"].items() if k != "name"}
        self.model = BertPretrain(build_model("bert", vocab_size=len(self.data.tokens), **options))
        g = torch.Generator().manual_seed(d["split_seed"] + 1)
        self.heldout = {name: self._masked(getattr(self.data, name), g) for name in ("val", "test")}

    def _masked(self, part: PairSet, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return mask_tokens(
            part.ids, maskable(part.ids), MASK_ID, len(self.data.tokens),
            self.cfg["data"]["mask_prob"], g,
        )  # fmt: skip

    # -- training ------------------------------------------------------------------------
    def steps_per_epoch(self) -> int:
        return -(-len(self.data.train) // self.cfg["data"]["batch_size"])

    def train_batches(self, epoch: int) -> Iterator[dict[str, torch.Tensor]]:
        bs, seed = self.cfg["data"]["batch_size"], self.cfg["train"]["seed"]
        gen = torch.Generator().manual_seed(data_order_seed(seed) + epoch)
        order = torch.randperm(len(self.data.train), generator=gen)
        for k, i in enumerate(range(0, len(order), bs)):
            ids, segments, lengths, is_next = self.data.train.rows(order[i : i + bs])
            g = torch.Generator().manual_seed(seed * 1_000_003 + epoch * 100_003 + k)
            inputs, labels = mask_tokens(
                ids, maskable(ids), MASK_ID, len(self.data.tokens),
                self.cfg["data"]["mask_prob"], g,
            )  # fmt: skip
            yield {"ids": inputs, "segments": segments, "labels": labels, "is_next": is_next}

    def _scores(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        ids, labels = batch["ids"], batch["labels"]
        targets = labels != -100
        mlm, nsp = self.model(ids, batch["segments"], ids != 0, targets)
        gold = labels[targets]
        return {
            "mlm_loss": F.cross_entropy(mlm.float(), gold),
            "nsp_loss": F.cross_entropy(nsp.float(), batch["is_next"]),
            "mlm_correct": (mlm.argmax(-1) == gold).sum(),
            "mlm_count": torch.tensor(len(gold)),
            "nsp_correct": (nsp.argmax(-1) == batch["is_next"]).sum(),
        }

    def training_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, Any]:
        s = self._scores(batch)
        n = len(batch["is_next"])
        return {
            "loss": s["mlm_loss"] + s["nsp_loss"],
            "mlm_loss": s["mlm_loss"].detach(),
            "nsp_loss": s["nsp_loss"].detach(),
            "mlm_accuracy": s["mlm_correct"] / s["mlm_count"].clamp(min=1),
            "nsp_accuracy": s["nsp_correct"].float() / n,
        }

    # -- evaluation ----------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, split: str) -> dict[str, float]:
        part, (inputs, labels) = getattr(self.data, split), self.heldout[split]
        bs = self.cfg["data"]["eval_batch_size"]
        sums = {"mlm_loss": 0.0, "nsp_loss": 0.0, "mlm_correct": 0, "nsp_correct": 0}
        masked = 0
        for i in range(0, len(part), bs):
            t = int(part.lengths[i : i + bs].max())
            batch = {
                "ids": inputs[i : i + bs, :t],
                "segments": part.segments[i : i + bs, :t],
                "labels": labels[i : i + bs, :t],
                "is_next": part.is_next[i : i + bs],
            }
            batch = {k: v.to(self.device) for k, v in batch.items()}
            s = self._scores(batch)
            m, n = int(s["mlm_count"]), len(batch["is_next"])
            sums["mlm_loss"] += float(s["mlm_loss"]) * m
            sums["nsp_loss"] += float(s["nsp_loss"]) * n
            sums["mlm_correct"] += int(s["mlm_correct"])
            sums["nsp_correct"] += int(s["nsp_correct"])
            masked += m
        n = len(part)
        return {
            "mlm_loss": sums["mlm_loss"] / max(masked, 1),
            "mlm_accuracy": sums["mlm_correct"] / max(masked, 1),
            "nsp_loss": sums["nsp_loss"] / n,
            "nsp_accuracy": sums["nsp_correct"] / n,
        }

    def summary(self, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
        final = dict(results[""])
        final.update(self.data.stats)
        return final
