"""SPI flash reader: wakes the board's configuration flash and streams bytes from an address.

An iCE40 configures itself from the SPI flash and then hands the flash's pins to user logic,
which reads the model image from byte ``0x100000`` at boot (docs/protocol.md, "Boot").
:class:`SPIFlashReader` needs two commands of every 25-series flash (W25Q128 on the
iCEBreaker and the UPduino v3): Release from Deep Power-Down (``0xAB``), in case the
configuration left the flash asleep, and Read Data (``0x03``), in SPI mode 0.

Its pins are plain signals, so tests drive them directly and a board top wires them to the
platform's ``spi_flash_1x`` resource through ``io.Buffer``; its ``cs`` is active high
(amaranth-boards declares the pin with ``PinsN``; the buffer inverts it)::

    flash = platform.request("spi_flash_1x", 0, dir="-")
    m.submodules.cs = cs = io.Buffer("o", flash.cs)
    m.d.comb += cs.o.eq(~reader.cs_n)        # and likewise clk, copi (out), cipo (in)

The resource also brings ``wp`` and ``hold``, inverted the same way: left at 0 they keep both
pins high, as a read wants. On the UPduino v3 ``hold`` is pin 20, which is also its ``clk12``
(once the oscillator jumper is soldered), so the platform refuses to give out both.

Its tests put a flash model on the pins (:mod:`tinyeie.sim.flash_model`: in Amaranth's simulator
and under cocotb).
"""

import math
import operator

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["SPIFlashReader", "wake_cycles_for", "T_RES1", "MAX_CLK_FREQ"]

T_RES1 = 3e-6           # W25Q128JV: CS high after Release from Deep Power-Down, in seconds
MAX_CLK_FREQ = 48e6     # the fastest clock a tinyeie board runs (UPduino v3's SB_HFOSC)

_RELEASE = 0xAB
_READ = 0x03


def wake_cycles_for(clk_freq, t_res1=T_RES1):
    """Clock cycles covering the wake-up time ``t_res1`` (seconds) at ``clk_freq`` (Hz).

    >>> wake_cycles_for(48e6), wake_cycles_for(12e6)
    (144, 36)
    """
    if clk_freq <= 0 or t_res1 < 0:
        raise ValueError(f"clock frequency must be positive and tRES1 not negative, not "
                         f"{clk_freq} Hz and {t_res1} s")
    # the product is rounded first so that 3 us at 48 MHz is 144 cycles, not 145
    return max(1, math.ceil(round(clk_freq * t_res1, 6)))


def _check_count(name, value, minimum):
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer number of clock cycles, not {value!r}")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer number of clock cycles, "
                        f"not {value!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value}")
    return value


