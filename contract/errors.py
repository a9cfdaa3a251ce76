"""The one exception type that the command line turns into a clean error message."""


class TinyeieError(Exception):
    """A user-facing error: what was wrong, the value seen, and what would be right.

    The command line prints the message as one line on stderr and exits with status 2; it never
    shows a traceback for these.
    """
