"""Clocks for the board tops: the PLL settings for a wanted frequency, and the PLL itself.

:func:`ice40_pll` and :func:`ecp5_pll` search the PLLs' divider ranges (those icepll and
ecppll use) for the output closest to the frequency asked for; :class:`PLLClock` instantiates
the PLL and holds the ``sync`` domain in reset until it has locked (on iCE40 a few more
microseconds: its block RAMs read as zero for ~3 us after configuration).
"""

from dataclasses import dataclass

from amaranth.hdl import ClockSignal, Elaboratable, Instance, Module, ResetSignal, Signal

from tinyeie.contract.errors import TinyeieError

__all__ = ["PLLSettings", "ice40_pll", "ecp5_pll", "PLLClock"]


@dataclass(frozen=True)
class PLLSettings:
    family: str
    input_hz: float
    output_hz: float
    params: dict


def ice40_pll(input_hz, wanted_hz):
    """SB_PLL40 dividers (simple feedback) for the output nearest ``wanted_hz``.

    PFD ``input / (DIVR + 1)`` in 10..133 MHz, VCO ``PFD * (DIVF + 1)`` in 533..1066 MHz,
    output ``VCO / 2**DIVQ`` in 16..275 MHz.

    >>> ice40_pll(12e6, 24e6).params
    {'DIVR': 0, 'DIVF': 63, 'DIVQ': 5, 'FILTER_RANGE': 1}
    """
    best = None
    for divr in range(16):
        pfd = input_hz / (divr + 1)
        if not 10e6 <= pfd <= 133e6:
            continue
        for divf in range(128):
            vco = pfd * (divf + 1)
            if not 533e6 <= vco <= 1066e6:
                continue
            for divq in range(1, 7):
                out = vco / 2 ** divq
                if not 16e6 <= out <= 275e6:
                    continue
                if best is None or abs(out - wanted_hz) < abs(best[0] - wanted_hz):
                    filter_range = sum(pfd >= edge for edge in (17e6, 26e6, 44e6, 66e6, 101e6))
                    best = (out, dict(DIVR=divr, DIVF=divf, DIVQ=divq,
                                      FILTER_RANGE=filter_range + 1))
    return _settings("ice40", input_hz, wanted_hz, best)


def ecp5_pll(input_hz, wanted_hz):
    """EHXPLLL dividers (feedback from CLKOP) for the output nearest ``wanted_hz``.

    Output ``input * CLKFB_DIV / CLKI_DIV`` with PFD ``input / CLKI_DIV`` in 3.125..400 MHz and
    VCO ``output * CLKOP_DIV`` in 400..800 MHz.

    >>> ecp5_pll(25e6, 50e6).output_hz
    50000000.0
    """
    best = None
    for clki in range(1, 129):
        pfd = input_hz / clki
        if not 3.125e6 <= pfd <= 400e6:
            continue
        for clkfb in range(1, 81):
            out = pfd * clkfb
            if out > 400e6:
                break
            for clkop in range(1, 129):
                if not 400e6 <= out * clkop <= 800e6:
                    continue
                if best is None or abs(out - wanted_hz) < abs(best[0] - wanted_hz):
                    best = (out, dict(CLKI_DIV=clki, CLKFB_DIV=clkfb, CLKOP_DIV=clkop,
                                      CLKOP_CPHASE=clkop - 1))
                break           # any valid CLKOP_DIV gives the same output
    return _settings("ecp5", input_hz, wanted_hz, best)


def _settings(family, input_hz, wanted_hz, best):
    if best is None or abs(best[0] - wanted_hz) > 0.02 * wanted_hz:
        got = "nothing" if best is None else f"{best[0] / 1e6:.3f} MHz"
        raise TinyeieError(f"the {family} PLL cannot make {wanted_hz / 1e6:g} MHz from "
                           f"{input_hz / 1e6:g} MHz (nearest: {got})")
    return PLLSettings(family, input_hz, best[0], best[1])


