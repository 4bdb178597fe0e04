"""The workbench commands: compare, ablate, study, search, explain, robust, ensemble, bleu-diff."""

from __future__ import annotations

import argparse
import json

from scratchdl.cli.table import render
from scratchdl.errors import UserError


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


def cmd_study_samplers(args: argparse.Namespace) -> int:
    from scratchdl.workbench.sampler_study import parse_floats, parse_ints, sampler_study

    result = sampler_study(
        args.run_dir,
        parse_ints(args.steps, "--steps"),
        parse_floats(args.eta, "--eta"),
        [s.strip() for s in args.spacing.split(",") if s.strip()],
        n=args.n,
        out=args.out,
    )
    print(result["table"], end="")
    print(f"table in {result['out']}")
    return 0


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


def cmd_ensemble(args: argparse.Namespace) -> int:
    from scratchdl.workbench.ensemble import ensemble

    result = ensemble(args.run_dirs)
    print(render(result["members"], ["recipe", "accuracy", "run_dir"]))
    print(
        f"ensemble of {len(result['members'])}: test accuracy {result['ensemble_accuracy']:.4f}, "
        f"best member {result['best_member']:.4f}, gain {result['gain']:+.4f}"
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
