"""The "transfer" task: ImageNet EfficientNet-Lite0 on a small labelled subset, three ways.

  frozen    the pretrained backbone as a fixed feature extractor: its pooled 1280-d features
            are computed once (eval mode) and only a new linear head is trained on them;
  finetune  the whole pretrained network trained, the backbone with a smaller learning rate
            (optimizer.lr * transfer.backbone_lr_factor) than the new head (optimizer.lr);
  scratch   the same architecture from random initialisation, every layer at optimizer.lr.

`transfer.mode = "all"` trains the three in that order in one run and reports
test_accuracy_frozen / test_accuracy_finetune / test_accuracy_scratch (and val_ / train_
twins); `test_accuracy` is the finetune number in "all", else the one mode's.

Data: `transfer.train_per_class` training images per class (seeded by train.seed,
stratified), `data.val_size` validation images from the rest of the training set (stratified;
val_accuracy per epoch is what `scratchdl search`/`ablate` select on), and the whole test set.
Reported numbers are the last epoch's (no best-epoch restore). Images stay at their stored
size in memory; each batch is resized (bilinear) to transfer.image_size, grey repeated to RGB
and standardised with ImageNet's mean/std inside the model (`ImageNetInput`).

Every mode starts from `seed_everything(train.seed)`, so a mode's result in "all" equals a
run of that mode alone. metrics.jsonl numbers epochs across the modes (frozen 1..F, then
finetune, then scratch); each row carries mode_id (index in MODES) and mode_epoch.
The checkpoint holds the running mode's trainer state and the finished modes' results, so a
killed run resumes exactly inside the mode it was in (the frozen mode recomputes its features,
bit-identical with the same thread count). Each finished mode also leaves its full network in
model-<mode>.pt. Limit: `--resume --epochs N` changes only modes that have not finished (and the
CLI wants N >= the epochs logged so far, counted over all modes).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import torch
from torch import nn

from scratchdl.data import DatasetInfo, TensorLoader
from scratchdl.data.splits import raw_arrays, stratified_split
from scratchdl.errors import UserError
from scratchdl.recipes.defaults import DEFAULTS
from scratchdl.train import distributed as dist
from scratchdl.train.augment import build_augment
from scratchdl.train.checkpoint import load_checkpoint, save_checkpoint
from scratchdl.train.device import resolve_device
from scratchdl.train.optim import build_optimizer, build_scheduler
from scratchdl.train.run import RunContext
from scratchdl.train.seeding import data_order_seed, seed_everything
from scratchdl.train.tasks import register_task
from scratchdl.train.trainer import Trainer, TrainerConfig
from scratchdl.vision.efficientnet import (
    FEATURE_DIM,
    ImageNetInput,
    backbone_parameters,
    efficientnet_lite0,
    head,
    pooled_features,
)

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first

MODES = ("frozen", "finetune", "scratch")
MODEL_NAME = "efficientnet-lite0"
MODEL_OPTIONS = {"dropout": 0.2, "drop_connect": 0.2, "bn_momentum": 0.1}
TRANSFER_DEFAULTS = {
    "mode": "all",  # frozen, finetune, scratch, or all (the three in sequence)
    "train_per_class": 100,  # labelled training images per class
    "image_size": 64,  # side the images are resized to before the network
    "backbone_lr_factor": 0.1,  # finetune: backbone lr = optimizer.lr * this
    "frozen_epochs": 30,  # epochs of the head on frozen features (cheap); others: train.epochs
}


def model_options(name: str) -> dict[str, Any]:
    if name != MODEL_NAME:
        raise UserError(f"the transfer task's model.name must be {MODEL_NAME!r}, got {name!r}")
    return dict(MODEL_OPTIONS)


# ----------------------------------------------------------------------------- data


@dataclass
class Subsets:
    """Images as float32 [N, C, H, W] in [0, 1] (stored size) and int64 labels [N]."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    info: DatasetInfo
    train_idx: np.ndarray  # rows of the dataset's training set, sorted
    val_idx: np.ndarray


