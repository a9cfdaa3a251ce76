"""The boards tinyeie builds for: platform, clock, engine size, where the model comes from.

A :class:`Board` names everything a build needs beyond the model: the amaranth-boards
platform, the clock the design runs at, the engine's parameters (PEs by default; ``--pes``
overrides), how the board gets its model (SPI flash at boot on iCE40, block RAM from the
bitstream on ECP5, and the UART on both), its UART and LEDs, and how to program it.
"""

from dataclasses import dataclass, replace

from amaranth.build import Attrs, Pins, Resource, Subsignal

from tinyeie.contract.config import EngineConfig
from tinyeie.contract.errors import TinyeieError

__all__ = ["Board", "BOARDS", "board", "MODEL_FLASH_OFFSET", "DEFAULT_BAUD"]

MODEL_FLASH_OFFSET = 0x100000     # 1 MiB: past any iCE40 bitstream
DEFAULT_BAUD = 115200


@dataclass(frozen=True)
class Board:
    """A board: see the module docstring.

    ``clock``: ``("pll", resource, input Hz)`` for a PLL on an oscillator, ``("hfosc",)`` for
    the iCE40 internal 48 MHz oscillator divided to ``clock_hz``. ``openfpgaloader``: the board's
    name for openFPGALoader, which programs it (iCE40 boards also take iceprog). ``leds``: LED
    resources (name, number) that show the class in binary, least significant first;
    ``status_led``:
    the LED lit while a valid model is loaded. ``extra_resources``: added to the platform (a
    UART on header pins, for example).
    """

    name: str
    description: str
    platform: str                  # "module:Class" in amaranth_boards
    family: str                    # "ice40" or "ecp5"
    clock: tuple
    clock_hz: float
    engine: EngineConfig
    flash_boot: bool
    model_in_bitstream: bool
    leds: tuple
    status_led: tuple = None
    extra_resources: tuple = ()
    platform_extras: str = None    # a resource list the platform class offers, to add
    openfpgaloader: str = None     # openFPGALoader's name for the board, where it knows it
    notes: str = ""
    max_baud: int = DEFAULT_BAUD   # the fastest UART the board's USB-serial chip and clock allow
    max_baud_why: str = ""         # ... and what sets it, for the error message
    # The protocol's INFER-SPARSE and request inbox (docs/protocol.md): ECP5 only for now, as
    # the iCE40UP5K's logic is full (they take about 160 of its 5280 cells).
    link_sparse: bool = False
    rx_buffer: int = 0
    # The model check (docs/formats.md): a loaded image's structure checked in the gateware.
    # ECP5 only for now: on the ULX3S's 16 PEs it takes 6,054 LUT4s and 1,295 FFs (about 380
    # LUT4s a PE: each walks its runs), where the iCE40UP5K has 137 cells to spare.
    model_check: bool = False

    def link_options(self):
        """The board top's protocol options: ``sparse``, ``rx_buffer`` and ``check_model``."""
        return {"sparse": self.link_sparse, "rx_buffer": self.rx_buffer,
                "check_model": self.model_check}

    def clock_output_hz(self):
        """The clock the design really runs at: the PLL's nearest output, or the oscillator's
        division."""
        if self.clock[0] != "pll":
            return self.clock_hz
        from tinyeie.boards.clocks import ecp5_pll, ice40_pll
        solve = ice40_pll if self.family == "ice40" else ecp5_pll
        return solve(self.clock[2], self.clock_hz).output_hz

    def uart_divisor(self, baud):
        """Clock cycles per UART bit for ``baud`` on this board, or a one-line TinyeieError when
        the board cannot run it: above its USB-serial chip's limit, or a rate its clock divides
        to further off than the receivers tolerate (:func:`tinyeie.hw.uart.baud_divisor`)."""
        from tinyeie.hw.uart import baud_divisor

        if isinstance(baud, bool) or not isinstance(baud, int) or baud <= 0:
            raise TinyeieError(f"a baud rate is a positive integer, not {baud!r}")
        if baud > self.max_baud:
            raise TinyeieError(f"{self.name} runs its UART at {self.max_baud:,} baud at most "
                               f"({self.max_baud_why}), not {baud:,}")
        clock_hz = self.clock_output_hz()
        try:
            return baud_divisor(clock_hz, baud)
        except ValueError as error:
            raise TinyeieError(f"{self.name} cannot make {baud:,} baud from its "
                               f"{clock_hz / 1e6:g} MHz clock: {error}; pick a rate nearer "
                               f"{clock_hz / 1e6:g} MHz / N (N at least 4)") from None

    def make_platform(self):
        import importlib
        module, cls = self.platform.split(":")
        platform = getattr(importlib.import_module(f"amaranth_boards.{module}"), cls)()
        if self.extra_resources:
            platform.add_resources(list(self.extra_resources))
        if self.platform_extras:
            platform.add_resources(getattr(platform, self.platform_extras))
        return platform

    def engine_config(self, pes=None, pe_words=None):
        """The engine for this board, with ``pes`` PEs if given. ECP5 builds size each PE
        memory to the model (``pe_words``, rounded up to whole 1024-word block RAMs)."""
        cfg = self.engine if pes is None else replace(self.engine, pes=pes)
        if self.family == "ecp5" and pe_words is not None:
            cfg = replace(cfg, pe_depth=max(2048, -(-pe_words // 1024) * 1024))
        return cfg


_UPDUINO_UART = Resource(
    "uart", 0, Subsignal("rx", Pins("46", dir="i")), Subsignal("tx", Pins("2", dir="o")),
    Attrs(IO_STANDARD="SB_LVCMOS"))

BOARDS = {b.name: b for b in [
    Board(
        name="icebreaker", description="1BitSquared iCEBreaker (iCE40UP5K)",
        platform="icebreaker:ICEBreakerPlatform", family="ice40",
        clock=("pll", "clk12", 12e6), clock_hz=24e6, engine=EngineConfig(pes=4),
        flash_boot=True, model_in_bitstream=False,
        leds=(("led", 2), ("led", 3), ("led", 4), ("led", 5)), status_led=("led", 1),
        platform_extras="break_off_pmod", openfpgaloader="ice40_generic",
        notes="class in binary on the break-off board's LEDs 2-5; green LED: model loaded",
        max_baud=3_000_000, max_baud_why="its FTDI FT2232H's limit"),
    Board(
        name="upduino3", description="tinyVision UPduino v3 (iCE40UP5K)",
        platform="upduino_v3:UpduinoV3Platform", family="ice40",
        clock=("hfosc",), clock_hz=24e6, engine=EngineConfig(pes=4),
        flash_boot=True, model_in_bitstream=False,
        leds=(("rgb_led", 0),), extra_resources=(_UPDUINO_UART,),
        notes="UART on header pins 46 (RX, to the adapter's TX) and 2 (TX): the board's FTDI "
              "only programs the flash, so connect a 3.3 V USB-serial adapter; the clock is the "
              "internal oscillator (48 MHz / 2, +-10 % worst case); "
              "the RGB LED shows the class's low three bits",
        max_baud=DEFAULT_BAUD,
        max_baud_why="its clock is the iCE40's internal oscillator, specified to +-10 %, more "
                     "than a UART tolerates, and its UART an adapter of your choice: "
                     "115,200 baud is a best effort"),
    Board(
        name="ulx3s", description="Radiona ULX3S 85F (ECP5 LFE5U-85F)",
        platform="ulx3s:ULX3S_85F_Platform", family="ecp5",
        clock=("pll", "clk25", 25e6), clock_hz=50e6,
        engine=EngineConfig(pes=16, pe_depth=4096, col_depth=2048, queue_depth=16),
        flash_boot=False, model_in_bitstream=True,
        leds=tuple(("led", k) for k in range(4)), status_led=("led", 7),
        openfpgaloader="ulx3s",
        notes="class in binary on LEDs 0-3; LED 7: model loaded",
        max_baud=3_000_000, max_baud_why="its FTDI FT231X's limit",
        link_sparse=True, rx_buffer=1024, model_check=True),
    Board(
        name="ecpix5", description="LambdaConcept ECPIX-5 85F (ECP5 LFE5UM5G-85F)",
        platform="ecpix5:ECPIX585Platform", family="ecp5",
        clock=("pll", "clk100", 100e6), clock_hz=50e6,
        engine=EngineConfig(pes=16, pe_depth=4096, col_depth=2048, queue_depth=16),
        flash_boot=False, model_in_bitstream=True,
        leds=tuple(("rgb_led", k) for k in range(4)),
        openfpgaloader="ecpix5",
        notes="class in binary on the four RGB LEDs (green)",
        max_baud=3_000_000, max_baud_why="its FTDI FT2232H's limit",
        link_sparse=True, rx_buffer=1024, model_check=True),
]}


def board(name):
    """The :class:`Board` called ``name``, or a TinyeieError listing the boards there are."""
    if name not in BOARDS:
        raise TinyeieError(f"unknown board {name!r}: tinyeie builds for "
                           f"{', '.join(sorted(BOARDS))}")
    return BOARDS[name]
