"""Layering check: a lower layer must not import a higher one.

Run `python -m scratchdl.devtools.layers` (exit 1 and one line per offending import, exit 0
when clean). Imports are read with `ast`, nothing is executed; imports inside functions and
`TYPE_CHECKING` blocks count too, since they are dependencies all the same.

The ordering is data: edit `LAYERS` (low to high; packages in one tuple are peers and may
import each other) and `PLACED` (single modules that sit in a package but belong to another
layer, e.g. a task still living under `scratch/` until the engine moves it to
`scratchdl.tasks`). A module takes the layer of its longest matching entry (the entry itself
or a package above it); `ROOT_MODULES` match only exactly. A module no entry matches is
reported too, so a new package has to be placed before it passes.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

# Low to high. Peers share a tuple.
LAYERS: list[tuple[str, ...]] = [
    ("scratchdl", "scratchdl.errors", "scratchdl.config", "scratchdl.plotstyle"),
    (
        "scratchdl.data",
        "scratchdl.nn",
        "scratchdl.scratch",
        "scratchdl.models",
        "scratchdl.text",
        "scratchdl.vision",
        "scratchdl.store",
        "scratchdl.explain",
    ),
    ("scratchdl.train",),
    ("scratchdl.tasks",),
    ("scratchdl.recipes", "scratchdl.runner", "scratchdl.preflight"),
    ("scratchdl.workbench",),
    ("scratchdl.cli", "scratchdl.__main__", "scratchdl.devtools"),
]

# Modules placed in a layer other than their package's (none today; e.g. a task module
# left in another package while it moves: "scratchdl.text.x_task": "scratchdl.tasks").
PLACED: dict[str, str] = {}

# Entries that name one module only, never the package below them.
ROOT_MODULES = frozenset({"scratchdl"})

# Upward imports that exist today in files under rewrite (importer, imported). They are
# reported as known; `--allow-known` and tests/test_layers.py tolerate them, and the test
# fails once one is gone so the entry gets deleted. Do not add to this list: fix the import.
KNOWN: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    importer: str
    importer_layer: str
    imported: str
    imported_layer: str

    @property
    def pair(self) -> tuple[str, str]:
        return self.importer, self.imported

    def __str__(self) -> str:
        return (
            f"{self.path}:{self.line}: {self.importer} ({self.importer_layer}) imports "
            f"{self.imported} ({self.imported_layer}), a higher layer"
        )


def _rank_table(layers: Sequence[tuple[str, ...]]) -> dict[str, int]:
    return {entry: rank for rank, group in enumerate(layers) for entry in group}


def layer_of(
    module: str,
    layers: Sequence[tuple[str, ...]] = LAYERS,
    placed: dict[str, str] | None = None,
) -> str | None:
    """The LAYERS entry that `module` belongs to (longest match, PLACED first), or None."""
    placed = PLACED if placed is None else placed
    ranks = _rank_table(layers)
    for name, entry in placed.items():
        if module == name or module.startswith(name + "."):
            return entry
    best = None
    for entry in ranks:
        exact_only = entry in ROOT_MODULES
        if module == entry or (not exact_only and module.startswith(entry + ".")):
            if best is None or len(entry) > len(best):
                best = entry
    return best


def module_name(path: Path, src_root: Path) -> str:
    """src/scratchdl/models/blocks.py -> scratchdl.models.blocks; __init__ names the package."""
    parts = list(path.relative_to(src_root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(path: Path, importer: str, known: set[str]) -> Iterable[tuple[int, str]]:
    """(line, module) for every scratchdl import in the file, `from a import b` naming a.b when
    that is a module of the tree."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node, importer, is_package)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield node.lineno, full if full in known else base


def check(
    src_root: Path,
    package: str = "scratchdl",
    layers: Sequence[tuple[str, ...]] = LAYERS,
    placed: dict[str, str] | None = None,
) -> tuple[list[Violation], list[str]]:
    """All upward imports under src_root/package, and the modules no layer entry matches."""
    ranks = _rank_table(layers)
    files = sorted((src_root / package).rglob("*.py"))
    names = {f: module_name(f, src_root) for f in files}
    known = set(names.values())
    violations: list[Violation] = []
    unplaced: list[str] = []
    seen: set[tuple[str, int, str]] = set()
    for path, importer in names.items():
        own = layer_of(importer, layers, placed)
        if own is None:
            unplaced.append(f"{path}: {importer} is in no layer; add it to LAYERS")
            continue
        for line, imported in imports_of(path, importer, known):
            if imported != package and not imported.startswith(package + "."):
                continue
            target = layer_of(imported, layers, placed)
            if target is not None and ranks[target] > ranks[own]:
                if (importer, line, imported) in seen:  # from x import a, b: one report
                    continue
                seen.add((importer, line, imported))
                rel = path.relative_to(src_root.parent) if src_root.parent in path.parents else path
                violations.append(Violation(str(rel), line, importer, own, imported, target))
    return violations, unplaced


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scratchdl.devtools.layers",
        description="Fail if a lower layer of scratchdl imports a higher one.",
    )
    default_src = Path(__file__).resolve().parents[2]
    parser.add_argument("--src", type=Path, default=default_src, help="folder holding scratchdl/")
    parser.add_argument(
        "--allow-known", action="store_true", help="exit 0 if only the KNOWN imports remain"
    )
    args = parser.parse_args(argv)
    violations, unplaced = check(args.src)
    for v in violations:
        print(f"{v}{' [known]' if v.pair in KNOWN else ''}")
    for problem in unplaced:
        print(problem)
    new = [v for v in violations if v.pair not in KNOWN] if args.allow_known else violations
    if new or unplaced:
        print(f"layering: {len(violations)} upward import(s), {len(unplaced)} unplaced module(s)")
        return 1
    order = " -> ".join("/".join(e.removeprefix("scratchdl.") for e in g) for g in LAYERS)
    known = f", {len(violations)} known upward import(s) allowed" if violations else ""
    print(f"layering ok ({order}){known}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
