"""compare: trains only what is missing, reuses stored runs, paired t-test equals SciPy."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from scratchdl.errors import UserError
from scratchdl.metrics.stats import betainc, format_mean_std, mean_std, paired_t_test
from scratchdl.workbench.compare import compare, format_table


def _recipes(tiny_recipe: Path) -> tuple[str, str]:
    wide = tiny_recipe.with_name("tiny-wide.toml")
    wide.write_text(tiny_recipe.read_text().replace("hidden = [32]", "hidden = [64]"))
    return str(tiny_recipe), str(wide)


@pytest.mark.slow
def test_second_identical_compare_trains_nothing(tiny_recipe: Path, tmp_path: Path) -> None:
    a, b = _recipes(tiny_recipe)
    first = compare([a, b], seeds=2, epochs=1, out=tmp_path / "c1", log=lambda s: None)
    assert first["trained"] == 4
    again = compare([a, b], seeds=2, epochs=1, out=tmp_path / "c2", log=lambda s: None)
    assert again["trained"] == 0
    assert again["rows"] == first["rows"]
    # a different setting is a different config: it is trained
    other = compare([a], seeds=1, epochs=2, out=tmp_path / "c3", log=lambda s: None)
    assert other["trained"] == 1
    rows = json.loads((tmp_path / "c1" / "compare.json").read_text())["rows"]
    assert [r["recipe"] for r in rows] == ["tiny-digits", "tiny-wide"]
    for suffix in (".png", ".pdf", ".md"):
        assert (tmp_path / "c1" / f"compare{suffix}").stat().st_size > 0
    mean, std = mean_std(rows[1]["values"])
    assert rows[1]["mean"] == mean and rows[1]["std"] == std


def test_typo_fails_before_any_training(tiny_recipe: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="unknown recipe"):
        compare([str(tiny_recipe), "mlp-fmnst"], seeds=1, out=tmp_path, log=lambda s: None)
    with pytest.raises(UserError, match="unknown key"):
        compare([str(tiny_recipe)], overrides=["optimizer.lrr=1"], out=tmp_path, log=lambda s: None)


@pytest.mark.parametrize("n", [2, 3, 5, 12])
def test_paired_t_test_matches_scipy(n: int) -> None:
    stats = pytest.importorskip("scipy.stats")
    import random

    rng = random.Random(n)
    a = [rng.gauss(0.8, 0.02) for _ in range(n)]
    b = [x + rng.gauss(0.01, 0.01) for x in a]
    ours = paired_t_test(a, b)
    ref = stats.ttest_rel(b, a)
    assert ours.t == pytest.approx(float(ref.statistic), rel=1e-12)
    assert ours.p == pytest.approx(float(ref.pvalue), rel=1e-9)


def test_paired_t_test_edge_cases() -> None:
    assert paired_t_test([1.0], [2.0]) is None
    same = paired_t_test([1.0, 2.0], [1.0, 2.0])
    assert same.t == 0.0 and same.p == 1.0
    shifted = paired_t_test([1.0, 2.0], [1.5, 2.5])
    assert math.isinf(shifted.t) and shifted.p == 0.0
    assert betainc(2.0, 3.0, 0.0) == 0.0 and betainc(2.0, 3.0, 1.0) == 1.0
    # I_x(1, 1) = x
    assert betainc(1.0, 1.0, 0.3) == pytest.approx(0.3, rel=1e-12)


def test_rank_follows_the_metric_direction() -> None:
    from scratchdl.workbench.compare import _rank

    def rows(means: list[float]) -> list[dict]:
        return [{"recipe": f"r{i}", "mean": m} for i, m in enumerate(means)]

    lower = rows([3.0, 2.5, float("nan"), 2.5, 4.0])
    _rank(lower, "test_perplexity")
    assert [r["rank"] for r in lower] == [3, 1, 5, 1, 4]
    higher = rows([0.8, 0.9, 0.7])
    _rank(higher, "test_accuracy")
    assert [r["rank"] for r in higher] == [2, 1, 3]


def test_mean_std_cells_by_hand() -> None:
    # values 1, 2, 4: mean 7/3, sample std sqrt(((4/3)^2 + (1/3)^2 + (5/3)^2) / 2) = sqrt(7/3)
    mean, std = mean_std([1.0, 2.0, 4.0])
    assert format_mean_std(mean, std, 3) == "2.3333 ± 1.5275"
    # one seed has no spread to report: the cell shows the value alone, never "± 0.0000"
    assert format_mean_std(0.9011, 0.0, 1) == "0.9011"
    rows = [
        {"recipe": "a", "n": 1, "mean": 0.5, "std": 0.0, "diff": None, "p": None},
        {"recipe": "b", "n": 2, "mean": 0.25, "std": 0.125, "diff": -0.25, "p": float("nan")},
    ]
    md = format_table(rows, "test_accuracy")
    assert "| a | 1 | 0.5000 | - | - |" in md
    assert "| b | 2 | 0.2500 ± 0.1250 | -0.2500 | - |" in md
