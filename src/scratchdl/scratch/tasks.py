"""Recipe tasks for the from-scratch pieces: kNN, linear classifiers, hand-written nets.

They plug into the same run machinery as the "classify" task (run directory, store,
metrics.jsonl, curves, atomic per-epoch checkpoints with exact resume), but train with
the hand-written code only: no autograd and no torch.optim.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from scratchdl.data import TensorLoader, load_splits
from scratchdl.errors import UserError
from scratchdl.scratch.knn import cross_validate_k, knn_predict
from scratchdl.scratch.linear import LinearClassifier, LinearSVM, Softmax
from scratchdl.scratch.nets import ConvNet, FullyConnectedNet, ScratchNet, TwoLayerNet
from scratchdl.scratch.optim import build_optimizer
from scratchdl.scratch.schedules import build_schedule
from scratchdl.train.checkpoint import load_checkpoint, save_checkpoint
from scratchdl.train.optim import lr_factor as schedule_factor
from scratchdl.train.run import RunContext
from scratchdl.train.seeding import data_order_seed, rng_state, seed_everything, set_rng_state
from scratchdl.train.tasks import register_task

# ----------------------------------------------------------------------------- kNN


def _fixed_model(expected: str):
    """model_options for tasks whose model is the task itself (kNN, linear)."""

    def options(name: str) -> dict[str, Any]:
        if name != expected:
            raise UserError(f"this task's model.name must be {expected!r}, got {name!r}")
        return {}

    return options


@register_task(
    "knn",
    defaults={
        "knn": {
            "ks": [1, 3, 5, 7, 9, 11],  # candidates for k, chosen by cross-validation
            "metric": "l2",  # l1 or l2
            "folds": 5,
            "max_mib": 512,  # memory budget of one distance block
        }
    },
    model_options=_fixed_model("knn"),
)
def knn(ctx: RunContext) -> dict[str, Any]:
    """Choose k by k-fold CV on the whole training set, then classify the test set."""
    cfg, kcfg = ctx.cfg, ctx.cfg["knn"]
    seed = cfg["train"]["seed"]
    splits = load_splits(cfg["data"]["dataset"], val_size=0, seed=seed, normalize=False)
    x_train = splits.train.x.flatten(1)
    x_test = splits.test.x.flatten(1)
    budget = int(kcfg["max_mib"]) * 2**20
    best_k, fold_acc = cross_validate_k(
        x_train, splits.train.y, kcfg["ks"], kcfg["folds"], kcfg["metric"], seed, budget
    )
    start = time.perf_counter()
    pred = knn_predict(
        x_test,
        x_train,
        splits.train.y,
        best_k,
        kcfg["metric"],
        budget,
        num_classes=splits.info.num_classes,
    )
    seconds = time.perf_counter() - start
    row: dict[str, float] = {"epoch": 1, "best_k": best_k}
    for k, accs in fold_acc.items():
        row[f"cv_accuracy_k{k}"] = sum(accs) / len(accs)
    row["val_accuracy"] = row[f"cv_accuracy_k{best_k}"]
    save_checkpoint(
        {"model": {}, "epoch": 1, "best_k": best_k, "history": [row]}, ctx.checkpoint_path
    )
    ctx.log_epoch(1, row)
    return {
        **row,
        "test_accuracy": (pred == splits.test.y).double().mean().item(),
        "examples_per_s": x_test.shape[0] / seconds,  # test queries classified per second
    }


# ----------------------------------------------------------------------------- shared loop


def _flat_splits(ctx: RunContext):
    d = ctx.cfg["data"]
    return load_splits(
        d["dataset"],
        val_size=d["val_size"],
        seed=ctx.cfg["train"]["seed"],
        normalize=d["normalize"],
    )


def _accuracy(scores_fn, x: torch.Tensor, y: torch.Tensor, batch: int) -> float:
    if len(y) == 0:
        return float("nan")
    correct = 0
    for i in range(0, len(y), batch):
        correct += (scores_fn(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum().item()
    return correct / len(y)


def _resume_state(ctx: RunContext) -> dict[str, Any] | None:
    if ctx.resuming and ctx.checkpoint_path.exists():
        state = load_checkpoint(ctx.checkpoint_path)
        ctx.replace_history(state["history"])
        return state
    return None


# ----------------------------------------------------------------------------- linear


LINEAR = {"svm": LinearSVM, "softmax": Softmax}


@register_task(
    "linear-scratch",
    defaults={"linear": {"loss": "softmax", "reg": 1e-4, "l1_ratio": 0.0}},
    model_options=_fixed_model("linear"),
)
def linear_scratch(ctx: RunContext) -> dict[str, Any]:
    """A linear SVM or softmax classifier with hand-written gradients and minibatch SGD.

    optimizer.lr is the SGD step; the schedule's lr factor is applied once per epoch.
    """
    cfg, lcfg, tcfg = ctx.cfg, ctx.cfg["linear"], ctx.cfg["train"]
    if lcfg["loss"] not in LINEAR:
        raise UserError(f"linear.loss must be one of {', '.join(LINEAR)}, got {lcfg['loss']!r}")
    seed = tcfg["seed"]
    seed_everything(seed)
    splits = _flat_splits(ctx)
    clf: LinearClassifier = LINEAR[lcfg["loss"]](bias=True)
    epochs, history, start_epoch = tcfg["epochs"], [], 0
    state = _resume_state(ctx)
    if state is not None:
        clf.W, history, start_epoch = state["model"]["W"], list(state["history"]), state["epoch"]
    # the shared schedule, stepped once per epoch (one "step" = one epoch here)
    lr_factor = schedule_factor(cfg["schedule"], steps_per_epoch=1, total_steps=epochs)
    train_seconds = 0.0
    for epoch in range(start_epoch + 1, epochs + 1):
        t0 = time.perf_counter()
        lr = cfg["optimizer"]["lr"] * lr_factor(epoch - 1)
        losses = clf.train(
            splits.train.x,
            splits.train.y,
            lr=lr,
            reg=lcfg["reg"],
            l1_ratio=lcfg["l1_ratio"],
            epochs=1,
            batch_size=cfg["data"]["batch_size"],
            seed=seed * 100_003 + epoch,
            num_classes=splits.info.num_classes,
        )
        train_seconds += time.perf_counter() - t0
        row = {
            "epoch": epoch,
            "train_loss": sum(losses) / len(losses),
            "train_accuracy": _accuracy(clf.scores, splits.train.x, splits.train.y, 8192),
            "val_accuracy": _accuracy(clf.scores, splits.val.x, splits.val.y, 8192),
            "lr": lr,
            "examples_per_s": len(splits.train.y) / (time.perf_counter() - t0),
        }
        history.append(row)
        save_checkpoint(
            {"model": {"W": clf.W}, "epoch": epoch, "history": history}, ctx.checkpoint_path
        )
        ctx.log_epoch(epoch, row)
    done = len(splits.train.y) * (epochs - start_epoch)
    return {
        **history[-1],
        "test_accuracy": _accuracy(clf.scores, splits.test.x, splits.test.y, 8192),
        "examples_per_s": done / train_seconds if train_seconds else history[-1]["examples_per_s"],
    }


# ----------------------------------------------------------------------------- nets

SCRATCH_NETS: dict[str, dict[str, Any]] = {
    "twolayer": {"hidden_dim": 256, "weight_scale": 0.0, "reg": 0.0},
    "fcnet": {
        "hidden_dims": [256, 128],
        "normalization": "none",
        "dropout": 0.0,
        "weight_scale": 0.0,
        "reg": 0.0,
    },
    "convnet": {
        "conv_channels": [16, 32],
        "kernel_size": 3,
        "hidden_dims": [128],
        "batchnorm": True,
        "weight_scale": 0.0,
        "reg": 0.0,
    },
}


def scratch_net_options(name: str) -> dict[str, Any]:
    if name not in SCRATCH_NETS:
        raise UserError(f"unknown scratch net {name!r} (known: {', '.join(SCRATCH_NETS)})")
    return dict(SCRATCH_NETS[name])


def build_scratch_net(model: dict[str, Any], info: Any, seed: int) -> ScratchNet:
    """weight_scale 0 means Kaiming initialisation (sqrt(2 / fan_in))."""
    opts = {k: v for k, v in model.items() if k != "name"}
    opts["weight_scale"] = opts["weight_scale"] or None
    shape = (info.in_channels, *info.image_size)
    common = {"num_classes": info.num_classes, "seed": seed}
    if model["name"] == "twolayer":
        return TwoLayerNet(input_dim=shape[0] * shape[1] * shape[2], **common, **opts)
    if model["name"] == "fcnet":
        norm = opts.pop("normalization")
        return FullyConnectedNet(
            input_dim=shape[0] * shape[1] * shape[2],
            normalization=None if norm == "none" else norm,
            **common,
            **opts,
        )
    return ConvNet(input_shape=shape, **common, **opts)


def _scratch_optimizer(params: dict[str, torch.Tensor], ocfg: dict[str, Any]):
    name, hp = ocfg["name"], {"lr": ocfg["lr"], "weight_decay": ocfg["weight_decay"]}
    if name == "sgd":
        hp.update(momentum=ocfg["momentum"], nesterov=ocfg["nesterov"])
    elif name in ("adam", "adamw"):
        hp["betas"] = tuple(ocfg["betas"])
    elif name == "rmsprop":
        hp["momentum"] = ocfg["momentum"]
    return build_optimizer(name, params, **hp)


def _scratch_schedule(opt: Any, scfg: dict[str, Any], steps_per_epoch: int, epochs: int):
    hp: dict[str, Any] = {"warmup_steps": int(round(scfg["warmup_epochs"] * steps_per_epoch))}
    name = scfg["name"]
    if name == "step":
        hp.update(step_size=scfg["step_epochs"] * steps_per_epoch, gamma=scfg["gamma"])
    elif name == "linear":
        hp["end_factor"] = scfg["min_factor"]
    return build_schedule(name, opt, steps_per_epoch * epochs, **hp)


@register_task("net-scratch", model_options=scratch_net_options)
def net_scratch(ctx: RunContext) -> dict[str, Any]:
    """A hand-written net (forward and backward by hand) trained with a hand-written optimizer."""
    cfg, tcfg = ctx.cfg, ctx.cfg["train"]
    seed, epochs = tcfg["seed"], tcfg["epochs"]
    seed_everything(seed)
    splits = _flat_splits(ctx)
    net = build_scratch_net(cfg["model"], splits.info, seed)
    loader = TensorLoader(
        splits.train.x,
        splits.train.y,
        cfg["data"]["batch_size"],
        shuffle=True,
        seed=data_order_seed(seed),
    )
    opt = _scratch_optimizer(net.params, cfg["optimizer"])
    sched = _scratch_schedule(opt, cfg["schedule"], len(loader), epochs)
    history: list[dict[str, float]] = []
    start_epoch = 0
    state = _resume_state(ctx)
    if state is not None:
        for name, t in state["model"]["params"].items():
            net.params[name].copy_(t)  # in place: the optimizer holds these tensors
        for name, t in state["model"]["buffers"].items():
            net.buffers[name].copy_(t)
        net.generator.set_state(state["net_generator"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        history, start_epoch = list(state["history"]), state["epoch"]

    def scores(x: torch.Tensor) -> torch.Tensor:
        return net.loss(x)

    eval_bs = cfg["data"]["eval_batch_size"]
    train_seconds, seen = 0.0, 0
    for epoch in range(start_epoch + 1, epochs + 1):
        net.train()
        loader.set_epoch(epoch)
        t0, loss_sum, n = time.perf_counter(), 0.0, 0
        for xb, yb in loader:
            loss, grads = net.loss(xb, yb)
            if not torch.isfinite(loss):
                raise UserError(f"loss became {loss.item()} at epoch {epoch}: lower optimizer.lr")
            opt.step(grads)
            sched.step()
            loss_sum += loss.item() * len(yb)
            n += len(yb)
        elapsed = time.perf_counter() - t0
        train_seconds, seen = train_seconds + elapsed, seen + n
        net.eval()
        row = {
            "epoch": epoch,
            "train_loss": loss_sum / n,
            "val_accuracy": _accuracy(scores, splits.val.x, splits.val.y, eval_bs),
            "lr": opt.param_groups[0]["lr"],
            "examples_per_s": n / elapsed,
        }
        history.append(row)
        save_checkpoint(
            {
                "model": {"params": net.params, "buffers": net.buffers},
                "net_generator": net.generator.get_state(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "rng": rng_state(),
                "epoch": epoch,
                "history": history,
            },
            ctx.checkpoint_path,
        )
        ctx.log_epoch(epoch, row)
    net.eval()
    return {
        **history[-1],
        "test_accuracy": _accuracy(scores, splits.test.x, splits.test.y, eval_bs),
        "examples_per_s": seen / train_seconds if train_seconds else history[-1]["examples_per_s"],
        "parameters": net.num_params(),
    }
