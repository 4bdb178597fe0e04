"""The training engine on toy tasks: accumulation, schedules, AMP, manual optimization, resume."""

from __future__ import annotations

import collections
import copy
from typing import Any

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from scratchdl.config import deep_merge
from scratchdl.errors import UserError
from scratchdl.recipes.defaults import DEFAULTS
from scratchdl.scratch.schedules import make_schedule
from scratchdl.train.batch import to_device
from scratchdl.train.engine import Engine, amp_mode
from scratchdl.train.task import RunInfo, Task


def _cfg(**train: Any) -> dict[str, Any]:
    cfg = deep_merge(DEFAULTS, {"data": {"n": 64, "batch_size": 8, "dtype": "float64"}})
    cfg["optimizer"].update(name="sgd", lr=0.1)
    cfg["train"].update({"epochs": 2, "seed": 5, "device": "cpu", **train})
    return cfg


class Regress(Task):
    """Linear regression on fixed data, in order (no shuffling): easy to reason about."""

    name = "toy-regress"

    def setup(self) -> None:
        g = torch.Generator().manual_seed(0)
        n, dtype = self.cfg["data"]["n"], getattr(torch, self.cfg["data"]["dtype"])
        self.x = torch.randn(n, 3, generator=g, dtype=dtype)
        w = torch.tensor([1.0, -2.0, 0.5], dtype=dtype)
        self.y = self.x @ w + 0.1 * torch.randn(n, generator=g, dtype=dtype)
        self.model = nn.Linear(3, 1).to(dtype)
        self.autocast_dtypes: list[torch.dtype] = []

    def steps_per_epoch(self) -> int:
        return -(-self.cfg["data"]["n"] // self.cfg["data"]["batch_size"])

    def train_batches(self, epoch: int):
        bs = self.cfg["data"]["batch_size"]
        return ((self.x[i : i + bs], self.y[i : i + bs]) for i in range(0, len(self.x), bs))

    def training_step(self, batch: Any, step: int) -> dict[str, Any]:
        x, y = batch
        pred = self.model(x).squeeze(1)
        self.autocast_dtypes.append(pred.dtype)
        return {"loss": F.mse_loss(pred, y)}

    def evaluate(self, split: str) -> dict[str, float]:
        return {"mse": F.mse_loss(self.model(self.x).squeeze(1), self.y).item()}


def _fit(task_cls: type[Task], cfg: dict[str, Any], tmp_path=None, resume=False) -> Engine:
    task = task_cls(cfg, RunInfo(tmp_path or ".", quiet=True))
    ckpt = (tmp_path / "checkpoint.pt") if tmp_path else None
    engine = Engine(task, checkpoint_path=ckpt, show_progress=False)
    engine.final = engine.fit(resume=resume)
    return engine


def test_to_device_keeps_structure_of_any_batch() -> None:
    Point = collections.namedtuple("Point", "x y")
    batch = {
        "images": torch.zeros(2, 1, 4, 4),
        "targets": [{"boxes": torch.ones(3, 4), "label": "cat"}, {"boxes": torch.ones(0, 4)}],
        "pair": (torch.ones(2), 7),
        "point": Point(torch.ones(1), None),
    }
    out = to_device(batch, torch.device("cpu"), channels_last=True)
    assert out["images"].is_contiguous(memory_format=torch.channels_last)
    assert out["targets"][0]["label"] == "cat" and out["targets"][1]["boxes"].shape == (0, 4)
    assert out["pair"][1] == 7 and isinstance(out["point"], Point) and out["point"].y is None


def test_accumulating_two_batches_equals_one_batch_twice_the_size() -> None:
    small = _fit(Regress, deep_merge(_cfg(accumulate=2), {"data": {"batch_size": 8}}))
    big = _fit(Regress, deep_merge(_cfg(), {"data": {"batch_size": 16}}))
    for a, b in zip(small.task.model.parameters(), big.task.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    assert small.step == big.step == 8  # optimizer steps: 2 epochs x 64 / 16


def test_logged_lr_is_the_lr_the_last_step_used() -> None:
    cfg = _cfg()
    cfg["schedule"].update(name="linear", min_factor=0.0)
    engine = _fit(Regress, cfg)
    schedule = make_schedule("linear", 16, end_factor=0.0)  # 2 epochs x 8 steps
    for row, last_step in zip(engine.history, (7, 15), strict=True):
        assert row["lr"] == pytest.approx(0.1 * schedule.lr_at(last_step, 1.0), abs=1e-15)
    assert engine.history[-1]["lr"] > 0  # the last step trains; the next would have lr 0


def test_metrics_are_means_weighted_by_examples() -> None:
    cfg = deep_merge(_cfg(epochs=1), {"data": {"n": 20, "batch_size": 8}})
    cfg["optimizer"]["lr"] = 1e-300  # parameters stay put: the loss is that of the start
    engine = _fit(Regress, cfg)
    task = engine.task
    errors = (task.model(task.x).squeeze(1) - task.y).detach() ** 2
    batch_means = [errors[i : i + 8].mean() for i in (0, 8, 16)]
    # batches of 8, 8, 4: the per-example mean, not the mean of batch means
    assert engine.history[0]["train_loss"] == pytest.approx(errors.mean().item(), rel=1e-12)
    assert engine.history[0]["train_loss"] != pytest.approx(
        torch.stack(batch_means).mean().item(), rel=1e-6
    )
    assert engine.train_examples == 20


def test_non_finite_loss_is_a_one_line_error() -> None:
    cfg = _cfg()
    cfg["optimizer"]["lr"] = 1e200
    with pytest.raises(UserError, match=r"loss became (nan|inf) at epoch \d+.*lower optimizer.lr"):
        _fit(Regress, cfg)


class NanAtStep(Regress):
    """The loss turns NaN at optimizer step 75 of the run: epoch 2, in its second sync window."""

    name = "toy-nan"

    def training_step(self, batch: Any, step: int) -> dict[str, Any]:
        out = super().training_step(batch, step)
        return {"loss": out["loss"] * (float("nan") if step == 75 else 1.0)}


def test_non_finite_loss_names_its_exact_step_though_checked_once_per_window() -> None:
    cfg = deep_merge(_cfg(epochs=10), {"data": {"n": 512}})  # 64 steps an epoch: 2 windows
    with pytest.raises(UserError, match=r"loss became nan at epoch 2, step 75: lower"):
        _fit(NanAtStep, cfg)


def test_bf16_autocast_on_cpu_and_fp16_refused() -> None:
    cfg = deep_merge(_cfg(amp="bf16"), {"data": {"dtype": "float32"}})  # autocast casts fp32
    engine = _fit(Regress, cfg)
    assert set(engine.task.autocast_dtypes) == {torch.bfloat16}
    with pytest.raises(UserError, match="fp16 needs a CUDA GPU"):
        _fit(Regress, _cfg(amp="fp16"))


@pytest.mark.parametrize("native", [True, False])
def test_amp_auto_is_bf16_only_where_the_cpu_has_it(
    native: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        monkeypatch.setattr(torch.cpu, name, lambda: native, raising=False)
    assert amp_mode("auto", torch.device("cpu")) == ("bf16" if native else "none")
    cfg = deep_merge(_cfg(amp="auto"), {"data": {"dtype": "float32"}})
    engine = _fit(Regress, cfg)
    assert set(engine.task.autocast_dtypes) == ({torch.bfloat16} if native else {torch.float32})
    with pytest.raises(UserError, match="amp must be one of none, bf16, fp16, auto, got 'bf61'"):
        amp_mode("bf61", torch.device("cpu"))


def test_settings_a_task_cannot_honour_are_rejected() -> None:
    with pytest.raises(UserError, match="channels_last must be false"):
        _fit(Regress, _cfg(channels_last=True))
    with pytest.raises(UserError, match="amp must be 'none'"):
        _fit(HandWritten, _cfg(amp="bf16"))
    assert _fit(HandWritten, _cfg(amp="auto")).amp == "none"  # auto: AMP only where it can run
    with pytest.raises(UserError, match="accumulate must be an integer >= 1"):
        _fit(Regress, _cfg(accumulate=0))


class LossDict(Regress):
    """No "loss" key: the engine sums every *loss entry (torchvision detection style)."""

    def training_step(self, batch: Any, step: int) -> dict[str, Any]:
        x, y = batch
        err = self.model(x).squeeze(1) - y
        return {"half_loss": 0.5 * (err**2).mean(), "other_loss": 0.5 * (err**2).mean()}


def test_a_dict_of_losses_is_summed() -> None:
    a = _fit(LossDict, _cfg())
    b = _fit(Regress, _cfg())
    for p, q in zip(a.task.model.parameters(), b.task.model.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-12)
    assert "train_half_loss" in a.history[0] and "train_other_loss" in a.history[0]


class HandWritten(Regress):
    """No autograd: the gradient of the mean squared error by hand, and a plain SGD step."""

    manual_optimization = True
    supports_amp = False

    def configure_optimizers(self) -> dict[str, Any]:
        return {"main": torch.optim.SGD(self.model.parameters(), lr=self.cfg["optimizer"]["lr"])}

    def training_step(self, batch: Any, step: int) -> dict[str, Any]:
        x, y = batch
        with torch.no_grad():
            err = self.model(x).squeeze(1) - y
            self.model.weight.grad = (2 * err[:, None] * x).mean(0, keepdim=True)
            self.model.bias.grad = (2 * err).mean(0, keepdim=True)
            self.engine.optimizers["main"].step()
        return {"loss": (err**2).mean()}


def test_manual_optimization_matches_autograd() -> None:
    a = _fit(HandWritten, _cfg())
    b = _fit(Regress, _cfg())
    for p, q in zip(a.task.model.parameters(), b.task.model.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-12)


class TwoPlayers(Task):
    """A GAN-shaped toy: two modules, two optimizers stepped in turn, noise from the RNG."""

    name = "toy-two-players"
    module_names = ("gen", "disc")
    manual_optimization = True

    def setup(self) -> None:
        self.gen = nn.Linear(2, 2).double()
        self.disc = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1)).double()
        self.real = torch.randn(32, 2, dtype=torch.float64) + 3

    def configure_optimizers(self) -> dict[str, Any]:
        return {
            "gen": torch.optim.Adam(self.gen.parameters(), lr=1e-2),
            "disc": torch.optim.Adam(self.disc.parameters(), lr=1e-2),
        }

    def steps_per_epoch(self) -> int:
        return 4

    def train_batches(self, epoch: int):
        return (self.real[i * 8 : (i + 1) * 8] for i in range(4))

    def training_step(self, batch: Any, step: int) -> dict[str, Any]:
        fake = self.gen(torch.randn(len(batch), 2, dtype=torch.float64))
        ones = torch.ones(len(batch), 1, dtype=torch.float64)
        zeros = torch.zeros_like(ones)
        d_loss = F.binary_cross_entropy_with_logits(
            self.disc(batch), ones
        ) + F.binary_cross_entropy_with_logits(self.disc(fake.detach()), zeros)
        self.engine.backward(d_loss)
        self.engine.step_optimizer("disc")
        g_loss = F.binary_cross_entropy_with_logits(self.disc(fake), ones)
        self.engine.backward(g_loss)
        self.engine.step_optimizer("gen")
        self.engine.optimizers["disc"].zero_grad(set_to_none=True)
        return {"loss": d_loss.detach() + g_loss.detach(), "d_loss": d_loss, "g_loss": g_loss}


class RandomTest(TwoPlayers):
    """Its test draws from the global generator, as a sampler or a noisy metric would."""

    name = "toy-random-test"

    def test(self) -> dict[str, float]:
        return {"noise": float(torch.rand(1000).mean())}


def test_extending_a_finished_run_with_resume_equals_a_longer_run(tmp_path) -> None:
    """The test's random draws are not left in the checkpoint's RNG state."""
    longer = _fit(RandomTest, _cfg(epochs=3), tmp_path / "long")
    _fit(RandomTest, _cfg(epochs=2), tmp_path / "ext")
    extended = _fit(RandomTest, _cfg(epochs=3), tmp_path / "ext", resume=True)
    for name in ("gen", "disc"):
        for p, q in zip(
            extended.task.module(name).parameters(),
            longer.task.module(name).parameters(),
            strict=True,
        ):
            assert torch.equal(p, q)


def test_two_optimizers_resume_exactly(tmp_path) -> None:
    cfg = _cfg(epochs=3)
    cfg["schedule"].update(name="cosine")
    full = _fit(TwoPlayers, cfg, tmp_path / "full")

    def killed(epoch: int, row: dict) -> None:  # dies right after epoch 1's checkpoint
        raise KeyboardInterrupt

    task = TwoPlayers(copy.deepcopy(cfg), RunInfo(tmp_path / "cut"))
    engine = Engine(task, checkpoint_path=tmp_path / "cut" / "checkpoint.pt", on_epoch_end=killed)
    with pytest.raises(KeyboardInterrupt):
        engine.fit()
    assert len(engine.history) == 1
    resumed = _fit(TwoPlayers, cfg, tmp_path / "cut", resume=True)
    timing = ("epoch_seconds", "examples_per_s")
    assert [{k: v for k, v in r.items() if k not in timing} for r in resumed.history] == [
        {k: v for k, v in r.items() if k not in timing} for r in full.history
    ]
    for name in ("gen", "disc"):
        for p, q in zip(
            resumed.task.module(name).parameters(), full.task.module(name).parameters(), strict=True
        ):
            assert torch.equal(p, q)
    assert full.history[-1]["lr_gen"] == full.history[-1]["lr_disc"]


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop", "adagrad"])
def test_scratch_optimizers_train_like_torch_optim(name: str) -> None:
    runs = {}
    for impl in ("torch", "scratch"):
        cfg = _cfg()
        cfg["optimizer"].update(name=name, impl=impl, lr=0.01, weight_decay=0.01, momentum=0.5)
        runs[impl] = _fit(Regress, cfg)
    for p, q in zip(
        runs["torch"].task.model.parameters(), runs["scratch"].task.model.parameters(), strict=True
    ):
        torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-12)


