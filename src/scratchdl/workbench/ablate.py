"""`scratchdl ablate`: a recipe against a grid of variants, with the change from the base recipe.

Each `--vary key=v1,v2,...` is one axis; the variants are the cartesian product of all axes,
and the unmodified recipe is always the first (reference) row. Every (variant, seed) config is
resolved before anything trains, so a typo costs nothing, and stored runs of an identical
config are reused, so a repeated or interrupted ablation trains only what is missing.
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import Any

from scratchdl.config import Config, format_value, get_dotted
from scratchdl.errors import UserError
from scratchdl.metrics.stats import format_mean_std, mean_std
from scratchdl.plots.ablate import ablate_chart
from scratchdl.recipes import load_recipe
from scratchdl.store import RunStore, lower_is_better, runs_root
from scratchdl.workbench.jobs import run_all

_CLOSING = {"[": "]", "(": ")", "{": "}"}


def split_values(text: str) -> list[str]:
    """'1,[64,32],"a,b"' -> ['1', '[64,32]', '"a,b"']: commas split only outside brackets/quotes."""
    parts, current, stack, quote = [], [], [], None
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in _CLOSING:
            stack.append(_CLOSING[char])
        elif char in _CLOSING.values():
            if not stack or stack.pop() != char:
                raise UserError(f"unbalanced {char!r} in {text!r}: check the brackets")
        elif char == "," and not stack:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    if stack or quote:
        raise UserError(f"unclosed {stack[-1] if stack else quote!r} in {text!r}")
    parts.append("".join(current).strip())
    return parts


def parse_vary(item: str) -> tuple[str, list[str]]:
    """'model.hidden=[32],[64,32]' -> ('model.hidden', ['[32]', '[64,32]'])."""
    key, sep, rest = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UserError(f"--vary expects key=v1,v2,... (e.g. optimizer.lr=0.1,0.01), got {item!r}")
    values = split_values(rest) if rest.strip() else []
    if not values or any(v == "" for v in values):
        raise UserError(f"--vary {key}: expected one or more comma-separated values, got {rest!r}")
    return key, values






def ablate(
    recipe: str,
    vary: list[str],
    *,
    seeds: int = 1,
    epochs: int | None = None,
    metric: str | None = None,
    overrides: list[str] | None = None,
    out: str | Path | None = None,
    jobs: int = 1,
    log=print,
) -> dict[str, Any]:
    """Train the base recipe and every variant over `seeds` seeds; table, JSON and chart.

    Returns {'metric', 'rows', 'table', 'trained', 'out', 'charts', 'chart_kind'}. rows[0] is the
    base; each row has variant, overrides, settings (resolved values of the varied keys), is_base,
    n, mean, std, values (one per seed) and change (mean - base mean).
    """
    if not vary:
        raise UserError("ablate needs at least one --vary key=v1,v2,... (the grid is empty)")
    if seeds < 1:
        raise UserError(f"--seeds must be >= 1, got {seeds}")
    axes = [parse_vary(item) for item in vary]
    keys = [key for key, _ in axes]
    for key in keys:
        if keys.count(key) > 1:
            raise UserError(f"--vary {key} is given twice: put all its values in one --vary")
    if "train.seed" in keys:
        raise UserError("--vary train.seed: use --seeds N to repeat every variant over seeds")
    # --epochs goes first so that a varied train.epochs still wins
    common = [*(overrides or []), *([f"train.epochs={epochs}"] if epochs is not None else [])]
    variants: list[list[str]] = [[]]  # the base recipe, then the grid
    variants += [
        [f"{k}={v}" for k, v in zip(keys, combo, strict=True)]
        for combo in itertools.product(*(values for _, values in axes))
    ]
    # resolve everything first: an unknown key or bad value fails before any training
    configs: list[list[Config]] = [
        [load_recipe(recipe, [*common, *variant, f"train.seed={seed}"]) for seed in range(seeds)]
        for variant in variants
    ]
    base = configs[0][0]
    m = metric or base["target"]["metric"]
    store = RunStore()
    labels = [
        variant_label(keys, per_seed[0], is_base=not v)
        for v, per_seed in zip(variants, configs, strict=True)
    ]
    flat = [(v, seed) for v in range(len(variants)) for seed in range(seeds)]
    values_of: list[list[float]] = [[] for _ in variants]

    def record(i: int, outcome: tuple[str, dict, bool]) -> None:
        (v, seed), (run_id, final, fresh) = flat[i], outcome
        if m not in final:
            have = ", ".join(sorted(final))
            raise UserError(f"{labels[v]}: runs have no metric {m!r} (have {have}); pick --metric")
        values_of[v].append(float(final[m]))
        verb = "trained" if fresh else "reused"
        log(f"{labels[v]} seed {seed}: {m} {values_of[v][-1]:.4f} ({verb} {run_id})")

    outcomes = run_all(store, [configs[v][seed] for v, seed in flat], jobs=jobs, on_result=record)
    trained = sum(fresh for _, _, fresh in outcomes)
    rows = []
    for variant, per_seed, label, values in zip(variants, configs, labels, values_of, strict=True):
        mean, std = mean_std(values)
        rows.append(
            {
                "variant": label,
                "overrides": variant,
                "settings": {k: get_dotted(per_seed[0], k) for k in keys},
                "is_base": not variant,
                "n": len(values),
                "mean": mean,
                "std": std,
                "values": values,
            }
        )
    for row in rows:
        row["change"] = row["mean"] - rows[0]["mean"]
    out_dir = Path(out) if out else runs_root() / f"ablate-{time.strftime('%Y%m%d-%H%M%S')}"
    out_dir.mkdir(parents=True, exist_ok=True)
    table = format_table(rows, m, base["recipe"])
    (out_dir / "ablate.md").write_text(table)
    (out_dir / "ablate.json").write_text(
        json.dumps({"recipe": base["recipe"], "metric": m, "seeds": seeds, "rows": rows}, indent=1)
    )
    charts, chart_kind = ablate_chart(rows, keys, m, seeds, base["recipe"], out_dir / "ablate")
    return {
        "metric": m,
        "rows": rows,
        "table": table,
        "trained": trained,
        "out": str(out_dir),
        "charts": [str(p) for p in charts],
        "chart_kind": chart_kind,
    }


def variant_label(keys: list[str], cfg: Config, *, is_base: bool) -> str:
    """'optimizer.lr=0.1, model.hidden=[64]'; the base row shows the recipe's own values."""
    text = ", ".join(f"{k}={format_value(get_dotted(cfg, k))}" for k in keys)
    return f"base ({text})" if is_base else text


def format_table(rows: list[dict[str, Any]], metric: str, recipe: str) -> str:
    better = "lower" if lower_is_better(metric) else "higher"
    lines = [
        f"| variant | seeds | {metric} mean ± std | change vs base |",
        "|---|---|---|---|",
    ]
    for r in rows:
        change = "-" if r["is_base"] else f"{r['change']:+.4f}"
        cell = format_mean_std(r["mean"], r["std"], r["n"])
        lines.append(f"| {r['variant']} | {r['n']} | {cell} | {change} |")
    lines.append(
        f"\nAblation of {recipe}; {better} is better; change = variant mean - base mean; "
        "std is the sample std over seeds (the mean alone with one seed)."
    )
    return "\n".join(lines) + "\n"






