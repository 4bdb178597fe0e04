"""The results store: every run and its per-epoch metrics in $SCRATCHDL_RUNS/runs.sqlite."""

from scratchdl.store.canon import canonical, config_key, differing_keys
from scratchdl.store.sqlite import RunStore, lower_is_better, one_line, runs_root

__all__ = [
    "RunStore",
    "canonical",
    "config_key",
    "differing_keys",
    "lower_is_better",
    "one_line",
    "runs_root",
]
