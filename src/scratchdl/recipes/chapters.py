"""The curriculum's chapters, in order, and the shipped results of the recipes in them.

Each recipe names its chapter (`chapter = "cnn"`) and carries its measured result in a
`[result]` table beside `[target]`. Both are plain data, never training settings: they are
read from the recipe file apart from the config (`scratchdl.recipes.recipe_data`), so
`--set` cannot reach them and a run's config.toml does not hold them. `scratchdl list`
groups recipes by chapter; `scratchdl list --format md` renders README's results table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Chapter:
    slug: str
    title: str

    @property
    def page(self) -> str:
        """The chapter's page in the docs site (a path under docs/)."""
        return f"chapters/{self.slug}.md"


CHAPTERS: tuple[Chapter, ...] = (
    Chapter("knn-linear", "kNN and linear classifiers"),
    Chapter("optimization", "Optimization"),
    Chapter("backprop", "Neural networks and backprop by hand"),
    Chapter("cnn", "CNN building blocks"),
    Chapter("zoo", "The architecture zoo"),
    Chapter("training", "Training tricks"),
    Chapter("transfer", "Transfer learning"),
    Chapter("sequences", "Sequences and language models"),
    Chapter("seq2seq", "Seq2seq and beam search"),
    Chapter("attention", "Attention and Transformers"),
    Chapter("gpt", "GPT"),
    Chapter("bert", "Embeddings and BERT"),
    Chapter("detection", "Detection"),
    Chapter("segmentation", "Segmentation"),
    Chapter("style", "Style transfer"),
    Chapter("generative", "Generative models"),
    Chapter("understanding", "Understanding and adversarial examples"),
    Chapter("computation", "Computation and distributed training"),
    Chapter("workbench", "The research workbench"),
)
SLUGS = tuple(c.slug for c in CHAPTERS)

# how a headline metric reads in a results table ({v}: the value as recorded)
METRIC_LABELS = {
    "test_accuracy": "acc {v}",
    "test_accuracy_finetune": "acc {v} (fine-tuned)",
    "test_class_accuracy": "class acc {v}",
    "test_cloze_accuracy": "cloze acc {v}",
    "test_analogy_accuracy": "analogy acc {v}",
    "test_perplexity": "ppl {v}",
    "test_bleu_beam": "BLEU {v} (beam)",
    "test_mse": "MSE {v}",
    "test_recon_mse": "MSE {v}",
    "test_class_error": "class err {v}",
    "test_map50": "mAP@0.5 {v}",
    "test_miou": "mIoU {v}",
    "test_style_loss": "style loss {v}",
    "test_loss": "{v} nats",
    "test_nll": "NLL {v} nats",
    "test_nll_k5000": "NLL {v} nats",
    "test_fd": "FD {v}",
    "test_mlm_loss": "MLM loss {v}",
}
UNDER_LOAD = "†"
FOOTNOTE = (
    f"{UNDER_LOAD} wall time measured while other work shared the 2-core machine: an upper "
    "bound. Wall times are `wall_seconds` of `--json` (training and evaluation)."
)


def ours(metric: str, value: float) -> str:
    """'acc 0.9016': the headline value as recorded (shortest repr, no rounding)."""
    shown = repr(value) if isinstance(value, float) else str(value)
    return METRIC_LABELS.get(metric, metric + " {v}").format(v=shown)


def wall_time(result: dict[str, Any]) -> str:
    seconds = result["wall_seconds"]
    text = f"{'~' if result.get('wall_approx') else ''}{seconds:g} s"
    return text + (UNDER_LOAD if result.get("under_load") else "")


def grouped(names: list[str], chapter_of: dict[str, str]) -> list[tuple[Chapter, list[str]]]:
    """Chapters in curriculum order with their recipes (alphabetical); empty ones kept."""
    return [(c, sorted(n for n in names if chapter_of.get(n) == c.slug)) for c in CHAPTERS]


def results_markdown(rows: list[dict[str, Any]]) -> str:
    """README's results table: one line per recipe, grouped by chapter.

    Each row: recipe, chapter, metric (target.metric) and result (the [result] table).
    """
    by_name = {r["recipe"]: r for r in rows}
    out = ["| recipe | what | published | ours | wall time |", "|---|---|---|---|---|"]
    for number, (chapter, names) in enumerate(grouped(list(by_name), _chapters(rows)), 1):
        if not names:
            continue
        out.append(f"| **{number}. {chapter.title}** | | | | |")
        for name in names:
            r = by_name[name]
            res = r["result"]
            cells = [f"`{name}`", res["what"], res["published"], ours(r["metric"], res["value"])]
            out.append("| " + " | ".join(cells + [wall_time(res)]) + " |")
    return "\n".join(out) + "\n\n" + FOOTNOTE


def _chapters(rows: list[dict[str, Any]]) -> dict[str, str]:
    return {r["recipe"]: r["chapter"] for r in rows}


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
