"""Package docstring examples run as written (scratchdl.text's once raised NameError)."""

from __future__ import annotations

import textwrap

import pytest


def _example(doc: str) -> str:
    """The first indented block of a docstring."""
    return textwrap.dedent(doc.split("\n\n")[1])


def test_text_package_example_runs() -> None:
    import scratchdl.text.corpora  # noqa: F401 - registers the corpora
    from scratchdl.data.registry import get_dataset

    if not get_dataset("austen").is_present():
        pytest.skip("austen corpus not installed (make data)")
    env: dict = {}
    exec(_example(scratchdl.text.__doc__ or ""), env)  # noqa: S102 - our own docstring
    assert tuple(env["X"].shape) == (32, 35) and tuple(env["Y"].shape) == (32, 35)
    assert (env["X"][:, 1:] == env["Y"][:, :-1]).all()
