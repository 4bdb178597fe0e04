"""Summary tables: mean/std against a hand computation, best in bold, LaTeX that compiles."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from scratchdl.workbench.tables import render, summarize, to_csv, to_latex, to_markdown


def _run(
    recipe: str, seed: int, value: float, metric: str = "test_accuracy", status: str = "completed"
):
    return {
        "recipe": recipe,
        "seed": seed,
        "headline_value": value,
        "headline_metric": metric,
        "status": status,
    }


RUNS = [
    _run("a_net", 0, 0.80),
    _run("a_net", 1, 0.84),
    _run("a_net", 2, 0.82),
    _run("b_net", 0, 0.90),
    _run("b_net", 1, 0.88),
    _run("b_net", 2, 0.10, status="failed"),  # failed runs never count
    _run("lm", 0, 120.0, metric="test_perplexity"),
    _run("lm2", 0, 110.0, metric="test_perplexity"),
]


def test_mean_and_sample_std_match_hand_computation() -> None:
    rows = {r["recipe"]: r for r in summarize(RUNS)}
    a = rows["a_net"]
    assert a["n"] == 3 and a["mean"] == pytest.approx(0.82)
    # sample std of 0.80, 0.84, 0.82: sqrt(((-.02)^2 + .02^2 + 0) / 2) = 0.02
    assert a["std"] == pytest.approx(0.02)
    assert rows["b_net"]["n"] == 2 and rows["b_net"]["best"] == 0.90
    assert rows["a_net"]["seeds"] == [0, 1, 2]


def test_best_is_bold_per_metric_and_lower_is_better_for_perplexity() -> None:
    md = to_markdown(summarize(RUNS))
    assert "**0.8900 ± 0.0141**" in md  # b_net wins accuracy
    assert "**110.0000**" in md and "**120.0000**" not in md  # lower perplexity wins


def test_csv_round_trips_numbers() -> None:
    lines = to_csv(summarize(RUNS)).splitlines()
    assert lines[0] == "recipe,variant,metric,n,mean,std,best,seeds"
    assert lines[1].startswith("a_net,,test_accuracy,3,")


def test_unknown_format_is_a_user_error() -> None:
    from scratchdl.errors import UserError

    with pytest.raises(UserError, match="allowed: md, latex, csv"):
        render([], "html")


def test_latex_escapes_and_compiles(tmp_path: Path) -> None:
    table = to_latex(summarize(RUNS))
    assert r"a\_net" in table and r"\textbf{0.8900 $\pm$ 0.0141}" in table
    assert r"\toprule" in table and r"\bottomrule" in table
    engine = shutil.which("pdflatex")
    if engine is None:
        pytest.skip("pdflatex not installed (Debian: texlive-latex-base texlive-latex-recommended)")
    doc = tmp_path / "t.tex"
    doc.write_text(
        "\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
        f"{table}\\end{{document}}\n"
    )
    proc = subprocess.run(
        [engine, "-interaction=nonstopmode", "-halt-on-error", doc.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert (tmp_path / "t.pdf").stat().st_size > 0


def test_variants_of_a_recipe_are_not_averaged_together() -> None:
    def run(seed: int, hidden: int, value: float, started: str) -> dict:
        config = {"model": {"hidden": [hidden]}, "train": {"seed": seed}}
        return {**_run("mlp", seed, value), "config": config, "started_at": started}

    rows = summarize([run(0, 32, 0.80, "1"), run(1, 32, 0.82, "2"), run(0, 64, 0.90, "3")])
    # "mlp" is not a shipped recipe: rows are labelled by the keys that differ between them
    assert [(r["variant"], r["n"]) for r in rows] == [
        ("model.hidden=[32]", 2),
        ("model.hidden=[64]", 1),
    ]
    assert rows[0]["mean"] == pytest.approx(0.81)
    assert "mlp (model.hidden=[64])" in to_markdown(rows)


def _stored(cfg: dict, seed: int, value: float, ended: str, recipe: str = "mlp-fmnist") -> dict:
    config = json.loads(json.dumps({**cfg, "train": {**cfg["train"], "seed": seed}}))
    return {
        **_run(recipe, seed, value),
        "config": config,
        "started_at": ended,
        "ended_at": ended,
        "id": f"{recipe}-{seed}-{ended}",
    }


def test_n_counts_seeds_once_each_with_the_latest_completed_run() -> None:
    from scratchdl.recipes import load_recipe

    cfg = load_recipe("mlp-fmnist")
    runs = [
        _stored(cfg, 0, 0.80, "2024-01-01T00:00:01"),
        _stored(cfg, 0, 0.90, "2024-01-01T00:00:05"),  # re-run of seed 0: the latest counts
        _stored(cfg, 0, 0.70, "2024-01-01T00:00:03"),
        _stored(cfg, 1, 0.86, "2024-01-01T00:00:02"),
    ]
    (row,) = summarize(runs)
    assert row["n"] == 2 and row["seeds"] == [0, 1]
    # seeds 0 -> 0.90, 1 -> 0.86: mean 0.88, sample std sqrt((0.02^2 + 0.02^2) / 1) = 0.028284
    assert row["mean"] == pytest.approx(0.88)
    assert row["std"] == pytest.approx(0.0282842712, rel=1e-8)
    assert row["variant"] == ""  # the recipe as shipped
    md = to_markdown([row])
    assert "| seeds |" in md and "ddof=1" in md
    assert "ddof=1" in to_latex([row])
    # four seed-0 runs are one seed: n = 1, no fake ± 0
    (single,) = summarize(
        [_stored(cfg, 0, v, f"2024-01-0{i + 1}") for i, v in enumerate([0.8, 0.81, 0.82, 0.83])]
    )
    assert single["n"] == 1 and single["mean"] == 0.83 and "±" not in _cell_of(single)


def _cell_of(row: dict) -> str:
    return to_markdown([row]).splitlines()[2]


def test_base_is_the_recipe_as_shipped_and_nan_equals_nan() -> None:
    from scratchdl.recipes import load_recipe

    shipped = load_recipe("lstm-austen")
    assert shipped["target"]["value"] != shipped["target"]["value"]  # NaN: no published value
    own = load_recipe("lstm-austen", ["train.epochs=1"])
    lr = load_recipe("lstm-austen", ["optimizer.lr=0.5"])
    runs = [
        _stored(own, 0, 2.0, "2024-01-01", recipe="lstm-austen"),  # oldest: not the base
        _stored(shipped, 0, 1.5, "2024-01-02", recipe="lstm-austen"),
        _stored(lr, 0, 1.8, "2024-01-03", recipe="lstm-austen"),
    ]
    for run in runs:  # as read back from the store: NaN is a fresh float, not the same object
        run["config"]["target"]["value"] = float("nan")
    labels = [r["variant"] for r in summarize(runs)]
    assert labels == ["", "optimizer.lr=0.5", "train.epochs=1"]
