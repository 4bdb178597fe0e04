"""The language-model recipe tasks ("ngram-lm", "rnn-lm", "cloze") end to end on a tiny
generated corpus given as a file path, their bundled recipes, TBPTT state carry, exact resume
after SIGKILL, and bad input."""

from __future__ import annotations

import json
import math
import random
import signal
from pathlib import Path

import pytest
import torch

from scratchdl.config import load_toml
from scratchdl.errors import UserError
from scratchdl.models.text.rnnlm import RNNLM
from scratchdl.recipes import load_recipe
from scratchdl.runner import run_recipe
from scratchdl.store import RunStore, lower_is_better
from scratchdl.text import clean_text, lm_data
from scratchdl.text.tokens.vocab import Vocab
from tests.conftest import run_cli

LM_RECIPES = [
    "ngram-austen",
    "rnn-austen",
    "gru-austen",
    "lstm-austen",
    "lstm-deep-austen",
    "lstm-bi-austen",
]

WORDS = (
    "the of and to her a i in was it she that not be you he his had as for with but have "
    "is my at mr so elizabeth darcy emma all could would very been by on which said"
).split()


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


def tiny(recipe: str, corpus: Path, *extra: str):
    """`recipe` on the tiny corpus with a tiny model and a short budget."""
    sets = [f"data.dataset={corpus}", "data.train_chars=0", "data.block_chars=500"]
    if recipe != "ngram-austen":
        sets += [
            "data.batch_size=4",
            "data.num_steps=16",
            "data.eval_batch_size=8",
            "data.val_epoch_tokens=0",
            "model.hidden_size=24",
            "train.epochs=3",
            "train.steps_per_epoch=25",
            "optimizer.lr=0.01",
        ]
    if recipe != "lstm-bi-austen":
        sets += ["generate.num_tokens=12", "generate.prefix=she said that it was"]
    if recipe == "lstm-bi-austen":
        sets += ["cloze.context=8"]
    return load_recipe(recipe, [*sets, *extra])


# ----------------------------------------------------------------------------- recipes


@pytest.mark.parametrize("recipe", LM_RECIPES)
def test_bundled_recipes_resolve_with_the_shared_data(recipe: str) -> None:
    cfg = load_recipe(recipe)
    d = cfg["data"]
    assert (d["dataset"], d["level"], d["clean"], d["train_chars"]) == (
        "austen",
        "char",
        "letters",
        1_000_000,
    )
    assert math.isnan(cfg["target"]["value"]) and cfg["target"]["source"]
    metric = cfg["target"]["metric"]
    assert lower_is_better(metric) == (metric == "test_perplexity")


def test_neural_lm_recipes_differ_only_in_the_model() -> None:
    """rnn/gru/lstm/lstm-deep: same data, optimizer, schedule and budget, so they compare."""
    cfgs = {
        r: load_recipe(r) for r in ["rnn-austen", "gru-austen", "lstm-austen", "lstm-deep-austen"]
    }
    base = cfgs["lstm-austen"]
    for cfg in cfgs.values():
        for table in ("data", "optimizer", "schedule", "train", "generate"):
            assert cfg[table] == base[table], table
    assert [cfgs[r]["model"]["name"] for r in cfgs] == ["rnn", "gru", "lstm", "lstm"]
    assert cfgs["lstm-deep-austen"]["model"]["num_layers"] == 2


# ----------------------------------------------------------------------------- end to end


