"""Named fixed-point number formats and the engine's requantisation, in exact integers."""

from dataclasses import dataclass

import numpy as np

__all__ = ["Fixed", "round_shift", "frac_for_range"]


@dataclass(frozen=True)
class Fixed:
    """A two's-complement fixed-point format: ``value = integer * 2**-frac``.

    ``quantise`` rounds half up (``floor(x * 2**frac + 0.5)``); overflow saturates.
    """

    width: int
    frac: int

    @property
    def min(self):
        return -(1 << (self.width - 1))

    @property
    def max(self):
        return (1 << (self.width - 1)) - 1

    def saturate(self, ints):
        return np.clip(np.asarray(ints, dtype=np.int64), self.min, self.max)

    def quantise(self, x):
        """Nearest representable integers of the real values ``x``, saturated."""
        scaled = np.floor(np.asarray(x, dtype=np.float64) * 2.0 ** self.frac + 0.5)
        return self.saturate(np.clip(scaled, -2.0 ** 62, 2.0 ** 62).astype(np.int64))

    def fits(self, ints):
        ints = np.asarray(ints)
        return bool(ints.size == 0 or (ints.min() >= self.min and ints.max() <= self.max))

    def to_float(self, ints):
        return np.asarray(ints, dtype=np.float64) * 2.0 ** -self.frac


def round_shift(x, shift):
    """``x`` divided by ``2**shift``, rounded half up: what the engine's requantiser does.

    ``(x + 2**(shift - 1)) >> shift`` with an arithmetic shift; ``x`` itself when ``shift`` is 0.

    >>> round_shift(np.array([5, 6, -5, -6]), 2).tolist()
    [1, 2, -1, -1]
    """
    x = np.asarray(x, dtype=np.int64)
    if shift == 0:
        return x
    return (x + (1 << (shift - 1))) >> shift


def frac_for_range(largest, width, limit=30):
    """The most fraction bits with which ``largest`` (>= 0) still fits a signed ``width``-bit
    format after rounding (at most ``limit``)."""
    top = (1 << (width - 1)) - 1
    if largest <= 0:
        return limit
    frac = min(limit, int(np.floor(np.log2(top / largest))))
    while np.floor(largest * 2.0 ** frac + 0.5) > top:
        frac -= 1
    return frac
