"""8N1 UART receiver and transmitter with stream interfaces: the link under the host protocol.

One start bit (low), eight data bits least significant first, one stop bit (high); the line
idles high. Both ends run from the ``sync`` clock and time bits with ``divisor`` clock cycles
per bit: :func:`baud_divisor` picks it for a clock and a baud rate. :func:`frame_bits` is the
Python model of a frame on the line.
"""

import operator

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

__all__ = ["RxError", "RxByte", "UARTReceiver", "UARTTransmitter", "frame_bits", "baud_divisor",
           "receiver_tolerance", "MIN_DIVISOR"]

MIN_DIVISOR = 4   # half a bit must outlast the synchroniser's one cycle of uncertainty


def _check_divisor(divisor):
    if isinstance(divisor, bool) or not isinstance(divisor, int):
        raise TypeError(f"divisor must be an integer number of clock cycles, not {divisor!r}")
    if divisor < MIN_DIVISOR:
        raise ValueError(f"divisor must be at least {MIN_DIVISOR}, not {divisor}")
    return divisor


def receiver_tolerance(divisor):
    """The baud rate difference between the two ends that :class:`UARTReceiver` tolerates at
    ``divisor`` clock cycles a bit, as a fraction (its last sample, in the stop bit, must stay
    inside the bit; see :class:`UARTReceiver`).

    >>> round(receiver_tolerance(8), 4)
    0.0395
    """
    return (divisor / 2 - 1) / (9.5 * divisor)


def baud_divisor(clk_freq, baudrate, *, tolerance=None):
    """The ``divisor`` for a clock frequency and baud rate, rounded to the nearest cycle.

    Raises :exc:`ValueError` if the rounded rate is off by more than ``tolerance`` (a fraction;
    by default half of :func:`receiver_tolerance` at that divisor): a receiver tolerates 4 to
    5 % between the two ends of the link in all (see :class:`UARTReceiver`), so one end should
    not spend more than half of it, leaving the rest to the other end and the clocks.

    >>> baud_divisor(12e6, 115200)
    104
    >>> baud_divisor(50e6, 3_000_000)       # 2.94 Mbaud, 1.96 % slow: within 2.32 %
    17
    """
    if clk_freq <= 0 or baudrate <= 0:
        raise ValueError(f"clock frequency and baud rate must be positive, not {clk_freq} and "
                         f"{baudrate}")
    divisor = round(clk_freq / baudrate)
    if divisor < MIN_DIVISOR:
        raise ValueError(f"{baudrate} baud needs a clock of at least {MIN_DIVISOR * baudrate} Hz, "
                         f"not {clk_freq} Hz")
    if tolerance is None:
        tolerance = receiver_tolerance(divisor) / 2
    error = abs(clk_freq / divisor - baudrate) / baudrate
    if error > tolerance:
        raise ValueError(f"{clk_freq / 1e6:g} MHz / {divisor} is {clk_freq / divisor:.0f} baud, "
                         f"{error:.2%} off {baudrate} baud (at most {tolerance:.2%})")
    return divisor


def frame_bits(byte, *, stop=1):
    """The line levels of one 8N1 frame, one per bit time: start, data LSB first, stop.

    ``stop=0`` gives a frame with a broken stop bit, as a test or a break would send it.

    >>> frame_bits(0x35)
    [0, 1, 0, 1, 0, 1, 1, 0, 0, 1]
    """
    byte = operator.index(byte)
    if byte not in range(256):
        raise ValueError(f"a UART frame carries a byte (0..255), not {byte}")
    return [0] + [(byte >> i) & 1 for i in range(8)] + [stop]


class _UARTComponent(wiring.Component):
    """A component timed by ``divisor`` clock cycles a bit (checked)."""

    def __init__(self, divisor, members):
        self._divisor = _check_divisor(divisor)
        super().__init__(members)

    @property
    def divisor(self):
        return self._divisor


class RxError(enum.Enum, shape=2):
    """What went wrong with a received item (``RxByte.error``)."""

    #: A good byte.
    NONE = 0
    #: The stop bit was low; ``data`` holds the bits sampled (all zero for a break).
    FRAMING = 1
    #: One or more bytes arrived while ``o_stream`` was full and were dropped here; ``data`` is 0.
    OVERRUN = 2


class RxByte(data.Struct):
    """Payload of :class:`UARTReceiver`'s ``o_stream``: a byte and its error status."""

    data: 8
    error: RxError