class SPIFlashReader(wiring.Component):
    """Reads an SPI flash from an address on, one byte after another, for as long as wanted.

    A ``start`` pulse (taken while ``busy`` is low) latches ``address`` and runs a
    transaction: CS low for the Release from Deep Power-Down command (``0xAB``), CS high for
    :attr:`wake_cycles` cycles (the flash's wake-up time tRES1), then CS low for Read Data
    (``0x03`` and the 24-bit address, most significant bit first) and the data bytes, which
    appear on ``o_stream`` in order. The flash goes on sending bytes as long as SCK runs, so
    the reader keeps reading until ``stop``; when the next byte is complete but the last one
    has not been taken yet, it holds SCK low until ``o_stream`` takes it (a flash accepts a
    stopped clock). A byte takes ``16 * divisor`` cycles, which is the byte rate without
    back-pressure; the first byte is ready about ``95 * divisor + wake_cycles`` cycles after
    ``start``.

    A ``stop`` pulse raises CS at once and drops the byte read ahead; that one is withdrawn
    from ``o_stream`` even if offered (the only time ``valid`` falls without a transfer). A
    consumer that keeps to the stream rules pulses ``stop`` while ``valid`` is low, or in the
    cycle it takes its last byte. ``busy`` falls a cycle after CS rises, so CS stays high for
    at least two cycles before a new ``start`` lowers it again (a flash wants 10 ns between
    read commands). A ``stop`` during ``0xAB`` or the wake-up wait takes effect at the end of
    the wait, as CS must stay high for the whole wake-up time once the flash has had the
    command; no read follows. Every transaction begins with the wake-up command, so a reader
    may ``stop`` and ``start`` anywhere.

    SPI mode 0: SCK idles low, ``copi`` changes with the falling SCK edges and ``cipo`` is
    sampled in the cycle SCK rises. SCK is high for ``divisor`` cycles and low for at least
    as long, so the flash has ``divisor`` cycles to put its bit out; at 48 MHz, ``divisor=1``
    leaves about 20 ns for the clock-to-output delays of both chips and the flash's 6 to 7 ns
    tCLQV, so 2 is the default. CS falls with ``copi`` holding the first bit, one to
    ``divisor`` cycles before the first rising edge, and rises with the last falling one.

    Parameters
    ----------
    divisor : int
        SCK runs at the clock's frequency over ``2 * divisor``: at least 1.
    wake_cycles : int
        Cycles CS stays high after ``0xAB``: tRES1 (3 us for a W25Q128JV) in clock cycles,
        at least 1, rounded up to a multiple of 8 (which saves a comparator). The default,
        144, is enough for clocks up to 48 MHz; see :func:`wake_cycles_for`.

    Attributes
    ----------
    divisor : int
        As given.
    wake_cycles : int
        The wait CS actually makes after ``0xAB``: the parameter rounded up to a multiple of 8.

    Members
    -------
    start : ``In(1)``
        Pulse to begin a transaction at ``address``; ignored while ``busy``.
    address : ``In(24)``
        The first byte's address, latched on ``start``.
    stop : ``In(1)``
        Pulse to end the transaction: CS rises the next cycle, or stays high until the end of
        the wake-up wait if sent before it ends. Ignored while idle.
    o_stream : ``Out(stream.Signature(8))``
        The bytes read, in address order.
    busy : ``Out(1)``
        A transaction is running: from ``start`` to a cycle after CS rises for ``stop``.
    cs_n : ``Out(1, init=1)``
        Chip select, low active; a register output.
    sck : ``Out(1)``
        The SPI clock, idle low; a register output.
    copi : ``Out(1)``
        Data to the flash (controller out, peripheral in); a register output.
    cipo : ``In(1)``
        Data from the flash; sampled without synchroniser, as it answers our own clock.
    """

    def __init__(self, *, divisor=2, wake_cycles=wake_cycles_for(MAX_CLK_FREQ)):
        self._divisor = _check_count("divisor", divisor, 1)
        self._wake_cycles = -(-_check_count("wake_cycles", wake_cycles, 1) // 8) * 8
        super().__init__({
            "start": In(1),
            "address": In(24),
            "stop": In(1),
            "o_stream": Out(stream.Signature(8)),
            "busy": Out(1),
            "cs_n": Out(1, init=1),
            "sck": Out(1),
            "copi": Out(1),
            "cipo": In(1),
        })

    @property
    def divisor(self):
        return self._divisor

    @property
    def wake_cycles(self):
        return self._wake_cycles

    def elaborate(self, platform):
        # Everything that goes out (0xAB, 0x03, the address) is loaded at `start` into one
        # 40-bit shift register whose top bit is `copi`; it shifts on falling SCK edges and so
        # changes `copi` exactly when mode 0 wants it. Its sixteen command bits are constants,
        # which cost no logic (flip-flops with a synchronous set or reset); only the 24
        # address bits need a multiplexer. Bits coming in shift on rising edges into a separate
        # byte register that never loads (no multiplexer), and a whole byte is copied into the
        # output register in the same cycle as its last bit, so the next byte is clocked in
        # while the consumer still holds this one: the clock only stops when a byte completes
        # with the previous one still waiting.
        #
        # One down-counter, loaded once per transaction, times all the phases: it starts at
        # `wake_cycles + 7` and counts the eight bits of 0xAB on falling edges down to
        # `wake_cycles - 1`, then the wake-up wait one cycle at a time down to 0; wrapping
        # around, its low five bits count the 32 bits of 0x03 and the address, and its low
        # three bits the eight of every data byte. As `wake_cycles` is a multiple of 8, the
        # low three bits also find the end of 0xAB. A free-running counter paces SCK's half
        # periods: SCK only ever changes on its ticks, so every high phase lasts `divisor`
        # cycles, and a phase starting between ticks waits for the next one.
        m = Module()
        divisor, wake, o = self._divisor, self._wake_cycles, self.o_stream

        out = Signal(40, reset_less=True)     # 0xAB, 0x03, address; top bit on copi
        inp = Signal(8, reset_less=True)      # bits of the data byte being received
        count = Signal(max(5, (wake + 7).bit_length()), reset_less=True)

        load = Signal()                       # a transaction starts
        tick = Signal()                       # the SCK half period is over
        hold = Signal()                       # a byte would complete with no room for it
        advance = Signal()                    # SCK toggles this cycle
        shifting = Signal()                   # in a phase with SCK running
        data = Signal()                       # in the data phase
        waiting = Signal()                    # in the wake-up wait
        byte_end = Signal()                   # on the last bit of a byte (0xAB or data)
        m.d.comb += [
            byte_end.eq(count[:3] == 0),
            hold.eq(data & ~self.sck & byte_end & o.valid & ~o.ready),
            advance.eq(shifting & tick & ~hold),
            self.copi.eq(out[-1]),
        ]
        rise = advance & ~self.sck
        fall = advance & self.sck

        if divisor > 1:
            # free-running: SCK's edges fall on its ticks, whatever the phase
            half = Signal(range(divisor))     # cycles left in this half of an SCK period
            m.d.comb += tick.eq(half == 0)
            m.d.sync += half.eq(Mux(tick, divisor - 1, half - 1))
        else:
            m.d.comb += tick.eq(1)            # (no zero-width signal: Verilator rejects it)

        with m.If(advance):
            m.d.sync += self.sck.eq(~self.sck)
        with m.If(rise):
            m.d.sync += inp.eq(Cat(self.cipo, inp[:-1]))
        # one condition and one multiplexer each, so that Yosys finds the clock enables
        with m.If(load | fall):
            m.d.sync += out.eq(Mux(load, Cat(self.address, Const(_READ, 8), Const(_RELEASE, 8)),
                                   out << 1))
        with m.If(load | fall | waiting):
            m.d.sync += count.eq(Mux(load, wake + 7, count - 1))

        with m.If(o.ready):
            m.d.sync += o.valid.eq(0)
        with m.If(rise & data & byte_end):
            m.d.sync += [o.payload.eq(Cat(self.cipo, inp[:-1])), o.valid.eq(1)]

        # A stop during 0xAB or the wake-up wait is remembered and obeyed at the end of the
        # wait: once the flash has seen all of 0xAB, CS must stay high for the whole of tRES1,
        # and waiting for the end of the command too is simpler than telling the cases apart.
        stopping = Signal()
        with m.If(load):
            m.d.sync += stopping.eq(0)
        with m.Elif(self.stop):
            m.d.sync += stopping.eq(1)

        def abort():
            m.d.sync += [self.cs_n.eq(1), self.sck.eq(0), o.valid.eq(0)]
            m.next = "DESELECT"

        # In each state the reaction to `stop` comes last, so it wins over everything above.
        with m.FSM() as fsm:
            with m.State("IDLE"):
                m.d.comb += load.eq(self.start)
                with m.If(self.start):
                    m.d.sync += self.cs_n.eq(0)
                    m.next = "RELEASE"
            with m.State("RELEASE"):
                m.d.comb += shifting.eq(1)
                with m.If(fall & byte_end):
                    m.d.sync += self.cs_n.eq(1)
                    m.next = "WAKE"
            with m.State("WAKE"):
                m.d.comb += waiting.eq(1)
                with m.If(count == 0):
                    with m.If(stopping | self.stop):
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += self.cs_n.eq(0)
                        m.next = "READ"
            with m.State("READ"):
                m.d.comb += shifting.eq(1)
                with m.If(fall & (count[:5] == 0)):
                    m.next = "DATA"
                with m.If(self.stop):
                    abort()
            with m.State("DATA"):
                m.d.comb += [shifting.eq(1), data.eq(1)]
                with m.If(self.stop):
                    abort()
            with m.State("DESELECT"):
                m.next = "IDLE"                   # CS high for two cycles at least
        m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))

        return m