def test_no_decay_bias_norm_exempts_biases_and_norm_weights() -> None:
    from scratchdl.train.optim import build_optimizer

    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 1))
    cfg = copy.deepcopy(DEFAULTS["optimizer"])
    cfg.update(name="adamw", weight_decay=0.1, no_decay_bias_norm=True)
    groups = build_optimizer(model, cfg).param_groups
    decayed = {id(p) for g in groups if g["weight_decay"] == 0.1 for p in g["params"]}
    assert decayed == {id(model[0].weight), id(model[2].weight)}
    assert sum(len(g["params"]) for g in groups) == 6
    cfg["no_decay_bias_norm"] = False
    assert [g["weight_decay"] for g in build_optimizer(model, cfg).param_groups] == [0.1]


def test_readme_task_example_trains_through_the_runner(tmp_path) -> None:
    """The engine page's "A task" block, registered and run like a bundled recipe."""
    import re
    from pathlib import Path

    from scratchdl.recipes import load_recipe
    from scratchdl.runner import run_recipe

    page = (Path(__file__).parents[2] / "docs/reference/engine.md").read_text()
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", page, re.S) if "regress" in b]
    assert len(block.strip().splitlines()) < 40  # the promise: under 40 lines
    exec(compile(block, "engine.md", "exec"), {})  # noqa: S102 - our own docs
    recipe = tmp_path / "regress.toml"
    recipe.write_text(
        'task = "regress"\n[train]\nepochs = 3\n[optimizer]\nname = "sgd"\nlr = 0.1\n'
        '[target]\nmetric = "val_mse"\n'
    )
    summary = run_recipe(load_recipe(str(recipe)), out=tmp_path / "run", quiet=True)
    assert summary["value"] < 0.05  # y is a noiseless linear function of x
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 3
