"""Rebuild a trained image classifier from its run directory, whatever task trained it.

`load_trained_model(run_dir)` gives (model, config, test data): the model maps images in the
run's data space (test_data.test.x, standardised with test_data.info.mean/std) to logits,
in eval mode on CPU. `robust`, `ensemble` and `report --confusion` use only this.

A task whose runs are image classifiers says so with a classmethod
`restore_classifier(run_dir, cfg) -> (model, TestData)` (see tasks/classify.py and
tasks/transfer.py); runs of any other task (language models, seq2seq) get a one-line error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from scratchdl.config import Config
from scratchdl.data.splits import DatasetInfo, TensorSplit
from scratchdl.errors import UserError
from scratchdl.tasks import get_task, list_tasks
from scratchdl.train.rundir import load_run_config


@dataclass
class TestData:
    """A run's test split as its model sees it, and what the data is (classes, mean/std)."""

    test: TensorSplit
    info: DatasetInfo


def image_classifier_tasks() -> list[str]:
    """Names of the tasks whose runs load_trained_model can rebuild."""
    return [n for n in list_tasks() if hasattr(get_task(n), "restore_classifier")]


def load_trained_model(run_dir: str | Path) -> tuple[nn.Module, Config, TestData]:
    """(model in eval mode on CPU with the run's trained weights, resolved config, test data)."""
    run_dir = Path(run_dir)
    cfg, _ = load_run_config(run_dir)
    name = cfg.get("task", "classify")
    restore = getattr(get_task(name), "restore_classifier", None)
    if restore is None:
        raise UserError(
            f"{run_dir} is a {name!r} run, not an image classifier: this needs a run of "
            f"{' or '.join(image_classifier_tasks())}"
        )
    model, data = restore(run_dir, cfg)
    return model.eval(), cfg, data


def load_weights(model: nn.Module, state: dict[str, Any], path: Path) -> None:
    """model.load_state_dict(state), a mismatch being a one-line UserError naming `path`."""
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0][:160]
        raise UserError(f"{path} does not fit its run's config.toml ({first})") from None
