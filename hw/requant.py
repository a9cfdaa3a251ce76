"""The requantiser: an accumulator total back to an activation (docs/engine.md)."""

from amaranth.hdl import Mux

__all__ = ["requantise", "overflow_mask"]


def overflow_mask(shift, act_width, acc_width):
    """The accumulator bits that must all equal the sign for ``total >> shift`` to fit an
    activation: bits ``shift + act_width - 1`` and up (computed once per layer)."""
    return (((1 << acc_width) - 1) << (shift + (act_width - 1)))[:acc_width]


def requantise(total, shift, mask, relu, act_width):
    """``total >> shift`` (arithmetic: the compiler folded the rounding term into the bias),
    saturated to a signed ``act_width``-bit activation, then ``max(., 0)`` if ``relu``.

    Combinational and carry-free: only the low ``act_width`` bits of the shift are kept, and
    saturation is a test of the bits under ``mask`` (:func:`overflow_mask`) against the sign.
    Equals ``Fixed(act_width, 0).saturate(total >> shift)`` of :mod:`tinyeie.sw.fixedpoint`.
    """
    width = len(total)
    sign = total[width - 1]
    overflows = ((total ^ sign.replicate(width)) & mask).any()
    top = (1 << (act_width - 1)) - 1
    saturated = Mux(sign, top + 1, top)          # -2**(act_width-1) or 2**(act_width-1) - 1
    value = Mux(overflows, saturated, (total >> shift)[:act_width])
    return Mux(relu & value[act_width - 1], 0, value)[:act_width].as_signed()
