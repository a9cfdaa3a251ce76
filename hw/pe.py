"""One processing element: its column queue, entry memory, decoder and multiply-accumulate."""

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, fifo, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from tinyeie.contract.layouts import (
    CODEBOOK_SIZE,
    ENTRIES_PER_WORD,
    ENTRY_BITS,
    INDEX_BITS,
    SLICE_BITS,
    Entry,
)
from tinyeie.hw.configured import Configured
from tinyeie.hw.requant import requantise, window_count
from tinyeie.hw.slot import OneSlot

__all__ = ["Column", "PE", "OPERAND_WIDTH", "entry_address_width", "run_end_width"]

OPERAND_WIDTH = 16      # multiplier operands: an activation or a 16-bit bias; a code or 2**shift


def entry_address_width(config):
    """Bits of an entry's byte address in a PE memory."""
    return ceil_log2(config.pe_depth * ENTRIES_PER_WORD)


def run_end_width(config):
    """Low address bits that tell a run's last entry from the others
    (``config.run_end_bits``)."""
    return config.run_end_bits


def Column(config):
    """The broadcast a PE receives: a non-zero activation, the byte address of the first entry
    of the PE's run of its column, and the low bits of its last one's (the run is not empty)."""
    return data.StructLayout({"a": signed(config.act_width),
                              "start": unsigned(entry_address_width(config)),
                              "last": unsigned(run_end_width(config))})


