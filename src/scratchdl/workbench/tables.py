"""Summary tables of stored runs: mean +- std over seeds per config, as Markdown, LaTeX or CSV.

Runs group by their canonical resolved config without the seed (NaN equals NaN), one result
per seed (the latest completed), so n counts seeds, not runs.

LaTeX uses booktabs and sets the best mean in bold (highest, or lowest for loss-like metrics).
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from scratchdl.config import Config, flatten
from scratchdl.errors import UserError
from scratchdl.metrics.stats import format_mean_std
from scratchdl.store import canonical, differing_keys, lower_is_better

FORMATS = ("md", "latex", "csv")


def _shipped(recipe: str) -> Config | None:
    """The recipe as shipped (resolved from its recipe file), or None for a recipe that is not
    shipped (a .toml of the user's)."""
    from scratchdl.recipes import list_recipes, load_recipe

    if recipe not in list_recipes():
        return None
    try:
        return load_recipe(recipe)
    except UserError:
        return None


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ",".join(_show(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _label(cfg: Config, keys: list[str]) -> str:
    flat = flatten(cfg)
    return ", ".join(f"{k}={_show(flat[k]) if k in flat else '(unset)'}" for k in keys)


def _latest(members: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One run per seed: the latest completed one (by end time)."""
    per_seed: dict[Any, dict[str, Any]] = {}
    for run in sorted(members, key=lambda r: r.get("ended_at") or r.get("started_at") or ""):
        per_seed[run.get("seed")] = run
    return [per_seed[seed] for seed in sorted(per_seed, key=str)]


def summarize(
    runs: list[dict[str, Any]], shipped: Callable[[str], Config | None] = _shipped
) -> list[dict[str, Any]]:
    """Completed runs -> one row per (resolved config without the seed, headline metric).

    n is the number of distinct seeds; each seed counts once, with its latest completed run,
    so re-running a seed never inflates n or shrinks the std. std is the sample std (ddof=1).
    A row's variant names the keys where its config differs from the recipe as shipped
    (`shipped(recipe)`), '' for the recipe as shipped; for a recipe that is not shipped, the
    keys that differ between its rows.
    """
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        value = run.get("headline_value")
        if run.get("status") == "completed" and value is not None and not math.isnan(value):
            setting = canonical(run.get("config") or {}, without_seed=True)
            groups[(run["recipe"], run["headline_metric"], setting)].append(run)
    by_recipe: dict[tuple[str, str], list[str]] = defaultdict(list)
    for recipe, metric, setting in groups:
        by_recipe[(recipe, metric)].append(setting)
    rows = []
    for (recipe, metric), settings in sorted(by_recipe.items()):
        configs = {k: groups[(recipe, metric, k)][0].get("config") or {} for k in settings}
        base = shipped(recipe)
        if base is None:  # label by what differs between this recipe's own settings
            first = configs[settings[0]]
            keys = sorted({k for c in configs.values() for k in differing_keys(c, first)})
            labels = {k: _label(configs[k], keys) for k in settings}
        else:
            labels = {k: _label(configs[k], differing_keys(configs[k], base)) for k in settings}
        recipe_rows = []
        for setting in settings:
            members = _latest(groups[(recipe, metric, setting)])
            values = [m["headline_value"] for m in members]
            recipe_rows.append(
                {
                    "recipe": recipe,
                    "variant": labels[setting],
                    "metric": metric,
                    "n": len(values),
                    "mean": statistics.fmean(values),
                    "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                    "best": min(values) if lower_is_better(metric) else max(values),
                    "seeds": [m.get("seed") for m in members],
                    "run_ids": [m.get("id") for m in members],
                }
            )
        rows += sorted(recipe_rows, key=lambda r: (r["variant"] != "", r["variant"]))
    return rows


CAPTION = (
    "mean ± std over seeds: n = number of distinct seeds, each its latest completed run; "
    "std = sample standard deviation (ddof=1); one seed shows its value alone"
)


def _name(row: dict[str, Any]) -> str:
    return f"{row['recipe']} ({row['variant']})" if row.get("variant") else row["recipe"]


def _best_index(rows: list[dict[str, Any]]) -> set[int]:
    """Rows holding the best mean, per metric."""
    best: set[int] = set()
    for metric in {r["metric"] for r in rows}:
        idx = [i for i, r in enumerate(rows) if r["metric"] == metric]
        pick = min if lower_is_better(metric) else max
        top = pick(rows[i]["mean"] for i in idx)
        best |= {i for i in idx if rows[i]["mean"] == top}
    return best


def _cell(row: dict[str, Any]) -> str:
    return format_mean_std(row["mean"], row["std"], row["n"])


def to_markdown(rows: list[dict[str, Any]]) -> str:
    best = _best_index(rows)
    lines = ["| recipe | metric | seeds | mean ± std | best |", "|---|---|---|---|---|"]
    for i, r in enumerate(rows):
        cell = f"**{_cell(r)}**" if i in best else _cell(r)
        lines.append(f"| {_name(r)} | {r['metric']} | {r['n']} | {cell} | {r['best']:.4f} |")
    lines.append(f"\n{CAPTION}; in parentheses: the keys that differ from the recipe as shipped.")
    return "\n".join(lines) + "\n"


_TEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "_": r"\_",
    "%": r"\%",
    "&": r"\&",
    "#": r"\#",
    "$": r"\$",
    "{": r"\{",
    "}": r"\}",
}


def _tex(text: str) -> str:
    return "".join(_TEX_ESCAPES.get(c, c) for c in text)


def to_latex(rows: list[dict[str, Any]]) -> str:
    """A booktabs tabular (needs \\usepackage{booktabs}); best mean per metric in bold."""
    best = _best_index(rows)
    caption = _tex(CAPTION).replace("±", r"$\pm$")
    out = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{caption}.}}",
        r"\begin{tabular}{llrcc}",
        r"\toprule",
        r"Recipe & Metric & Seeds & Mean $\pm$ std & Best \\",
        r"\midrule",
    ]
    for i, r in enumerate(rows):
        cell = f"{r['mean']:.4f} $\\pm$ {r['std']:.4f}" if r["n"] > 1 else f"{r['mean']:.4f}"
        if i in best:
            cell = rf"\textbf{{{cell}}}"
        out.append(
            f"{_tex(_name(r))} & {_tex(r['metric'])} & {r['n']} & {cell} & {r['best']:.4f} \\\\"
        )
    out += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(out) + "\n"


def to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["recipe", "variant", "metric", "n", "mean", "std", "best", "seeds"])
    for r in rows:
        writer.writerow(
            [
                r["recipe"],
                r.get("variant", ""),
                r["metric"],
                r["n"],
                repr(r["mean"]),
                repr(r["std"]),
                repr(r["best"]),
                " ".join(map(str, r["seeds"])),
            ]
        )
    return buf.getvalue()


def render(rows: list[dict[str, Any]], fmt: str) -> str:
    if fmt not in FORMATS:
        raise UserError(f"unknown table format {fmt!r} (allowed: {', '.join(FORMATS)})")
    return {"md": to_markdown, "latex": to_latex, "csv": to_csv}[fmt](rows)
