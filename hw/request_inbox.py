"""The host protocol's inbox: bytes from the UART wait here while the board is busy.

With it a host may send the next INFER while the board still works on the previous one: the
bytes that arrive while the engine runs and the answer goes out wait in block RAM instead of
overrunning the UART receiver's one register (docs/protocol.md, "Sending ahead").
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from tinyeie.hw.uart import RxByte

__all__ = ["RequestInbox"]


class RequestInbox(wiring.Component):
    """A first-in first-out queue of received bytes in one block RAM.

    A ring of ``depth`` entries with a write and a read pointer, each with one bit more than
    the address so that full and empty differ. The block RAM's read port is synchronous: it
    reads the entry the read pointer will point at after this cycle, so the head is ready one
    cycle later. An entry written this cycle is read from the next on (the port does not pass
    a write through), so a byte into an empty inbox comes out two cycles later. Lighter than
    :class:`amaranth.lib.fifo.SyncFIFOBuffered`, which also counts its level.

    Parameters
    ----------
    depth : int
        Entries, a power of two (256: one iCE40 block RAM at 16 bits a word).

    Members
    -------
    i_stream : ``In(stream.Signature(RxByte))``
        From the UART receiver; ready while the inbox has room (a full inbox makes the
        receiver report an overrun in band).
    o_stream : ``Out(stream.Signature(RxByte))``
        The oldest byte.
    level : ``Out(range(depth + 1))``
        Bytes held, the one still on its way to ``o_stream`` included: the pointers'
        difference, which the formal proof relates to a FIFO model (unused, synthesis removes
        it).
    """

    def __init__(self, depth=256, *, src_loc_at=0):
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 2 \
                or depth & (depth - 1):
            raise ValueError(f"depth must be a power of two from 2 up, not {depth!r}")
        self._depth = depth
        super().__init__({
            "i_stream": In(stream.Signature(RxByte)),
            "o_stream": Out(stream.Signature(RxByte)),
            "level": Out(range(depth + 1)),
        }, src_loc_at=1 + src_loc_at)

    @property
    def depth(self):
        return self._depth

    def elaborate(self, platform):
        m = Module()
        bits = exact_log2(self._depth)
        m.submodules.ring = ring = memory.Memory(shape=RxByte, depth=self._depth, init=[])
        write = ring.write_port()
        read = ring.read_port(transparent_for=())

        head = Signal(bits + 1)         # the next entry to write
        tail = Signal(bits + 1)         # the oldest entry
        i, o = self.i_stream, self.o_stream
        full = (head[:bits] == tail[:bits]) & (head[bits] != tail[bits])
        m.d.comb += [i.ready.eq(~full), self.level.eq(head - tail)]
        with m.If(i.valid & i.ready):
            m.d.sync += head.eq(head + 1)
        m.d.comb += [write.addr.eq(head[:bits]), write.data.eq(i.payload),
                     write.en.eq(i.valid & i.ready)]

        # The entry the tail points at after this cycle is read now; it is valid next cycle
        # if it was written before this one.
        next_tail = Signal(bits + 1)
        m.d.comb += next_tail.eq(Mux(o.valid & o.ready, tail + 1, tail))
        m.d.sync += [tail.eq(next_tail), o.valid.eq(next_tail != head)]
        m.d.comb += [read.addr.eq(next_tail[:bits]), o.payload.eq(read.data)]
        return m
