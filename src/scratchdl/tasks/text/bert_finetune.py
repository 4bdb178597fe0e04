"""Fine-tuning pretrained BERT (MiniLM-L6) on the engine: "bert-classify" and "bert-tag".

bert-classify: sentence classification from the pooled [CLS] vector (BertSequenceClassifier);
data.dataset "movie-reviews" (load_movie_reviews: the split the BiLSTM/TextCNN recipes use).
Metrics: loss, accuracy. Sentences longer than data.max_len pieces are truncated (counted in
the summary as truncated_train/val/test).

bert-tag: one tag per word (BertTokenTagger), the label on each word's first piece; data.dataset
"brown-pos" (load_brown_pos: universal tags, split by document). Accuracy is over every word of
the split, so words cut off by data.max_len count as errors. Beside it: the most-frequent-tag
baseline (each word's commonest tag in the same training sentences, lower-cased; unseen words
get the commonest tag overall) on the same words.

data.train_limit > 0 trains on a random N of the training examples only (a CPU budget; the
recipes say when they use it); data.val_limit > 0 scores a random N of val each epoch. Both
subsets are drawn with data.split_seed, so every run uses the same ones. (Not the first N:
the sets are stored in id or document order, and movie-reviews' first ids are one class.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F

from scratchdl.data.loader import data_order_seed
from scratchdl.errors import UserError
from scratchdl.models import build_model
from scratchdl.models.text.bert_heads import BertSequenceClassifier, BertTokenTagger
from scratchdl.tasks import register_task
from scratchdl.text.bert_inputs import check_labels, encode_sentences, encode_tagged, pad
from scratchdl.train.task import Task

DATA = {
    "split_seed": 0,
    "max_len": 64,  # pieces per example, [CLS] and [SEP] included
    "train_limit": 0,
    "val_limit": 0,
    "batch_size": 32,
    "eval_batch_size": 128,
}
Batch = dict[str, torch.Tensor]


class _Finetune(Task):
    model_kinds = ("bert",)
    datasets: tuple[str, ...] = ()

    @classmethod
    def check_config(cls, cfg: dict[str, Any]) -> None:
        d = cfg["data"]
        if cfg["model"]["name"] != "minilm-l6":
            raise UserError(
                f"{cls.name} fine-tunes model.name = 'minilm-l6' (pretrained BERT with its "
                f"vocabulary), got {cfg['model']['name']!r}"
            )
        if d["dataset"] not in cls.datasets:
            raise UserError(
                f"data.dataset: expected one of {', '.join(cls.datasets)}, got {d['dataset']!r}"
            )
        if not 3 <= d["max_len"] <= 512:
            raise UserError(
                f"data.max_len={d['max_len']} must be in 3..512 (MiniLM's position table)"
            )

    def _encoder(self):
        from scratchdl.models.text.bert_weights import minilm_dir
        from scratchdl.text.tokens.wordpiece import WordPiece

        self.wp = WordPiece.from_file(minilm_dir() / "vocab.txt")
        m = self.cfg["model"]
        return build_model("minilm-l6", dropout=m["dropout"], use_sdpa=m["use_sdpa"])

    def _subset(self, n: int, split: str) -> list[int]:
        """All of test; a seeded random data.<split>_limit of train or val, in order."""
        limit = self.cfg["data"].get(f"{split}_limit", 0)
        if split == "test" or limit <= 0 or limit >= n:
            return list(range(n))
        seed = self.cfg["data"]["split_seed"] * 2 + (split == "val")
        pick = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:limit]
        return sorted(pick.tolist())

    # -- training ------------------------------------------------------------------------
    def steps_per_epoch(self) -> int:
        return -(-len(self.rows["train"]) // self.cfg["data"]["batch_size"])

    def train_batches(self, epoch: int) -> Iterator[Batch]:
        """The epoch's seeded permutation, bucketed: each run of 50 batches' examples is sorted
        by length before it is cut into batches, and the batches are shuffled, so a batch pads
        to about its own length (half the padding of random batches on Brown)."""
        bs = self.cfg["data"]["batch_size"]
        gen = torch.Generator().manual_seed(data_order_seed(self.cfg["train"]["seed"]) + epoch)
        rows = self.rows["train"]
        order = torch.randperm(len(rows), generator=gen).tolist()
        batches = []
        for start in range(0, len(order), 50 * bs):
            chunk = sorted(order[start : start + 50 * bs], key=lambda i: len(rows[i]))
            batches += [chunk[i : i + bs] for i in range(0, len(chunk), bs)]
        for k in torch.randperm(len(batches), generator=gen).tolist():
            yield self._batch("train", batches[k])

    def _batch(self, split: str, idx: list[int]) -> Batch:
        ids = pad([self.rows[split][i] for i in idx])
        return {"ids": ids, "y": self._targets(split, idx, ids.shape[1])}

    def training_step(self, batch: Batch, step: int) -> dict[str, Any]:
        loss, correct, count = self._scores(batch)
        return {"loss": loss, "accuracy": correct.float() / count.clamp(min=1)}

    # -- evaluation ----------------------------------------------------------------------
    def _n(self, split: str) -> int:
        """Examples of `split` to score (val may already be a data.val_limit subset)."""
        return len(self.rows[split])

    @torch.no_grad()
    def _correct(self, split: str, n: int) -> tuple[float, int, int]:
        bs, loss, correct, count = self.cfg["data"]["eval_batch_size"], 0.0, 0, 0
        by_length = sorted(range(n), key=lambda i: len(self.rows[split][i]))  # less padding
        for i in range(0, n, bs):
            batch = self._batch(split, by_length[i : i + bs])
            batch = {k: v.to(self.device) for k, v in batch.items()}
            b_loss, b_correct, b_count = self._scores(batch)
            loss += float(b_loss) * int(b_count)
            correct += int(b_correct)
            count += int(b_count)
        return loss, correct, count


@register_task("bert-classify")
class BertClassify(_Finetune):
    defaults = {"data": {"dataset": "movie-reviews", **DATA}}
    datasets = ("movie-reviews",)

    def setup(self) -> None:
        from scratchdl.text.corpora.movie_reviews import load_movie_reviews

        self.check_config(self.cfg)
        d = self.cfg["data"]
        data = load_movie_reviews(seed=d["split_seed"])
        self.classes = data.classes
        bert = self._encoder()
        self.rows, self.labels, self.cut = {}, {}, {}
        for split in ("train", "val", "test"):
            part = getattr(data, split)
            keep = self._subset(len(part), split)
            labels = [part.labels[i] for i in keep]
            check_labels(labels, len(self.classes), f"{split} labels")
            self.rows[split], self.cut[split] = encode_sentences(
                [part.texts[i] for i in keep], self.wp, d["max_len"]
            )
            self.labels[split] = torch.tensor(labels)
        self.model = BertSequenceClassifier(bert, len(self.classes))

    def _targets(self, split: str, idx: list[int], t: int) -> torch.Tensor:
        return self.labels[split][idx]

    def _scores(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logits = self.model(batch["ids"], None, batch["ids"] != 0).float()
        y = batch["y"]
        return F.cross_entropy(logits, y), (logits.argmax(1) == y).sum(), torch.tensor(len(y))

    def evaluate(self, split: str) -> dict[str, float]:
        loss, correct, count = self._correct(split, self._n(split))
        return {"loss": loss / max(count, 1), "accuracy": correct / max(count, 1)}

    def summary(self, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
        final = dict(results[""])
        final.update({f"truncated_{s}": c for s, c in self.cut.items()})
        final["train_examples"] = len(self.rows["train"])
        return final


@register_task("bert-tag")
class BertTag(_Finetune):
    defaults = {"data": {"dataset": "brown-pos", **DATA}}
    datasets = ("brown-pos",)

    def setup(self) -> None:
        from scratchdl.text.corpora.brown import load_brown_pos

        self.check_config(self.cfg)
        d = self.cfg["data"]
        data = load_brown_pos(seed=d["split_seed"])
        self.tagset = data.tagset
        bert = self._encoder()
        self.rows, self.labels, self.cut, self.words = {}, {}, {}, {}
        for split in ("train", "val", "test"):
            part = getattr(data, split)
            keep = self._subset(len(part), split)
            words, tags = [part.words[i] for i in keep], [part.tags[i] for i in keep]
            self.rows[split], self.labels[split], self.cut[split] = encode_tagged(
                words, tags, self.tagset, self.wp, d["max_len"]
            )
            self.words[split] = (words, tags)
        self.model = BertTokenTagger(bert, len(self.tagset))

    def _targets(self, split: str, idx: list[int], t: int) -> torch.Tensor:
        return pad([self.labels[split][i] for i in idx], -100)[:, :t]

    def _scores(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logits = self.model(batch["ids"], None, batch["ids"] != 0).float()
        y = batch["y"]
        keep = y != -100
        loss = F.cross_entropy(logits[keep], y[keep])
        return loss, (logits.argmax(-1)[keep] == y[keep]).sum(), keep.sum()

    def evaluate(self, split: str) -> dict[str, float]:
        n = self._n(split)
        loss, correct, count = self._correct(split, n)
        words = sum(len(w) for w in self.words[split][0][:n])  # cut-off words count as errors
        return {"loss": loss / max(count, 1), "accuracy": correct / max(words, 1)}

    def test(self) -> dict[str, float]:
        out = {f"test_{k}": v for k, v in self.evaluate("test").items()}
        out["test_baseline_accuracy"] = self._baseline("test")
        return out

    def _baseline(self, split: str) -> float:
        """Most-frequent-tag accuracy, fitted on the training sentences this run used."""
        counts: dict[str, Counter] = {}
        for ws, ts in zip(*self.words["train"], strict=True):
            for w, t in zip(ws, ts, strict=True):
                counts.setdefault(w.lower(), Counter())[t] += 1
        overall = Counter(t for ts in self.words["train"][1] for t in ts).most_common(1)[0][0]
        best = {w: c.most_common(1)[0][0] for w, c in counts.items()}
        words, tags = self.words[split]
        pairs = [p for ws, ts in zip(words, tags, strict=True) for p in zip(ws, ts, strict=True)]
        return sum(best.get(w.lower(), overall) == t for w, t in pairs) / max(len(pairs), 1)

    def summary(self, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
        final = dict(results[""])
        final.update({f"words_cut_{s}": c for s, c in self.cut.items()})
        final["train_sentences"] = len(self.rows["train"])
        return final
