"""`scratchdl compare`: several recipes x several seeds, reusing stored runs.

A (recipe, seed, overrides) whose fully resolved config matches a completed run in the
store is not trained again, an interrupted one continues from its checkpoint, and a
concurrent compare waits for a run another one is training (see workbench/jobs.py), so
repeating a compare trains only what is missing.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from scratchdl.errors import UserError
from scratchdl.metrics.stats import format_mean_std, mean_std, paired_t_test
from scratchdl.plots.charts import bar_chart
from scratchdl.recipes import load_recipe
from scratchdl.store import RunStore, lower_is_better, runs_root
from scratchdl.workbench.jobs import ensure_run, find_completed, run_all  # noqa: F401


def compare(
    recipes: list[str],
    *,
    seeds: int = 3,
    epochs: int | None = None,
    metric: str | None = None,
    overrides: list[str] | None = None,
    out: str | Path | None = None,
    quiet: bool = True,
    jobs: int = 1,
    log=print,
) -> dict[str, Any]:
    """Train what is missing, then tabulate mean +- std and a paired t-test against recipes[0]."""
    if len(recipes) < 1 or seeds < 1:
        raise UserError("compare needs at least one recipe and --seeds >= 1")
    store = RunStore()
    configs = {}
    for name in recipes:  # resolve everything first: a typo fails before any training
        for seed in range(seeds):
            cfg = load_recipe(name, [*(overrides or []), f"train.seed={seed}"])
            if epochs is not None:
                cfg["train"]["epochs"] = epochs
            configs[(name, seed)] = cfg
    m = metric or configs[(recipes[0], 0)]["target"]["metric"]  # one metric for every recipe
    values: dict[str, list[float]] = {name: [] for name in recipes}
    keys = list(configs)

    def record(i: int, outcome: tuple[str, dict, bool]) -> None:
        (name, seed), (run_id, final, fresh) = keys[i], outcome
        if m not in final:
            raise UserError(f"{name}: runs have no metric {m!r} (have {', '.join(sorted(final))})")
        values[name].append(float(final[m]))
        log(f"{name} seed {seed}: {m} {final[m]:.4f} ({'trained' if fresh else 'reused'} {run_id})")

    outcomes = run_all(store, list(configs.values()), jobs=jobs, quiet=quiet, on_result=record)
    trained = sum(fresh for _, _, fresh in outcomes)
    # label rows by recipe name (a path to a .toml file shows as its stem)
    labels = {name: configs[(name, 0)]["recipe"] for name in recipes}
    if len(set(labels.values())) < len(labels):
        labels = {name: name for name in recipes}
    rows = []
    for name in recipes:
        mean, std = mean_std(values[name])
        test = paired_t_test(values[recipes[0]], values[name]) if name != recipes[0] else None
        rows.append(
            {
                "recipe": labels[name],
                "n": len(values[name]),
                "mean": mean,
                "std": std,
                "values": values[name],
                "diff": test.mean_diff if test else None,
                "p": test.p if test else None,
            }
        )
    _rank(rows, m)
    out_dir = Path(out) if out else runs_root() / f"compare-{time.strftime('%Y%m%d-%H%M%S')}"
    out_dir.mkdir(parents=True, exist_ok=True)
    table = format_table(rows, m)
    (out_dir / "compare.md").write_text(table)
    (out_dir / "compare.json").write_text(json.dumps({"metric": m, "rows": rows}, indent=1))
    charts = bar_chart(
        [r["recipe"] for r in rows],
        [r["mean"] for r in rows],
        [r["std"] for r in rows],
        ylabel=m.replace("_", " "),
        title=f"{m.replace('_', ' ')}: mean ± std over {seeds} seed(s)",
        path_stem=out_dir / "compare",
    )
    return {
        "metric": m,
        "rows": rows,
        "table": table,
        "trained": trained,
        "out": str(out_dir),
        "charts": [str(p) for p in charts],
    }


def _rank(rows: list[dict[str, Any]], metric: str) -> None:
    """rows[i]["rank"]: 1 for the best mean (lowest for perplexity, loss, error ...: see
    store.lower_is_better; else highest), ties share a rank, NaN means rank last."""
    sign = 1.0 if lower_is_better(metric) else -1.0

    def key(r: dict[str, Any]) -> float:
        return math.inf if math.isnan(r["mean"]) else sign * r["mean"]

    for r in rows:
        r["rank"] = 1 + sum(key(o) < key(r) for o in rows)


def format_table(rows: list[dict[str, Any]], metric: str) -> str:
    better = "lower" if lower_is_better(metric) else "higher"
    lines = [
        f"| recipe | seeds | {metric} mean ± std | diff vs {rows[0]['recipe']} | p (paired t) |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        diff = "-" if r["diff"] is None else f"{r['diff']:+.4f}"
        p = "-" if r["p"] is None or math.isnan(r["p"]) else f"{r['p']:.3g}"
        cell = format_mean_std(r["mean"], r["std"], r["n"])
        lines.append(f"| {r['recipe']} | {r['n']} | {cell} | {diff} | {p} |")
    lines.append(
        f"\n{better} is better; p: two-sided paired t-test over matched seeds (needs >= 2 seeds)."
    )
    return "\n".join(lines) + "\n"
