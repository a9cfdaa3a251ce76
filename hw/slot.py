"""A queue of one item: a register and a flag."""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["OneSlot"]


class OneSlot(wiring.Component):
    """A first-in first-out queue one item deep, as :class:`amaranth.lib.fifo.SyncFIFO` would be
    with ``depth=1`` (whose Verilog Verilator refuses): ready to take an item exactly when it
    holds none, so ``w_stream.ready`` is a register; an item taken is offered from the next
    cycle. A slot costs ``width`` flip-flops and no multiplexer, against ``2 x width`` and a
    multiplexer for two.

    Members
    -------
    w_stream : In(stream of ``width`` bits)
    r_stream : Out(stream of ``width`` bits)
    level : Out(range(2))
        Items held.
    """

    def __init__(self, width):
        if width < 1:
            raise ValueError(f"width must be at least 1, not {width}")
        self._width = width
        super().__init__({"w_stream": In(stream.Signature(width)),
                          "r_stream": Out(stream.Signature(width)),
                          "level": Out(range(2))})

    @property
    def width(self):
        return self._width

    @property
    def depth(self):
        return 1

    def elaborate(self, platform):
        m = Module()
        full = Signal()
        m.d.comb += [self.w_stream.ready.eq(~full), self.r_stream.valid.eq(full),
                     self.level.eq(full)]
        with m.If(self.w_stream.valid & ~full):
            m.d.sync += [full.eq(1), self.r_stream.payload.eq(self.w_stream.payload)]
        with m.Elif(self.r_stream.ready):
            m.d.sync += full.eq(0)
        return m
