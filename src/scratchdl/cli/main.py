"""`scratchdl` command line. Bad input ends with one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import sys

from scratchdl.cli import commands, data_commands, studies
from scratchdl.cli import runs as runs_cli
from scratchdl.cli import sample as sample_cli
from scratchdl.errors import UserError
from scratchdl.store.sqlite import STATUSES


def version() -> str:
    """The installed distribution's version, or the source tree's when not installed."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("scratchdl")
    except PackageNotFoundError:
        from scratchdl import __version__

        return __version__


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (exit 2) instead of usage + error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


STUDIES = ("compare", "ablate", "search", "study")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="scratchdl", description=__doc__)
    p.add_argument("--version", action="version", version=f"scratchdl {version()}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    s = sub.add_parser(
        "list", help="recipes by chapter: dataset, published target, shipped result, best run"
    )
    s.add_argument(
        "--format",
        choices=("text", "md"),
        default="text",
        help="text: grouped by chapter; md: README's results table",
    )
    s.set_defaults(func=commands.cmd_list)

    s = sub.add_parser("run", help="train and evaluate a recipe")
    s.add_argument("recipe", nargs="?", help="recipe name (see `scratchdl list`) or a .toml path")
    s.add_argument("--epochs", type=int, help="override train.epochs (with --resume: extend)")
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a recipe key")
    s.add_argument("--seed", type=int, help="shorthand for --set train.seed=S")
    s.add_argument("--out", help="run directory (default: $SCRATCHDL_RUNS/<run id>)")
    s.add_argument("--resume", metavar="RUN_DIR", help="continue a killed or finished run")
    s.add_argument("--json", action="store_true", help="last stdout line: a JSON summary")
    s.add_argument("--quiet", action="store_true", help="no progress bar or epoch lines")
    s.add_argument(
        "--nproc",
        type=int,
        default=1,
        help="data-parallel processes on this machine (DDP: gloo on CPU, NCCL on CUDA)",
    )
    s.set_defaults(func=commands.cmd_run)

    s = sub.add_parser("report", help="stored runs as a table")
    s.add_argument("--recipe", help="only runs of this recipe")
    s.add_argument("--runs", nargs="+", metavar="RUN_ID", help="only these run ids")
    s.add_argument("--limit", type=int, default=50, help="newest N runs (default 50; 0: all)")
    s.add_argument("--status", choices=STATUSES, help="only runs with this status")
    s.add_argument(
        "--format", choices=["md", "latex", "csv"], help="mean +- std per recipe as a table"
    )
    s.add_argument("--out", help="write the --format table to this file")
    s.add_argument("--curves", nargs="+", metavar="RUN_DIR", help="overlay these runs' curves")
    s.add_argument(
        "--curve-metric",
        help="for --curves (default: each run's first of val_accuracy, val_perplexity, "
        "val_bleu, val_loss)",
    )
    s.add_argument("--confusion", metavar="RUN_DIR", help="confusion matrix of a trained run")
    s.add_argument("--figures", metavar="DIR", help="folder for --curves/--confusion figures")
    s.set_defaults(func=commands.cmd_report)

    runs = sub.add_parser("runs", help="stored runs: show one, or remove some")
    rsub = runs.add_subparsers(dest="runs_command", required=True, parser_class=_Parser)
    s = rsub.add_parser("show", help="config, status, failure, parent, metrics, files of a run")
    s.add_argument("run_id", metavar="RUN_ID")
    s.set_defaults(func=runs_cli.cmd_runs_show)
    s = rsub.add_parser("rm", help="delete runs: store row and run directory")
    s.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    s.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    s.set_defaults(func=runs_cli.cmd_runs_rm)

    s = sub.add_parser("compare", help="recipes x seeds: mean +- std, paired t-test, bar chart")
    s.add_argument("recipes", nargs="+", metavar="RECIPE", help="recipe names or .toml paths")
    s.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per recipe (default 3)")
    s.add_argument("--epochs", type=int, help="override train.epochs for every run")
    s.add_argument("--metric", help="metric to compare (default: the first recipe's headline)")
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="override for every run")
    s.add_argument("--out", help="folder for compare.md/.json/.png/.pdf")
    s.add_argument(
        "--jobs", type=int, default=1, help="train N independent runs in parallel processes"
    )
    s.set_defaults(func=studies.cmd_compare)

    s = sub.add_parser("ablate", help="a grid of variants of one recipe against the base")
    s.add_argument("recipe", help="recipe name (see `scratchdl list`) or a .toml path")
    s.add_argument(
        "--vary",
        action="append",
        required=True,
        metavar="KEY=V1,V2",
        help="values to try for a key (repeat for a grid)",
    )
    s.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 per variant (default 1)")
    s.add_argument("--epochs", type=int, help="override train.epochs for every run")
    s.add_argument("--metric", help="metric to compare (default: the recipe's headline)")
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="override for every run")
    s.add_argument("--out", help="folder for ablate.md/.json and the chart")
    s.add_argument(
        "--jobs", type=int, default=1, help="train N independent runs in parallel processes"
    )
    s.set_defaults(func=studies.cmd_ablate)

    study = sub.add_parser("study", help="a named study over one recipe")
    ssub = study.add_subparsers(dest="study_command", required=True, parser_class=_Parser)
    s = ssub.add_parser(
        "batch-size", help="batch sizes, with and without linear lr scaling + warm-up"
    )
    s.add_argument("recipe", help="recipe name (see `scratchdl list`) or a .toml path")
    s.add_argument("--batches", default="64,256,1024,4096", help="comma-separated batch sizes")
    s.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 per setting (default 1)")
    s.add_argument("--epochs", type=int, help="override train.epochs for every run")
    s.add_argument(
        "--warmup-epochs",
        type=float,
        default=2.0,
        help="warm-up of the scaled-lr runs (default 2; the recipe's if longer)",
    )
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="override for every run")
    s.add_argument("--out", help="folder for batch_study.md/.json and the chart")
    s.add_argument("--jobs", type=int, default=1, help="train N runs in parallel processes")
    s.set_defaults(func=studies.cmd_study_batch_size)
    s = ssub.add_parser(
        "samplers", help="DDIM steps, eta and spacing of a diffusion run, chosen on validation"
    )
    s.add_argument("run_dir", metavar="RUN_DIR", help="a run of a diffusion recipe (ddpm-mnist)")
    s.add_argument("--steps", default="50", help="comma-separated DDIM step counts (default 50)")
    s.add_argument("--eta", default="0", help="comma-separated etas in [0, 1] (default 0)")
    s.add_argument(
        "--spacing", default="uniform,quadratic", help="uniform and/or quadratic (default both)"
    )
    s.add_argument("--n", type=int, help="samples per setting (default: the run's fd_samples)")
    s.add_argument("--out", help="folder for sampler_study.md/.json (default: in RUN_DIR)")
    s.set_defaults(func=studies.cmd_study_samplers)

    s = sub.add_parser("search", help="hyperparameter search: grid, random, successive halving")
    s.add_argument("recipe", help="recipe name (see `scratchdl list`) or a .toml path")
    s.add_argument(
        "--space",
        action="append",
        required=True,
        metavar="KEY=loguniform(A,B)|uniform(A,B)|int(A,B)|choice(..)",
        help="a key and the distribution to draw it from (repeat for more keys)",
    )
    s.add_argument(
        "--method",
        choices=["grid", "random", "halving"],
        default="random",
        help="grid: every combination; random: --trials draws; halving: successive halving "
        "(default random)",
    )
    s.add_argument("--trials", type=int, default=8, help="trials to train (default 8)")
    s.add_argument("--epochs", type=int, help="override train.epochs (halving: the last rung)")
    s.add_argument(
        "--metric",
        help="validation metric to select on (default: the val_ twin of the headline, e.g. "
        "val_perplexity)",
    )
    s.add_argument("--seed", type=int, default=0, help="seed of the sampler")
    s.add_argument("--eta", type=int, default=3, help="halving: keep 1/eta per rung")
    s.add_argument("--out", help="folder for search.md/.json and the chart")
    s.add_argument(
        "--jobs", type=int, default=1, help="train N independent runs in parallel processes"
    )
    s.set_defaults(func=studies.cmd_search)

    s = sub.add_parser("robust", help="accuracy of trained runs under image corruptions")
    s.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="trained image-classifier runs")
    s.add_argument(
        "--corruptions",
        help="comma-separated: gaussian_noise, gaussian_blur, contrast, occlusion, rotation "
        "(default: all; none: attacks only)",
    )
    s.add_argument(
        "--severities",
        default="1-5",
        help="levels 1..5, e.g. 1-5 or 1,3,5 (default 1-5); robust.md says what each means",
    )
    s.add_argument(
        "--attack",
        help="comma-separated adversarial attacks fgsm, pgd (PGD-20) beside the corruptions",
    )
    s.add_argument(
        "--eps",
        default="0.01,0.03,0.1",
        help="attack L-inf radii in pixel units 0-1, e.g. 0,0.01,0.03,0.1 (0 = clean)",
    )
    s.add_argument("--out", help="folder for robust.md/.json and the charts")
    s.set_defaults(func=studies.cmd_robust)

    s = sub.add_parser("explain", help="saliency, Grad-CAM, class visualization, attacks, features")
    s.add_argument("run_dir", metavar="RUN_DIR", help="a trained image-classifier run")
    s.add_argument(
        "--method",
        required=True,
        help="saliency | smoothgrad | ig | gradcam | classviz | filters | features | tsne | "
        "pca | adversarial",
    )
    s.add_argument("--layer", help="gradcam/features: a layer name (default: last/first conv)")
    s.add_argument(
        "--n",
        type=int,
        help="images (default 8), filters (64), channels (16) or t-SNE points (1000)",
    )
    s.add_argument("--attack", default="pgd", help="adversarial: fgsm or pgd (PGD-20)")
    s.add_argument("--eps", type=float, default=0.1, help="adversarial: L-inf ε in pixels 0-1")
    s.add_argument("--seed", type=int, default=0, help="SmoothGrad noise, classviz start, t-SNE")
    s.add_argument("--out", help="folder for the figure (PNG and PDF)")
    s.set_defaults(func=studies.cmd_explain)

    s = sub.add_parser("ensemble", help="average the predictions of several trained runs")
    s.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    s.set_defaults(func=studies.cmd_ensemble)

    s = sub.add_parser(
        "bleu-diff", help="paired-bootstrap CI of the test BLEU difference of two seq2seq runs"
    )
    s.add_argument("run_a", metavar="RUN_A", help="run directory of the baseline")
    s.add_argument("run_b", metavar="RUN_B", help="run directory of the system compared with it")
    s.add_argument("--column", choices=("greedy", "beam"), default="beam")
    s.add_argument("--samples", type=int, default=1000, help="bootstrap resamples")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--confidence", type=float, default=0.95)
    s.add_argument("--json", action="store_true", help="one JSON object instead of text")
    s.set_defaults(func=studies.cmd_bleu_diff)

    models = sub.add_parser("models", help="the model registry: list, or show one layer by layer")
    msub = models.add_subparsers(dest="models_command", required=True, parser_class=_Parser)
    s = msub.add_parser("list", help="registered models and their options")
    s.set_defaults(func=commands.cmd_models_list)
    s = msub.add_parser("show", help="output shape, parameters and FLOPs of every layer")
    s.add_argument("name")
    s.add_argument("--in-channels", type=int, default=1)
    s.add_argument("--image-size", type=int, default=28)
    s.add_argument("--num-classes", type=int, default=10)
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="a model option")
    s.set_defaults(func=commands.cmd_models_show)

    export = sub.add_parser("export", help="stored runs in another format")
    esub = export.add_subparsers(dest="export_command", required=True, parser_class=_Parser)
    s = esub.add_parser("tensorboard", help="TensorBoard event files in RUN_DIR/tensorboard")
    s.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    s.set_defaults(func=commands.cmd_export_tensorboard)

    sample_cli.add_parser(sub)

    data = sub.add_parser("data", help="datasets: list, fetch or show")
    dsub = data.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    s = dsub.add_parser("list", help="datasets, their sources, whether present, size")
    s.set_defaults(func=data_commands.cmd_data_list)
    s = dsub.add_parser("fetch", help="obtain and verify a dataset")
    s.add_argument("name")
    s.set_defaults(func=data_commands.cmd_data_fetch)
    s = dsub.add_parser(
        "show", help="an image grid of a detection set (boxes) or a segmentation set (masks)"
    )
    s.add_argument("name")
    s.add_argument("--n", type=int, default=16, help="images to show (default 16)")
    s.add_argument("--split", default="train", help="which split (default train)")
    s.add_argument("--out", default=None, help="file stem (default ./NAME-SPLIT); PNG and PDF")
    s.set_defaults(func=data_commands.cmd_data_show)

    s = sub.add_parser("stylize", help="neural style transfer of your own images (a recorded run)")
    s.add_argument("content", help="content image: PNG/JPEG path (or astronaut, chelsea, coffee)")
    s.add_argument("style", help="style image: PNG/JPEG path (or starry-night)")
    s.add_argument("--out", required=True, help="the stylized image to write (.png or .jpg)")
    s.add_argument("--steps", type=int, default=300,
                   help="optimizer steps (default 300; a prime over 50 rounds up to 50s)")
    s.add_argument("--style-weight", type=float, default=1e4, help="default 1e4")
    s.add_argument("--size", type=int, default=256, help="longer side in pixels (default 256)")
    s.add_argument("--optimizer", choices=("adam", "lbfgs"), default="adam")
    s.set_defaults(func=data_commands.cmd_stylize)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as e:
        print(f"scratchdl: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        if args.command in STUDIES:
            print(
                f"scratchdl: interrupted; rerun the same {args.command} to continue (finished "
                "runs are reused, an interrupted one resumes from its checkpoint)",
                file=sys.stderr,
            )
            return 130
        run_dir = e.args[0] if e.args else "RUN_DIR"
        print(
            f"scratchdl: interrupted; continue with `scratchdl run --resume {run_dir}`",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
