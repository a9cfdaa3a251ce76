"""The exception types that the command line turns into a clean error message."""

__all__ = ["TinyeieError", "ToolMissing"]


class TinyeieError(Exception):
    """A user-facing error: what was wrong, the value seen, and what would be right.

    The command line prints the message as one line on stderr and exits with ``exit_status``
    (2); it never shows a traceback for these.
    """

    exit_status = 2


class ToolMissing(TinyeieError):
    """A program the step needs is not installed on this machine (a C++ compiler, make, a
    programmer): the message names it and how to install it. Exit status 3, so that scripts
    can tell a machine to set up from bad input (2) and a failed check (1)."""

    exit_status = 3
