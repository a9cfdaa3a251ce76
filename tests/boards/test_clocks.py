"""PLL settings: within the dividers' legal ranges, and the frequency asked for."""

import pytest

from tinyeie.boards.clocks import ecp5_pll, ice40_pll
from tinyeie.contract.errors import TinyeieError


@pytest.mark.parametrize("wanted", [24e6, 30e6, 36e6, 48e6])
def test_ice40_pll_settings_are_legal(wanted):
    s = ice40_pll(12e6, wanted)
    p = s.params
    pfd = 12e6 / (p["DIVR"] + 1)
    vco = pfd * (p["DIVF"] + 1)
    assert 10e6 <= pfd <= 133e6 and 533e6 <= vco <= 1066e6
    assert s.output_hz == vco / 2 ** p["DIVQ"] == wanted


@pytest.mark.parametrize("source, wanted", [(25e6, 50e6), (25e6, 62.5e6), (100e6, 50e6)])
def test_ecp5_pll_settings_are_legal(source, wanted):
    s = ecp5_pll(source, wanted)
    p = s.params
    assert s.output_hz == source * p["CLKFB_DIV"] / p["CLKI_DIV"] == wanted
    assert 400e6 <= s.output_hz * p["CLKOP_DIV"] <= 800e6
    assert p["CLKOP_CPHASE"] == p["CLKOP_DIV"] - 1


def test_unreachable_frequency_is_refused():
    with pytest.raises(TinyeieError, match="cannot make 400 MHz"):
        ice40_pll(12e6, 400e6)
