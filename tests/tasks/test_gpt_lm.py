"""The "gpt-lm" task and the gpt-austen recipe end to end on a tiny generated corpus: it learns
on the engine, reports held-out perplexity like the RNN recipes, writes samples, resumes
exactly after SIGKILL, refuses bad settings in one line, and `compare` ranks it against
lstm-deep-austen by perplexity, lower first."""

from __future__ import annotations

import json
import math
import random
import signal
from pathlib import Path

import pytest

from scratchdl.cli.studies import _print_study
from scratchdl.errors import UserError
from scratchdl.recipes import load_recipe, recipe_path
from scratchdl.runner import run_recipe
from scratchdl.workbench.compare import compare
from tests.conftest import run_cli

WORDS = "the of and to her a i in was it she that not be you he his had as for with".split()
DATA = ["data.train_chars=0", "data.block_chars=500", "data.batch_size=4", "data.num_steps=16",
        "data.eval_batch_size=8", "data.val_epoch_tokens=0"]
SMALL = ["model.n_layer=1", "model.n_head=2", "model.n_embd=16", "model.block_size=16",
         "optimizer.lr=0.01", "train.epochs=3", "train.steps_per_epoch=25",
         "generate.num_tokens=12", "generate.prefix=she said that it was"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~24k characters of Zipf-ish word salad with sentences: learnable, not trivial."""
    rng = random.Random(0)
    weights = [1 / (r + 1) for r in range(len(WORDS))]
    sentences = []
    while sum(len(s) for s in sentences) < 24_000:
        words = rng.choices(WORDS, weights, k=rng.randint(4, 12))
        sentences.append(" ".join(words).capitalize() + ".")
    path = tmp_path_factory.mktemp("corpus") / "tiny.txt"
    path.write_text(" ".join(sentences) + "\n")
    return path


def test_recipe_uses_the_austen_lm_data_and_a_decay_free_bias_group() -> None:
    gpt, lstm = load_recipe("gpt-austen"), load_recipe("lstm-deep-austen")
    for key in ("dataset", "level", "clean", "train_chars", "val_fraction", "test_fraction",
                "block_chars", "min_freq", "val_epoch_tokens"):
        assert gpt["data"][key] == lstm["data"][key], key
    assert gpt["task"] == "gpt-lm" and gpt["model"]["name"] == "gpt"
    assert gpt["optimizer"]["name"] == "adamw" and gpt["optimizer"]["no_decay_bias_norm"]
    assert gpt["schedule"]["name"] == "cosine" and gpt["schedule"]["warmup_epochs"] > 0
    assert gpt["train"]["grad_clip"] > 0
    assert gpt["target"]["metric"] == "test_perplexity" and gpt["target"]["value"] == 3.034


@pytest.mark.slow
def test_gpt_task_learns_and_reports(corpus: Path, tmp_path: Path) -> None:
    cfg = load_recipe("gpt-austen", [f"data.dataset={corpus}", *DATA, *SMALL])
    summary = run_recipe(cfg, out=tmp_path / "run", quiet=True)
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert rows[-1]["val_perplexity"] < rows[0]["val_perplexity"]
    final = summary["final"]
    assert summary["test_perplexity"] < 0.6 * final["vocab_size"]
    assert final["test_perplexity"] == pytest.approx(math.exp(final["test_loss"]))
    assert final["tokens_per_s"] > 0 and 0 < final["test_accuracy"] < 1
    assert final["parameters"] > 0
    sample = (tmp_path / "run" / "sample.txt").read_text()
    assert sample.startswith("prefix: she said that it was")
    assert all(k in sample for k in ("greedy:", "top_p 0.95", "beam search (beam_size 4)"))
    for suffix in (".png", ".pdf"):
        assert (tmp_path / "run" / f"attention{suffix}").stat().st_size > 0


@pytest.mark.parametrize(
    ("sets", "match"),
    [
        (["data.num_steps=32"], "data.num_steps=32 exceeds model.block_size=16"),
        (["generate.top_p=1.5"], r"top_p must be in \(0, 1\]"),
        (["generate.top_p=0.0"], r"top_p must be in \(0, 1\]"),
        (["generate.top_k=-1"], "top_k must be an integer >= 0"),
        (["generate.beam_size=0"], "generate.beam_size must be an int >= 1"),
        (["data.eval_stride=17"], "data.eval_stride=17 exceeds model.block_size=16"),
        (["model.n_head=3"], "n_head must divide"),
    ],
)
def test_bad_settings_fail_before_training(
    sets: list[str], match: str, corpus: Path, tmp_path: Path
) -> None:
    cfg = load_recipe("gpt-austen", [f"data.dataset={corpus}", *DATA, *SMALL, *sets])
    with pytest.raises(UserError, match=match):
        run_recipe(cfg, out=tmp_path / "run", quiet=True)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_tasks_refuse_each_others_models() -> None:
    with pytest.raises(UserError, match="task gpt-lm trains gpt, not 'lstm'"):
        load_recipe("gpt-austen", ["model.name=lstm"])
    with pytest.raises(UserError, match='transformer language model uses task = "gpt-lm"'):
        load_recipe("lstm-austen", ["model.name=gpt"])


@pytest.mark.slow
def test_sigkill_then_resume_matches_uninterrupted(corpus: Path, tmp_path: Path) -> None:
    args = ["gpt-austen", "--json", "--set", f"data.dataset={corpus}"]
    for s in [*DATA, *SMALL, "model.dropout=0.2"]:
        args += ["--set", s]
    full = run_cli("run", *args, "--out", str(tmp_path / "full"), check=True)
    killed = run_cli(
        "run", *args, "--out", str(tmp_path / "cut"), env={"SCRATCHDL_KILL_AFTER_EPOCH": "1"}
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    resumed = run_cli("run", "--resume", str(tmp_path / "cut"), "--json", check=True)
    a = json.loads(full.stdout.strip().splitlines()[-1])["final"]
    b = json.loads(resumed.stdout.strip().splitlines()[-1])["final"]
    timing = ("tokens_per_s", "examples_per_s", "epoch_seconds")
    assert {k: v for k, v in a.items() if k not in timing} == {
        k: v for k, v in b.items() if k not in timing
    }
    assert (tmp_path / "full" / "sample.txt").read_text() == (
        tmp_path / "cut" / "sample.txt"
    ).read_text()


@pytest.mark.slow
def test_compare_gpt_with_lstm_ranks_lower_perplexity_first(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a third entry that cannot learn (lr ~ 0) must come last: ranking is lower-is-better
    frozen = tmp_path / "gpt-frozen.toml"
    frozen.write_text(recipe_path("gpt-austen").read_text().replace("lr = 0.002", "lr = 1e-9"))
    overrides = [f"data.dataset={corpus}", *DATA, "train.steps_per_epoch=30",
                 "generate.num_tokens=3", "generate.beam_size=1"]
    result = compare(["gpt-austen", "lstm-deep-austen", str(frozen)], seeds=2, epochs=1,
                     overrides=overrides, out=tmp_path / "cmp", log=lambda *_: None)
    assert result["metric"] == "test_perplexity" and "lower is better" in result["table"]
    rows = {r["recipe"]: r for r in result["rows"]}
    assert [r["n"] for r in rows.values()] == [2, 2, 2]
    assert rows["gpt-frozen"]["rank"] == 3
    assert rows["gpt-frozen"]["mean"] > max(rows[r]["mean"] for r in rows if r != "gpt-frozen")
    best = min(rows.values(), key=lambda r: r["mean"])
    assert best["rank"] == 1
    _print_study(result)
    ranking = capsys.readouterr().out.splitlines()[-2]
    assert ranking.startswith(f"ranking: 1. {best['recipe']}") and ranking.endswith("3. gpt-frozen")
