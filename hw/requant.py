"""The requantiser: an accumulator total back to an activation (docs/engine.md).

``total >> shift``, saturated to ``act_width`` bits. A barrel shifter for it costs an iCE40
about a hundred logic cells in every PE; a multiplier block costs none, and the shift is the
same for a whole layer. So the layer's shift is split once (:func:`shift_plan`) into a window
of 16 of the total's bits, chosen by a small multiplexer in each PE, and a power of two that the
window is multiplied by, on the multiplier, so that the result lands at a fixed bit position.
"""

from amaranth.hdl import Cat, Mux, signed
from amaranth.utils import ceil_log2

__all__ = ["requantise", "overflow_mask", "shift_plan", "window_count", "OPERAND"]

OPERAND = 16            # bits of a multiplier operand
RESULT_AT = OPERAND - 2  # the product bit the result starts at (the scale stays positive)


def overflow_mask(shift, act_width, acc_width):
    """The accumulator bits that must all equal the sign for ``total >> shift`` to fit an
    activation: bits ``shift + act_width - 1`` and up (computed once per layer)."""
    return (((1 << acc_width) - 1) << (shift + (act_width - 1)))[:acc_width]


def _windows(act_width, acc_width):
    """Where each window of the total starts: every ``step`` bits, the last one holding the
    total's top bits (so that any larger shift reads only copies of the sign)."""
    step = OPERAND + 1 - act_width
    top = max(0, acc_width - (RESULT_AT + 1))
    starts = list(range(0, top, step)) + [top]
    return step, starts


def window_count(act_width, acc_width):
    return len(_windows(act_width, acc_width)[1])


def shift_plan(shift, act_width, acc_width):
    """``(window, scale)`` for a layer's ``shift`` (a signal or int): the window of the total
    the PEs multiply, and the power of two they multiply it by (at most ``2**RESULT_AT``, so
    positive as a signed operand). Computed once per layer."""
    step, starts = _windows(act_width, acc_width)
    window = Mux(shift >= starts[-1], len(starts) - 1, shift // step)
    at = 0
    for k, start in enumerate(starts):
        at = Mux(window == k, start, at)
    # The result's first bit sits at RESULT_AT - k of the window: k = RESULT_AT + at - shift,
    # at least 0 (a shift past the top reads the sign, which the window's top bit holds).
    k = RESULT_AT + at - shift
    scale = Mux(k.as_signed() < 0, 1, 1 << k[:ceil_log2(RESULT_AT + 1)])
    return window, scale


def requantise(total, window, scale, mask, relu, act_width):
    """``total >> shift`` (arithmetic: the compiler folded the rounding term into the bias),
    saturated to a signed ``act_width``-bit activation, then ``max(., 0)`` if ``relu``;
    ``window`` and ``scale`` from :func:`shift_plan` of the shift, ``mask`` from
    :func:`overflow_mask`.

    The window's 16 bits times ``scale`` on the multiplier put the shifted bits at product bit
    ``RESULT_AT``; saturation is a test of the bits under ``mask`` against the sign. Equals
    ``Fixed(act_width, 0).saturate(total >> shift)`` of :mod:`tinyeie.sw.compiler.fixedpoint`.
    """
    width = len(total)
    sign = total[width - 1]
    _, starts = _windows(act_width, width)
    wide = Cat(total, sign.replicate(OPERAND))          # sign-extended past every window
    operand = wide[starts[0]:starts[0] + OPERAND]
    for k, start in enumerate(starts[1:], 1):
        operand = Mux(window == k, wide[start:start + OPERAND], operand)
    product = operand.as_signed() * scale.as_signed()
    overflows = ((total ^ sign.replicate(width)) & mask).any()
    top = (1 << (act_width - 1)) - 1
    saturated = Mux(sign, top + 1, top)          # -2**(act_width-1) or 2**(act_width-1) - 1
    value = Mux(overflows, saturated, product[RESULT_AT:RESULT_AT + act_width])
    return Mux(relu & value[act_width - 1], 0, value)[:act_width].as_signed()


del signed
