"""The one exception type that reaches users as a one-line message (exit code 2)."""


class UserError(Exception):
    """Bad input or missing resource: the CLI prints `scratchdl: error: <msg>` and exits 2.

    The message must say what was expected and how to fix it, in one line.
    """
