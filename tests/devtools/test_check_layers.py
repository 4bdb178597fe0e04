"""The layering check (scratchdl.devtools.check_layers): lower layers never import higher
ones, and no packages import each other in a circle. Proven on the real tree and on small
planted trees where each kind of offence must be caught."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import scratchdl
from scratchdl.devtools import check_layers as layers

SRC = Path(scratchdl.__file__).resolve().parents[1]


def test_source_tree_follows_the_order_with_no_cycles() -> None:
    violations, unplaced, cycles = layers.check(SRC)
    assert unplaced == []
    assert [str(v) for v in violations] == []
    assert cycles == []


def test_order_is_the_documented_one() -> None:
    order = [tuple(e.removeprefix("scratchdl.") for e in group) for group in layers.LAYERS]
    assert order == [
        ("scratchdl", "errors", "config"),
        ("scratch", "ops", "store"),
        ("nn", "data", "text", "metrics", "plots", "explain"),
        ("models",),
        ("train",),
        ("tasks",),
        ("recipes", "runner"),
        ("workbench",),
        ("cli", "__main__", "devtools"),
    ]


def test_module_runs_from_the_command_line() -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    cmd = [sys.executable, "-m", "scratchdl.devtools.check_layers"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "layering ok" in done.stdout and "no package cycles" in done.stdout


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


BASE = {
    "scratchdl/__init__.py": "from scratchdl.errors import UserError\n",
    "scratchdl/errors.py": "",
    "scratchdl/data/__init__.py": "",
    "scratchdl/text/__init__.py": "",
    "scratchdl/models/__init__.py": "",
    "scratchdl/train/__init__.py": "",
    "scratchdl/train/other.py": "",
    "scratchdl/tasks/__init__.py": "",
    "scratchdl/tasks/vision/__init__.py": "",
    "scratchdl/tasks/text/__init__.py": "",
    "scratchdl/cli/__init__.py": "",
}


def test_planted_upward_imports_are_each_reported(tmp_path: Path, capsys) -> None:
    _write(
        tmp_path,
        {
            **BASE,
            "scratchdl/data/loader.py": (
                "from scratchdl.errors import UserError\n"  # down: fine
                "from scratchdl.text import corpora\n"  # peer, one way: fine
                "def f():\n"
                "    from ..train import loop, other\n"  # relative, lazy: counts, once
            ),
            "scratchdl/models/_blocks.py": "import scratchdl.cli.main\n",  # up
            "scratchdl/train/loop.py": "from scratchdl.data.loader import f\n",  # down: fine
            "scratchdl/cli/main.py": "from scratchdl.tasks import x\n",  # down: fine
            "scratchdl/mystery/__init__.py": "",  # in no layer
        },
    )
    violations, unplaced, cycles = layers.check(tmp_path)
    got = sorted((v.importer, v.imported, v.line) for v in violations)
    assert got == [
        ("scratchdl.data.loader", "scratchdl.train.loop", 4),
        ("scratchdl.data.loader", "scratchdl.train.other", 4),
        ("scratchdl.models._blocks", "scratchdl.cli.main", 1),
    ]
    assert len(unplaced) == 1 and "scratchdl.mystery" in unplaced[0]
    assert layers.main(["--src", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "scratchdl.models._blocks (scratchdl.models) imports scratchdl.cli.main" in out


@pytest.mark.parametrize(
    "files, ring",
    [
        (  # two peers of one layer importing each other
            {
                "scratchdl/data/a.py": "from scratchdl.text import b\n",
                "scratchdl/text/b.py": "from scratchdl.data import a\n",
            },
            ["scratchdl.data", "scratchdl.text"],
        ),
        (  # two task domains, around a ring through a lazy import
            {
                "scratchdl/tasks/vision/a.py": "from scratchdl.tasks.text import b\n",
                "scratchdl/tasks/text/b.py": "def f():\n    from scratchdl.tasks.vision import a\n",
            },
            ["scratchdl.tasks.text", "scratchdl.tasks.vision"],
        ),
    ],
)
def test_planted_package_cycle_is_reported(
    tmp_path: Path, capsys, files: dict[str, str], ring: list[str]
) -> None:
    _write(tmp_path, {**BASE, **files})
    violations, unplaced, cycles = layers.check(tmp_path)
    assert violations == [] and unplaced == []  # no upward import: only the cycle is wrong
    assert cycles == [ring]
    assert layers.main(["--src", str(tmp_path)]) == 1
    assert "package cycle: " + " <-> ".join(ring) in capsys.readouterr().out


def test_layer_lookup() -> None:
    assert layers.layer_of("scratchdl.models.resnet") == "scratchdl.models"
    assert layers.layer_of("scratchdl.tasks.vision.classify") == "scratchdl.tasks"
    assert layers.layer_of("scratchdl") == "scratchdl"
    assert layers.layer_of("scratchdl.newpkg.x") is None  # the root entry is exact only
    custom = [("scratchdl.cli",), ("scratchdl.data",)]  # reversed order, no placements
    assert layers.layer_of("scratchdl.data.x", custom, placed={}) == "scratchdl.data"
    placed = {"scratchdl.data.moving": "scratchdl.cli"}
    assert layers.layer_of("scratchdl.data.moving", custom, placed=placed) == "scratchdl.cli"
