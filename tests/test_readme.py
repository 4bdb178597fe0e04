"""Every README code example runs (python) or names real commands and flags (bash)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from scratchdl.cli.main import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), flags=re.S)


def _cli_lines() -> list[str]:
    lines = [line for block in _blocks("bash") for line in block.splitlines()]
    return [line for line in lines if line.startswith("scratchdl ")]


def test_readme_has_examples() -> None:
    assert len(_cli_lines()) >= 15 and len(_blocks("python")) >= 1


@pytest.mark.parametrize("line", _cli_lines())
def test_cli_example_parses_with_the_real_parser(line: str) -> None:
    words = shlex.split(line, comments=True)[1:]
    # [--opt X] marks an optional part and RUN_DIR ... a repeat: keep the words, drop the marks
    words = [w.strip("[]") for w in words if w.strip("[]") not in ("...", "")]
    try:
        build_parser().parse_args(words)
    except SystemExit as e:
        pytest.fail(f"README line does not parse ({e.code}): {line}")


def test_python_api_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """The Python API section: trains 2 epochs on digits (a few seconds)."""
    (block,) = [b for b in _blocks("python") if "run_recipe" in b]
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {})  # noqa: S102 - our own README
    out = capsys.readouterr().out
    value, recomputed = map(float, re.findall(r"test_accuracy (\S+) \(recomputed: (\S+)\)", out)[0])
    assert value == pytest.approx(recomputed, abs=1e-4) and value > 0.5
    assert (tmp_path / "runs/api-demo/confusion.png").is_file()
    assert (tmp_path / "runs/api-demo/curves.png").is_file()
