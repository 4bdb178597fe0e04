"""Run a resolved recipe: make the run directory, record it in the store, call its task.

The run directory holds config.toml (fully resolved), meta.json (run id), metrics.jsonl
(one line per epoch), checkpoint.pt and curves.png. The store row goes from 'running' to
'completed', 'failed' (an exception; its one-line reason is stored) or 'interrupted' (Ctrl-C,
SIGTERM; a SIGKILL is noticed later by the store's stale-run reaper). Resuming a completed
run, or a copied run directory, makes a new row linked to the original by parent_id.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import shutil
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scratchdl.config import Config, dumps_toml
from scratchdl.errors import UserError
from scratchdl.plots.curves import plot_curves
from scratchdl.recipes.check import preflight
from scratchdl.store import RunStore, one_line, runs_root
from scratchdl.tasks import get_task
from scratchdl.train import distributed as dist
from scratchdl.train.engine import Engine
from scratchdl.train.task import RunInfo
from scratchdl.train.tensorboard import TensorBoardLog

# Test hook: SIGKILL this process right after epoch N is checkpointed and logged, so the
# resume tests exercise a real, unannounced kill at a known point.
KILL_AFTER_EPOCH_ENV = "SCRATCHDL_KILL_AFTER_EPOCH"
KILL_RANK_ENV = "SCRATCHDL_KILL_RANK"  # which process of a DDP run (default 0)


def _test_kill(epoch: int) -> None:
    if os.environ.get(KILL_AFTER_EPOCH_ENV) == str(epoch) and dist.rank() == int(
        os.environ.get(KILL_RANK_ENV, "0")
    ):
        os.kill(os.getpid(), signal.SIGKILL)


# Per-epoch metrics echoed to the console (all of them go to metrics.jsonl and the store).
SHOWN_METRICS = ("loss", "accuracy", "perplexity", "bleu")


@dataclass
class RunContext:
    cfg: Config
    run_id: str
    run_dir: Path
    store: RunStore | None
    quiet: bool = False
    resuming: bool = False
    tensorboard: TensorBoardLog | None = None
    set_up: bool = False  # the task built its data and model (training may begin)

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / "checkpoint.pt"

    @property
    def metrics_path(self) -> Path:
        return self.run_dir / "metrics.jsonl"

    def log_epoch(self, epoch: int, row: dict[str, float]) -> None:
        """Append the epoch to metrics.jsonl and the store, print a line, redraw curves."""
        if not dist.is_main_process():
            _test_kill(epoch)
            return
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(row) + "\n")
        self.store.log_epoch(self.run_id, epoch, row)
        if self.tensorboard is not None:
            self.tensorboard.log_epoch(epoch, row)
        if not self.quiet:
            shown = {k: v for k, v in row.items() if k.endswith(SHOWN_METRICS)}
            print(f"epoch {epoch}: " + "  ".join(f"{k} {v:.4f}" for k, v in shown.items()))
        plot_curves(self._history(), self.run_dir / "curves.png", self.cfg["recipe"])
        _test_kill(epoch)

    def replace_history(self, history: list[dict[str, float]]) -> None:
        """On resume the checkpoint is the truth: drop epochs logged after it was written."""
        if not dist.is_main_process():
            return
        tmp = self.metrics_path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(row) + "\n" for row in history))
        tmp.replace(self.metrics_path)
        for row in history:
            self.store.log_epoch(self.run_id, int(row["epoch"]), row)

    def _history(self) -> list[dict[str, float]]:
        lines = self.metrics_path.read_text().splitlines() if self.metrics_path.exists() else []
        return [json.loads(line) for line in lines if line.strip()]


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (e.g. from a job scheduler) ends the run like Ctrl-C: marked 'interrupted'."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _new_run_dir(cfg: Config, out: str | Path | None, run_id: str) -> Path:
    run_dir = Path(out) if out else runs_root() / run_id
    if (run_dir / "checkpoint.pt").exists() or (run_dir / "config.toml").exists():
        raise UserError(
            f"{run_dir} already holds a run: continue it with `scratchdl run --resume {run_dir}` "
            "or choose another --out"
        )
    if not run_dir.exists():
        _CREATED.add(run_dir.resolve())
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


# run directories this process created: a run that fails while setting up may remove them
_CREATED: set[Path] = set()


def _unregister(store: RunStore | None, run_id: str, run_dir: Path) -> None:
    """Undo a fresh run whose task refused its config while setting up (before any training):
    its store row goes, and so does its directory if this process created it (else only the
    files registration wrote), so a bad option leaves nothing behind, as preflight's errors."""
    if store is not None:
        store.delete_run(run_id)
    if run_dir.resolve() in _CREATED:
        shutil.rmtree(run_dir, ignore_errors=True)
    else:
        for name in ("config.toml", "meta.json"):
            (run_dir / name).unlink(missing_ok=True)


