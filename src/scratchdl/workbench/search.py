"""`scratchdl search`: grid, random or successive-halving hyperparameter search over a recipe.

A space item is `key=SPEC` with SPEC one of
    loguniform(a,b)   a float, uniform in log space (0 < a < b)
    uniform(a,b)      a float, uniform in [a, b]
    int(a,b)          an integer in [a, b], both ends included
    choice(v1,v2,..)  one of the values (parsed like --set values; [64,32] is one value)
    v1,v2,...         shorthand for choice(v1,v2,...)
Methods:
    grid     the cartesian product of all values; a range contributes `grid_points` (default 3)
             evenly spaced points (in log space for loguniform); `trials` is not used.
    random   `trials` configs drawn with random.Random(seed).
    halving  successive halving: `trials` random configs trained for `min_epochs`; each rung keeps
             the best 1/eta and multiplies the epochs by eta, up to the recipe's full epochs.
Trials keep the recipe's own train.seed (`seed` only drives the sampling), so configs differ
only in the searched keys. Selection uses a validation metric, never a test metric: choosing on
the test set would make the reported test number optimistic. Every trial (and every rung) is a
stored run, reused when the same config is asked for again, so a repeated or interrupted search
trains only what is missing.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scratchdl.config import Config, get_dotted
from scratchdl.errors import UserError
from scratchdl.plots.search import search_chart
from scratchdl.recipes import load_recipe
from scratchdl.store import RunStore, lower_is_better, runs_root
from scratchdl.workbench.ablate import format_value, split_values
from scratchdl.workbench.jobs import run_all

METHODS = ("grid", "random", "halving")
KINDS = ("loguniform", "uniform", "int", "choice")
_SPEC = re.compile(r"^(\w+)\((.*)\)$", re.DOTALL)


@dataclass
class Dimension:
    """One searched key: a range (low, high) or a list of choice values (raw --set strings)."""

    key: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    choices: tuple[str, ...] = ()

    def sample(self, rng: random.Random) -> str:
        if self.kind == "choice":
            return rng.choice(self.choices)
        if self.kind == "int":
            return str(rng.randint(int(self.low), int(self.high)))
        if self.kind == "loguniform":
            return _short(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return _short(rng.uniform(self.low, self.high))

    def grid(self, points: int) -> list[str]:
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int":
            step = (self.high - self.low) / (points - 1)
            span = [round(self.low + step * i) for i in range(points)]
            return [str(v) for v in dict.fromkeys(span)]  # ints may repeat on a short range
        if self.kind == "loguniform":
            lo, hi = math.log(self.low), math.log(self.high)
            return [_short(math.exp(lo + (hi - lo) * i / (points - 1))) for i in range(points)]
        return [_short(self.low + (self.high - self.low) * i / (points - 1)) for i in range(points)]


def _short(x: float) -> str:
    """4 significant digits: readable tables, and the same string always means the same config."""
    text = f"{x:.4g}"
    return text if any(c in text for c in ".en") else text + ".0"  # keep floats floats in TOML


def parse_space(item: str) -> Dimension:
    """'optimizer.lr=loguniform(1e-4,1e-1)' -> Dimension('optimizer.lr', 'loguniform', ...)."""
    key, sep, spec = item.partition("=")
    key, spec = key.strip(), spec.strip()
    usage = "expected key=loguniform(a,b) | uniform(a,b) | int(a,b) | choice(v1,v2,...) | v1,v2,..."
    if not sep or not key or not spec:
        raise UserError(f"--space {item!r}: {usage}")
    match = _SPEC.match(spec)
    if match is None:  # bare values: a choice
        kind, args = "choice", split_values(spec)
    elif match.group(1) in KINDS:
        kind, args = match.group(1), split_values(match.group(2))
    else:
        raise UserError(f"--space {key}: unknown distribution {match.group(1)!r}; {usage}")
    if any(a == "" for a in args):
        raise UserError(f"--space {key}: empty value in {spec!r}; {usage}")
    if kind == "choice":
        return Dimension(key, kind, choices=tuple(args))
    if len(args) != 2:
        raise UserError(f"--space {key}: {kind} takes two bounds (low,high), got {spec!r}")
    try:
        low, high = (int(a) if kind == "int" else float(a) for a in args)
    except ValueError:
        number = "integers" if kind == "int" else "numbers"
        raise UserError(f"--space {key}: {kind} bounds must be {number}, got {spec!r}") from None
    if not (low < high if kind != "int" else low <= high) or (kind == "loguniform" and low <= 0):
        need = "0 < low < high" if kind == "loguniform" else "low < high"
        raise UserError(f"--space {key}: {kind}({args[0]},{args[1]}) needs {need}")
    return Dimension(key, kind, low=low, high=high)


def halving_rungs(
    trials: int, full_epochs: int, eta: int, min_epochs: int
) -> list[tuple[int, int]]:
    """[(configs, epochs), ...]: e.g. 9 trials, eta 3, 1 -> 9 epochs: [(9, 1), (3, 3), (1, 9)]."""
    rungs, n, e = [], trials, min(min_epochs, full_epochs)
    while True:
        rungs.append((n, e))
        if e >= full_epochs:
            return rungs
        n, e = max(1, n // eta), min(e * eta, full_epochs)


def validation_metric(cfg: Config) -> str:
    """The validation twin of a recipe's headline: test_perplexity -> val_perplexity,
    test_bleu_beam -> val_bleu (validation BLEU is greedy), test_accuracy -> val_accuracy."""
    headline = str(cfg["target"]["metric"])
    if not headline.startswith("test_"):
        return headline if headline.startswith("val_") else "val_accuracy"
    name = "val_" + headline.removeprefix("test_")
    return "val_bleu" if name.startswith("val_bleu") else name


def search(
    recipe: str,
    space: list[str],
    *,
    method: str = "random",
    trials: int = 8,
    epochs: int | None = None,
    metric: str | None = None,
    seed: int = 0,
    eta: int = 3,
    min_epochs: int = 1,
    grid_points: int = 3,
    out: str | Path | None = None,
    jobs: int = 1,
    log=print,
) -> dict[str, Any]:
    """Search `space` for the recipe's best config on a validation metric; table, JSON, chart.

    Returns {'metric', 'method', 'best', 'rows', 'rungs', 'table', 'trained', 'out', 'charts'};
    best is {'overrides', 'params', 'value', 'run_id', 'epochs'}; rows hold one entry per trained
    (trial, rung) with trial, rung, epochs, params (raw strings), settings (resolved values),
    value, run_id, trained and kept (survived to the next rung, or is the best at the last).
    """
    m = metric or validation_metric(load_recipe(recipe))
    if m.startswith("test_"):
        raise UserError(
            f"--metric {m}: search selects on a validation metric (e.g. val_accuracy), never a "
            "test metric, or the reported test number is optimistically biased"
        )
    if method not in METHODS:
        raise UserError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    if trials < 1 or eta < 2 or min_epochs < 1 or grid_points < 2:
        raise UserError(
            f"search needs --trials >= 1, --eta >= 2, --min-epochs >= 1 and grid points >= 2 "
            f"(got {trials}, {eta}, {min_epochs}, {grid_points})"
        )
    if not space:
        raise UserError("search needs at least one --space key=SPEC (the space is empty)")
    dims = [parse_space(item) for item in space]
    keys = [d.key for d in dims]
    for key in keys:
        if keys.count(key) > 1:
            raise UserError(f"--space {key} is given twice")
    if method == "halving" and "train.epochs" in keys:
        raise UserError("--space train.epochs: halving sets the epochs itself; use --method random")
    base = load_recipe(recipe, [f"train.epochs={epochs}"] if epochs is not None else [])
    full = int(base["train"]["epochs"])
    trial_params = _trials(dims, method, trials, seed, grid_points, log)
    rungs = (
        halving_rungs(len(trial_params), full, eta, min_epochs)
        if method == "halving"
        else [(len(trial_params), full)]
    )

    def resolve(params: dict[str, str], rung_epochs: int) -> Config:
        return load_recipe(recipe, [f"train.epochs={rung_epochs}", *_overrides(params)])

    # resolve every config of every rung first: a bad key or value fails before any training
    for params in trial_params:
        for _, rung_epochs in rungs:
            resolve(params, rung_epochs)
    store = RunStore()
    better = min if lower_is_better(m) else max
    rows: list[dict[str, Any]] = []
    alive = list(range(len(trial_params)))
    trained = 0
    for rung, (_, rung_epochs) in enumerate(rungs):
        rung_rows: list[dict[str, Any]] = []
        cfgs = [resolve(trial_params[t], rung_epochs) for t in alive]

        def record(
            i: int,
            outcome: tuple[str, dict, bool],
            cfgs=cfgs,
            rung=rung,
            alive=alive,
            out=rung_rows,
        ) -> None:
            t, cfg, (run_id, final, fresh) = alive[i], cfgs[i], outcome
            ep = cfg["train"]["epochs"]
            if m not in final:
                have = ", ".join(sorted(final))
                raise UserError(f"search: runs have no metric {m!r} (have {have}); pick --metric")
            value = float(final[m])
            label = ", ".join(_overrides(trial_params[t]))
            verb = "trained" if fresh else "reused"
            log(f"trial {t} ({ep} ep): {label}: {m} {value:.4f} ({verb} {run_id})")
            out.append(
                {
                    "trial": t,
                    "rung": rung,
                    "epochs": ep,
                    "params": trial_params[t],
                    "settings": {k: get_dotted(cfg, k) for k in keys},
                    "value": value,
                    "run_id": run_id,
                    "trained": fresh,
                    "kept": False,
                }
            )

        outcomes = run_all(store, cfgs, jobs=jobs, on_result=record)
        trained += sum(fresh for _, _, fresh in outcomes)
        # rank within the rung; ties go to the earlier trial (stable sort)
        ranked = sorted(rung_rows, key=lambda r: r["value"], reverse=better is max)
        last = rung == len(rungs) - 1
        keep = 1 if last else rungs[rung + 1][0]
        for r in ranked[:keep]:
            r["kept"] = True
        alive = sorted(r["trial"] for r in ranked[:keep])
        rows += ranked
    best_row = next(r for r in rows if r["rung"] == len(rungs) - 1 and r["kept"])
    best = {
        "overrides": _overrides(best_row["params"]),
        "params": best_row["params"],
        "value": best_row["value"],
        "run_id": best_row["run_id"],
        "epochs": best_row["epochs"],
    }
    out_dir = Path(out) if out else runs_root() / f"search-{time.strftime('%Y%m%d-%H%M%S')}"
    out_dir.mkdir(parents=True, exist_ok=True)
    table = format_table(rows, keys, m, method, best)
    (out_dir / "search.md").write_text(table)
    summary = {"recipe": base["recipe"], "metric": m, "method": method, "best": best}
    summary |= {"rungs": rungs, "space": space, "rows": rows}
    (out_dir / "search.json").write_text(json.dumps(summary, indent=1))
    charts = search_chart(rows, dims, m, method, base["recipe"], out_dir / "search")
    log(f"best ({m} {best['value']:.4f}): --set " + " --set ".join(best["overrides"]))
    return {
        "metric": m,
        "method": method,
        "best": best,
        "rows": rows,
        "rungs": rungs,
        "table": table,
        "trained": trained,
        "out": str(out_dir),
        "charts": [str(p) for p in charts],
    }


def _overrides(params: dict[str, str]) -> list[str]:
    return [f"{k}={v}" for k, v in params.items()]


def _trials(
    dims: list[Dimension], method: str, trials: int, seed: int, grid_points: int, log
) -> list[dict[str, str]]:
    """The configs to try, as {key: raw value} dicts, without duplicates."""
    if method == "grid":
        axes = [d.grid(grid_points) for d in dims]
        return [dict(zip([d.key for d in dims], c, strict=True)) for c in itertools.product(*axes)]
    rng = random.Random(seed)
    found: dict[tuple[str, ...], dict[str, str]] = {}
    for _ in range(trials * 50):  # a small choice-only space can hold fewer distinct configs
        params = {d.key: d.sample(rng) for d in dims}
        found.setdefault(tuple(params.values()), params)
        if len(found) == trials:
            break
    if len(found) < trials:
        log(f"search: the space holds only {len(found)} distinct configs; trying those")
    return list(found.values())


def format_table(
    rows: list[dict[str, Any]], keys: list[str], metric: str, method: str, best: dict[str, Any]
) -> str:
    lines = [
        f"| trial | epochs | {' | '.join(keys)} | {metric} | outcome | run |",
        "|---" * (len(keys) + 5) + "|",
    ]
    last_rung = rows[-1]["rung"]
    for r in rows:
        settings = " | ".join(format_value(r["settings"][k]) for k in keys)
        value = f"{r['value']:.4f}"
        outcome = "stopped" if method == "halving" else ""
        if r["kept"]:
            outcome = "**selected**" if r["rung"] == last_rung else "promoted"
            value = f"**{value}**" if r["rung"] == last_rung else value
        lines.append(
            f"| {r['trial']} | {r['epochs']} | {settings} | {value} | {outcome} | {r['run_id']} |"
        )
    direction = "lower" if lower_is_better(metric) else "higher"
    lines += [
        "",
        f"Method {method}; selected on {metric} ({direction} is better), never on a test metric.",
        f"Best: `{' '.join('--set ' + o for o in best['overrides'])}` "
        f"({metric} {best['value']:.4f} after {best['epochs']} epoch(s)).",
    ]
    return "\n".join(lines) + "\n"
