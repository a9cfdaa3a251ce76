"""The gate-level wrapper and cell libraries, without running Verilator (the netlists take
minutes to build: `make gate` runs them)."""

import pytest

from tinyeie.sim.gate import cell_library, gate_wrapper, pin_ports

NETLIST = """module tinyeie(uart_0__rx__io, uart_0__tx__io, clk12_0__io, led_0__io);
  inout uart_0__rx__io;
  wire w;
  inout uart_0__tx__io;
  input clk12_0__io;
  inout led_0__io;
endmodule
"""


def test_pin_ports():
    assert pin_ports(NETLIST) == ("tinyeie", {"uart_0__rx__io": "inout",
                                              "uart_0__tx__io": "inout",
                                              "clk12_0__io": "input", "led_0__io": "inout"})


def test_the_wrapper_drives_the_oscillator_and_the_uart():
    wrapper, has_flash = gate_wrapper(NETLIST, 17)
    assert not has_flash
    assert ".clk12_0__io(clk_run)" in wrapper and ".uart_0__rx__io(rx_pin)" in wrapper
    assert "input [16:0] load_addr" in wrapper


def test_the_wrapper_wants_one_oscillator():
    with pytest.raises(ValueError, match="one input pin"):
        gate_wrapper(NETLIST.replace("inout led_0__io", "input led_0__io"), 17)


@pytest.mark.parametrize("family, standins", [
    ("ice40", ["SB_PLL40_PAD"]), ("ecp5", ["EHXPLLL", "SGSR", "MULT18X18D"])])
def test_cell_libraries_define_each_stand_in_once(family, standins):
    text = cell_library(family)
    for name in standins:
        assert text.count(f"module {name}(") + text.count(f"module {name} (") == 1, name
    assert "`include" not in text
    assert "=== 1'bz" not in text.split("module SB_IO")[-1].split("endmodule")[0] \
        if family == "ice40" else True
