"""`scratchdl study samplers RUN_DIR`: DDIM settings for a trained diffusion run, chosen on
validation images, then scored once on the test images.

For each number of steps K (--steps), eta (--eta) and step spacing (--spacing), the run's
model draws n samples (the run's eval.fd_samples unless --n) from the noise seed its test
used, in the same way (tasks.generative_eval.draw_for_scoring), so the row of the run's own
K, model.eta and model.spacing reproduces the run's test_fd_ddim{K}. Each row gets the
Frechet distance of those samples to the first n validation images and to the first n test
images (our classifier's features, as the run's test_fd), and class accuracy for a
conditional model.
Per K, the row with the lowest validation FD is the choice; its test FD divided by the run's
test_fd (ancestral DDPM over every step, stored in the results store) is the ratio the
recipe's target is about. Nothing here is trained; sampling is the whole cost.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from scratchdl.errors import UserError
from scratchdl.models.generative.ddpm import SPACINGS


def _parse_list(text: str, what: str, convert: Callable[[str], Any], example: str) -> list:
    """'a,b,c' -> [convert(a), ...]; a one-line error naming the flag otherwise."""
    try:
        values = [convert(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values:
        raise UserError(f"{what}: expected comma-separated {example}, got {text!r}")
    return values


def parse_floats(text: str, what: str) -> list[float]:
    """'0,0.5,1' -> [0.0, 0.5, 1.0]."""
    return _parse_list(text, what, float, "numbers such as 0,0.5,1")


def parse_ints(text: str, what: str) -> list[int]:
    """'20,50' -> [20, 50]."""
    return _parse_list(text, what, int, "integers such as 20,50")


def _ddpm_test_fd(run_dir: Path) -> float | None:
    """The run's own test_fd from the results store, if it finished there."""
    from scratchdl.store import RunStore

    meta = json.loads((run_dir / "meta.json").read_text())
    run = RunStore().get_run(meta.get("run_id", ""))
    final = (run or {}).get("summary", {}).get("final", {})
    return final.get("test_fd")


def sampler_study(
    run_dir: str | Path,
    steps: list[int],
    etas: list[float],
    spacings: list[str],
    n: int | None = None,
    out: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Score every (K, eta, spacing) on val and test; rows, the choice per K and the table."""
    from scratchdl.data import load_splits
    from scratchdl.metrics.frechet import feature_stats, frechet_distance
    from scratchdl.tasks.generative._eval import (
        FeatureClassifier,
        draw_for_scoring,
        find_classifier,
    )
    from scratchdl.tasks.generative.generative import load_generator

    run_dir = Path(run_dir)
    model, cfg = load_generator(run_dir)
    if cfg["task"] != "diffusion":
        raise UserError(
            f"{run_dir} is a {cfg['task']!r} run: `study samplers` needs a diffusion run"
        )
    bad = [s for s in spacings if s not in SPACINGS]
    if bad:
        raise UserError(f"--spacing {bad[0]!r}: expected one of {', '.join(SPACINGS)}")
    if any(not 1 <= k <= model.steps for k in steps):
        raise UserError(f"--steps: expected step counts in 1..{model.steps}, got {steps}")
    if any(not 0 <= e <= 1 for e in etas):
        raise UserError(f"--eta: expected values in [0, 1] (0 = deterministic DDIM), got {etas}")
    data, ev = cfg["data"], cfg["eval"]
    clf_dir = find_classifier(ev["classifier"], data["dataset"])
    if clf_dir is None:
        raise UserError(
            f"no classifier of {data['dataset']} to judge samples: run `scratchdl run "
            f"lenet-{'mnist' if data['dataset'] == 'mnist' else 'fmnist'}` first"
        )
    n = ev["fd_samples"] if n is None else n
    if n < 2:
        raise UserError(f"--n: expected at least 2 samples, got {n}")
    splits = load_splits(data["dataset"], val_size=data["val_size"], seed=cfg["train"]["seed"])
    n = min(n, len(splits.val), len(splits.test))
    clf = FeatureClassifier(clf_dir, data["dataset"], torch.device("cpu"))
    # the real images' feature statistics are the same for every row: computed once
    real_stats = {
        s: feature_stats(clf(x[:n])[0]) for s, x in (("val", splits.val.x), ("test", splits.test.x))
    }
    ddpm_fd = _ddpm_test_fd(run_dir)
    rows = []
    for k, eta, spacing in itertools.product(steps, etas, spacings):
        model.sampler, model.sample_steps, model.eta, model.spacing = "ddim", k, eta, spacing
        start = time.perf_counter()
        fake, labels = draw_for_scoring(
            model, n, model.num_classes, torch.Generator().manual_seed(ev["seed"])
        )
        seconds = time.perf_counter() - start
        row: dict[str, Any] = {
            "steps": k,
            "eta": eta,
            "spacing": spacing,
            "n": n,
            "sample_seconds": seconds,
        }
        feats, logits = clf(fake)
        fake_stats = feature_stats(feats)
        for split, stats in real_stats.items():
            row[f"{split}_fd"] = frechet_distance(*stats, *fake_stats)
        if labels is not None:  # of the samples alone: the same for both splits
            row["class_accuracy"] = (logits.argmax(1) == labels.cpu()).float().mean().item()
        if ddpm_fd:
            row["test_ratio"] = row["test_fd"] / ddpm_fd
        rows.append(row)
        log(
            f"K={k} eta={eta:g} {spacing}: val FD {row['val_fd']:.2f}, test FD "
            f"{row['test_fd']:.2f} ({seconds:.0f} s)"
        )
    for k in steps:
        best = min((r for r in rows if r["steps"] == k), key=lambda r: r["val_fd"])
        best["chosen"] = True
    result = {
        "run_dir": str(run_dir),
        "ddpm_test_fd": ddpm_fd,
        "rows": rows,
        "table": format_table(rows, ddpm_fd),
    }
    out_dir = Path(out) if out else run_dir / "sampler_study"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "sampler_study.md").write_text(result["table"])
    (out_dir / "sampler_study.json").write_text(json.dumps(result, indent=1))
    result["out"] = str(out_dir)
    return result


def format_table(rows: list[dict[str, Any]], ddpm_fd: float | None) -> str:
    cond = "class_accuracy" in rows[0]
    head = "| K | eta | spacing | val FD | test FD | test FD / DDPM |"
    head += " class accuracy |" if cond else ""
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        ratio = f"{r['test_ratio']:.3f}" if "test_ratio" in r else "-"
        mark = "**" if r.get("chosen") else ""
        line = (
            f"| {r['steps']} | {r['eta']:g} | {r['spacing']} | {mark}{r['val_fd']:.2f}{mark} | "
            f"{r['test_fd']:.2f} | {ratio} |"
        )
        if cond:
            line += f" {r['class_accuracy']:.3f} |"
        lines.append(line)
    ref = f"{ddpm_fd:.2f}" if ddpm_fd else "not in the results store"
    lines.append(
        f"\nn = {rows[0]['n']} samples per row, one noise seed; DDPM (every step, the run's "
        f"test_fd): {ref}. Bold: the lowest validation FD per K, the setting to report."
    )
    return "\n".join(lines) + "\n"
