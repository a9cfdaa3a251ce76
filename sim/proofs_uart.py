"""Formal specs for the UART (:mod:`tinyeie.hw.uart`).

* :class:`TransmitterSpec`: for any bytes offered at any times, the line idles high and each
  byte taken appears as its 8N1 frame, every bit exactly ``divisor`` cycles long, starting the
  cycle after it is taken; ``ready`` is high exactly when no frame is on the line or in the
  frame's last cycle (so frames can go back to back).
* :class:`ReceiverSpec`: the line comes from an ideal 8N1 sender at the same bit rate, with
  random idle time between frames and random broken stop bits. With a consumer that takes each
  item within a bit time, every frame gives exactly one item, in order: its byte, and
  ``FRAMING`` exactly when its stop bit was low. With any consumer, the output keeps the
  stream rules (an offer is held, unchanged, until taken).

The divisors proven are small (4, the least allowed, and 5): the blocks' logic does not depend
on the divisor beyond the counters' widths, and a proof over a frame of 2,000 cycles (a real
board's 115200 baud) is out of reach for BMC.
"""

from amaranth.asserts import AnySeq, Initial
from amaranth.hdl import Assert, Assume, Cat, ClockDomain, Elaboratable, Module, Mux, Signal

from tinyeie.hw.uart import RxError, UARTReceiver, UARTTransmitter

__all__ = ["TransmitterSpec", "ReceiverSpec"]


def _clock(m):
    m.domains.sync = sync = ClockDomain("sync")
    m.d.comb += sync.rst.eq(0)


class _BitClock:
    """A frame's position in the spec: bit 0..9 (start, data, stop) and cycle within it."""

    def __init__(self, m, divisor, name):
        self.active = Signal(name=f"{name}_active")
        self.bit = Signal(range(10), name=f"{name}_bit")
        self.sub = Signal(range(divisor), name=f"{name}_sub")
        self.divisor = divisor
        self.m = m
        self.last_cycle = self.active & (self.bit == 9) & (self.sub == divisor - 1)

    def start(self):
        return [self.active.eq(1), self.bit.eq(0), self.sub.eq(0)]

    def step(self):
        m = self.m
        with m.If(self.active):
            with m.If(self.sub == self.divisor - 1):
                m.d.sync += [self.sub.eq(0), self.bit.eq(self.bit + 1)]
                with m.If(self.bit == 9):
                    m.d.sync += self.active.eq(0)
            with m.Else():
                m.d.sync += self.sub.eq(self.sub + 1)


def _frame_bit(bit, byte, stop):
    """The line level of bit ``bit`` (0..9) of the frame of ``byte`` with stop bit ``stop``."""
    return Cat(0, byte, stop).bit_select(bit, 1)


class TransmitterSpec(Elaboratable):
    def __init__(self, divisor):
        self.divisor = divisor

    def elaborate(self, platform):
        m = Module()
        _clock(m)
        m.submodules.dut = dut = UARTTransmitter(divisor=self.divisor)
        i = dut.i_stream
        # Any source that keeps the stream rules: an offer stays, unchanged, until taken.
        offer, offer_byte = Signal(), Signal(8)
        m.d.comb += [i.valid.eq(AnySeq(1)), i.payload.eq(AnySeq(8))]
        m.d.sync += [offer.eq(i.valid & ~i.ready), offer_byte.eq(i.payload)]
        with m.If(offer):
            m.d.comb += Assume(i.valid & (i.payload == offer_byte))

        frame = _BitClock(m, self.divisor, "frame")
        byte = Signal(8)
        frame.step()
        with m.If(i.valid & i.ready):
            m.d.sync += [*frame.start(), byte.eq(i.payload)]

        with m.If(frame.active):
            m.d.comb += Assert(dut.tx == _frame_bit(frame.bit, byte, 1),
                               "the line shows the frame of the byte taken, D cycles a bit")
        with m.Else():
            m.d.comb += Assert(dut.tx, "the line idles high")
        m.d.comb += Assert(i.ready == (~frame.active | frame.last_cycle),
                           "ready when the line is free, or in the frame's last cycle")
        return m


