"""Training the runs of a study (compare, ablate, search): reuse, claims, resume, parallel jobs.

For each resolved config, `ensure_run`:
1. reuses a completed run of exactly this config (canonical form, seed included);
2. else claims (config, seed) in the store, so a concurrent study waits for it instead of
   training it twice (a claim of a dead process is taken over);
3. resumes an interrupted run of this config from its checkpoint, or trains a new one.
`run_all` does this for many configs, in N parallel worker processes with `jobs=N`: the runs
of a study are independent, so the numbers are the same as with one job.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scratchdl.config import Config
from scratchdl.store import RunStore, canonical, config_key

Outcome = tuple[str, dict, bool]  # (run id, final metrics, trained now?)


def find_completed(store: RunStore, cfg: Config) -> dict[str, Any] | None:
    """The newest completed run of exactly this resolved config, if the store has one."""
    key = canonical(cfg)
    for run in store.runs(recipe=cfg["recipe"], status="completed"):
        if canonical(run["config"]) == key:
            return run
    return None


def find_resumable(store: RunStore, cfg: Config) -> dict[str, Any] | None:
    """The newest interrupted run of exactly this config whose directory still holds its
    checkpoint, so it can continue instead of starting over."""
    key = canonical(cfg)
    for run in store.runs(recipe=cfg["recipe"], status="interrupted"):
        run_dir = Path(run["run_dir"] or "")
        if canonical(run["config"]) != key or not (run_dir / "checkpoint.pt").is_file():
            continue
        meta = run_dir / "meta.json"
        if meta.is_file() and f'"{run["id"]}"' in meta.read_text():
            return run
    return None


def ensure_run(
    store: RunStore,
    cfg: Config,
    quiet: bool = True,
    log: Callable[[str], None] | None = None,
    poll_s: float = 1.0,
) -> Outcome:
    """(run id, final metrics, trained now?) of a completed run of exactly `cfg`."""
    from scratchdl.runner import run_recipe

    key = config_key(cfg)
    waited = False
    while True:
        found = find_completed(store, cfg)
        if found is not None:
            return found["id"], found["summary"].get("final", {}), False
        holder = store.try_claim(key, cfg["recipe"])
        if holder is None:
            break
        if not waited and log is not None:
            log(
                f"{cfg['recipe']} seed {cfg['train']['seed']}: pid {holder['pid']} on "
                f"{holder['host']} is training this config; waiting to reuse it"
            )
        waited = True
        time.sleep(poll_s)
    try:
        found = find_completed(store, cfg)  # finished between our look and our claim
        if found is not None:
            return found["id"], found["summary"].get("final", {}), False
        partial = find_resumable(store, cfg)
        if partial is not None:
            summary = run_recipe(cfg, resume=partial["run_dir"], quiet=quiet, store=store)
        else:
            summary = run_recipe(cfg, quiet=quiet, store=store)
    finally:
        store.release_claim(key)
    return summary["run_id"], summary["final"], True


def _init_worker(threads: int) -> None:
    import torch

    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)


def _worker(store: RunStore, cfg: Config) -> Outcome:
    return ensure_run(store, cfg)


def run_all(
    store: RunStore,
    configs: list[Config],
    *,
    jobs: int = 1,
    quiet: bool = True,
    on_result: Callable[[int, Outcome], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> list[Outcome]:
    """ensure_run for every config, in order; `jobs` > 1 trains in that many processes, with
    torch's threads split between them. `on_result(i, outcome)` is called in config order."""
    from scratchdl.errors import UserError

    if jobs < 1:
        raise UserError(f"--jobs must be >= 1, got {jobs}")
    outcomes: list[Outcome] = []
    if jobs == 1 or len(configs) <= 1:
        for i, cfg in enumerate(configs):
            outcomes.append(ensure_run(store, cfg, quiet=quiet, log=log))
            if on_result is not None:
                on_result(i, outcomes[-1])
        return outcomes
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import torch

    threads = max(1, torch.get_num_threads() // jobs)
    pool = ProcessPoolExecutor(
        max_workers=min(jobs, len(configs)),
        mp_context=multiprocessing.get_context("spawn"),  # fork after torch threads can hang
        initializer=_init_worker,
        initargs=(threads,),
    )
    try:
        futures = [pool.submit(_worker, store, cfg) for cfg in configs]
        for i, future in enumerate(futures):
            outcomes.append(future.result())
            if on_result is not None:
                on_result(i, outcomes[-1])
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)  # let workers mark their runs
        raise
    pool.shutdown()
    return outcomes
