"""`scratchdl sample RUN_DIR --n 64 --out FILE [--label K]`: new images from a trained
generative run, as one grid image (PNG or PDF by FILE's suffix; .png also writes .pdf)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path


def cmd_sample(args: argparse.Namespace) -> int:
    from scratchdl.errors import UserError
    from scratchdl.plots.grids import save_grid
    from scratchdl.tasks.generative.generative import draw_samples, load_generator

    out = Path(args.out)
    if out.suffix not in (".png", ".pdf"):
        raise UserError(f"--out {out}: expected a .png or .pdf file name")
    model, cfg = load_generator(args.run_dir)
    images = draw_samples(model, args.n, args.label, args.seed)
    what = f"class {args.label}" if args.label is not None else "samples"
    nrow = min(args.n, 8 if args.n <= 64 else math.ceil(math.sqrt(args.n)))
    paths = save_grid(
        images, out.with_suffix(""), nrow=nrow, title=f"{cfg['recipe']}: {args.n} {what}"
    )
    print(f"wrote {', '.join(str(p) for p in paths)}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("sample", help="draw new images from a trained generative run")
    s.add_argument("run_dir", metavar="RUN_DIR", help="a run of a generative recipe")
    s.add_argument("--n", type=int, default=64, help="how many images (default 64)")
    s.add_argument("--out", required=True, help="grid image to write (.png, also .pdf)")
    s.add_argument("--label", type=int, help="class to draw (conditional models only)")
    s.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    s.set_defaults(func=cmd_sample)