def train(ctx: RunContext) -> dict[str, Any]:
    """Build the recipe's task and fit it with the engine; the task's final metrics."""
    task = get_task(ctx.cfg["task"])(ctx.cfg, RunInfo(ctx.run_dir, ctx.run_id, quiet=ctx.quiet))
    if ctx.cfg["train"]["tensorboard"] and dist.is_main_process():
        ctx.tensorboard = TensorBoardLog(ctx.run_dir, dumps_toml(ctx.cfg))
    engine = Engine(
        task,
        checkpoint_path=ctx.checkpoint_path,
        on_epoch_end=ctx.log_epoch,
        on_history=ctx.replace_history,
        on_steps=ctx.tensorboard.log_steps if ctx.tensorboard else None,
        on_setup=lambda: setattr(ctx, "set_up", True),
        show_progress=not ctx.quiet,
    )
    try:
        return engine.fit(resume=ctx.resuming)
    finally:
        if ctx.tensorboard is not None:  # what the run drew, also when it stopped early
            ctx.tensorboard.add_figures()
            ctx.tensorboard.close()


def _resume_row(store: RunStore, cfg: Config, run_dir: Path) -> str:
    """The store row a resume of `run_dir` writes to.

    An unfinished run of this very directory continues in its own row (its config updated to
    `cfg`). A completed run, or a run whose row names another directory (a copy), is never
    touched: the resume gets a new row whose parent_id names it, and meta.json the new id.
    """
    meta = json.loads((run_dir / "meta.json").read_text())
    old_id = meta["run_id"]
    old = store.get_run(old_id)
    same_dir = old is not None and Path(old["run_dir"] or "").resolve() == run_dir.resolve()
    if old is not None and same_dir and old["status"] == "running":
        raise UserError(
            f"run {old_id} in {run_dir} is still running (pid {old['pid']} on {old['host']}); "
            "wait for it or stop it before resuming"
        )
    if old is not None and same_dir and old["status"] != "completed":
        store.resume_run(old_id, config=cfg)
        return old_id
    run_id = old_id if old is None else _fresh_id(cfg)  # None: a run from another store
    _start_row(store, cfg, run_dir, run_id, parent_id=None if old is None else old_id)
    if run_id != old_id:
        meta.update(run_id=run_id, parent_id=old_id)
        (run_dir / "meta.json").write_text(json.dumps(meta))
    return run_id


def _start_row(
    store: RunStore, cfg: Config, run_dir: Path, run_id: str, parent_id: str | None = None
) -> None:
    store.start_run(
        recipe=cfg["recipe"],
        config=cfg,
        seed=cfg["train"]["seed"],
        run_dir=str(run_dir.resolve()),
        headline_metric=cfg["target"]["metric"],
        run_id=run_id,
        parent_id=parent_id,
    )


def _fresh_id(cfg: Config) -> str:
    return f"{run_label(cfg)}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def run_label(cfg: Config) -> str:
    """The recipe, plus "@FILE" when data.dataset is a file of the user's own (not a named
    dataset): `lstm-austen@my.txt`. It starts the run id and is stored in meta.json and the
    summary, so a run on your own text is never mistaken for one on the recipe's corpus."""
    dataset = cfg.get("data", {}).get("dataset")
    if isinstance(dataset, str) and ("/" in dataset or "." in dataset) and Path(dataset).is_file():
        return f"{cfg['recipe']}@{Path(dataset).name}"
    return str(cfg["recipe"])