def test_ngram_task_picks_the_best_candidate_on_val(corpus: Path, tmp_path: Path) -> None:
    cfg = tiny("ngram-austen", corpus, "ngram.orders=[1, 2, 3, 4]", "ngram.discounts=[0, 0.8]")
    summary = run_recipe(cfg, out=tmp_path / "run", quiet=True)
    final = summary["final"]
    candidates = {k: v for k, v in final.items() if k.startswith("candidate_")}
    assert len(candidates) == 8
    assert final["val_perplexity"] == min(candidates.values())
    name = f"candidate_n{final['order']}_d" + (
        f"{final['discount']:g}" if final["discount"] else "auto"
    )
    assert candidates[name] == final["val_perplexity"]
    assert final["order"] > 1  # context helps on this text: a unigram cannot win
    assert 1 < summary["test_perplexity"] < final["vocab_size"]
    sample = (tmp_path / "run" / "sample.txt").read_text()
    assert sample.startswith("prefix: she said that it was") and "beam search" in sample
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 1
    assert RunStore().get_run(summary["run_id"])["status"] == "completed"


def test_rnn_lm_task_learns_and_reports(corpus: Path, tmp_path: Path) -> None:
    cfg = tiny("lstm-austen", corpus)
    summary = run_recipe(cfg, out=tmp_path / "run", quiet=True)
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    # training lowers held-out perplexity, and the model beats the uniform guess (V)
    assert rows[-1]["val_perplexity"] < rows[0]["val_perplexity"]
    final = summary["final"]
    assert summary["test_perplexity"] < 0.6 * final["vocab_size"]
    assert final["test_perplexity"] == pytest.approx(math.exp(final["test_loss"]))
    assert final["tokens_per_s"] > 0 and 0 < final["test_accuracy"] < 1
    sample = (tmp_path / "run" / "sample.txt").read_text()
    assert all(k in sample for k in ("greedy:", "sample (temperature", "beam search"))
    # saved beside the checkpoint for later generation: the very vocabulary the model used
    vocab = Vocab.load(tmp_path / "run" / "vocab.json")
    assert len(vocab) == final["vocab_size"]
    # every character of the cleaned corpus (the default data.clean lower-cases letters)
    assert set(vocab.idx_to_token) >= set(clean_text(corpus.read_text()))
    assert vocab.decode(vocab.encode(list("she said"))) == list("she said")
    assert (tmp_path / "run" / "curves.png").is_file()


def test_scratch_impl_runs_in_the_task(corpus: Path, tmp_path: Path) -> None:
    cfg = tiny(
        "gru-austen",
        corpus,
        "model.impl=scratch",
        "train.epochs=1",
        "train.steps_per_epoch=5",
        "data.partition=random",
    )
    summary = run_recipe(cfg, out=tmp_path / "run", quiet=True)
    final = summary["final"]
    # 5 steps of the hand-written GRU already beat a uniform guess over the vocabulary
    assert 1 < summary["test_perplexity"] < final["vocab_size"]
    assert load_toml(tmp_path / "run" / "config.toml")["model"]["impl"] == "scratch"


def test_cloze_task_reports_accuracy(corpus: Path, tmp_path: Path) -> None:
    cfg = tiny("lstm-bi-austen", corpus)
    summary = run_recipe(cfg, out=tmp_path / "run", quiet=True)
    final = summary["final"]
    for split in ("val", "test"):
        assert 0 < final[f"{split}_cloze_accuracy"] < 1
        assert 0 < final[f"{split}_left_only_accuracy"] < 1
    # both sides beat the most frequent character (the space, ~1/5 of this text)
    assert summary["test_cloze_accuracy"] > 0.3
    assert summary["test_cloze_accuracy"] > final["test_left_only_accuracy"]
    rows = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 3


# ----------------------------------------------------------------------------- TBPTT carry


