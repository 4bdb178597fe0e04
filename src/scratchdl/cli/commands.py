"""The subcommands behind `scratchdl list | run | report | data`."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from scratchdl.cli.table import render
from scratchdl.errors import UserError


def cmd_list(args: argparse.Namespace) -> int:
    from scratchdl.recipes import describe, list_recipes, load_recipe, recipe_data
    from scratchdl.recipes.chapters import FOOTNOTE, grouped, ours, results_markdown, wall_time
    from scratchdl.store import RunStore

    shipped = {name: load_recipe(name) for name in list_recipes()}
    rows = {name: {**describe(cfg), **recipe_data(name)} for name, cfg in shipped.items()}
    if args.format == "md":  # README's results table
        print(results_markdown([row for row in rows.values() if "result" in row]))
        return 0
    store = RunStore()
    for name, row in rows.items():
        result = row.get("result")
        row["shipped"] = ours(row["metric"], result["value"]) if result else None
        row["wall time"] = wall_time(result) if result else None
        best = store.best(name, shipped=shipped[name])
        row["best as shipped"] = best["headline_value"] if best else None
    groups = [
        (f"{i}. {c.title}  (docs: {c.page})", names)
        for i, (c, names) in enumerate(
            grouped(list(rows), {n: r.get("chapter") for n, r in rows.items()}), 1
        )
    ]
    groups.append(("other recipes", sorted(n for n, r in rows.items() if "chapter" not in r)))
    order = [name for _, names in groups for name in names]
    columns = ["recipe", "dataset", "metric", "target", "shipped", "wall time", "best as shipped"]
    lines = render([rows[n] for n in order], columns).splitlines()
    out, at = lines[:2], 2
    for title, names in groups:
        if names:
            out += [title, *lines[at : at + len(names)]]
            at += len(names)
    print("\n".join(out))
    print(
        "\nshipped: the result recorded in the recipe (README's table). best as shipped: the best "
        "stored run of the recipe exactly as shipped (any seed, no other --set or --epochs); see "
        "`scratchdl report` for all runs.\n" + FOOTNOTE.split(" Wall")[0]
    )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from scratchdl.recipes import load_recipe
    from scratchdl.runner import run_recipe
    from scratchdl.train.rundir import load_run_config

    if args.resume:
        if args.set or args.seed is not None:
            raise UserError(
                "--resume continues a run as it was: drop --set/--seed (only --epochs may grow)"
            )
        if args.recipe:
            raise UserError(
                f"--resume continues the recipe stored in {args.resume}: drop {args.recipe} "
                f"(`scratchdl run --resume {args.resume}`)"
            )
        cfg, _ = load_run_config(args.resume)
    elif not args.recipe:
        raise UserError("scratchdl run needs a RECIPE (see `scratchdl list`) or --resume RUN_DIR")
    else:
        overrides = list(args.set or [])
        if args.seed is not None:
            overrides.append(f"train.seed={args.seed}")
        cfg = load_recipe(args.recipe, overrides)
    if args.epochs is not None:
        if args.epochs < 1:
            raise UserError(f"--epochs must be >= 1, got {args.epochs}")
        if args.resume:
            done = _epochs_done(Path(args.resume))
            if args.epochs < done:
                raise UserError(
                    f"{args.resume} has already trained {done} epochs: --epochs must be >= {done}"
                )
        cfg["train"]["epochs"] = args.epochs
    if args.nproc < 1:
        raise UserError(f"--nproc must be >= 1, got {args.nproc}")
    if args.nproc > 1:
        return _launch_ddp(args, cfg)
    summary = run_recipe(cfg, out=args.out, resume=args.resume, quiet=args.quiet or args.json)
    if os.environ.get("RANK", "0") != "0":  # under torchrun only rank 0 reports
        return 0
    if args.json:
        print(json.dumps(summary))
    else:
        target = summary["target"]
        versus = f" (published {target})" if target is not None else ""
        print(
            f"{summary['recipe']}: {summary['metric']} {summary['value']:.4f}{versus} "
            f"in {summary['wall_seconds']:.0f}s, {summary['examples_per_s']:.0f} examples/s; "
            f"run dir {summary['run_dir']}"
        )
    return 0


def _launch_ddp(args: argparse.Namespace, cfg: dict) -> int:
    """Check the recipe can run data-parallel here, then start args.nproc processes."""
    from scratchdl.tasks import get_task
    from scratchdl.train.launch import launch

    task = get_task(cfg["task"])
    if not task.supports_ddp:
        raise UserError(f"task {task.name!r} runs in one process: drop --nproc")
    argv = ["run", *([args.recipe] if args.recipe else [])]
    for item in args.set or []:
        argv += ["--set", item]
    for flag, value in (("--seed", args.seed), ("--epochs", args.epochs), ("--out", args.out)):
        if value is not None:
            argv += [flag, str(value)]
    if args.resume:
        argv += ["--resume", args.resume]
    argv += [f for f, on in (("--json", args.json), ("--quiet", args.quiet)) if on]
    return launch(argv, args.nproc)  # a failing process has printed its own one-line error


def _epochs_done(run_dir: Path) -> int:
    metrics = run_dir / "metrics.jsonl"
    return len(metrics.read_text().splitlines()) if metrics.exists() else 0


def report_figures(args: argparse.Namespace) -> None:
    """--curves / --confusion: figures of chosen runs, as PNG and PDF."""
    import time

    from scratchdl.store import runs_root
    from scratchdl.workbench.figures import confusion_figure, curves_overlay

    out = (
        Path(args.figures)
        if args.figures
        else runs_root() / f"report-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    if args.curves:
        stem = out / f"curves-{args.curve_metric or 'default'}"
        paths = curves_overlay(args.curves, args.curve_metric, stem)
        print(f"wrote {', '.join(map(str, paths))}")
    if args.confusion:
        _, paths = confusion_figure(args.confusion, out / "confusion")
        print(f"wrote {', '.join(map(str, paths))}")


def cmd_report(args: argparse.Namespace) -> int:
    from scratchdl.store import RunStore

    if args.curves or args.confusion:
        report_figures(args)
        if not args.format:
            return 0
    if args.limit < 0:
        raise UserError(f"--limit must be >= 0 (0 shows every run), got {args.limit}")
    runs = RunStore().runs(recipe=args.recipe, status=args.status)
    if args.runs:
        unknown = sorted(set(args.runs) - {r["id"] for r in runs})
        if unknown:
            raise UserError(f"no stored run {', '.join(unknown)} (see `scratchdl report`)")
        runs = [r for r in runs if r["id"] in set(args.runs)]
    if args.format:
        from scratchdl.workbench.tables import render as render_table
        from scratchdl.workbench.tables import summarize

        text = render_table(summarize(runs), args.format)
        if args.out:
            out = Path(args.out)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text)
            print(f"wrote {out}")
        else:
            print(text, end="")
        return 0
    rows = runs[: args.limit] if args.limit else runs
    for row in rows:
        row["epochs"] = row["config"].get("train", {}).get("epochs")
        row["metric"] = row["headline_metric"]
        row["value"] = row["headline_value"]
    if not rows:
        filtered = args.recipe or args.status or args.runs
        print(
            "no stored run matches these filters"
            if filtered
            else "no runs recorded yet: train one with `scratchdl run RECIPE`"
        )
        return 0
    print(
        render(rows, ["id", "recipe", "status", "seed", "epochs", "metric", "value", "started_at"])
    )
    hidden = len(runs) - len(rows)
    if hidden:
        print(
            f"\n{len(rows)} newest of {len(runs)} runs shown, {hidden} hidden by --limit "
            f"{args.limit}; `--limit 0` shows all"
        )
    return 0


def cmd_models_list(args: argparse.Namespace) -> int:
    from scratchdl.models import KINDS, get_entry, list_models

    rows = []
    for name in list_models():
        entry = get_entry(name)
        options = ", ".join(f"{k}={v}" for k, v in entry.options.items())
        rows.append({"model": name, "kind": entry.kind, "options": options or "-"})
    rows.sort(key=lambda r: (list(KINDS).index(r["kind"]), r["model"]))
    print(render(rows, ["model", "kind", "options"]))
    return 0


def cmd_models_show(args: argparse.Namespace) -> int:
    from scratchdl.config import apply_overrides
    from scratchdl.models import build_model, model_options
    from scratchdl.models._summary import format_summary, layer_summary

    options = apply_overrides(
        {"model": model_options(args.name)}, [f"model.{s}" for s in args.set or []]
    )["model"]
    size = (args.image_size, args.image_size)
    model = build_model(
        args.name,
        in_channels=args.in_channels,
        num_classes=args.num_classes,
        image_size=size,
        **options,
    )
    try:
        rows = layer_summary(model, (1, args.in_channels, *size))
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0][:160]
        raise UserError(
            f"{args.name} does not run on a {args.in_channels}x{size[0]}x{size[1]} input "
            f"({first}); try another --image-size"
        ) from None
    print(f"{args.name} on a {args.in_channels}x{size[0]}x{size[1]} input")
    print(format_summary(rows))
    return 0


def cmd_export_tensorboard(args: argparse.Namespace) -> int:
    from scratchdl.train.tensorboard import export_run

    for run_dir in args.run_dirs:
        folder = export_run(Path(run_dir))
        print(f"{run_dir}: wrote {folder}")
    if len(args.run_dirs) == 1:
        print(f"open with: tensorboard --logdir {args.run_dirs[0]}")
    else:
        print(
            "open with: tensorboard --logdir_spec "
            + ",".join(f"{Path(d).name}:{d}" for d in args.run_dirs)
        )
    return 0
