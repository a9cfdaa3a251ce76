"""The requantiser: an accumulator total back to an activation (docs/engine.md)."""

from amaranth.hdl import Const, Mux, signed

__all__ = ["requantise"]


def requantise(total, shift, relu, act_width):
    """``total`` shifted right by ``shift`` rounding half up, saturated to a signed
    ``act_width``-bit activation, then ``max(., 0)`` if ``relu``: combinational.

    Bit growth: adding the rounding term ``2**(shift - 1)`` needs one bit more than ``total``;
    the arithmetic shift cannot grow it; saturation compares against the activation's range.
    Equals :func:`tinyeie.sw.fixedpoint.round_shift` followed by ``Fixed.saturate``.
    """
    half = (Const(1, len(shift) + 1) << shift) >> 1
    rounded = (total + half) >> shift
    low, high = -(1 << (act_width - 1)), (1 << (act_width - 1)) - 1
    saturated = Mux(rounded > high, high, Mux(rounded < low, low, rounded))
    return Mux(relu & (saturated < 0), 0, saturated)[:act_width].as_signed()