class ReceiverSpec(Elaboratable):
    """``prompt``: the consumer takes every item within a bit time of its offer (the host
    protocol does); otherwise it is any consumer, and only the stream rules are asserted."""

    def __init__(self, divisor, *, prompt=True):
        self.divisor = divisor
        self.prompt = prompt

    def elaborate(self, platform):
        m = Module()
        _clock(m)
        d = self.divisor
        m.submodules.dut = dut = UARTReceiver(divisor=d)
        o = dut.o_stream

        # The sender: after any idle time, a frame of any byte with any stop bit, bit by bit.
        frame = _BitClock(m, d, "sent")
        frame.step()
        byte, stop = Signal(8), Signal()
        go = Signal()
        m.d.comb += go.eq(AnySeq(1))
        with m.If(~frame.active & go):
            m.d.sync += [*frame.start(), byte.eq(AnySeq(8)), stop.eq(AnySeq(1))]
        # The line, registered as a pin would be; idle high.
        line = Signal(init=1)
        m.d.comb += dut.rx.eq(line)
        with m.If(frame.active):
            m.d.sync += line.eq(_frame_bit(frame.bit, byte, stop))
        with m.Else():
            m.d.sync += line.eq(1)
        # A broken stop bit leaves the line low until the sender idles again: a receiver waits
        # for the line to rise before it looks for the next start bit. Frames are apart by at
        # least a bit of idle line after a broken stop bit.
        after_break = Signal(range(d + 1))
        with m.If(frame.last_cycle & ~stop):
            m.d.sync += after_break.eq(d)
        with m.Elif(after_break != 0):
            m.d.sync += after_break.eq(after_break - 1)
        with m.If(after_break != 0):
            m.d.comb += Assume(~go)

        # The consumer.
        m.d.comb += o.ready.eq(AnySeq(1))
        waited = Signal(range(d + 1))
        with m.If(o.valid & ~o.ready):
            m.d.sync += waited.eq(waited + 1)
        with m.Else():
            m.d.sync += waited.eq(0)

        # Stream rules: an offer stays, unchanged, until taken.
        held, held_payload = Signal(), Signal.like(o.payload)
        m.d.sync += [held.eq(o.valid & ~o.ready), held_payload.eq(o.payload)]
        with m.If(held):
            m.d.comb += Assert(o.valid & (o.payload.as_value() == held_payload.as_value()),
                               "an offer stays, unchanged, until taken")

        if self.prompt:
            with m.If(waited == d - 1):
                m.d.comb += Assume(o.ready)
            # Frames sent and not yet delivered (at most two: one being received, one waiting).
            sent_byte = [Signal(8, name=f"sent_byte{k}") for k in range(2)]
            sent_stop = [Signal(name=f"sent_stop{k}") for k in range(2)]
            pending = Signal(range(3))
            push = frame.active & (frame.bit == 9) & (frame.sub == 0)   # the stop bit begins
            pop = o.valid & o.ready
            m.d.sync += pending.eq(pending + push - pop)
            with m.If(pop):
                m.d.sync += [sent_byte[0].eq(sent_byte[1]), sent_stop[0].eq(sent_stop[1])]
            with m.If(push):
                with m.If(pending - pop == 0):
                    m.d.sync += [sent_byte[0].eq(byte), sent_stop[0].eq(stop)]
                with m.Else():
                    m.d.sync += [sent_byte[1].eq(byte), sent_stop[1].eq(stop)]
            with m.If(o.valid):
                m.d.comb += [
                    Assert(pending != 0, "an item only for a frame sent"),
                    Assert(o.payload.data == sent_byte[0], "the byte is the one sent, in order"),
                    Assert(Mux(sent_stop[0], o.payload.error == RxError.NONE,
                                   o.payload.error == RxError.FRAMING),
                           "FRAMING exactly when the stop bit was low"),
                ]
            # No frame is lost: the item of a frame is out before the next frame ends.
            m.d.comb += Assert(pending <= 1, "one frame at most awaits its item")
        with m.If(Initial()):
            m.d.comb += Assume(~frame.active)
        return m
