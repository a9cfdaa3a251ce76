"""The column table and the broadcast of each non-zero activation to the PEs that need it."""

from amaranth.hdl import Module, Signal
from amaranth.lib import fifo, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from tinyeie.contract.layouts import SLICE_BITS, column_slices, mask_slices
from tinyeie.hw.pe import Column
from tinyeie.hw.scanner import NonZero

__all__ = ["Broadcaster"]


class Broadcaster(wiring.Component):
    """Looks each non-zero ``(j, a_j)`` up in the column table and hands ``(a_j, ptr_j)`` to
    every PE in the column's mask, with the PE's bit of the single-entry mask.

    Each PE takes the column when its queue has room; a column moves on in the cycle the last PE
    in its mask has taken it, so one column a cycle passes while no queue is full. A column
    whose mask is empty is dropped in one cycle. Non-zeros wait in a two-deep queue, so that
    ``i_stream.ready`` comes from registers, not from whether the PEs take a column.

    Members
    -------
    i_stream : In(stream of NonZero)
    col_base : In(16)
        The running layer's first column-table row.
    o_columns : Out(array of N streams of Column)
    busy : Out(1)
        A non-zero is queued or a column held.
    w_addr, w_slice, w_data, w_en : In
        Write one 16-bit slice of a column-table row (model loading; only while idle).
    """

    def __init__(self, config, init=()):
        self._config = config
        self._slices = column_slices(config.pes)
        self._init = [int(row) for row in init]
        self._ptr_width = ceil_log2(config.pe_depth)
        super().__init__({
            "i_stream": In(stream.Signature(NonZero(config.act_width))),
            "col_base": In(16),
            "o_columns": Out(stream.Signature(Column(config.act_width, self._ptr_width))
                             ).array(config.pes),
            "busy": Out(1),
            "w_addr": In(16),
            "w_slice": In(6),
            "w_data": In(SLICE_BITS),
            "w_en": In(1),
        })

    def elaborate(self, platform):
        cfg = self._config
        n = cfg.pes
        m = Module()

        # Whether the held column moves on is a wide AND over the PE queues; the inbox keeps it
        # out of the scanner's logic (it was the ECP5 builds' slowest path).
        m.submodules.inbox = inbox = fifo.SyncFIFO(
            width=NonZero(cfg.act_width).size, depth=2)
        wiring.connect(m, wiring.flipped(self.i_stream), inbox.w_stream)
        nonzero = NonZero(cfg.act_width)(inbox.r_data)

        m.submodules.table = table = memory.Memory(
            shape=SLICE_BITS * self._slices, depth=cfg.col_depth, init=self._init)
        rd = table.read_port()
        wr = table.write_port(granularity=SLICE_BITS)
        m.d.comb += [wr.addr.eq(self.w_addr), wr.data.eq(self.w_data.replicate(self._slices)),
                     wr.en.eq(self.w_en << self.w_slice)]

        # Two stages: the table's output register holds a looked-up row (`found`), and a
        # register stage (`held`) offers it to the PEs. The table's slow output then only loads
        # registers; what the PEs take decides, from registers, whether rows move on.
        found = Signal()                # the table's output holds a looked-up row
        found_a = Signal.like(nonzero.a)
        held = Signal()                 # the column offered to the PEs
        held_a = Signal.like(nonzero.a)
        held_ptr = Signal(self._ptr_width)
        held_mask = Signal(n)
        held_single = Signal(n)
        taken = Signal(n)               # PEs that have taken the held column

        takes = Signal(n)
        for p, o in enumerate(self.o_columns):
            m.d.comb += [o.valid.eq(held & held_mask[p] & ~taken[p]),
                         o.payload.a.eq(held_a), o.payload.ptr.eq(held_ptr),
                         o.payload.single.eq(held_single[p]),
                         takes[p].eq(o.valid & o.ready)]
        done = held & ((~held_mask | taken | takes) == (1 << n) - 1)
        with m.If(done):
            m.d.sync += taken.eq(0)
        with m.Else():
            m.d.sync += taken.eq(taken | takes)

        move = found & (~held | done)
        single_at = SLICE_BITS * (1 + mask_slices(n))
        with m.If(move):
            m.d.sync += [held.eq(1), held_a.eq(found_a), held_ptr.eq(rd.data[:SLICE_BITS]),
                         held_mask.eq(rd.data[SLICE_BITS:SLICE_BITS + n]),
                         held_single.eq(rd.data[single_at:single_at + n])]
        with m.Elif(done):
            m.d.sync += held.eq(0)

        # The table's read port is enabled only to look a column up, so its output holds the
        # looked-up row until it moves on.
        # (A read port's enable resets to 1, so it is driven in full, not just set in an If.)
        look_up = inbox.r_rdy & (~found | move)
        m.d.comb += [inbox.r_en.eq(look_up),
                     rd.addr.eq(self.col_base + nonzero.j), rd.en.eq(look_up)]
        with m.If(look_up):
            m.d.sync += [found.eq(1), found_a.eq(nonzero.a)]
        with m.Elif(move):
            m.d.sync += found.eq(0)

        m.d.comb += self.busy.eq(inbox.r_rdy | found | held)
        return m
