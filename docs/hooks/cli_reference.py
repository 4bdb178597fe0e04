"""The CLI reference page, generated from the real parser (never written by hand).

It walks the ArgumentParser that `scratchdl.cli.main.build_parser()` returns, through its
sub-parser actions, so it does not depend on how the parser is put together.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator

INTRO = """# Command line

Every `scratchdl` command with its arguments, generated from the parser itself when the site
is built (`scratchdl COMMAND --help` prints the same). Bad input ends with one line on stderr and
exit code 2, never a traceback.
"""


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], str, argparse.ArgumentParser]]:
    """(command path, one-line help, parser) for every sub-command, depth first, in order."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {a.dest: a.help or "" for a in action._choices_actions}
        for name, sub in action.choices.items():
            yield (*path, name), helps.get(name, ""), sub
            yield from commands(sub, (*path, name))


def _cell(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace("|", "\\|").replace("\n", " ")


def _argument(action: argparse.Action) -> str:
    if action.option_strings:
        name = ", ".join(action.option_strings)
        if action.nargs != 0:
            metavar = action.metavar or action.dest.upper()
            name += f" {metavar}"
    else:
        name = action.metavar or action.dest
    return f"`{name}`"


def _details(action: argparse.Action) -> str:
    parts = [_cell(action.help or "")]
    if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
        parts.append("choices: " + ", ".join(f"`{c}`" for c in action.choices))
    plain = action.default in (None, argparse.SUPPRESS, False, [])
    if not plain and action.nargs != 0:
        parts.append(f"default: `{action.default}`")
    if action.required and action.option_strings:
        parts.append("required")
    return "; ".join(p for p in parts if p)


def cli_markdown(parser: argparse.ArgumentParser) -> str:
    """The whole reference page as Markdown."""
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "96"  # argparse wraps usage lines to the terminal: fix the width
    try:
        out = [INTRO, "| command | what it does |", "|---|---|"]
        found = list(commands(parser))
        for path, help_, _ in found:
            anchor = "-".join(("scratchdl", *path))
            out.append(f"| [`scratchdl {' '.join(path)}`](#{anchor}) | {_cell(help_)} |")
        for path, help_, sub in found:
            level = "#" * (len(path) + 1)
            out += ["", f"{level} scratchdl {' '.join(path)}", ""]
            if help_:
                out += [_cell(help_)[0].upper() + _cell(help_)[1:] + ".", ""]
            out += ["```text", sub.format_usage().strip(), "```"]
            rows = [
                a
                for a in sub._actions
                if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))
            ]
            if rows:
                out += ["", "| argument | meaning |", "|---|---|"]
                out += [f"| {_argument(a)} | {_details(a)} |" for a in rows]
        return "\n".join(out) + "\n"
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old
