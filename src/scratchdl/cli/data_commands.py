"""`scratchdl data ...` and `scratchdl stylize`: datasets and images."""

from __future__ import annotations

import argparse
from pathlib import Path

from scratchdl.cli.table import render
from scratchdl.errors import UserError


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
    from scratchdl.plots.detection import box_grid

    spec = get_dataset(args.name)
    if not isinstance(spec, ProceduralDetection):
        raise UserError(
            f"data show draws boxes of a detection set or masks of a segmentation "
            f"set; {args.name} has neither"
        )
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
    cfg["style"].update(
        style_weight=args.style_weight, grid=[], optimizer=args.optimizer, steps_per_epoch=per_epoch
    )
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
    print(
        f"stylized image {out} ({cfg['train']['epochs'] * per_epoch} steps, style loss "
        f"{summary['value']:.4g}); run dir {summary['run_dir']}"
    )
    return 0


def _show_masks(spec, args: argparse.Namespace) -> int:  # noqa: ANN001 (a ProceduralSegmentation)
    from scratchdl.plots.segmentation import mask_grid

    data = spec.load_segmentation()
    if args.split not in data.splits:
        raise UserError(
            f"--split: {args.name} has splits {', '.join(data.splits)}, got {args.split!r}"
        )
    split = data.splits[args.split]
    n = min(args.n, len(split.images))
    stem = Path(args.out or f"{args.name}-{args.split}")
    paths = mask_grid(
        split.images[:n],
        split.masks[:n],
        data.classes,
        stem,
        title=f"{args.name} {args.split}: class masks overlaid",
    )
    print(f"{n} {args.split} images of {args.name} with masks: {', '.join(map(str, paths))}")
    return 0