class PE(Configured, wiring.Component):
    """A processing element of the engine (docs/engine.md, "Dataflow").

    Parameters
    ----------
    config : :class:`~tinyeie.contract.config.EngineConfig`
    init : list of int, optional
        Initial contents of the PE memory (a model baked into the bitstream).
    codebook_init : list of int, optional
        Initial codebooks, 16 codes per layer.
    probe : bool
        Build the ``probe_*`` read port (the model check's).

    Members
    -------
    i_column : In(stream of Column)
        ``(a, start, last)`` broadcasts; queued, ``queue_depth`` deep.
    layer : In
        The running layer: which of the PE's codebooks the entries index.
    busy : Out(1)
        Columns are queued or entries (or drain rows) are in flight.
    fetching : Out(1)
        Columns are queued or a run's entries remain to be read: a drain may start once this
        is low (the entries in flight are ahead of its rows).
    drain, drain_row, drain_addr : In
        Drain local row ``drain_row``: add the bias at PE-memory word ``drain_addr`` (times
        ``bias_scale``) to its accumulator, clear the accumulator, requantise.
    bias_scale, window, scale, mask, relu : In
        The running layer's ``2**bias_shift``, its requantisation shift as
        :func:`~tinyeie.hw.requant.shift_plan` splits it and its
        :func:`~tinyeie.hw.requant.overflow_mask`, and ReLU.
    result_valid, result_row, result, total : Out
        Four cycles after ``drain``: the drained row, ``acc + bias`` (held until the next
        drained row) and that requantised.
    w_addr, w_data, w_en : In
        Write a word of the PE memory (model loading; only while idle).
    cb_addr, cb_data, cb_en : In
        Write code ``cb_addr mod CODEBOOK_SIZE`` of codebook ``cb_addr div CODEBOOK_SIZE`` (model
        loading).
    probe_en, probe_addr, probe_data : In, In, Out
        Read word ``probe_addr`` of the PE memory, ``probe_data`` a cycle later (the model check;
        only while idle).
    """

    def __init__(self, config, init=(), codebook_init=(), *, probe=False):
        self._config = config
        self._probe = probe
        self._init = [int(word) for word in init]
        self._codebook_init = [int(code) for code in codebook_init]
        self._layer_width = max(1, ceil_log2(config.max_layers))
        self._ptr_width = ceil_log2(config.pe_depth)
        self._row_width = ceil_log2(config.row_span)
        super().__init__({
            "i_column": In(stream.Signature(Column(config))),
            "layer": In(self._layer_width),
            "busy": Out(1),
            "fetching": Out(1),
            "drain": In(1),
            "drain_row": In(self._row_width),
            "drain_addr": In(self._ptr_width),
            "bias_scale": In(OPERAND_WIDTH),
            "window": In(range(window_count(config.act_width, config.acc_width))),
            "scale": In(OPERAND_WIDTH),
            "mask": In(config.acc_width),
            "relu": In(1),
            "result_valid": Out(1),
            "result_row": Out(self._row_width),
            "result": Out(signed(config.act_width)),
            "total": Out(signed(config.acc_width)),
            "w_addr": In(self._ptr_width),
            "w_data": In(SLICE_BITS),
            "w_en": In(1),
            "cb_addr": In(INDEX_BITS + self._layer_width),
            "cb_data": In(signed(config.code_width)),
            "cb_en": In(1),
            "probe_en": In(1),
            "probe_addr": In(self._ptr_width),
            "probe_data": Out(SLICE_BITS),
        })

    def elaborate(self, platform):
        # One item a cycle through five stages, never stalled once read:
        #   F: choose the entry to read: the next byte of the run, or (when the entry just read
        #      ends the run, or none was read) the first of the next queued column's run; or, in
        #      a drain, the row's bias word. Whether the entry just read ends the run is known
        #      from registers (its address was compared with the run's last when it was
        #      chosen), not from the memory: its output would otherwise decide its own next
        #      address in one cycle. The memory is read a word (two entries) at a time, the
        #      entry's word each cycle;
        #   D: the word read in F arrives: take the entry's byte, decode the row from the
        #      relative index;
        #   X: read the row's accumulator; multiply a_j by the code (read from the PE's copy of
        #      the codebooks in D), or the bias by 2**bias_shift, so that a drain row passes
        #      through the same adder;
        #   A: add and write back (a drain row writes zero). A read in X of the row A writes in
        #      the same cycle sees the old value, so what A writes is forwarded instead (A's sum,
        #      or zero after a drained row: the next layer's entries may follow a drain at once);
        #   R: a drained row's total, requantised.
        # The PE memory has one address shared by its read and write ports, and is read only
        # when not written, so that it maps onto an iCE40 single-port SPRAM.
        cfg = self._config
        m = Module()

        column = Column(cfg)
        # One slot on an iCE40 build: each further slot costs every PE about 70 logic cells.
        m.submodules.queue = queue = (OneSlot(column.size) if cfg.queue_depth == 1 else
                                      fifo.SyncFIFO(width=column.size, depth=cfg.queue_depth))
        wiring.connect(m, wiring.flipped(self.i_column), queue.w_stream)
        head = column(queue.r_stream.payload)

        m.submodules.mem = mem = memory.Memory(shape=SLICE_BITS, depth=cfg.pe_depth,
                                               init=self._init)
        mem_rd = mem.read_port()
        mem_wr = mem.write_port()
        mem_addr = Signal(self._ptr_width)
        m.d.comb += [mem_rd.addr.eq(mem_addr), mem_rd.en.eq(~self.w_en),
                     mem_wr.addr.eq(mem_addr), mem_wr.data.eq(self.w_data),
                     mem_wr.en.eq(self.w_en)]

        # Every layer's codebook, in a block RAM of its own (a register file with a 16-way
        # multiplexer per PE costs several hundred iCE40 logic cells).
        m.submodules.codebooks = codebooks = memory.Memory(
            shape=signed(cfg.code_width), depth=CODEBOOK_SIZE << self._layer_width,
            init=self._codebook_init)
        code_rd = codebooks.read_port()
        code_wr = codebooks.write_port()
        m.d.comb += [code_wr.addr.eq(self.cb_addr), code_wr.data.eq(self.cb_data),
                     code_wr.en.eq(self.cb_en)]

        # One accumulator for every row the row counter can name: the padding after a run may
        # walk past the PE's last row, adding zero wherever it lands.
        acc_shape = signed(cfg.acc_width)
        m.submodules.acc = acc = memory.Memory(shape=acc_shape, depth=cfg.row_span, init=[])
        acc_rd = acc.read_port()
        acc_wr = acc.write_port()

        # F: the next entry. D: the word read in F.
        d_entry = Signal()          # the memory output holds an entry read last cycle
        d_first = Signal()          # ... the first of its column
        d_last = Signal()           # ... the last of its run
        d_bias = Signal()           # ... or a drained row's bias
        d_addr = Signal(entry_address_width(cfg))
        d_end = Signal(run_end_width(cfg))      # the low bits of the run's last entry's address
        d_a = Signal(signed(cfg.act_width))
        d_row = Signal(self._row_width)
        entry = Entry(mem_rd.data.word_select(d_addr[:ceil_log2(ENTRIES_PER_WORD)], ENTRY_BITS))
        run_ends = ~d_entry | d_last
        fetch_addr = Signal(entry_address_width(cfg))
        take = Signal()
        m.d.comb += take.eq(run_ends & queue.r_stream.valid & ~self.drain)
        m.d.sync += [d_bias.eq(self.drain), d_row.eq(self.drain_row),
                     d_last.eq(fetch_addr[:len(d_end)] == Mux(take, head.last, d_end))]
        with m.If(~run_ends):
            m.d.comb += fetch_addr.eq(d_addr + 1)
            m.d.sync += [d_entry.eq(1), d_first.eq(0)]
        with m.Elif(take):
            m.d.comb += [fetch_addr.eq(head.start), queue.r_stream.ready.eq(1)]
            m.d.sync += [d_entry.eq(1), d_first.eq(1), d_end.eq(head.last), d_a.eq(head.a)]
        with m.Else():
            m.d.sync += d_entry.eq(0)
        m.d.sync += d_addr.eq(fetch_addr)
        m.d.comb += self.probe_data.eq(mem_rd.data)
        with m.If(self.w_en):
            m.d.comb += mem_addr.eq(self.w_addr)
        if self._probe:
            with m.Elif(self.probe_en):
                m.d.comb += mem_addr.eq(self.probe_addr)
        with m.Elif(self.drain):
            m.d.comb += mem_addr.eq(self.drain_addr)
        with m.Else():
            m.d.comb += mem_addr.eq(fetch_addr[ceil_log2(ENTRIES_PER_WORD):])

        # D -> X: the row, counted from the column's start; the multiplier's first operand.
        m.d.comb += code_rd.addr.eq(Cat(entry.v, self.layer))
        x_valid, x_bias = Signal(), Signal()
        x_row = Signal(self._row_width)
        x_operand = Signal(signed(OPERAND_WIDTH))
        m.d.sync += [x_valid.eq(d_entry | d_bias), x_bias.eq(d_bias)]
        with m.If(d_bias):
            m.d.sync += [x_row.eq(d_row), x_operand.eq(mem_rd.data.as_signed())]
        with m.Elif(d_entry):
            m.d.sync += [x_row.eq(Mux(d_first, 0, x_row + 1) + entry.z), x_operand.eq(d_a)]

        # X -> A: accumulator read, codebook lookup, multiply.
        a_valid, a_bias, a_forward, a_cleared = Signal(), Signal(), Signal(), Signal()
        a_row = Signal(self._row_width)
        a_prod = Signal(acc_shape)      # the product's low bits: the sum wraps at acc_width
        a_sum = Signal(acc_shape)      # the last sum A made
        code = Mux(x_bias, self.bias_scale.as_signed(), code_rd.data)
        m.d.comb += acc_rd.addr.eq(x_row)
        same_row = x_valid & a_valid & (x_row == a_row)     # X reads the row A writes
        m.d.sync += [a_valid.eq(x_valid), a_bias.eq(x_bias), a_row.eq(x_row),
                     a_prod.eq(x_operand * code),
                     a_forward.eq(same_row & ~a_bias), a_cleared.eq(same_row & a_bias)]

        # A: accumulate (a drain row leaves zero behind).
        total = Mux(a_cleared, 0, Mux(a_forward, a_sum, acc_rd.data)) + a_prod
        m.d.comb += [acc_wr.addr.eq(a_row), acc_wr.data.eq(Mux(a_bias, 0, total)),
                     acc_wr.en.eq(a_valid)]
        with m.If(a_valid):
            m.d.sync += a_sum.eq(total)
        m.d.sync += [self.result_valid.eq(a_valid & a_bias), self.result_row.eq(a_row)]

        # R: the drained row's total and its activation.
        m.d.comb += [self.total.eq(a_sum),
                     self.result.eq(requantise(a_sum, self.window, self.scale, self.mask, self.relu,
                                               cfg.act_width))]

        m.d.comb += [self.busy.eq(queue.r_stream.valid | d_entry | d_bias | x_valid | a_valid),
                     self.fetching.eq(queue.r_stream.valid | ~run_ends)]
        return m