class PLLClock(Elaboratable):
    """Drives the ``sync`` domain from a PLL on the board's oscillator, in reset until locked.

    The parent defines the domain (Amaranth 0.6 wants domains defined in or above the modules
    that use them), ``ClockDomain("sync", reset_less=PLLClock.reset_less(settings))``, and
    gives its clock the constraint ``settings.output_hz``.

    ``pin`` is the oscillator's pad (``platform.request(name, dir="-")``) for iCE40 (the PLL
    takes it straight from the pad) or its buffered input signal for ECP5.
    """

    RESET_CYCLES = 1 << 8      # after lock: > 3 us at up to 80 MHz

    def __init__(self, settings, pin):
        self.settings = settings
        self.pin = pin

    @staticmethod
    def reset_less(settings):
        """Whether the ``sync`` domain this drives has no reset signal (ECP5: see elaborate)."""
        return settings.family != "ice40"

    def elaborate(self, platform):
        # iCE40: the sync domain's reset is held RESET_CYCLES after the PLL locks (its block
        # RAMs read as zero for ~3 us after configuration). ECP5: as Amaranth's own ECP5 clock
        # domains do, the domain has no reset logic and the global set/reset (SGSR) puts every
        # flip-flop to its initial value until the PLL has locked, through a two-stage
        # synchroniser that the global reset leaves alone. (A synchronous reset fanned out to
        # every flip-flop also makes yosys 0.70's abc9 fail an assertion on this design.)
        m = Module()
        ice40 = self.settings.family == "ice40"
        clk = ClockSignal("sync")
        locked = Signal()
        p = self.settings.params
        if ice40:
            m.submodules.pll = Instance(
                "SB_PLL40_PAD", p_FEEDBACK_PATH="SIMPLE", p_DIVR=p["DIVR"], p_DIVF=p["DIVF"],
                p_DIVQ=p["DIVQ"], p_FILTER_RANGE=p["FILTER_RANGE"],
                i_PACKAGEPIN=self.pin.io, i_RESETB=1, i_BYPASS=0,
                o_PLLOUTGLOBAL=clk, o_LOCK=locked)
            count = Signal(range(self.RESET_CYCLES + 1), reset_less=True)
            with m.If(~locked):
                m.d.sync += count.eq(0)
            with m.Elif(count != self.RESET_CYCLES):
                m.d.sync += count.eq(count + 1)
            m.d.comb += ResetSignal("sync").eq(count != self.RESET_CYCLES)
        else:
            m.submodules.pll = Instance(
                "EHXPLLL", p_FEEDBK_PATH="CLKOP", p_CLKI_DIV=p["CLKI_DIV"],
                p_CLKFB_DIV=p["CLKFB_DIV"], p_CLKOP_DIV=p["CLKOP_DIV"],
                p_CLKOP_CPHASE=p["CLKOP_CPHASE"], p_CLKOP_FPHASE=0, p_CLKOP_ENABLE="ENABLED",
                p_OUTDIVIDER_MUXA="DIVA", p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED",
                p_STDBY_ENABLE="DISABLED", p_DPHASE_SOURCE="DISABLED",
                i_CLKI=self.pin, i_CLKFB=clk, i_RST=0, i_STDBY=0, i_PHASESEL0=0,
                i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1,
                i_PLLWAKESYNC=0, i_ENCLKOP=0, o_CLKOP=clk, o_LOCK=locked)
            stage0, stage1 = Signal(), Signal()
            m.submodules.sync0 = Instance("FD1S3AX", p_GSR="DISABLED", i_CK=clk,
                                          i_D=locked, o_Q=stage0)
            m.submodules.sync1 = Instance("FD1S3AX", p_GSR="DISABLED", i_CK=clk,
                                          i_D=stage0, o_Q=stage1)
            m.submodules.gsr = Instance("SGSR", i_CLK=clk, i_GSR=stage1)
        return m