def stratified_subset(y: np.ndarray, per_class: int, num_classes: int, seed: int) -> np.ndarray:
    """Sorted indices of exactly `per_class` examples of each class 0..num_classes-1.

    Which examples is decided by one seeded permutation (NumPy's default_rng(seed)).
    """
    if isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1:
        raise UserError(f"transfer.train_per_class: expected an int >= 1, got {per_class!r}")
    perm = np.random.default_rng(seed).permutation(len(y))
    shuffled = y[perm]
    picked = []
    for c in range(num_classes):
        rows = perm[shuffled == c][:per_class]
        if len(rows) < per_class:
            raise UserError(
                f"transfer.train_per_class={per_class}: class {c} has only {len(rows)} "
                "training images; lower it"
            )
        picked.append(rows)
    return np.sort(np.concatenate(picked))


def _images(x: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(x.astype(np.float32)).div_(255)
    return t.unsqueeze(1) if t.ndim == 3 else t


def load_subsets(dataset: str, train_per_class: int, val_size: int, seed: int) -> Subsets:
    """The labelled subset, a validation set from the remaining training images, the test set."""
    raw = raw_arrays(dataset)
    channels = 1 if raw.train_x.ndim == 3 else raw.train_x.shape[1]
    if channels not in (1, 3):
        raise UserError(f"transfer needs grey or RGB images; {dataset} has {channels} channels")
    num_classes = len(raw.classes)
    train_idx = stratified_subset(raw.train_y, train_per_class, num_classes, seed)
    rest = np.setdiff1d(np.arange(len(raw.train_y)), train_idx)
    if isinstance(val_size, bool) or not isinstance(val_size, int) or not 0 < val_size < len(rest):
        raise UserError(
            f"data.val_size: the transfer task needs an int count in 1..{len(rest) - 1} "
            f"(images left after the labelled subset), got {val_size!r}"
        )
    val_idx = rest[stratified_split(raw.train_y[rest], val_size, seed)[1]]
    info = DatasetInfo(
        name=dataset,
        num_classes=num_classes,
        in_channels=channels,
        image_size=tuple(raw.train_x.shape[-2:]),
        classes=list(raw.classes),
        mean=[0.0] * channels,  # pixels stay in [0, 1]; ImageNetInput standardises
        std=[1.0] * channels,
    )
    return Subsets(
        _images(raw.train_x[train_idx]),
        torch.from_numpy(raw.train_y[train_idx]),
        _images(raw.train_x[val_idx]),
        torch.from_numpy(raw.train_y[val_idx]),
        _images(raw.test_x),
        torch.from_numpy(raw.test_y.copy()),
        info,
        train_idx,
        val_idx,
    )


# ----------------------------------------------------------------------------- models


def build_network(mode: str, num_classes: int, image_size: int, options: dict[str, Any]):
    """(net, effnet): net = Sequential(ImageNetInput, effnet) takes [B, 1|3, h, w] in [0, 1].

    frozen: pretrained, backbone parameters with requires_grad=False and the backbone kept in
    eval mode by the caller; finetune: pretrained; scratch: random initialisation.
    """
    if mode not in MODES:
        raise UserError(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")
    unknown = sorted(set(options) - set(MODEL_OPTIONS))
    if unknown:
        raise UserError(
            f"model {MODEL_NAME!r} has no option {', '.join(unknown)} "
            f"(allowed: {', '.join(MODEL_OPTIONS)})"
        )
    effnet = efficientnet_lite0(
        num_classes, pretrained=mode != "scratch", image_size=image_size, **options
    )
    if mode == "frozen":
        for p in backbone_parameters(effnet):
            p.requires_grad_(False)
    return nn.Sequential(ImageNetInput(image_size), effnet), effnet


def build_mode_optimizer(
    mode: str, effnet: nn.Module, ocfg: dict[str, Any], backbone_lr_factor: float
) -> torch.optim.Optimizer:
    """The recipe's optimizer over what `mode` trains.

    frozen: the head only; scratch: every parameter at optimizer.lr; finetune: two parameter
    groups, head first at optimizer.lr, then the backbone at optimizer.lr * backbone_lr_factor.
    """
    if mode == "frozen":
        return build_optimizer(head(effnet), ocfg)
    if mode == "scratch":
        return build_optimizer(effnet, ocfg)
    if mode != "finetune":
        raise UserError(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")
    # build_optimizer validates name and lr; add_param_group copies its other hyperparameters
    optimizer = build_optimizer(head(effnet), ocfg)
    optimizer.param_groups[0]["name"] = "head"
    optimizer.add_param_group(
        {
            "params": backbone_parameters(effnet),
            "lr": ocfg["lr"] * backbone_lr_factor,
            "name": "backbone",
        }
    )
    return optimizer


@torch.no_grad()
def extract_features(
    net: nn.Module, x: torch.Tensor, batch_size: int, device: torch.device
) -> torch.Tensor:
    """[N, C, h, w] images -> [N, 1280] pooled features of net = Sequential(input, effnet).

    The network is put in eval mode (BatchNorm uses its running statistics, no dropout).
    """
    net.eval()
    prep, effnet = net[0], net[1]
    out = [
        pooled_features(effnet, prep(x[i : i + batch_size].to(device))).cpu()
        for i in range(0, len(x), batch_size)
    ]
    return torch.cat(out) if out else torch.empty(0, FEATURE_DIM)


# ----------------------------------------------------------------------------- config


def _check_config(cfg: dict[str, Any], modes: list[str]) -> None:
    tcfg = cfg["transfer"]
    factor = tcfg["backbone_lr_factor"]
    if isinstance(factor, bool) or not isinstance(factor, int | float) or not 0 < factor <= 1:
        raise UserError(
            f"transfer.backbone_lr_factor: expected a number in (0, 1], got {factor!r} "
            "(for a frozen backbone use transfer.mode=frozen)"
        )
    size = tcfg["image_size"]
    if isinstance(size, bool) or not isinstance(size, int) or size < 32:
        raise UserError(f"transfer.image_size: expected an int >= 32, got {size!r}")
    frozen_epochs = tcfg["frozen_epochs"]
    if isinstance(frozen_epochs, bool) or not isinstance(frozen_epochs, int) or frozen_epochs < 1:
        raise UserError(f"transfer.frozen_epochs: expected an int >= 1, got {frozen_epochs!r}")
    if cfg["data"]["normalize"]:
        raise UserError(
            "data.normalize: the transfer task standardises with ImageNet's mean/std; "
            "set data.normalize=false"
        )
    augmenting = any(cfg["augment"][k] != v for k, v in DEFAULTS["augment"].items())
    if augmenting and "frozen" in modes:
        raise UserError(
            "[augment] cannot apply to transfer.mode=frozen/all (features are computed once): "
            "use mode finetune or scratch, or turn augmentation off"
        )
    if dist.world_size() > 1:
        raise UserError("the transfer task runs in one process: start it without torchrun")
    metric = cfg["target"]["metric"]
    match = re.fullmatch(r"(train|val|test)_(accuracy|loss)_(\w+)", metric)
    if match and match.group(3) not in modes:
        raise UserError(
            f"target.metric={metric} but transfer.mode={tcfg['mode']} does not train "
            f"{match.group(3)!r}: set target.metric=test_accuracy (the mode's own) or "
            f"test_accuracy_{modes[0]}"
        )


def _modes(mode: str) -> list[str]:
    if mode == "all":
        return list(MODES)
    if mode not in MODES:
        raise UserError(f"transfer.mode: expected all, {', '.join(MODES)}; got {mode!r}")
    return [mode]


# ----------------------------------------------------------------------------- the task


@register_task("transfer", defaults={"transfer": TRANSFER_DEFAULTS}, model_options=model_options)
def transfer(ctx: RunContext) -> dict[str, Any]:
    cfg, tcfg, train_cfg = ctx.cfg, ctx.cfg["transfer"], ctx.cfg["train"]
    modes = _modes(tcfg["mode"])
    _check_config(cfg, modes)
    seed = train_cfg["seed"]
    data = load_subsets(
        cfg["data"]["dataset"], tcfg["train_per_class"], cfg["data"]["val_size"], seed
    )
    device = resolve_device(train_cfg["device"])
    epochs = {m: tcfg["frozen_epochs"] if m == "frozen" else train_cfg["epochs"] for m in modes}
    state, finished = None, {}
    if ctx.resuming and ctx.checkpoint_path.exists():
        state = load_checkpoint(ctx.checkpoint_path)
        if state.get("transfer", {}).get("mode") not in modes:
            raise UserError(
                f"{ctx.checkpoint_path} is not a checkpoint of this transfer run "
                f"(transfer.mode={tcfg['mode']}): start a new run instead of --resume"
            )
        finished = dict(state["transfer"]["finished"])
    # run-wide epoch numbers: the modes one after another (a finished mode keeps its length
    # even if --resume --epochs changed train.epochs since)
    offsets, done = {}, 0
    for m in modes:
        offsets[m] = done
        done += len(finished[m]["history"]) if m in finished else epochs[m]
    if state is not None:
        running = state["transfer"]["mode"]
        rows = [r for m in modes if m in finished for r in finished[m]["history"]]
        if running not in finished:
            rows += [_log_row(r, running, offsets[running]) for r in state["history"]]
        ctx.replace_history(rows)

    for mode in modes:
        if mode in finished:
            continue
        resume = state if state is not None and state["transfer"]["mode"] == mode else None
        finished[mode] = _run_mode(
            ctx, mode, data, device, epochs[mode], offsets[mode], resume, finished
        )

    if dist.is_main_process():
        plot_modes(ctx.metrics_path, ctx.run_dir / "transfer.png", cfg["recipe"])
    return _summary(finished, modes, data)


def _run_mode(
    ctx: RunContext,
    mode: str,
    data: Subsets,
    device: torch.device,
    epochs: int,
    offset: int,
    resume: dict[str, Any] | None,
    finished: dict[str, Any],
) -> dict[str, Any]:
    """Train one mode (or continue it from `resume`), evaluate on test, checkpoint the result."""
    cfg, tcfg, train_cfg = ctx.cfg, ctx.cfg["transfer"], ctx.cfg["train"]
    seed = train_cfg["seed"]
    seed_everything(seed)  # same start for every mode: results do not depend on the others
    options = {k: v for k, v in cfg["model"].items() if k != "name"}
    net, effnet = build_network(mode, data.info.num_classes, tcfg["image_size"], options)
    net.to(device)
    if train_cfg["channels_last"]:  # NHWC: depthwise convs run ~1.5x faster on CPU
        net.to(memory_format=torch.channels_last)
    optimizer = build_mode_optimizer(mode, effnet, cfg["optimizer"], tcfg["backbone_lr_factor"])
    bs, eval_bs = cfg["data"]["batch_size"], cfg["data"]["eval_batch_size"]
    t0 = time.perf_counter()
    if mode == "frozen":
        # the backbone never changes, so its features are computed once; only the head trains
        train_x, val_x, test_x = (
            extract_features(net, x, eval_bs, device)
            for x in (data.train_x, data.val_x, data.test_x)
        )
        n_images = len(train_x) + len(val_x) + len(test_x)
        feature_rate = n_images / (time.perf_counter() - t0)
        model: nn.Module = nn.Sequential(effnet._dropout, head(effnet))  # the head's forward
        augment = None
    else:
        train_x, val_x, test_x = data.train_x, data.val_x, data.test_x
        model, feature_rate = net, None
        augment = build_augment(cfg["augment"], data.info)
    train_loader = TensorLoader(train_x, data.train_y, bs, shuffle=True, seed=data_order_seed(seed))
    scheduler = build_scheduler(optimizer, cfg["schedule"], len(train_loader), epochs)
    extra = {"run_id": ctx.run_id, "transfer": {"mode": mode, "finished": dict(finished)}}
    trainer = Trainer(
        model,
        optimizer,
        scheduler,
        train_loader,
        {"val": TensorLoader(val_x, data.val_y, eval_bs)},
        TrainerConfig(
            epochs=epochs,
            grad_clip=train_cfg["grad_clip"],
            amp=train_cfg["amp"],
            metrics=train_cfg["metrics"],
            show_progress=not ctx.quiet,
            channels_last=train_cfg["channels_last"],
        ),
        device=device,
        checkpoint_path=ctx.checkpoint_path,
        extra_state=extra,
        augment=augment,
    )
    if resume is not None:
        trainer.load_state_dict(resume)
    if not ctx.quiet:
        print(f"transfer: {mode} ({epochs} epochs)")

    trainer.fit(on_epoch_end=lambda e, row: ctx.log_epoch(offset + e, _log_row(row, mode, offset)))
    result: dict[str, Any] = dict(trainer.history[-1]) if trainer.history else {}
    result.update(trainer.evaluate(TensorLoader(test_x, data.test_y, eval_bs), "test"))
    result["examples_per_s"] = trainer.examples_per_s or result.get("examples_per_s", 0.0)
    if feature_rate is not None:
        result["feature_images_per_s"] = feature_rate
    result["parameters"] = sum(p.numel() for p in effnet.parameters())
    result["trainable_parameters"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    result["history"] = [_log_row(r, mode, offset) for r in trainer.history]
    # mark the mode finished in the checkpoint, so a resume skips it
    extra["transfer"]["finished"] = {**finished, mode: result}
    save_checkpoint(trainer.state_dict(), ctx.checkpoint_path)
    save_checkpoint(
        {"model": effnet.state_dict(), "mode": mode, "test_accuracy": result["test_accuracy"]},
        ctx.run_dir / f"model-{mode}.pt",
    )
    return result


def _log_row(row: dict[str, float], mode: str, offset: int) -> dict[str, float]:
    """A trainer row (epoch counted within its mode) as logged: run-wide epoch plus the mode."""
    return {
        **row,
        "epoch": offset + int(row["epoch"]),
        "mode_id": MODES.index(mode),
        "mode_epoch": int(row["epoch"]),
    }


SUMMARY_KEYS = (
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "test_loss",
    "test_accuracy",
    "examples_per_s",
    "trainable_parameters",
)


def _summary(results: dict[str, Any], modes: list[str], data: Subsets) -> dict[str, Any]:
    """Every mode's numbers suffixed with its name; unsuffixed: the headline mode's."""
    final: dict[str, Any] = {}
    for mode in modes:
        final.update({f"{k}_{mode}": results[mode][k] for k in SUMMARY_KEYS if k in results[mode]})
    if "feature_images_per_s" in results.get("frozen", {}):
        final["feature_images_per_s"] = results["frozen"]["feature_images_per_s"]
    headline = "finetune" if "finetune" in modes else modes[0]
    final.update({k: results[headline][k] for k in SUMMARY_KEYS if k in results[headline]})
    final["parameters"] = results[headline]["parameters"]
    final.update(
        train_images=len(data.train_y), val_images=len(data.val_y), test_images=len(data.test_y)
    )
    return final


# ----------------------------------------------------------------------------- figure


def plot_modes(metrics_path: Path, out: Path, title: str) -> None:
    """transfer.png: validation accuracy per epoch of each mode, on one axis."""
    rows = [json.loads(line) for line in metrics_path.read_text().splitlines() if line.strip()]
    fig, ax = plt.subplots(figsize=(5, 3.4), constrained_layout=True)
    for i, mode in enumerate(MODES):
        mine = [r for r in rows if r.get("mode_id") == i and "val_accuracy" in r]
        if mine:
            ax.plot(
                [r["mode_epoch"] for r in mine],
                [r["val_accuracy"] for r in mine],
                marker="o",
                ms=3,
                label=mode,
            )
    ax.set_xlabel("epoch (within mode)")
    ax.set_ylabel("val_accuracy")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
    ax.set_title(title, fontsize=10)
    tmp = out.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(out)