def _register(
    cfg: Config, store: RunStore, out: str | Path | None, resume: str | Path | None
) -> tuple[str, Path]:
    """Create (or reopen, with `resume`) the run directory and its store row."""
    if resume is not None:
        run_dir = Path(resume)
        run_id = _resume_row(store, cfg, run_dir)
        (run_dir / "config.toml").write_text(dumps_toml(cfg))  # --epochs may have grown
        return run_id, run_dir
    run_id = _fresh_id(cfg)
    run_dir = _new_run_dir(cfg, out, run_id)
    _start_row(store, cfg, run_dir, run_id)
    (run_dir / "config.toml").write_text(dumps_toml(cfg))
    meta = {"run_id": run_id, "recipe": cfg["recipe"], "label": run_label(cfg)}
    (run_dir / "meta.json").write_text(json.dumps(meta))
    return run_id, run_dir


def _register_on_rank0(
    cfg: Config, store: RunStore | None, out: str | Path | None, resume: str | Path | None
) -> tuple[str, Path]:
    """Rank 0 registers the run; every rank learns its id and directory (or rank 0's error)."""
    result: tuple[str, str] | str = ""
    error: UserError | None = None
    if store is not None:
        try:
            run_id, run_dir = _register(cfg, store, out, resume)
            result = (run_id, str(run_dir))
        except UserError as e:
            result, error = f"error:{e}", e
    result = dist.broadcast_object(result)
    if error is not None:
        raise error
    if isinstance(result, str):
        raise UserError(result.removeprefix("error:"))
    return result[0], Path(result[1])


def run_recipe(
    cfg: Config,
    *,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    quiet: bool = False,
    store: RunStore | None = None,
) -> dict[str, Any]:
    """Train and evaluate `cfg` (a resolved recipe); return the summary --json prints.

    Under torchrun (or `scratchdl run --nproc N`) every process calls this; rank 0 alone
    creates the run directory and store row and writes logs and checkpoints.
    """
    preflight(cfg, out=out, resume=resume)
    dist.init(cfg["train"]["device"])
    main = dist.is_main_process()
    store = (store or RunStore()) if main else None
    metric = cfg["target"]["metric"]
    run_id, run_dir = _register_on_rank0(cfg, store, out, resume)

    def finish(status: str, **kw: Any) -> None:
        if store is not None:
            store.finish_run(run_id, status, **kw)

    resuming = resume is not None
    ctx = RunContext(cfg, run_id, run_dir, store, quiet=quiet or not main, resuming=resuming)
    start = time.perf_counter()
    try:
        with _sigterm_as_interrupt():
            final = train(ctx)
        world = dist.world_size()
    except KeyboardInterrupt:
        # under torchrun a SIGTERM means another process failed: the run failed
        if dist.launched_by_torchrun():
            finish("failed", failure="another process of this distributed run failed or stopped")
        else:
            finish("interrupted")
        raise KeyboardInterrupt(str(run_dir)) from None  # the CLI names the dir to resume
    except UserError as e:
        if not resuming and main and not ctx.set_up:  # refused before training began
            _unregister(store, run_id, run_dir)
        else:
            finish("failed", failure=one_line(e))
        raise
    except BaseException as e:
        finish("failed", failure=one_line(e))
        raise
    finally:
        dist.shutdown()  # leave the process group (a no-op in one process)
    if metric not in final:
        error = UserError(
            f"recipe {cfg['recipe']}: task produced no {metric!r} (has {sorted(final)})"
        )
        finish("failed", failure=one_line(error))
        raise error
    value = float(final[metric])
    summary = {
        "run_id": run_id,
        "recipe": cfg["recipe"],
        "label": run_label(cfg),
        "epochs": cfg["train"]["epochs"],
        "metric": metric,
        "value": value,
        metric: value,
        "target": None if math.isnan(cfg["target"]["value"]) else cfg["target"]["value"],
        "examples_per_s": round(float(final.get("examples_per_s", 0.0)), 1),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "run_dir": str(run_dir.resolve()),
        "final": final,
        "world_size": world,
    }
    finish("completed", headline_value=value, summary=summary)
    return summary
