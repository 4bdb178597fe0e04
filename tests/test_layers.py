"""The layering check: lower layers never import higher ones (scratchdl.devtools.layers)."""

import os
import subprocess
import sys
from pathlib import Path

import scratchdl
from scratchdl.devtools import layers

SRC = Path(scratchdl.__file__).resolve().parents[1]


def test_source_tree_has_no_new_upward_imports() -> None:
    violations, unplaced = layers.check(SRC)
    assert unplaced == []
    found = {v.pair for v in violations}
    new = [str(v) for v in violations if v.pair not in layers.KNOWN]
    assert new == [], "fix these imports (a lower layer imports a higher one):\n" + "\n".join(new)
    gone = sorted(layers.KNOWN - found)
    assert gone == [], f"fixed, now delete from layers.KNOWN: {gone}"


def test_module_runs_from_the_command_line() -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    cmd = [sys.executable, "-m", "scratchdl.devtools.layers", "--allow-known"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "layering ok" in done.stdout
    strict = subprocess.run(cmd[:-1], capture_output=True, text=True, env=env, timeout=60)
    assert strict.returncode == (1 if layers.KNOWN else 0)


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_synthetic_tree_reports_each_upward_import(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setitem(layers.PLACED, "scratchdl.scratch.tasks", "scratchdl.tasks")
    _write(
        tmp_path,
        {
            "scratchdl/__init__.py": "from scratchdl.errors import UserError\n",
            "scratchdl/errors.py": "",
            "scratchdl/data/__init__.py": "",
            "scratchdl/data/loader.py": (
                "from scratchdl.errors import UserError\n"  # down: fine
                "from scratchdl.models import blocks\n"  # peer: fine
                "def f():\n"
                "    from ..train import loop, other\n"  # relative, lazy: counts, once
            ),
            "scratchdl/models/__init__.py": "",
            "scratchdl/models/blocks.py": "import scratchdl.cli.main\n",  # up
            "scratchdl/train/__init__.py": "",
            "scratchdl/train/loop.py": "from scratchdl.data.loader import f\n",  # down: fine
            "scratchdl/train/other.py": "",
            "scratchdl/scratch/tasks.py": "from scratchdl.train import loop\n",  # PLACED: fine
            "scratchdl/cli/__init__.py": "",
            "scratchdl/cli/main.py": "from scratchdl.workbench import x\n",  # down: fine
            "scratchdl/mystery/__init__.py": "",  # in no layer
        },
    )
    violations, unplaced = layers.check(tmp_path)
    got = sorted((v.importer, v.imported, v.line) for v in violations)
    assert got == [
        ("scratchdl.data.loader", "scratchdl.train.loop", 4),
        ("scratchdl.data.loader", "scratchdl.train.other", 4),
        ("scratchdl.models.blocks", "scratchdl.cli.main", 1),
    ]
    assert len(unplaced) == 1 and "scratchdl.mystery" in unplaced[0]
    assert layers.main(["--src", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "scratchdl.models.blocks (scratchdl.models) imports scratchdl.cli.main" in out


def test_layer_table_is_data(monkeypatch) -> None:
    monkeypatch.setitem(layers.PLACED, "scratchdl.scratch.tasks", "scratchdl.tasks")
    assert layers.layer_of("scratchdl.models.resnet") == "scratchdl.models"
    assert layers.layer_of("scratchdl.scratch.tasks") == "scratchdl.tasks"  # placed
    assert layers.layer_of("scratchdl.tasks.classify") == "scratchdl.tasks"  # future package
    assert layers.layer_of("scratchdl") == "scratchdl"
    assert layers.layer_of("scratchdl.newpkg.x") is None  # the root entry is exact only
    custom = [("scratchdl.cli",), ("scratchdl.data",)]  # reversed order, no placements
    assert layers.layer_of("scratchdl.data.x", custom, placed={}) == "scratchdl.data"
