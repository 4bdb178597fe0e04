"""Where a recipe's training step spends its time, and what the engine's speed settings buy.

Runs `--batches` training batches of RECIPE through the engine (its real data, model and
optimizer) and prints examples/s (tokens/s for language models) and the torch.profiler
table of the operators that took the most time. With `--before-after` it also times the
settings the engine used before its speed passes (optimizer.kernel=loop, torch's
per-parameter loop; train.channels_last=false; train.amp=none; model.compiled_pool=false
where the model has it), alternately with the recipe as it is now, and prints both.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/profile_recipe.py lenet-fmnist \
        [--batches 50] [--before-after] [--set KEY=VALUE ...] [--rows 15]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from scratchdl.recipes import load_recipe
from scratchdl.tasks import get_task
from scratchdl.train.engine import Engine
from scratchdl.train.task import RunInfo

BEFORE = ["optimizer.kernel=loop", "train.channels_last=false", "train.amp=none"]
# the second speed pass (2026-12-02), where the recipe has the setting
BEFORE_MODEL = ["model.compiled_pool=false"]


def engine_for(recipe: str, sets: list[str], batches: int) -> Engine:
    cfg = load_recipe(recipe, [*sets, "train.epochs=1", f"train.limit_batches={batches}"])
    run_dir = Path(tempfile.mkdtemp())  # what a task writes (vocab.json) goes there, not to cwd
    task = get_task(cfg["task"])(cfg, RunInfo(run_dir=run_dir))
    engine = Engine(task, show_progress=False)
    task.setup()
    engine._prepare_modules()
    engine._build_optimizers(1)
    engine._train_epoch(1, 1)  # warm-up
    return engine


def speed(engine: Engine) -> float:
    row = engine._train_epoch(1, 1)
    return row.get("tokens_per_s", row["examples_per_s"])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("recipe")
    p.add_argument("--batches", type=int, default=50)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--before-after", action="store_true")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--rows", type=int, default=15)
    args = p.parse_args()
    now = engine_for(args.recipe, args.set, args.batches)
    unit = "tokens/s" if now.task.log_per_token else "examples/s"
    if args.before_after:
        model_keys = now.task.cfg["model"]
        old = BEFORE + [kv for kv in BEFORE_MODEL if kv.split("=")[0].split(".")[1] in model_keys]
        before = engine_for(args.recipe, [*args.set, *old], args.batches)
        b, a = [], []
        for _ in range(args.repeats):
            b.append(speed(before))
            a.append(speed(now))
        print(f"{args.recipe}: before ({', '.join(old)}) {statistics.median(b):,.0f} {unit}")
        print(f"{args.recipe}: now (the recipe as it is)  {statistics.median(a):,.0f} {unit}")
        print(f"ratio now / before: {statistics.median(a) / statistics.median(b):.2f}x")
    else:
        value = statistics.median(speed(now) for _ in range(args.repeats))
        print(f"{args.recipe}: {value:,.0f} {unit}")
    from torch.profiler import profile

    with profile() as prof:
        now._train_epoch(1, 1)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
