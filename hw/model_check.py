"""The model check: after a load, the engine's memories are walked and held to the structure
rules (:mod:`tinyeie.contract.structure`), so that a board runs no image ``read_image`` refuses."""

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from tinyeie.contract.layouts import (
    BASE_UNIT,
    COUNT_BITS,
    DESCRIPTOR_WORDS,
    ENTRY_BITS,
    LAYER_WORDS,
    SLICE_BITS,
    ColumnRow,
    Descriptor,
    Entry,
    Target,
    WriteCommand,
)
from tinyeie.hw.configured import Configured

__all__ = ["ModelChecker", "PE_END_BITS"]

PE_END_BITS = 17        # words written of a PE memory: up to 2**16


class ModelChecker(Configured, wiring.Component):
    """Walks a loaded model through the engine's read ports and says whether it is one.

    It keeps, from the engine's model writes, how far each PE memory was written (the engine's
    reset at a load's start clears that), and on ``start`` reads every layer's descriptor, the
    column-table rows of its columns and every PE's run of every column, one column at a time
    with all PEs' runs walked together, as :func:`~tinyeie.contract.structure.structure_fault`
    does. It takes about 7 cycles a layer and, a column, 4 and its longest run's entries
    (LeNet-300-100 on 16 PEs: 8,610 cycles).

    Members
    -------
    w_valid, w_cmd : In
        The engine's model writes (as it makes them).
    start : In(1)
        Walk the model (the engine idle, its read ports lent to the checker while ``busy``).
    layers, column_rows, in_count, out_count : In
        What the image's header says.
    busy : Out(1)
    done, ok : Out(1)
        The walk ended, and found the model sound; held until the next ``start``.
    lt_addr, lt_en, lt_data : the layer table's read port.
    col_row, col_en, col_banks : the column table's: rows ``col_row`` (even bank: row
        ``col_row + 1`` rounded) and ``col_row + 1``, as the two banks' raw words.
    pe_addr, pe_data : every PE memory's read port (word addresses).
    """

    def __init__(self, config):
        self._config = config
        cfg = config
        self._row = ColumnRow(cfg.pes)
        self._ptr_width = ceil_log2(cfg.pe_depth)
        super().__init__({
            "w_valid": In(1),
            "w_cmd": In(WriteCommand),
            "start": In(1),
            "layers": In(16),
            "column_rows": In(16),
            "in_count": In(COUNT_BITS),
            "out_count": In(COUNT_BITS),
            "busy": Out(1),
            "done": Out(1),
            "ok": Out(1),
            "lt_addr": Out(ceil_log2(LAYER_WORDS * cfg.max_layers)),
            "lt_en": Out(1),
            "lt_data": In(SLICE_BITS),
            "col_row": Out(16),
            "col_en": Out(1),
            "col_banks": In(data.ArrayLayout(self._row.size, 2)),
            "pe_addr": Out(data.ArrayLayout(self._ptr_width, cfg.pes)),
            "pe_data": In(data.ArrayLayout(SLICE_BITS, cfg.pes)),
        })

    def elaborate(self, platform):
        cfg = self._config
        n = cfg.pes
        m = Module()

        # How far each PE memory was written (one past its highest word).
        ends = Signal(data.ArrayLayout(PE_END_BITS, n))
        cmd = self.w_cmd
        for p in range(n):
            with m.If(self.w_valid & (cmd.addr.target == Target.PE) & (cmd.addr.slice == p)
                      & (cmd.addr.word >= ends[p])):
                m.d.sync += ends[p].eq(cmd.addr.word + 1)

        fault = Signal()
        layer = Signal(16)
        prev_out = Signal(COUNT_BITS)       # what the layer before gives (the header's inputs)
        k = Signal(range(DESCRIPTOR_WORDS + 1))
        got, got_k = Signal(), Signal.like(k)
        desc_raw = Signal(SLICE_BITS * DESCRIPTOR_WORDS)
        desc = Descriptor(desc_raw[:Descriptor.as_shape().size])
        column = Signal(COUNT_BITS)
        odd = Signal()                      # the column's row is odd (bank 1 holds it)

        m.d.comb += self.lt_addr.eq(layer * LAYER_WORDS + k)
        m.d.sync += [got.eq(self.lt_en), got_k.eq(k)]
        with m.If(got):
            for w in range(DESCRIPTOR_WORDS):
                with m.If(got_k == w):
                    m.d.sync += desc_raw[SLICE_BITS * w:SLICE_BITS * (w + 1)].eq(self.lt_data)

        # The column's two rows, the runs they give every PE, and the walk of each run.
        row_at = desc.col_base + column
        m.d.comb += self.col_row.eq(row_at)
        here, after = self._row(Signal(self._row.size)), self._row(Signal(self._row.size))
        with m.If(odd):
            m.d.comb += [here.eq(self.col_banks[1]), after.eq(self.col_banks[0])]
        with m.Else():
            m.d.comb += [here.eq(self.col_banks[0]), after.eq(self.col_banks[1])]
        byte_width = SLICE_BITS + 2         # BASE_UNIT x a 16-bit base + an offset
        row_width = cfg.run_end_bits + 6    # a run's rows: under 2**run_end_bits entries of 16
        # a run's walk: addr holds its start until WALK, where the runs are checked
        stop = [Signal(byte_width, name=f"stop{p}") for p in range(n)]
        addr = [Signal(byte_width, name=f"addr{p}") for p in range(n)]
        fetched = [Signal(name=f"fetched{p}") for p in range(n)]
        half = [Signal(name=f"half{p}") for p in range(n)]
        first = [Signal(name=f"first{p}") for p in range(n)]
        rows = [Signal(row_width, name=f"row{p}") for p in range(n)]

        runs_bad = Const(0)
        biases_bad = Const(0)
        walking = Signal()
        walked = Const(1)
        for p in range(n):
            runs_bad |= ((stop[p] < addr[p]) | (stop[p] > 2 * ends[p])
                         | (stop[p] - addr[p] >= (1 << cfg.run_end_bits)))
            # the layer's biases on PE p end past what was written: bias_base + rows > end,
            # with rows = ceil((out - p) / n), i.e. out > n * (end - bias_base) + p
            room = Signal(PE_END_BITS + 1, name=f"room{p}")
            m.d.comb += room.eq(ends[p] - desc.bias_base)
            biases_bad |= ((ends[p] < desc.bias_base)
                           | (desc.out_count > room * n + p))
            m.d.comb += self.pe_addr[p].eq(addr[p][1:])
            more = addr[p] != stop[p]
            with m.If(walking & more):
                m.d.sync += addr[p].eq(addr[p] + 1)
            m.d.sync += [fetched[p].eq(walking & more), half[p].eq(addr[p][0])]
            entry = Entry(self.pe_data[p].word_select(half[p], ENTRY_BITS))
            row = Mux(first[p], 0, rows[p] + 1) + entry.z
            with m.If(fetched[p]):
                m.d.sync += [rows[p].eq(row), first[p].eq(0)]
                with m.If((entry.v != 0) & (row * n + p >= desc.out_count)):
                    m.d.sync += fault.eq(1)
            walked &= ~more & ~fetched[p]

        desc_bad = ((desc.in_count == 0) | (desc.in_count > cfg.act_depth)
                    | (desc.out_count == 0) | (desc.out_count > cfg.act_depth)
                    | (desc.in_count != prev_out)
                    | ((desc.shift != 0) & (desc.bias_shift >= desc.shift))
                    | (desc.last != (layer == self.layers - 1))
                    | (desc.col_base + desc.in_count + 1 > self.column_rows)
                    | biases_bad)

        def finish(ok):
            m.d.sync += [self.done.eq(1), self.ok.eq(ok)]
            m.next = "IDLE"

        with m.FSM(init="IDLE") as fsm:
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [self.done.eq(0), self.ok.eq(0), fault.eq(0), layer.eq(0),
                                 k.eq(0), prev_out.eq(self.in_count)]
                    with m.If(self.layers == 0):
                        finish(0)
                    with m.Else():
                        m.next = "DESCRIPTOR"
            with m.State("DESCRIPTOR"):
                m.d.comb += self.lt_en.eq(1)
                m.d.sync += k.eq(k + 1)
                with m.If(k == DESCRIPTOR_WORDS - 1):
                    m.next = "DESCRIPTOR-WAIT"
            with m.State("DESCRIPTOR-WAIT"):
                m.next = "LAYER"
            with m.State("LAYER"):
                m.d.sync += [column.eq(0), k.eq(0)]
                with m.If(desc_bad):
                    finish(0)
                with m.Else():
                    m.next = "ROWS"
            with m.State("ROWS"):
                m.d.comb += self.col_en.eq(1)
                m.d.sync += odd.eq(row_at[0])
                m.next = "RUNS"
            with m.State("RUNS"):
                for p in range(n):
                    start = BASE_UNIT * here.base + here.offset[p]
                    end = BASE_UNIT * after.base + after.offset[p]
                    m.d.sync += [stop[p].eq(end), addr[p].eq(start), first[p].eq(1)]
                m.next = "RUNS-CHECK"
            with m.State("RUNS-CHECK"):
                with m.If(runs_bad):
                    finish(0)
                with m.Else():
                    m.next = "WALK"
            with m.State("WALK"):
                m.d.comb += walking.eq(1)
                with m.If(fault):
                    finish(0)
                with m.Elif(walked):
                    m.d.sync += column.eq(column + 1)
                    with m.If(column + 1 != desc.in_count):
                        m.next = "ROWS"
                    with m.Elif(layer + 1 != self.layers):
                        m.d.sync += [layer.eq(layer + 1), prev_out.eq(desc.out_count)]
                        m.next = "DESCRIPTOR"
                    with m.Else():
                        finish(desc.out_count == self.out_count)
        m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
        return m
