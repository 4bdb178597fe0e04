"""The "ngram-lm" task: interpolated Kneser-Ney n-gram models (scratchdl.models.text.ngram)
fitted on the training split, one per candidate (ngram.orders x ngram.discounts; discount 0 =
estimated per order from counts of counts); the candidate with the lowest val perplexity is
the model, and its test perplexity is reported. sample.txt: the continuation of
generate.prefix by greedy decoding, sampling and beam search.

There is no optimizer: the whole search is the single step of the single epoch. The
checkpoint keeps the choice (order, discount) and every candidate's val perplexity, so a
resumed run refits only the chosen model.
"""

from __future__ import annotations

import math
import time
from typing import Any

from scratchdl.errors import UserError
from scratchdl.models.text.ngram import NGramLM
from scratchdl.tasks import register_task
from scratchdl.tasks.text._lm_eval import (
    GENERATE_DEFAULTS,
    generation_prefix,
    ngram_step,
    write_samples,
)
from scratchdl.text.lm_data import CORPUS_DEFAULTS, _need_tokens, _positive_int, load_lm_data
from scratchdl.train import distributed as dist
from scratchdl.train.task import Task


def _candidate_name(order: int, discount: float) -> str:
    # named apart from val_*: one point per candidate, not a curve to plot
    return f"candidate_n{order}_d{discount:g}" if discount else f"candidate_n{order}_dauto"


@register_task("ngram-lm")
class NGramTask(Task):
    defaults = {
        "data": dict(CORPUS_DEFAULTS),
        "ngram": {
            "orders": [3, 4, 5, 6, 7, 8, 9],  # candidate n
            "discounts": [0.0],  # candidate Kneser-Ney discounts in (0, 1]; 0 = estimated
        },
        "generate": dict(GENERATE_DEFAULTS),
    }
    module_names = ()
    manual_optimization = True  # no autograd: the "step" counts n-grams
    supports_amp = False

    model_kinds = ("ngram",)

    def setup(self) -> None:
        cfg, ncfg = self.cfg, self.cfg["ngram"]
        self.orders = [_positive_int(n, "ngram.orders entries") for n in ncfg["orders"]]
        self.discounts = [float(d) for d in ncfg["discounts"]]
        if not self.orders or not self.discounts or not all(0 <= d <= 1 for d in self.discounts):
            raise UserError(
                f"ngram.orders must be a non-empty list of ints and ngram.discounts a non-empty "
                f"list of numbers in [0, 1] (0 = estimated), got {self.orders!r} and "
                f"{self.discounts!r}"
            )
        self.data = load_lm_data(cfg["data"])
        if dist.is_main_process():
            self.data.vocab.save(self.run.run_dir / "vocab.json")
        self.prefix, self.prefix_note = generation_prefix(self.data, cfg["generate"]["prefix"])
        for split in ("val", "test"):
            _need_tokens(
                getattr(self.data, split), 1, split, "raise data.val_fraction/test_fraction"
            )
        self.best: NGramLM | None = None
        self.choice: dict[str, Any] = {}  # order, discount, fit_seconds, candidates

    def configure_optimizers(self) -> dict[str, Any]:
        return {}

    def steps_per_epoch(self) -> int:
        return 1

    def train_batches(self, epoch: int):
        return iter([None])

    def batch_size(self, batch: Any) -> tuple[int, int]:
        n = len(self.data.train)
        return n, n  # the step reads every training token once per candidate order

    def _fit(self, order: int, discount: float) -> NGramLM:
        return NGramLM(order, "kn", discount=discount or None).fit(
            self.data.train, len(self.data.vocab)
        )

    def training_step(self, batch: Any, step: int) -> dict[str, Any]:
        """Fit every candidate, keep the one with the lowest val perplexity."""
        best, best_ppl, candidates, fit_time = None, math.inf, {}, {}
        choice: dict[str, Any] = {}
        for order in self.orders:
            t0 = time.perf_counter()
            model = self._fit(order, 0.0)
            fit_time[order] = time.perf_counter() - t0
            counts = model.to_dict()
            for d in self.discounts:  # a new discount only rebuilds the tables, no recount
                cand = model if d == 0 else NGramLM.from_dict({**counts, "discount": d})
                ppl = cand.perplexity(self.data.val)
                candidates[_candidate_name(order, d)] = ppl
                if ppl < best_ppl:
                    best, best_ppl = cand, ppl
                    choice.update(order=order, discount=d)
            if not self.run.quiet:
                print(f"order {order}: best val perplexity so far {best_ppl:.4f}")
        self.best = best
        self.choice = {**choice, "fit_seconds": fit_time[choice["order"]], **candidates}
        return {}

    def _model(self) -> NGramLM:
        if self.best is None:  # resumed after the search: refit the chosen model only
            self.best = self._fit(int(self.choice["order"]), float(self.choice["discount"]))
        return self.best

    def evaluate(self, split: str) -> dict[str, float]:
        return {"perplexity": self._model().perplexity(getattr(self.data, split))}

    def test(self) -> dict[str, Any]:
        best = self._model()
        if dist.is_main_process():
            write_samples(
                self.run.run_dir,
                self.data,
                ngram_step(best),
                self.prefix,
                self.cfg["generate"],
                note=self.prefix_note,
            )
        test_nll = -best.log_prob_sequence(self.data.test) / len(self.data.test)
        return {
            **self.choice,
            "test_perplexity": math.exp(test_nll),
            "test_loss": test_nll,
            "top_discount": best.discounts[-1],  # D of the highest order, as used
            **self.data.stats,
        }

    def state_dict(self) -> dict[str, Any]:
        return {"choice": dict(self.choice)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.choice = dict(state["choice"])
        self.best = None