class UARTReceiver(_UARTComponent):
    """8N1 UART receiver.

    Errors travel in band, in order with the bytes: every item on ``o_stream`` is an
    :class:`RxByte` whose ``error`` says whether ``data`` is a good byte (``NONE``), a frame
    with a low stop bit (``FRAMING``), or marks the place of bytes lost to back-pressure
    (``OVERRUN``). A consumer that frames packets can drop the packet under construction on
    any error and resynchronise on its own framing.

    A byte is offered three cycles after the middle of its stop bit reaches ``rx`` (two in the
    synchroniser, one in the output register). That single output register
    holds one byte while a frame of ten bits arrives, so a consumer must take each byte within
    ten bit times; a byte that completes while the register is still full is dropped, and as
    soon as the register is free an ``OVERRUN`` item takes its place (one item for any number
    of bytes dropped in a row).

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, at least 4. The receiver samples at bit centres timed from the
        start bit's falling edge. As the edge is seen up to a cycle late, it tolerates a baud
        rate difference between the two ends of at least ``(divisor / 2 - 1) / (9.5 *
        divisor)``: 2.6 % at 4, 3.9 % at 8, 4.6 % at 16, 5 % at 100 (the last sample, in the
        stop bit, must not drift out of it).

    Members
    -------
    rx : ``In(1, init=1)``
        The line, idle high; asynchronous to ``sync`` (a two-flop synchroniser is inside).
    o_stream : ``Out(stream.Signature(RxByte))``
        Received bytes and errors.
    """

    def __init__(self, *, divisor):
        super().__init__(divisor, {"rx": In(1, init=1),
                                   "o_stream": Out(stream.Signature(RxByte))})

    def elaborate(self, platform):
        # One down-counter times everything: half a bit from the start bit's falling edge to its
        # middle ((divisor - 1) // 2 cycles, as the edge is seen up to a cycle late), then a
        # whole bit from middle to middle. The start bit must still be low at its middle, so a
        # glitch shorter than half a bit is ignored. The stop bit is sampled at its middle and
        # the receiver returns to idle at once, leaving half a bit of slack for a transmitter
        # whose clock runs fast. After a low stop bit (a framing error or a break) it waits for
        # the line to go high, so that it starts again on a real idle-to-start edge and not in
        # the middle of a break. The output is a register rather than a FIFO: the host protocol
        # consumes bytes far faster than they arrive, and losses are reported in band (OVERRUN)
        # instead of hanging the stream or vanishing.
        m = Module()
        divisor = self._divisor
        o = self.o_stream

        rx = Signal(init=1)
        m.submodules.rx_sync = FFSynchronizer(self.rx, rx, init=1)

        timer = Signal(range(divisor))
        bit = Signal(range(8))
        shreg = Signal(8)
        done = Signal()        # the stop bit is being sampled this cycle
        dropped = Signal()     # a byte was lost and its OVERRUN item is not out yet

        with m.If(timer != 0):
            m.d.sync += timer.eq(timer - 1)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    m.d.sync += timer.eq((divisor - 1) // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(timer == 0):
                    with m.If(rx):
                        m.next = "IDLE"     # high again by mid-bit: a glitch
                    with m.Else():
                        m.d.sync += [timer.eq(divisor - 1), bit.eq(0)]
                        m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer == 0):
                    m.d.sync += [shreg.eq(Cat(shreg[1:], rx)), timer.eq(divisor - 1),
                                 bit.eq(bit + 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(timer == 0):
                    m.d.comb += done.eq(1)
                    with m.If(rx):
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "BREAK"
            with m.State("BREAK"):
                with m.If(rx):
                    m.next = "IDLE"

        # The register may be loaded when it is empty or being emptied this cycle; only then
        # does the payload change, so it is stable while valid.
        free = ~o.valid | o.ready
        with m.If(o.valid & o.ready):
            m.d.sync += o.valid.eq(0)
        with m.If(free & dropped):
            # a byte completing in this very cycle is lost too, and in the very place of this
            # item, so this one item reports it as well
            m.d.sync += [o.valid.eq(1), o.p.data.eq(0), o.p.error.eq(RxError.OVERRUN),
                         dropped.eq(0)]
        with m.Elif(free & done):
            m.d.sync += [o.valid.eq(1), o.p.data.eq(shreg),
                         o.p.error.eq(Mux(rx, RxError.NONE, RxError.FRAMING))]
        with m.Elif(done):
            m.d.sync += dropped.eq(1)

        return m


class UARTTransmitter(_UARTComponent):
    """8N1 UART transmitter.

    A byte taken from ``i_stream`` starts its start bit on ``tx`` in the next cycle; every bit
    lasts exactly ``divisor`` cycles. ``i_stream.ready`` is low while a frame is on the line,
    except in the last cycle of the stop bit, so that a waiting byte follows with no idle time
    (frames back to back every ``10 * divisor`` cycles).

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, at least 4.

    Members
    -------
    i_stream : ``In(stream.Signature(8))``
        Bytes to send.
    tx : ``Out(1, init=1)``
        The line, idle high; driven straight from a flip-flop, so free of glitches.
    """

    def __init__(self, *, divisor):
        super().__init__(divisor, {"i_stream": In(stream.Signature(8)),
                                   "tx": Out(1, init=1)})

    def elaborate(self, platform):
        # The whole frame is loaded into a shift register whose bit 0 is the line, and shifted
        # once a bit time, filling with ones (idle). `left` counts the bits not yet finished;
        # taking the next byte in the stop bit's last cycle keeps back-to-back frames exactly
        # ten bit times apart, which a receiver needs less than a host reading at full rate.
        m = Module()
        divisor = self._divisor
        i = self.i_stream

        shreg = Signal(10, init=(1 << 10) - 1)
        timer = Signal(range(divisor))
        left = Signal(range(11))

        m.d.comb += self.tx.eq(shreg[0])
        m.d.comb += i.ready.eq((left == 0) | ((left == 1) & (timer == 0)))

        with m.If(i.valid & i.ready):
            m.d.sync += [shreg.eq(Cat(0, i.payload, 1)), left.eq(10), timer.eq(divisor - 1)]
        with m.Elif(left != 0):
            with m.If(timer == 0):
                m.d.sync += [shreg.eq(Cat(shreg[1:], 1)), left.eq(left - 1),
                             timer.eq(divisor - 1)]
            with m.Else():
                m.d.sync += timer.eq(timer - 1)

        return m
