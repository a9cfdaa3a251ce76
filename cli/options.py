"""Argument parsing for the ``tinyeie`` command: typed, range-checked options, one-line
errors, the help layout that shows defaults, and ``--data``.

Every numeric option is checked as it is parsed, before any work starts, and a bad one is a
single line on stderr with exit status 2, like every other bad input.
"""

import argparse
import math

__all__ = ["Parser", "HelpFormatter", "integer", "number", "list_of", "add_data_option"]


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line: what was wrong and where to look."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def integer(low, high=None):
    """An argparse type: an integer in ``low..high`` (no upper end if ``high`` is None)."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low or (high is not None and value > high):
            span = f"{low}..{high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"must be {span}, not {value}")
        return value
    return parse


def number(low, high=None, *, low_open=False):
    """An argparse type: a finite number in ``low..high`` (``low`` itself excluded if
    ``low_open``)."""
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        below = value <= low if low_open else value < low
        if not math.isfinite(value) or below or (high is not None and value > high):
            span = (f"over {low}" if low_open else f"at least {low}") + (
                f" and at most {high}" if high is not None else "")
            raise argparse.ArgumentTypeError(f"must be a finite number {span}, not {text}")
        return value
    return parse


def list_of(kind, what):
    """An argparse type: values of the type ``kind`` separated by commas."""
    def parse(text):
        try:
            return [kind(v) for v in text.split(",")]
        except (ValueError, argparse.ArgumentTypeError) as e:
            raise argparse.ArgumentTypeError(
                f"expected {what} separated by commas, got {text!r} ({e})") from None
    return parse


class HelpFormatter(argparse.HelpFormatter):
    """Adds ``(default: X)`` to an option's help when it has a default worth showing and the
    help does not already say it (options whose default depends on something else say so in
    their own words)."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if ("default" in text or default is None or default is False
                or default == argparse.SUPPRESS or not action.option_strings):
            return text
        return f"{text} (default: %(default)s)"


def add_data_option(parser, what="its data set"):
    parser.add_argument("--data", metavar="FILE.npz",
                        help=f"{what}: an .npz holding x_train, y_train, x_test, y_test (features "
                             f"in [0, 1), integer labels); default MNIST")
