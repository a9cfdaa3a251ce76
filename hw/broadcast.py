"""The column table and the broadcast of each non-zero activation to the PEs that need it."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, fifo, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from tinyeie.contract.layouts import BASE_UNIT, SLICE_BITS, ColumnRow, column_slices
from tinyeie.hw.pe import Column, entry_address_width, run_end_width
from tinyeie.hw.scanner import NonZero

__all__ = ["Broadcaster"]


class Broadcaster(wiring.Component):
    """Looks each non-zero ``(j, a_j)`` up in the column table and hands ``a_j`` and where its
    run starts and ends to every PE whose run of column ``j`` is not empty.

    A PE's run of column ``j`` starts where table row ``col_base + j`` says and ends where row
    ``col_base + j + 1`` says its next run starts (:class:`~tinyeie.contract.layouts.ColumnRow`).
    The table is kept in two banks, even rows and odd rows, so both rows are read in one cycle.

    Each PE takes the column when its queue has room; a column moves on in the cycle the last PE
    with a run has taken it, so one column a cycle passes while no queue is full. A column no PE
    has a run of is dropped in one cycle. Non-zeros wait in a two-deep queue, so that
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
    w_all : In(1)
        Write ``w_data`` to every slice of rows ``w_addr`` and ``w_addr + 1`` (``w_addr`` even;
        clearing the table).
    probe_en, probe_row, probe_banks : In, In, Out
        Read rows ``probe_row`` and ``probe_row + 1``: a cycle later ``probe_banks`` holds the
        even bank's word and the odd bank's, as :meth:`elaborate` looks a column up (the model
        check; only while idle).
    """

    def __init__(self, config, init=()):
        self._config = config
        self._slices = column_slices(config.pes)
        self._init = [int(row) for row in init]
        super().__init__({
            "i_stream": In(stream.Signature(NonZero(config.act_width))),
            "col_base": In(16),
            "o_columns": Out(stream.Signature(Column(config))).array(config.pes),
            "busy": Out(1),
            "w_addr": In(16),
            "w_slice": In(6),
            "w_data": In(SLICE_BITS),
            "w_en": In(1),
            "w_all": In(1),
            "probe_en": In(1),
            "probe_row": In(16),
            "probe_banks": Out(data.ArrayLayout(ColumnRow(config.pes).size, 2)),
        })

    def elaborate(self, platform):
        # Three stages: the inbox; the banks' output registers (`found`), which hold the two
        # rows looked up; a register stage (`held`) with every PE's run, offered to the PEs. The
        # runs' arithmetic (per PE, a base times BASE_UNIT plus the PE's offset for the start
        # and for the end, and whether they differ) sits between the banks and `held`, so what
        # the PEs take decides, from registers, whether rows move on.
        cfg = self._config
        n = cfg.pes
        m = Module()

        m.submodules.inbox = inbox = fifo.SyncFIFO(width=NonZero(cfg.act_width).size, depth=2)
        wiring.connect(m, wiring.flipped(self.i_stream), inbox.w_stream)
        nonzero = NonZero(cfg.act_width)(inbox.r_data)

        # Row r of the table lives in bank r mod 2 at word r div 2.
        depth = -(-cfg.col_depth // 2)
        banks = []
        for parity in range(2):
            init = self._init[parity::2]
            bank = memory.Memory(shape=SLICE_BITS * self._slices, depth=depth, init=init)
            m.submodules[f"bank{parity}"] = bank
            rd, wr = bank.read_port(), bank.write_port(granularity=SLICE_BITS)
            m.d.comb += [wr.addr.eq(self.w_addr[1:]),
                         wr.data.eq(self.w_data.replicate(self._slices)),
                         wr.en.eq(Mux(self.w_all, (1 << self._slices) - 1,
                                      (self.w_en & (self.w_addr[0] == parity)) << self.w_slice)),
                         self.probe_banks[parity].eq(rd.data[:ColumnRow(n).size])]
            banks.append(rd)

        found = Signal()                # the banks' outputs hold a looked-up pair of rows
        found_a = Signal.like(nonzero.a)
        found_odd = Signal()            # the column's row is odd (in bank 1)
        held = Signal()                 # the column offered to the PEs
        held_a = Signal.like(nonzero.a)
        held_start = Signal(data.ArrayLayout(entry_address_width(cfg), n))
        held_last = Signal(data.ArrayLayout(run_end_width(cfg), n))
        held_mask = Signal(n)           # PEs with a run of the held column
        taken = Signal(n)               # PEs that have taken the held column

        # The column's row and the row after it, from whichever banks hold them.
        layout = ColumnRow(n)
        width = layout.size
        row, after = layout(Signal(width)), layout(Signal(width))
        with m.If(found_odd):
            m.d.comb += [row.eq(banks[1].data[:width]), after.eq(banks[0].data[:width])]
        with m.Else():
            m.d.comb += [row.eq(banks[0].data[:width]), after.eq(banks[1].data[:width])]

        takes = Signal(n)
        for p, o in enumerate(self.o_columns):
            m.d.comb += [o.valid.eq(held & held_mask[p] & ~taken[p]),
                         o.payload.a.eq(held_a), o.payload.start.eq(held_start[p]),
                         o.payload.last.eq(held_last[p]),
                         takes[p].eq(o.valid & o.ready)]
        done = held & ((~held_mask | taken | takes) == (1 << n) - 1)
        with m.If(done):
            m.d.sync += taken.eq(0)
        with m.Else():
            m.d.sync += taken.eq(taken | takes)

        move = found & (~held | done)
        with m.If(move):
            m.d.sync += [held.eq(1), held_a.eq(found_a)]
            for p in range(n):
                # The end needs only the low bits: a run is shorter than 2**run_end_width.
                low = run_end_width(cfg)
                start = row.base * BASE_UNIT + row.offset[p]
                end = (after.base * BASE_UNIT + after.offset[p])[:low]
                m.d.sync += [held_start[p].eq(start), held_last[p].eq(end - 1),
                             held_mask[p].eq(start[:low] != end)]
        with m.Elif(done):
            m.d.sync += held.eq(0)

        # The banks' read ports are enabled only to look a column up, so their outputs hold
        # the looked-up rows until they move on. Of rows r and r + 1, bank 0 reads the even one
        # (word (r + 1) div 2), bank 1 the odd one (word r div 2).
        # (A read port's enable resets to 1, so it is driven in full, not just set in an If.)
        look_up = inbox.r_rdy & (~found | move)
        at = Mux(self.probe_en, self.probe_row, self.col_base + nonzero.j)
        m.d.comb += [inbox.r_en.eq(look_up),
                     banks[0].addr.eq((at + 1) >> 1), banks[0].en.eq(look_up | self.probe_en),
                     banks[1].addr.eq(at >> 1), banks[1].en.eq(look_up | self.probe_en)]
        with m.If(look_up):
            m.d.sync += [found.eq(1), found_a.eq(nonzero.a), found_odd.eq(at[0])]
        with m.Elif(move):
            m.d.sync += found.eq(0)

        m.d.comb += self.busy.eq(inbox.r_rdy | found | held)
        return m
