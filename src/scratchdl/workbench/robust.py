"""`scratchdl robust`: test accuracy of trained runs under image corruptions at graded severities.

Each run's test split is taken back to pixel space [0, 1] (undoing the run's standardisation),
corrupted, standardised again and fed to the model. The corruption draws depend only on
(seed, corruption, severity, batch_size), so every run in one call sees the same corrupted
images and the comparison between models is paired.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from scratchdl.errors import UserError
from scratchdl.plots.radar import pretty, radar_chart, severity_chart
from scratchdl.store import runs_root
from scratchdl.tasks._restore import load_trained_model
from scratchdl.train.device import resolve_device
from scratchdl.train.rundir import load_run_config
from scratchdl.workbench import robust_attacks as RA
from scratchdl.workbench.corruptions import CORRUPTIONS, SEVERITY_LEVELS, get_corruption

Transform = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


@torch.no_grad()
def accuracy(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int,
    device: torch.device,
    transform: Transform | None = None,
    generator: torch.Generator | None = None,
) -> float:
    """Fraction of x [N, C, H, W] classified as y [N], optionally transforming each batch first."""
    correct = 0
    for start in range(0, len(y), batch_size):
        xb = x[start : start + batch_size].to(device)
        if transform is not None:
            xb = transform(xb, generator)
        pred = model(xb).argmax(dim=1)
        correct += int((pred == y[start : start + batch_size].to(device)).sum())
    return correct / max(len(y), 1)


def to_pixels(x: torch.Tensor, mean: list[float], std: list[float]) -> torch.Tensor:
    """Undo a run's standardisation: x * std + mean, clamped to [0, 1] (rounding leaves 1e-7)."""
    if all(m == 0 for m in mean) and all(s == 1 for s in std):
        return x
    m = torch.tensor(mean, dtype=x.dtype).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype).view(1, -1, 1, 1)
    return (x * s + m).clamp_(0.0, 1.0)


