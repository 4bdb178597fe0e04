"""The subcommands behind `scratchdl list | run | report | data`."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from scratchdl.cli.table import render
from scratchdl.errors import UserError


def cmd_list(args: argparse.Namespace) -> int:
    from scratchdl.recipes import describe, list_recipes, load_recipe
    from scratchdl.store import RunStore

    store = RunStore()
    rows = []
    for name in list_recipes():
        shipped = load_recipe(name)
        row = describe(shipped)
        best = store.best(name, shipped=shipped)
        row["best as shipped"] = best["headline_value"] if best else None
        rows.append(row)
    print(render(rows, ["recipe", "dataset", "model", "metric", "target", "best as shipped"]))
    print(
        "\nbest as shipped: the best stored run of the recipe exactly as shipped (any seed, no "
        "other --set or --epochs); see `scratchdl report` for all runs"
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


def cmd_data_list(args: argparse.Namespace) -> int:
    import scratchdl.text.corpora  # noqa: F401  (registers the text corpora)
    import scratchdl.text.corpora.brown  # noqa: F401  (registers brown-pos)
    import scratchdl.text.corpora.movie_reviews  # noqa: F401  (registers movie-reviews)
    import scratchdl.text.corpora.translation  # noqa: F401  (registers bible-en-es)
    import scratchdl.text.embeddings.vectors  # noqa: F401  (registers glove-6b-50d)
    from scratchdl.data import list_datasets

    rows = []
    for d in list_datasets():
        size = d.get("size_bytes")
        rows.append(
            {
                "name": d["name"],
                "present": "yes" if d["present"] else "no",
                "size": f"{size / 1e6:.1f} MB" if size else "-",
                "description": d.get("description", ""),
            }
        )
    print(render(rows, ["name", "present", "size", "description"]))
    for d in list_datasets():
        print(f"\n{d['name']} sources, in the order tried:")
        for i, source in enumerate(d["sources"], 1):
            print(f"  {i}. {source}")
    return 0


def cmd_data_fetch(args: argparse.Namespace) -> int:
    import scratchdl.text.corpora  # noqa: F401  (registers the text corpora)
    import scratchdl.text.corpora.brown  # noqa: F401  (registers brown-pos)
    import scratchdl.text.corpora.movie_reviews  # noqa: F401  (registers movie-reviews)
    import scratchdl.text.corpora.translation  # noqa: F401  (registers bible-en-es)
    import scratchdl.text.embeddings.vectors  # noqa: F401  (registers glove-6b-50d)
    from scratchdl.data import get_dataset

    print(get_dataset(args.name).fetch())
    return 0


def cmd_data_show(args: argparse.Namespace) -> int:
    from scratchdl.data import get_dataset
    from scratchdl.data.detection import ProceduralDetection
    from scratchdl.data.segmentation import ProceduralSegmentation
    from scratchdl.vision.detection_plots import box_grid

    spec = get_dataset(args.name)
    if not isinstance(spec, ProceduralDetection):
        raise UserError(f"data show draws boxes of a detection set or masks of a segmentation "
                        f"set; {args.name} has neither")
    if args.n < 1:
        raise UserError(f"--n: expected a positive number of images, got {args.n}")
    if isinstance(spec, ProceduralSegmentation):
        return _show_masks(spec, args)
    data = spec.load_detection()
    if args.split not in data.splits:
        raise UserError(
            f"--split: {args.name} has splits {', '.join(data.splits)}, got {args.split!r}"
        )
    split = data.splits[args.split]
    n = min(args.n, len(split.images))
    stem = Path(args.out or f"{args.name}-{args.split}")
    paths = box_grid(split.images[:n], split.targets()[:n], data.classes, stem)
    print(f"{n} {args.split} images of {args.name} with boxes: {', '.join(map(str, paths))}")
    return 0


def cmd_stylize(args: argparse.Namespace) -> int:
    """The style-transfer recipe on the user's images, no grid; copies the result to --out."""
    import shutil

    from scratchdl.recipes import load_recipe
    from scratchdl.runner import run_recipe

    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise UserError(f"--out: expected a .png or .jpg file name, got {args.out!r}")
    if args.steps < 1:
        raise UserError(f"--steps: expected a positive number of steps, got {args.steps}")
    cfg = load_recipe("style-transfer", [])
    cfg["data"].update(content=args.content, dataset=args.style, size=args.size)
    # one epoch (a checkpoint) per 10-50 steps: a divisor of --steps, else round up to 50s
    divisors = [d for d in range(50, 9, -1) if args.steps % d == 0]
    per_epoch = args.steps if args.steps <= 50 else (divisors[0] if divisors else 50)
    cfg["style"].update(style_weight=args.style_weight, grid=[], optimizer=args.optimizer,
                        steps_per_epoch=per_epoch)
    cfg["train"]["epochs"] = -(-args.steps // per_epoch)
    summary = run_recipe(cfg, quiet=True)
    result = Path(summary["run_dir"]) / "stylized.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".png":
        shutil.copyfile(result, out)
    else:
        from PIL import Image

        with Image.open(result) as im:
            im.convert("RGB").save(out)
    print(f"stylized image {out} ({cfg['train']['epochs'] * per_epoch} steps, style loss "
          f"{summary['value']:.4g}); run dir {summary['run_dir']}")
    return 0


def _show_masks(spec, args: argparse.Namespace) -> int:  # noqa: ANN001 (a ProceduralSegmentation)
    from scratchdl.vision.segmentation_plots import mask_grid

    data = spec.load_segmentation()
    if args.split not in data.splits:
        raise UserError(f"--split: {args.name} has splits {', '.join(data.splits)}, "
                        f"got {args.split!r}")
    split = data.splits[args.split]
    n = min(args.n, len(split.images))
    stem = Path(args.out or f"{args.name}-{args.split}")
    paths = mask_grid(split.images[:n], split.masks[:n], data.classes, stem,
                      title=f"{args.name} {args.split}: class masks overlaid")
    print(f"{n} {args.split} images of {args.name} with masks: {', '.join(map(str, paths))}")
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
    from scratchdl.models.summary import format_summary, layer_summary

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


def _check_epochs(epochs: int | None) -> None:
    if epochs is not None and epochs < 1:
        raise UserError(f"--epochs must be >= 1, got {epochs}")


def _print_study(result: dict) -> int:
    """The table of a compare/ablate/search, then what was trained and where files went."""
    print(result["table"], end="")
    ranked = sorted((r for r in result.get("rows", []) if "rank" in r), key=lambda r: r["rank"])
    if ranked:  # compare: best first, by the metric's direction
        print("ranking: " + ", ".join(f"{r['rank']}. {r['recipe']}" for r in ranked))
    print(f"trained {result['trained']} new run(s); table and chart in {result['out']}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from scratchdl.workbench.compare import compare

    _check_epochs(args.epochs)
    result = compare(
        args.recipes,
        seeds=args.seeds,
        epochs=args.epochs,
        metric=args.metric,
        overrides=args.set,
        out=args.out,
        jobs=args.jobs,
    )
    return _print_study(result)


def cmd_ablate(args: argparse.Namespace) -> int:
    from scratchdl.workbench.ablate import ablate

    _check_epochs(args.epochs)
    result = ablate(
        args.recipe,
        args.vary,
        seeds=args.seeds,
        epochs=args.epochs,
        metric=args.metric,
        overrides=args.set,
        out=args.out,
        jobs=args.jobs,
    )
    return _print_study(result)


def cmd_study_batch_size(args: argparse.Namespace) -> int:
    from scratchdl.workbench.batch_study import batch_size_study, parse_batches

    _check_epochs(args.epochs)
    result = batch_size_study(
        args.recipe,
        parse_batches(args.batches),
        seeds=args.seeds,
        epochs=args.epochs,
        warmup_epochs=args.warmup_epochs,
        overrides=args.set,
        out=args.out,
        jobs=args.jobs,
    )
    return _print_study(result)


def cmd_search(args: argparse.Namespace) -> int:
    from scratchdl.workbench.search import search

    _check_epochs(args.epochs)
    result = search(
        args.recipe,
        args.space,
        method=args.method,
        trials=args.trials,
        epochs=args.epochs,
        metric=args.metric,
        seed=args.seed,
        eta=args.eta,
        out=args.out,
        jobs=args.jobs,
    )
    return _print_study(result)


def _severities(text: str) -> list[int]:
    try:
        if "-" in text:
            low, high = (int(t) for t in text.split("-", 1))
            return list(range(low, high + 1))
        return [int(t) for t in text.split(",")]
    except ValueError:
        raise UserError(
            f"--severities expects a range like 1-5 or a list like 1,3,5, got {text!r}"
        ) from None


def _numbers(text: str, flag: str) -> list[float]:
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise UserError(f"{flag} expects numbers like 0,0.01,0.03,0.1, got {text!r}") from None


def cmd_explain(args: argparse.Namespace) -> int:
    from scratchdl.workbench.explain import explain

    result = explain(
        args.run_dir,
        args.method,
        layer=args.layer,
        n=args.n,
        out=args.out,
        eps=args.eps,
        attack_name=args.attack,
        seed=args.seed,
    )
    print(f"wrote {', '.join(result['paths'])}")
    return 0


def cmd_robust(args: argparse.Namespace) -> int:
    from scratchdl.workbench.robust import robust

    corruptions = args.corruptions.split(",") if args.corruptions else None
    if corruptions == ["none"]:
        corruptions = []
    result = robust(
        args.run_dirs,
        corruptions=corruptions,
        severities=_severities(args.severities),
        out=args.out,
        log=print,
        attacks=args.attack.split(",") if args.attack else None,
        eps=_numbers(args.eps, "--eps"),
    )
    print(result["table"], end="")
    print(f"tables and charts in {result['out']}")
    return 0


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


def cmd_ensemble(args: argparse.Namespace) -> int:
    from scratchdl.workbench.ensemble import ensemble

    result = ensemble(args.run_dirs)
    print(render(result["members"], ["recipe", "accuracy", "run_dir"]))
    print(
        f"ensemble of {len(result['members'])}: test accuracy {result['ensemble_accuracy']:.4f}, "
        f"best member {result['best_member']:.4f}, gain {result['gain']:+.4f}"
    )
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


def cmd_bleu_diff(args: argparse.Namespace) -> int:
    from scratchdl.workbench.bleu_diff import bleu_diff

    r = bleu_diff(args.run_a, args.run_b, args.column, args.samples, args.seed, args.confidence)
    if args.json:
        print(json.dumps(r))
        return 0
    print(
        f"{r['sentences']} test sentences, {args.column} decoding\n"
        f"A {r['bleu_a']:.2f} BLEU  {r['run_a']}\n"
        f"B {r['bleu_b']:.2f} BLEU  {r['run_b']}\n"
        f"B - A = {r['diff']:+.2f} BLEU, {100 * r['confidence']:g}% CI "
        f"[{r['low']:+.2f}, {r['high']:+.2f}] (paired bootstrap, {r['samples']} resamples, "
        f"seed {args.seed}); B not better in {100 * r['p_b_not_better']:.1f}% of resamples"
    )
    return 0
