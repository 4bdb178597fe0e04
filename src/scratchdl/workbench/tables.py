"""Summary tables of stored runs: mean +- std over seeds per recipe, as Markdown, LaTeX or CSV.

LaTeX uses booktabs and sets the best mean in bold (highest, or lowest for loss-like metrics).
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from collections import defaultdict
from typing import Any

from scratchdl.config import flatten
from scratchdl.errors import UserError
from scratchdl.store import lower_is_better

FORMATS = ("md", "latex", "csv")


def _setting(run: dict[str, Any]) -> str:
    """The run's resolved config without its seed: runs that differ only by seed group."""
    flat = flatten(run.get("config") or {})
    flat.pop("train.seed", None)
    return json.dumps(flat, sort_keys=True)


def _variant_labels(settings: list[str]) -> list[str]:
    """Name each setting of one recipe by the keys where it differs from the first one."""
    if len(settings) < 2:
        return [""]
    flats = [json.loads(s) for s in settings]
    base = flats[0]
    labels = []
    for flat in flats:
        diff = [
            f"{k}={flat.get(k)}"
            for k in sorted(set(flat) | set(base))
            if flat.get(k) != base.get(k) and k != "train.device"
        ]
        labels.append(", ".join(diff) if diff else "base")
    return labels


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Completed runs -> one row per (recipe, setting, headline metric): n, mean, std, best.

    A setting is the resolved config without the seed, so mean +- std is over seeds of
    the same configuration; variants of a recipe (e.g. from an ablation) get their own
    rows, labelled by what differs from the recipe's first stored setting.
    """
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for run in sorted(runs, key=lambda r: r.get("started_at") or ""):
        value = run.get("headline_value")
        if run.get("status") == "completed" and value is not None and not math.isnan(value):
            groups[(run["recipe"], run["headline_metric"], _setting(run))].append(run)
    settings: dict[tuple[str, str], list[str]] = defaultdict(list)
    for recipe, metric, setting in groups:  # insertion order: oldest setting first
        settings[(recipe, metric)].append(setting)
    rows = []
    for (recipe, metric), keys in sorted(settings.items()):
        for setting, variant in zip(keys, _variant_labels(keys), strict=True):
            members = groups[(recipe, metric, setting)]
            values = [m["headline_value"] for m in members]
            rows.append(
                {
                    "recipe": recipe,
                    "variant": variant,
                    "metric": metric,
                    "n": len(values),
                    "mean": statistics.fmean(values),
                    "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                    "best": min(values) if lower_is_better(metric) else max(values),
                    "seeds": sorted({m["seed"] for m in members}),
                }
            )
    return rows


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
    return f"{row['mean']:.4f} ± {row['std']:.4f}" if row["n"] > 1 else f"{row['mean']:.4f}"


def to_markdown(rows: list[dict[str, Any]]) -> str:
    best = _best_index(rows)
    lines = ["| recipe | metric | runs | mean ± std | best |", "|---|---|---|---|---|"]
    for i, r in enumerate(rows):
        cell = f"**{_cell(r)}**" if i in best else _cell(r)
        lines.append(f"| {_name(r)} | {r['metric']} | {r['n']} | {cell} | {r['best']:.4f} |")
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
    out = [
        r"\begin{tabular}{llrcc}",
        r"\toprule",
        r"Recipe & Metric & Runs & Mean $\pm$ std & Best \\",
        r"\midrule",
    ]
    for i, r in enumerate(rows):
        cell = f"{r['mean']:.4f} $\\pm$ {r['std']:.4f}" if r["n"] > 1 else f"{r['mean']:.4f}"
        if i in best:
            cell = rf"\textbf{{{cell}}}"
        out.append(
            f"{_tex(_name(r))} & {_tex(r['metric'])} & {r['n']} & {cell} & {r['best']:.4f} \\\\"
        )
    out += [r"\bottomrule", r"\end{tabular}"]
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
