"""`scratchdl --version`, and a help text for every option a new user reads in --help."""

from __future__ import annotations

import argparse

import pytest

import scratchdl
from scratchdl.cli.main import build_parser
from tests.conftest import run_cli


def test_version_prints_name_and_version() -> None:
    proc = run_cli("--version", check=True)
    assert proc.stdout.strip() == f"scratchdl {scratchdl.__version__}"


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


@pytest.mark.parametrize("command", ["ablate", "search", "robust", "compare", "run"])
def test_every_option_has_a_help_text(command: str) -> None:
    missing = [
        a.dest
        for a in _subparser(command)._actions
        if not isinstance(a, argparse._HelpAction) and not (a.help or "").strip()
    ]
    assert missing == [], f"{command}: no help for {missing}"