def corrupted_input(name: str, severity: int, mean: list[float], std: list[float]) -> Transform:
    """Pixel batch in [0, 1] -> corruption -> standardised as the run's model expects."""
    fn = get_corruption(name)
    identity = all(m == 0 for m in mean) and all(s == 1 for s in std)

    def transform(pixels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        out = fn(pixels, severity, generator)
        if identity:
            return out
        m = torch.tensor(mean, dtype=out.dtype, device=out.device).view(1, -1, 1, 1)
        s = torch.tensor(std, dtype=out.dtype, device=out.device).view(1, -1, 1, 1)
        return out.sub_(m).div_(s)  # `out` is a fresh tensor: in place is safe

    return transform


def _check_args(
    run_dirs: list[str | Path],
    corruptions: list[str] | None,
    severities: list[int],
    bs: int,
    attacks: bool = False,
) -> tuple[list[str], list[int]]:
    if not run_dirs:
        raise UserError("robust needs at least one RUN_DIR (a folder made by `scratchdl run`)")
    names = list(CORRUPTIONS) if corruptions is None else list(dict.fromkeys(corruptions))
    if not names and not attacks:
        raise UserError(
            f"robust needs at least one corruption: choose from {', '.join(CORRUPTIONS)}"
        )
    for name in names:
        get_corruption(name)  # unknown name -> UserError listing the allowed ones
    ok = [isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= 5 for s in severities]
    if not severities or not all(ok):
        raise UserError(
            f"severities: expected integers in 1..5 (clean accuracy is always measured), "
            f"got {list(severities)}"
        )
    if isinstance(bs, bool) or not isinstance(bs, int) or bs < 1:
        raise UserError(f"batch_size: expected a positive int, got {bs!r}")
    return names, sorted(set(severities))


def _labels(infos: list[dict[str, Any]]) -> list[str]:
    """Recipe names when they tell the runs apart, else run folder names, else run ids."""
    for key in ("recipe", "dir_name", "run_id"):
        labels = [info[key] for info in infos]
        if len(set(labels)) == len(labels):
            return labels
    return [f"{info['run_id']} ({i})" for i, info in enumerate(infos)]


def evaluate_run(
    run_dir: str | Path,
    names: list[str],
    severities: list[int],
    *,
    seed: int,
    batch_size: int,
    attacks: list[str] = [],  # noqa: B006 - never mutated
    eps: list[float] = [],  # noqa: B006 - never mutated
) -> dict[str, Any]:
    """Clean, corrupted and attacked test accuracy of one run (robust() lists the keys)."""
    model, cfg, splits = load_trained_model(run_dir)
    _, meta = load_run_config(run_dir)
    device = resolve_device("auto")
    model.to(device)
    test = splits.test
    clean = accuracy(model, test.x, test.y, batch_size=batch_size, device=device)
    pixels = to_pixels(test.x, splits.info.mean, splits.info.std)  # once, not per corruption
    by_severity: dict[str, dict[str, float]] = {}
    for name in names:
        by_severity[name] = {}
        for sev in severities:
            # a fixed stream per (corruption, severity): every run sees the same corrupted images
            stream = seed * 100 + 10 * list(CORRUPTIONS).index(name) + sev
            gen = torch.Generator().manual_seed(stream)
            transform = corrupted_input(name, sev, splits.info.mean, splits.info.std)
            by_severity[name][str(sev)] = accuracy(
                model,
                pixels,
                test.y,
                batch_size=batch_size,
                device=device,
                transform=transform,
                generator=gen,
            )
    per_corruption = {n: sum(v.values()) / len(v) for n, v in by_severity.items()}
    by_eps = RA.attack_accuracy(
        model,
        pixels,
        test.y,
        splits.info.mean,
        splits.info.std,
        attacks,
        eps,
        batch_size=batch_size,
        device=device,
    )
    return {
        "run_dir": str(run_dir),
        "dir_name": Path(run_dir).resolve().name,
        "run_id": meta.get("run_id", Path(run_dir).name),
        "recipe": cfg.get("recipe", "?"),
        "dataset": splits.info.name,
        "n_test": len(test),
        "clean_accuracy": clean,
        "accuracy": by_severity,
        "corruption_accuracy": per_corruption,
        "mean_corruption_accuracy": (
            sum(per_corruption.values()) / len(per_corruption) if per_corruption else None
        ),
        "attack_accuracy": by_eps,  # attack -> epsilon -> accuracy
        "mean_attack_accuracy": {a: sum(v.values()) / len(v) for a, v in by_eps.items()},
    }


def robust(
    run_dirs: list[str | Path],
    corruptions: list[str] | None = None,
    severities: list[int] = [1, 2, 3, 4, 5],  # noqa: B006 - never mutated
    out: str | Path | None = None,
    seed: int = 0,
    batch_size: int = 1000,
    log: Callable[[str], None] | None = None,
    attacks: list[str] | None = None,
    eps: list[float] = [0.01, 0.03, 0.1],  # noqa: B006 - never mutated
) -> dict[str, Any]:
    """Evaluate every run under every corruption x severity; write tables and charts to `out`.

    Returns {"rows": one dict per run (label, recipe, run_id, clean_accuracy, accuracy:
    corruption -> severity -> acc, corruption_accuracy: corruption -> mean over severities,
    mean_corruption_accuracy; with attacks also attack_accuracy: attack -> epsilon -> acc and
    mean_attack_accuracy: attack -> mean over the epsilons > 0), "table": Markdown, "out":
    folder, "charts": PNG/PDF paths}. Attacks (robust_attacks.py) are extra radar spokes and
    chart panels beside the corruptions, with epsilon (pixel units) on the x axis.
    The folder gets robust.md, robust.json, radar.png/.pdf and severity.png/.pdf.
    """
    attack_names, eps = RA.check_attacks(attacks or [], eps)
    names, sevs = _check_args(run_dirs, corruptions, severities, batch_size, bool(attack_names))
    rows = []
    for run_dir in run_dirs:
        row = evaluate_run(
            run_dir, names, sevs, seed=seed, batch_size=batch_size, attacks=attack_names, eps=eps
        )
        rows.append(row)
        if log:
            parts = [f"clean {row['clean_accuracy']:.4f}"]
            if names:
                parts.append(f"mean corruption accuracy {row['mean_corruption_accuracy']:.4f}")
            parts += [f"{RA.LABELS[a]} {v:.4f}" for a, v in row["mean_attack_accuracy"].items()]
            log(f"{row['recipe']} ({row['run_id']}): " + ", ".join(parts))
    for row, label in zip(rows, _labels(rows), strict=True):
        row["label"] = label

    out_dir = Path(out) if out else runs_root() / f"robust-{time.strftime('%Y%m%d-%H%M%S')}"
    out_dir.mkdir(parents=True, exist_ok=True)
    table = format_table(rows, names, sevs, seed, attack_names, eps)
    (out_dir / "robust.md").write_text(table)
    report = {
        "corruptions": names,
        "severities": sevs,
        "seed": seed,
        "batch_size": batch_size,
        "attacks": attack_names,
        "eps": eps,
        "pgd_steps": RA.PGD_STEPS,
        "rows": rows,
    }
    (out_dir / "robust.json").write_text(json.dumps(report, indent=1))
    spoke_values = {
        r["label"]: [
            *(r["corruption_accuracy"][n] for n in names),
            *(r["mean_attack_accuracy"][a] for a in attack_names),
        ]
        for r in rows
    }
    notes = {n: radar_note(n, sevs) for n in names} | {a: RA.note(eps) for a in attack_names}
    charts = radar_chart(  # below three spokes it draws bars
        [*names, *(RA.LABELS[a] for a in attack_names)],
        spoke_values,
        clean={r["label"]: r["clean_accuracy"] for r in rows},
        notes={(RA.LABELS.get(k, k)): v for k, v in notes.items()},
        title=_study_title(rows, names, sevs, attack_names, eps),
        path_stem=out_dir / "radar",
    )
    curves = {
        n: {
            r["label"]: [r["clean_accuracy"], *(r["accuracy"][n][str(s)] for s in sevs)]
            for r in rows
        }
        for n in names
    }
    curves |= {
        RA.LABELS[a]: {
            r["label"]: [r["clean_accuracy"], *r["attack_accuracy"][a].values()] for r in rows
        }
        for a in attack_names
    }
    positions: dict[str, list[int]] = {n: [0, *sevs] for n in names}
    positions |= {RA.LABELS[a]: list(range(len(eps) + 1)) for a in attack_names}
    level_map = {n: (SEVERITY_LEVELS[n][1], SEVERITY_LEVELS[n][2]) for n in names}
    level_map |= {RA.LABELS[a]: RA.levels(eps) for a in attack_names}
    charts += severity_chart(
        curves,
        positions,
        levels=level_map,
        title=f"Test accuracy vs corruption severity and attack ε ({_datasets(rows)}; 0 = clean)",
        path_stem=out_dir / "severity",
    )
    return {"rows": rows, "table": table, "out": str(out_dir), "charts": [str(p) for p in charts]}


def _datasets(rows: list[dict[str, Any]]) -> str:
    return ", ".join(dict.fromkeys(r["dataset"] for r in rows))


def _study_title(
    rows: list[dict[str, Any]], names: list[str], sevs: list[int], attacks: list[str], eps: list
) -> str:
    """The radar's title: corruptions, attacks or both, and what each spoke averages."""
    if not attacks:
        return radar_title(rows, sevs)
    over_eps = f"mean over ε {RA.note(eps).split(': ')[1]}"
    if not names:
        return f"Accuracy under attack ({_datasets(rows)}, {over_eps})"
    span = f"severities {_span(sevs)}"
    return f"Accuracy under corruption and attack ({_datasets(rows)}; {span}, {over_eps})"


def radar_title(rows: list[dict[str, Any]], sevs: list[int]) -> str:
    span = f"severity {sevs[0]}" if len(sevs) == 1 else f"mean over severities {_span(sevs)}"
    return f"Accuracy under corruption ({_datasets(rows)}, {span})"


def _span(sevs: list[int]) -> str:
    if len(sevs) == 1:
        return str(sevs[0])
    contiguous = sevs == list(range(sevs[0], sevs[-1] + 1))
    return f"{sevs[0]}-{sevs[-1]}" if contiguous else ",".join(map(str, sevs))


def radar_note(name: str, sevs: list[int]) -> str:
    """'blur σ (pixels): 0.5-2' under a radar spoke: what the averaged severities span."""
    short, values = SEVERITY_LEVELS[name][1], SEVERITY_LEVELS[name][2]
    span = values[sevs[0]] if len(sevs) == 1 else f"{values[sevs[0]]}-{values[sevs[-1]]}"
    return f"{short}: {span}"


def severity_table(names: list[str], sevs: list[int]) -> list[str]:
    """Markdown lines: each corruption's parameter, with its unit, at each severity used."""
    lines = ["What each severity means (severity 0 is the clean image):", ""]
    lines.append("| corruption | parameter (unit) | " + " | ".join(f"s{s}" for s in sevs) + " |")
    lines.append("|---|---" + "|---:" * len(sevs) + "|")
    for n in names:
        meaning, _, values = SEVERITY_LEVELS[n]
        cells = " | ".join(values[s] for s in sevs)
        lines.append(f"| {pretty(n)} | {meaning} | {cells} |")
    return lines


def _bold_best(values: list[float], multi: bool) -> list[str]:
    best = max(values)
    return [f"**{v:.4f}**" if multi and v == best else f"{v:.4f}" for v in values]


def format_table(
    rows: list[dict[str, Any]],
    names: list[str],
    sevs: list[int],
    seed: int,
    attacks: list[str] = [],  # noqa: B006 - never mutated
    eps: list[float] = [],  # noqa: B006 - never mutated
) -> str:
    """Summary table (best per column in bold) and per-severity/per-epsilon tables, Markdown."""
    multi = len(rows) > 1
    columns = [[r["clean_accuracy"] for r in rows]]
    head = ["run", "clean"]
    if names:
        columns += [[r["corruption_accuracy"][n] for r in rows] for n in names]
        columns.append([r["mean_corruption_accuracy"] for r in rows])
        head += [*(pretty(n) for n in names), "mean corr."]
    columns += [[r["mean_attack_accuracy"][a] for r in rows] for a in attacks]
    head += [RA.LABELS[a] for a in attacks]
    cells = [_bold_best(col, multi) for col in columns]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for i, r in enumerate(rows):
        lines.append(f"| {r['label']} | " + " | ".join(col[i] for col in cells) + " |")
    notes = [f"\nTest accuracy ({_datasets(rows)})"]
    if names:
        notes.append(
            f"each corruption column is the mean over severities {_span(sevs)}; mean corr. = "
            f"mean over corruptions and severities; corruption seed {seed}"
        )
    if attacks:
        notes.append(
            f"each attack column is the mean over L-inf ε {', '.join(f'{e:g}' for e in eps)} "
            f"(pixel units 0-1; FGSM one step, PGD-{RA.PGD_STEPS} with step 2.5ε/{RA.PGD_STEPS}, "
            "no random start)"
        )
    lines.append("; ".join(notes) + ".")
    if names:
        lines += ["", "Accuracy by severity:", ""]
        lines.append("| run | corruption | " + " | ".join(f"s{s}" for s in sevs) + " |")
        lines.append("|---|---" + "|---:" * len(sevs) + "|")
        for r in rows:
            for n in names:
                accs = " | ".join(f"{r['accuracy'][n][str(s)]:.4f}" for s in sevs)
                lines.append(f"| {r['label']} | {pretty(n)} | {accs} |")
    if attacks:
        lines += ["", "Accuracy by ε (pixel units; clean = ε 0):", ""]
        lines.append("| run | attack | " + " | ".join(f"ε {e:g}" for e in eps) + " |")
        lines.append("|---|---" + "|---:" * len(eps) + "|")
        for r in rows:
            for a in attacks:
                accs = " | ".join(f"{v:.4f}" for v in r["attack_accuracy"][a].values())
                lines.append(f"| {r['label']} | {RA.LABELS[a]} | {accs} |")
    if names:
        lines += ["", *severity_table(names, sevs)]
    return "\n".join(lines) + "\n"
