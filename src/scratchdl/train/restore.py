"""Rebuild a trained "classify" run from its directory: config, model weights, test data."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from scratchdl.config import Config
from scratchdl.data import Splits, load_splits
from scratchdl.errors import UserError
from scratchdl.models.resize import build_for_data
from scratchdl.train.checkpoint import load_checkpoint
from scratchdl.train.rundir import load_run_config


def load_trained_model(run_dir: str | Path) -> tuple[nn.Module, Config, Splits]:
    """(model in eval mode on CPU with the checkpoint's weights, resolved config, data splits).

    The splits are rebuilt exactly as the run saw them (same dataset, seed, normalization).
    """
    run_dir = Path(run_dir)
    cfg, _ = load_run_config(run_dir)
    if cfg.get("task", "classify") != "classify":
        raise UserError(f"{run_dir} is a {cfg['task']!r} run; only classify runs can be reloaded")
    state = load_checkpoint(run_dir / "checkpoint.pt")
    data = cfg["data"]
    splits = load_splits(
        data["dataset"],
        val_size=data["val_size"],
        seed=cfg["train"]["seed"],
        normalize=data["normalize"],
    )
    model = build_for_data(
        cfg["model"],
        in_channels=splits.info.in_channels,
        num_classes=splits.info.num_classes,
        native_size=splits.info.image_size,
        image_size=data.get("image_size", 0),
    )
    try:
        model.load_state_dict(state["modules"]["model"] if "modules" in state else state["model"])
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0][:160]
        raise UserError(f"{run_dir}/checkpoint.pt does not fit its config.toml ({first})") from None
    return model.eval(), cfg, splits
