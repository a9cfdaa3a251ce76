"""Patterns in the board design's RTLIL that yosys's synthesis gets wrong, found by the
gate-level simulation (docs/verification.md) and kept out by this test.

yosys 0.70's ``wreduce`` (run by ``prep`` and every ``synth_*``) narrows a ``$shift`` or
``$shiftx`` cell whose ``A`` is signed by dropping ``A``'s repeated sign bits, which changes a
logical shift's result: Amaranth's ``word_select`` on a signed value becomes such a cell, and
the synthesised iCEBreaker sent the top byte of every negative logit as 0x00 while the RTL sent
0xFF. Selecting from ``.as_unsigned()`` gives an unsigned ``A``.
"""

import re

import pytest
from amaranth.back import rtlil

from tinyeie.boards.boards import board
from tinyeie.boards.top import BoardTop


def signed_shifts(text):
    """The source locations of ``$shift``/``$shiftx`` cells with a signed ``A`` in RTLIL."""
    found = []
    for match in re.finditer(r"attribute \\src \"([^\"]*)\"\n\s*cell \$shiftx? \S+\n"
                             r"((?:\s*parameter .*\n)*)", text):
        if re.search(r"parameter \\A_SIGNED 1\b", match.group(2)):
            found.append(match.group(1))
    return found


@pytest.mark.parametrize("name", ["icebreaker", "ulx3s"])
def test_no_signed_shift_reaches_yosys(name):
    b = board(name)
    top = BoardTop(b.engine_config(), divisor=8, flash_boot=b.flash_boot, sparse=True,
                   rx_buffer=256)     # (all the options the boards may take)
    found = signed_shifts(rtlil.convert(top, name="top"))
    assert not found, (f"$shift cells with a signed A (yosys's wreduce miscompiles them; select "
                       f"from .as_unsigned()) at {found}")


def test_the_rule_sees_a_signed_word_select():
    from amaranth.hdl import Module, Signal, signed

    m = Module()
    value, index, out = Signal(signed(32)), Signal(2), Signal(8)
    m.d.comb += out.eq(value.word_select(index, 8))
    assert signed_shifts(rtlil.convert(m, ports=[value, index, out]))
