"""The gate-level wrapper and cell libraries, without running Verilator (the netlists take
minutes to build: `make gate` runs them)."""

import re
import subprocess

import pytest
from amaranth import C, Cat, Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from tinyeie.sim import gate
from tinyeie.sim.gate import blackboxes, cell_library, cells_used, gate_wrapper, pin_ports

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


class _Memories(wiring.Component):
    """Memories the way the ULX3S build's are mapped to DP16KD, with random contents: bytes
    written one at a time and read two at a time (a 9-bit write port beside an 18-bit read
    port); 16-bit words written by byte (an 18-bit port with byte enables); and two memories
    read and written at one address (one port: READBEFOREWRITE, and WRITETHROUGH where the
    read sees the write)."""
    wa: In(11)
    wd: In(8)
    we: In(1)
    ra: In(10)
    rd8: Out(16)
    wa16: In(10)
    wd16: In(16)
    we16: In(2)
    ra16: In(10)
    rd16: Out(16)
    a1: In(10)
    wd1: In(16)
    we1: In(1)
    rd_old: Out(16)
    rd_new: Out(16)

    def __init__(self, init8, init16):
        self.init8, self.init16 = init8, init16
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.bytes = bytes_ = Memory(shape=8, depth=2048, init=self.init8)
        m.submodules.words = words = Memory(shape=16, depth=1024, init=self.init16)
        write, low, high = bytes_.write_port(), bytes_.read_port(), bytes_.read_port()
        m.d.comb += [write.addr.eq(self.wa), write.data.eq(self.wd), write.en.eq(self.we),
                     low.addr.eq(Cat(C(0, 1), self.ra)), high.addr.eq(Cat(C(1, 1), self.ra)),
                     self.rd8.eq(Cat(low.data, high.data))]
        write, read = words.write_port(granularity=8), words.read_port()
        m.d.comb += [write.addr.eq(self.wa16), write.data.eq(self.wd16), write.en.eq(self.we16),
                     read.addr.eq(self.ra16), self.rd16.eq(read.data)]
        for transparent, out in [(False, self.rd_old), (True, self.rd_new)]:
            m.submodules[f"one_port_{out.name}"] = memory = Memory(shape=16, depth=1024,
                                                                   init=self.init16)
            write = memory.write_port()
            read = memory.read_port(transparent_for=[write] if transparent else [])
            m.d.comb += [write.addr.eq(self.a1), read.addr.eq(self.a1), write.data.eq(self.wd1),
                         write.en.eq(self.we1), out.eq(read.data)]
        return m


@pytest.mark.verilator
@pytest.mark.toolchain
def test_the_block_ram_stand_in_holds_what_synth_ecp5_maps(tmp_path):
    """yosys's own DP16KD model is a black box (its outputs read 0 on Verilator): the stand-in
    must read back the initial contents and every write, through synth_ecp5's mapping."""
    import random

    from amaranth.back import rtlil

    from tinyeie.boards.toolchain import toolchain_env
    from tinyeie.sim.gate import GATE_ARGS, library_for
    from tinyeie.sim.harness import build, run

    rng = random.Random(7)
    init8 = [rng.randrange(256) for _ in range(2048)]
    init16 = [rng.randrange(65536) for _ in range(1024)]
    (tmp_path / "memories.il").write_text(rtlil.convert(_Memories(init8, init16),
                                                        name="memories"))
    subprocess.run([toolchain_env("ecp5")["YOSYS"], "-q", "-p", "read_rtlil memories.il; "
                    "synth_ecp5 -top memories; write_verilog -noattr memories.v"],
                   cwd=tmp_path, check=True)
    netlist = (tmp_path / "memories.v").read_text()
    widths = set(re.findall(r"\.DATA_WIDTH_A\(32'd(\d+)\)", netlist))
    assert widths == {"9", "18"}, f"the netlist's write ports are {widths} bits wide, not 9 and 18"
    modes = set(re.findall(r'\.WRITEMODE_A\("(\w+)"\)', netlist))
    assert modes >= {"READBEFOREWRITE", "WRITETHROUGH"}, f"write modes {modes}"
    sim = build(netlist + library_for("ecp5", netlist), "memories",
                extra_args=GATE_ARGS["ecp5"])
    run(sim, "tinyeie.sim.cocotb_gate_memory",
        args={"init8": init8, "init16": init16, "seed": 3, "cycles": 3000})


def test_a_netlist_using_a_black_box_cell_is_refused(monkeypatch):
    library = cell_library("ecp5") + "(* blackbox *)\nmodule NOBODY(input A, output Z);\n" \
        "endmodule\n"
    netlist = "module top(a, z);\n  NOBODY #(\n  ) cell (.A(a), .Z(z));\nendmodule\n"
    assert blackboxes(library) == ["NOBODY"] and cells_used(netlist) == {"NOBODY"}
    monkeypatch.setattr(gate, "cell_library", lambda family: library)
    with pytest.raises(ValueError, match="no behaviour for NOBODY"):
        gate.library_for("ecp5", netlist)