@pytest.mark.parametrize("partition", ["sequential", "random"])
def test_task_carries_and_detaches_the_state(
    partition: str, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sequential: every batch but a pass's first gets the last batch's final state, detached;
    random: every batch starts from zeros."""
    calls: list[tuple[object, object]] = []
    forward = RNNLM.forward

    def spy(self, X, state=None):
        logits, new = forward(self, X, state)
        if self.training:
            calls.append((state, new))
        return logits, new

    monkeypatch.setattr(RNNLM, "forward", spy)
    cfg = tiny(
        "lstm-austen",
        corpus,
        f"data.partition={partition}",
        "train.epochs=2",
        "train.steps_per_epoch=40",
        "model.impl=torch",
    )
    run_recipe(cfg, out=tmp_path / "run", quiet=True)
    assert len(calls) == 80
    carried = 0
    for (state, _), (_, previous) in zip(calls[1:], calls[:-1], strict=True):
        if state is None:
            continue
        carried += 1
        h, c = state
        assert not h.requires_grad and not c.requires_grad  # detached: no graph across windows
        assert torch.equal(h, previous[0].detach()) and torch.equal(c, previous[1].detach())
    if partition == "random":
        assert carried == 0
    else:  # ~20k training tokens / (4 x 16) per batch: a pass is ~300 batches
        assert carried == 79


# ----------------------------------------------------------------------------- resume


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["lstm-austen", "lstm-bi-austen"])
def test_sigkill_then_resume_matches_uninterrupted(
    recipe: str, corpus: Path, tmp_path: Path
) -> None:
    sets = tiny(recipe, corpus)  # resolves the overrides: reuse them on the command line
    args = [recipe, "--json"]
    for key in (
        "dataset",
        "train_chars",
        "block_chars",
        "batch_size",
        "num_steps",
        "eval_batch_size",
        "val_epoch_tokens",
    ):
        args += ["--set", f"data.{key}={sets['data'][key]}"]
    args += [
        "--set",
        "model.hidden_size=24",
        "--set",
        "train.epochs=3",
        "--set",
        "train.steps_per_epoch=25",
        "--set",
        "model.dropout=0.3",
    ]
    args += (
        ["--set", "cloze.context=8"]
        if recipe == "lstm-bi-austen"
        else ["--set", "generate.num_tokens=12", "--set", "generate.prefix=she said"]
    )
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
    if recipe == "lstm-austen":
        assert (tmp_path / "full" / "sample.txt").read_text() == (
            tmp_path / "cut" / "sample.txt"
        ).read_text()


# ----------------------------------------------------------------------------- bad input


def test_prefix_with_unknown_characters_fails_before_training(corpus: Path, tmp_path: Path) -> None:
    cfg = tiny("lstm-austen", corpus, "data.clean=none", "generate.prefix=Zebra #7")
    with pytest.raises(UserError, match=r"does not know: \['#', '7', 'Z'\]"):
        run_recipe(cfg, out=tmp_path / "run", quiet=True)
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_letters_cleaning_maps_a_prefix_into_the_vocabulary(corpus: Path) -> None:
    data = lm_data.load_lm_data(tiny("lstm-austen", corpus)["data"])
    ids = data.encode_prefix("The Elizabeth!!")
    assert data.join(ids) == "the elizabeth "


def test_empty_corpus_is_a_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    cfg = load_recipe("lstm-austen", [f"data.dataset={empty}"])
    with pytest.raises(UserError, match="empty"):
        run_recipe(cfg, out=tmp_path / "run", quiet=True)


def test_corpus_too_short_for_a_batch_is_a_clear_error(corpus: Path, tmp_path: Path) -> None:
    cfg = tiny("lstm-austen", corpus, "data.batch_size=512", "data.num_steps=64")
    with pytest.raises(UserError, match="training split has .* tokens, fewer than"):
        run_recipe(cfg, out=tmp_path / "run", quiet=True)


@pytest.mark.parametrize(
    "override, match",
    [
        ("data.partition=shuffled", "data.partition must be one of"),
        ("data.level=byte", "data.level must be one of"),
        ("data.clean=lower", "data.clean must be one of"),
    ],
)
def test_bad_config_values_are_clear_errors(
    override: str, match: str, corpus: Path, tmp_path: Path
) -> None:
    cfg = tiny("lstm-austen", corpus, override)
    with pytest.raises(UserError, match=match):
        run_recipe(cfg, out=tmp_path / "run", quiet=True)


def test_unknown_model_name_is_a_clear_error() -> None:
    with pytest.raises(UserError, match="unknown model 'transformer'"):
        load_recipe("lstm-austen", ["model.name=transformer"])
    with pytest.raises(UserError, match="'lstm' is of kind language-model; this task trains cloze"):
        load_recipe("lstm-bi-austen", ["model.name=lstm"])


def test_cli_reports_a_missing_corpus_file_in_one_line(tmp_path: Path) -> None:
    proc = run_cli(
        "run",
        "lstm-austen",
        "--set",
        f"data.dataset={tmp_path}/nope.txt",
        "--out",
        str(tmp_path / "r"),
    )
    assert proc.returncode == 2
    assert "unknown corpus" in proc.stderr and "Traceback" not in proc.stderr


def test_train_chars_keeps_whole_blocks_spread_over_the_text() -> None:
    text = "".join(chr(ord("a") + k % 26) * 10 for k in range(50))  # 50 blocks of 10 chars
    thin = lm_data._thin_blocks(text, 10, 100)
    blocks = [thin[i : i + 10] for i in range(0, len(thin), 10)]
    assert len(thin) == 100 and all(len(set(b)) == 1 for b in blocks)  # whole blocks only
    assert [b[0] for b in blocks] == [chr(ord("a") + k % 26) for k in range(0, 50, 5)]
    assert lm_data._thin_blocks(text, 10, 10**6) == text


# ----------------------------------------------------------------------------- cloze clipping


def test_cloze_clips_the_model_alone_never_the_probe(corpus: Path, tmp_path: Path) -> None:
    """train.grad_clip bounds the model's gradient norm; the probe (its own, unclipped
    optimizer) takes its full SGD step. Checked against one step computed by hand."""
    from scratchdl.models.text.rnnlm import lm_loss
    from scratchdl.tasks import get_task
    from scratchdl.text.lm_data import BatchStream
    from scratchdl.train.checkpoint import load_checkpoint
    from scratchdl.train.seeding import seed_everything
    from scratchdl.train.task import RunInfo

    lr, clip = 0.5, 1e-6
    cfg = tiny(
        "lstm-bi-austen",
        corpus,
        "train.epochs=1",
        "train.steps_per_epoch=1",
        "model.dropout=0.0",
        "optimizer.name=sgd",
        f"optimizer.lr={lr}",
        f"train.grad_clip={clip}",
        "schedule.name=none",
        "schedule.warmup_epochs=0",
    )
    seed_everything(cfg["train"]["seed"])
    (tmp_path / "hand").mkdir()
    task = get_task("cloze")(cfg, RunInfo(tmp_path / "hand"))
    task.setup()
    before = {
        n: {k: v.clone() for k, v in getattr(task, n).state_dict().items()}
        for n in ("model", "probe")
    }
    _, X, _ = next(BatchStream(task.data.train, 4, 16, "random", cfg["train"]["seed"]))
    left, right = task.model.features(X)
    target = X[:, 1:-1]
    loss = lm_loss(task.model.decode(left, right), target)
    probe_loss = lm_loss(task.probe(left.detach()).transpose(0, 1), target)
    (loss + probe_loss).backward()
    expected_probe = {k: before["probe"][k] - lr * p.grad for k, p in task.probe.named_parameters()}

    run_recipe(cfg, out=tmp_path / "run", quiet=True)
    after = load_checkpoint(tmp_path / "run" / "checkpoint.pt", map_location="cpu")["modules"]
    for k, v in expected_probe.items():  # the full step: not clipped with the model
        torch.testing.assert_close(after["probe"][k], v, rtol=0, atol=1e-6)
    moved = torch.cat([(after["model"][k] - v).flatten() for k, v in before["model"].items()])
    assert float(moved.norm()) == pytest.approx(lr * clip, rel=1e-2)  # clipped to clip
