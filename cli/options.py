"""Argument parsing for the ``tinyeie`` command: typed, range-checked options and one-line
errors.

Every numeric option is checked as it is parsed, before any work starts, and a bad one is a
single line on stderr with exit status 2, like every other bad input.
"""

import argparse
import math

__all__ = ["Parser", "integer", "number", "list_of"]


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
