"""The host protocol's answer slot: holds the one answer posted and not yet fully sent."""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from tinyeie.hw.answer import Answer

__all__ = ["AnswerSlot"]


class AnswerSlot(wiring.Component):
    """One answer between the protocol's receiver and its transmitter.

    The receiver posts an answer into ``i_answer`` when the slot is empty; the transmitter
    reads it on ``o_answer`` for as long as it sends it and takes it with its last byte, which
    empties the slot. So the receiver of a frame that ends while an answer is still going out
    waits, and the UART receiver's register holds the next byte meanwhile. Neither end needs a
    copy: the slot holds the answer while it is under way.

    Members
    -------
    i_answer : ``In(stream.Signature(Answer))``
        Ready while the slot is empty.
    o_answer : ``Out(stream.Signature(Answer))``
        Valid while the slot holds an answer; taking it empties the slot.
    """

    i_answer: In(stream.Signature(Answer))
    o_answer: Out(stream.Signature(Answer))

    def elaborate(self, platform):
        m = Module()
        full = Signal()
        m.d.comb += [self.i_answer.ready.eq(~full), self.o_answer.valid.eq(full)]
        with m.If(self.i_answer.valid & self.i_answer.ready):
            m.d.sync += [full.eq(1), self.o_answer.payload.eq(self.i_answer.payload)]
        with m.If(self.o_answer.valid & self.o_answer.ready):
            m.d.sync += full.eq(0)
        return m
