"""The results store: every run and its per-epoch metrics in $SCRATCHDL_RUNS/runs.sqlite."""

from scratchdl.store.sqlite import RunStore, lower_is_better, runs_root

__all__ = ["RunStore", "lower_is_better", "runs_root"]
