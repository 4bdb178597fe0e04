"""`scratchdl study batch-size`: one recipe over batch sizes, with and without the linear
learning-rate scaling rule and warm-up of Goyal et al. (2017).

For every batch size b two settings train: "fixed lr" keeps the recipe's learning rate and
schedule (the naive way to use a bigger batch: fewer steps at the same lr), and "linear
scaling + warm-up" uses lr = recipe lr x b / b0 (b0: the recipe's own batch size) with a
linear warm-up of `warmup_epochs` in front of the recipe's schedule. Same epochs for all, so
a bigger batch takes fewer steps: the trade-off the notes' multi-GPU chapter describes.
Stored runs of identical configs are reused, as in compare and ablate.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from scratchdl.config import Config
from scratchdl.errors import UserError
from scratchdl.metrics.stats import format_mean_std, mean_std
from scratchdl.plots.batch_size import study_chart
from scratchdl.recipes import load_recipe
from scratchdl.store import RunStore, lower_is_better, runs_root
from scratchdl.workbench.jobs import run_all

SETTINGS = ("fixed lr", "linear scaling + warm-up")


def parse_batches(text: str) -> list[int]:
    """'64,256,1024' -> [64, 256, 1024]; each an integer >= 1, no repeats."""
    try:
        batches = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"--batches expects integers like 64,256,1024, got {text!r}") from None
    if not batches or min(batches) < 1 or len(set(batches)) != len(batches):
        raise UserError(f"--batches expects distinct integers >= 1 like 64,256,1024, got {text!r}")
    return sorted(batches)


def study_configs(
    recipe: str, batch: int, seeds: int, warmup_epochs: float, common: list[str]
) -> dict[str, list[Config]]:
    """The configs of one batch size: {setting: [config of each seed]}."""
    base = load_recipe(recipe, common)
    b0, lr0 = base["data"]["batch_size"], base["optimizer"]["lr"]
    warmup = max(float(base["schedule"]["warmup_epochs"]), warmup_epochs)
    sets = {
        SETTINGS[0]: [f"data.batch_size={batch}"],
        SETTINGS[1]: [
            f"data.batch_size={batch}",
            f"optimizer.lr={lr0 * batch / b0!r}",
            f"schedule.warmup_epochs={warmup!r}",
            "schedule.warmup_steps=0",
        ],
    }
    return {
        name: [load_recipe(recipe, [*common, *extra, f"train.seed={s}"]) for s in range(seeds)]
        for name, extra in sets.items()
    }


def batch_size_study(
    recipe: str,
    batches: list[int],
    *,
    seeds: int = 1,
    epochs: int | None = None,
    warmup_epochs: float = 2.0,
    overrides: list[str] | None = None,
    out: str | Path | None = None,
    jobs: int = 1,
    log=print,
) -> dict[str, Any]:
    """Train every (batch size, setting, seed); table, JSON and chart. Returns {'metric',
    'rows', 'table', 'trained', 'out', 'charts'}; a row per (batch, setting) with lr, n, mean,
    std, values and examples_per_s (mean over seeds)."""
    if seeds < 1:
        raise UserError(f"--seeds must be >= 1, got {seeds}")
    if warmup_epochs < 0:
        raise UserError(f"--warmup-epochs must be >= 0, got {warmup_epochs}")
    common = [*(overrides or []), *([f"train.epochs={epochs}"] if epochs is not None else [])]
    # resolve everything first: a bad key or value fails before anything trains
    plan = [
        (b, name, cfgs)
        for b in batches
        for name, cfgs in study_configs(recipe, b, seeds, warmup_epochs, common).items()
    ]
    metric = plan[0][2][0]["target"]["metric"]
    flat = [(i, cfg) for i, (_, _, cfgs) in enumerate(plan) for cfg in cfgs]
    results: list[list[tuple[float, float]]] = [[] for _ in plan]

    def record(k: int, outcome: tuple[str, dict, bool]) -> None:
        i, cfg = flat[k]
        run_id, final, fresh = outcome
        if metric not in final:
            raise UserError(f"runs of {recipe} have no metric {metric!r}")
        results[i].append((float(final[metric]), float(final.get("examples_per_s", 0.0))))
        b, name, _ = plan[i]
        verb = "trained" if fresh else "reused"
        log(
            f"batch {b}, {name}, seed {cfg['train']['seed']}: {metric} "
            f"{results[i][-1][0]:.4f} ({verb} {run_id})"
        )

    outcomes = run_all(RunStore(), [cfg for _, cfg in flat], jobs=jobs, on_result=record)
    rows = []
    for (b, name, cfgs), res in zip(plan, results, strict=True):
        values = [v for v, _ in res]
        mean, std = mean_std(values)
        rows.append(
            {
                "batch_size": b,
                "setting": name,
                "lr": cfgs[0]["optimizer"]["lr"],
                "warmup_epochs": cfgs[0]["schedule"]["warmup_epochs"],
                "n": len(values),
                "mean": mean,
                "std": std,
                "values": values,
                "examples_per_s": mean_std([s for _, s in res])[0],
            }
        )
    out_dir = Path(out) if out else runs_root() / f"batch-study-{time.strftime('%Y%m%d-%H%M%S')}"
    out_dir.mkdir(parents=True, exist_ok=True)
    recipe_name = plan[0][2][0]["recipe"]
    table = format_table(rows, metric, recipe_name)
    (out_dir / "batch_study.md").write_text(table)
    (out_dir / "batch_study.json").write_text(
        json.dumps(
            {"recipe": recipe_name, "metric": metric, "seeds": seeds, "rows": rows}, indent=1
        )
    )
    charts = study_chart(rows, metric, recipe_name, out_dir / "batch_study")
    return {
        "metric": metric,
        "rows": rows,
        "table": table,
        "out": str(out_dir),
        "trained": sum(fresh for _, _, fresh in outcomes),
        "charts": [str(p) for p in charts],
    }


def format_table(rows: list[dict[str, Any]], metric: str, recipe: str) -> str:
    better = "lower" if lower_is_better(metric) else "higher"
    lines = [
        f"| batch | setting | lr | warm-up epochs | seeds | {metric} mean ± std | examples/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cell = format_mean_std(r["mean"], r["std"], r["n"])
        lines.append(
            f"| {r['batch_size']} | {r['setting']} | {r['lr']:.4g} | {r['warmup_epochs']:g} | "
            f"{r['n']} | {cell} | {r['examples_per_s']:,.0f} |"
        )
    lines.append(
        f"\nBatch-size study of {recipe}; {better} is better; std is the sample std over seeds "
        "(the mean alone with one seed); examples/s is training throughput (the machine may be "
        "shared)."
    )
    return "\n".join(lines) + "\n"


