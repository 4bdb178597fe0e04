"""Layering check: a lower layer must not import a higher one, and no packages import each
other in a circle.

Run `python -m scratchdl.devtools.check_layers` (exit 1 and one line per offending import or
cycle, exit 0 when clean). Imports are read with `ast`, nothing is executed; imports inside
functions and `TYPE_CHECKING` blocks count too, since they are dependencies all the same.

The ordering is data: edit `LAYERS` (low to high; packages in one tuple are peers: one may
import another, but never both ways, which the cycle check reports) and `PLACED` (single
modules that sit in a package but belong to another layer while they move). A module takes
the layer of its longest matching entry (the entry itself or a package above it);
`ROOT_MODULES` match only exactly. A module no entry matches is
reported too, so a new package has to be placed before it passes.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

# Low to high. Peers share a tuple (and may import each other one way only).
LAYERS: list[tuple[str, ...]] = [
    ("scratchdl", "scratchdl.errors", "scratchdl.config"),
    ("scratchdl.scratch", "scratchdl.ops", "scratchdl.store"),
    (
        "scratchdl.nn",
        "scratchdl.data",
        "scratchdl.text",
        "scratchdl.metrics",
        "scratchdl.plots",
        "scratchdl.explain",
    ),
    ("scratchdl.models",),
    ("scratchdl.train",),
    ("scratchdl.tasks",),
    ("scratchdl.recipes", "scratchdl.runner"),
    ("scratchdl.workbench",),
    ("scratchdl.cli", "scratchdl.__main__", "scratchdl.devtools"),
]

# Modules placed in a layer other than their package's (none today; e.g. a task module
# left in another package while it moves: "scratchdl.text.x_task": "scratchdl.tasks").
PLACED: dict[str, str] = {}

# Entries that name one module only, never the package below them.
ROOT_MODULES = frozenset({"scratchdl"})

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
    """src/scratchdl/models/_blocks.py -> scratchdl.models._blocks; __init__ names the package."""
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


def package_unit(module: str, packages: set[str]) -> str:
    """The package a module counts for in the cycle check: its second-level package
    (scratchdl.tasks.vision) when it has one, else its top-level one (scratchdl.models), else
    the module itself (scratchdl.runner)."""
    parts = module.split(".")
    for depth in (3, 2):
        if len(parts) >= depth and ".".join(parts[:depth]) in packages:
            return ".".join(parts[:depth])
    return module


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(out)


def check(
    src_root: Path,
    package: str = "scratchdl",
    layers: Sequence[tuple[str, ...]] = LAYERS,
    placed: dict[str, str] | None = None,
) -> tuple[list[Violation], list[str], list[list[str]]]:
    """All upward imports under src_root/package, the modules no layer entry matches, and the
    package cycles (groups of packages that import each other, directly or around a ring)."""
    ranks = _rank_table(layers)
    files = sorted((src_root / package).rglob("*.py"))
    names = {f: module_name(f, src_root) for f in files}
    known = set(names.values())
    packages = {names[f] for f in files if f.name == "__init__.py"}
    violations: list[Violation] = []
    unplaced: list[str] = []
    edges: dict[str, set[str]] = {}
    seen: set[tuple[str, int, str]] = set()
    for path, importer in names.items():
        own = layer_of(importer, layers, placed)
        if own is None:
            unplaced.append(f"{path}: {importer} is in no layer; add it to LAYERS")
            continue
        for line, imported in imports_of(path, importer, known):
            if imported != package and not imported.startswith(package + "."):
                continue
            src_unit, dst_unit = package_unit(importer, packages), package_unit(imported, packages)
            if src_unit != dst_unit:
                edges.setdefault(src_unit, set()).add(dst_unit)
            target = layer_of(imported, layers, placed)
            if target is not None and ranks[target] > ranks[own]:
                if (importer, line, imported) in seen:  # from x import a, b: one report
                    continue
                seen.add((importer, line, imported))
                rel = path.relative_to(src_root.parent) if src_root.parent in path.parents else path
                violations.append(Violation(str(rel), line, importer, own, imported, target))
    return violations, unplaced, _cycles(edges)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scratchdl.devtools.check_layers",
        description="Fail if a lower layer of scratchdl imports a higher one, or packages "
        "import each other in a circle.",
    )
    default_src = Path(__file__).resolve().parents[2]
    parser.add_argument("--src", type=Path, default=default_src, help="folder holding scratchdl/")
    args = parser.parse_args(argv)
    violations, unplaced, cycles = check(args.src)
    for v in violations:
        print(v)
    for problem in unplaced:
        print(problem)
    for cycle in cycles:
        print(f"package cycle: {' <-> '.join(cycle)} import each other (directly or in a ring)")
    if violations or unplaced or cycles:
        print(
            f"layering: {len(violations)} upward import(s), {len(unplaced)} unplaced module(s), "
            f"{len(cycles)} package cycle(s)"
        )
        return 1
    order = " -> ".join("/".join(e.removeprefix("scratchdl.") for e in g) for g in LAYERS)
    print(f"layering ok ({order}), no package cycles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
