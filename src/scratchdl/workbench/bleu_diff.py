"""`scratchdl bleu-diff RUN_A RUN_B`: is run B's test BLEU really above run A's?

Reads the test translations each seq2seq run saved (test_translations.tsv: ref, source,
reference, greedy, beam), checks both runs translated the same test verses against the same
references, and gives corpus BLEU of each with the paired-bootstrap interval of B - A.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scratchdl.errors import UserError
from scratchdl.metrics.bootstrap import paired_bootstrap

COLUMNS = ("greedy", "beam")


def read_translations(run_dir: str | Path) -> dict[str, list[str]]:
    """Columns of a run's test_translations.tsv: {"ref": [...], "reference": [...], ...}."""
    path = Path(run_dir) / "test_translations.tsv"
    if not path.is_file():
        raise UserError(
            f"{path} not found: expected a finished seq2seq run directory (it writes its test "
            "translations there)"
        )
    lines = path.read_text(encoding="utf-8").rstrip("\n").split("\n")
    header = lines[0].split("\t")
    if header != ["ref", "source", "reference", *COLUMNS]:
        raise UserError(f"{path}: unexpected header {header}; not a seq2seq translation file")
    rows = [line.split("\t") for line in lines[1:]]
    bad = next((i for i, r in enumerate(rows, start=2) if len(r) != len(header)), None)
    if bad is not None:
        raise UserError(f"{path}: line {bad} has not {len(header)} tab-separated fields")
    return {name: [r[k] for r in rows] for k, name in enumerate(header)}


def bleu_diff(run_a: str | Path, run_b: str | Path, column: str = "beam",
              samples: int = 1000, seed: int = 0, confidence: float = 0.95) -> dict[str, Any]:
    """BLEU of both runs' `column` translations and the paired-bootstrap CI of B - A."""
    if column not in COLUMNS:
        raise UserError(f"column must be one of {', '.join(COLUMNS)}, got {column!r}")
    a, b = read_translations(run_a), read_translations(run_b)
    if a["ref"] != b["ref"] or a["reference"] != b["reference"]:
        raise UserError(
            f"{run_a} and {run_b} translated different test sets ({len(a['ref'])} vs "
            f"{len(b['ref'])} sentences, or other verses/references): compare runs with the "
            "same [data] settings"
        )
    result = paired_bootstrap(a[column], b[column], a["reference"], samples, seed, confidence)
    return {"run_a": str(run_a), "run_b": str(run_b), "column": column, **result.as_dict()}
