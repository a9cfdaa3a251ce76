"""One processing element: its column queue, entry memory, decoder and multiply-accumulate."""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, fifo, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .layouts import SLICE_BITS, Descriptor, Entry
from .requant import requantise

__all__ = ["Column", "PE"]


def Column(act_width, ptr_width):
    """The broadcast a PE receives: a non-zero activation and where its column's run starts."""
    return data.StructLayout({"a": signed(act_width), "ptr": unsigned(ptr_width)})


class PE(wiring.Component):
    """A processing element of the engine (docs/engine.md, "Dataflow").

    Parameters
    ----------
    config : :class:`~tinyeie.sw.config.EngineConfig`
    init : list of int, optional
        Initial contents of the PE memory (a model baked into the bitstream).

    Members
    -------
    i_column : In(stream)
        ``(a, ptr)`` broadcasts; queued, ``queue_depth`` deep.
    codebook : In(16 signed codes)
        The running layer's codebook (shared by all PEs).
    layer : In(Descriptor)
        The running layer (the drain uses ``bias_base``, ``bias_shift``, ``shift``, ``relu``).
    busy : Out(1)
        Columns are queued or entries are in flight.
    drain_read, drain_row : In
        Read local row ``drain_row``'s accumulator and bias (and clear the accumulator).
    total, result : Out
        Two cycles after ``drain_read``: ``acc + (bias << bias_shift)`` and that requantised
        (shift, round half up, saturate, ReLU).
    w_addr, w_data, w_en : In
        Write a word of the PE memory (model loading; only while idle).
    """

    def __init__(self, config, init=()):
        self._config = config
        self._init = [int(word) for word in init]
        self._ptr_width = ceil_log2(config.pe_depth)
        self._row_width = max(1, ceil_log2(config.bank_depth))
        super().__init__({
            "i_column": In(stream.Signature(Column(config.act_width, self._ptr_width))),
            "codebook": In(data.ArrayLayout(signed(config.code_width), 16)),
            "layer": In(Descriptor),
            "busy": Out(1),
            "drain_read": In(1),
            "drain_row": In(self._row_width),
            "total": Out(signed(config.acc_width)),
            "result": Out(signed(config.act_width)),
            "w_addr": In(self._ptr_width),
            "w_data": In(SLICE_BITS),
            "w_en": In(1),
        })

    @property
    def config(self):
        return self._config

    def elaborate(self, platform):
        # Four stages, one entry a cycle per stage, never stalled once an entry is read:
        #   F: choose the next PE-memory address: the next word of the run, or (when the word
        #      just read ends the run, or none was read) the pointer of the next queued column;
        #   D: the word read in F arrives: decode the row from the relative index;
        #   X: read the row's accumulator, look the code up, multiply;
        #   A: add and write back. A read in X of the row A writes in the same cycle sees the
        #      old value, so the sum A wrote is forwarded instead.
        # The PE memory has one address shared by its read and write ports so that it maps onto
        # an iCE40 single-port SPRAM; writes (model loading) and drain reads of biases happen
        # only while no entry is in flight.
        cfg = self._config
        m = Module()

        m.submodules.queue = queue = fifo.SyncFIFO(
            width=Column(cfg.act_width, self._ptr_width).size, depth=cfg.queue_depth)
        wiring.connect(m, wiring.flipped(self.i_column), queue.w_stream)
        head = Column(cfg.act_width, self._ptr_width)(queue.r_data)

        m.submodules.mem = mem = memory.Memory(shape=SLICE_BITS, depth=cfg.pe_depth,
                                               init=self._init)
        mem_rd = mem.read_port()
        mem_wr = mem.write_port()
        mem_addr = Signal(self._ptr_width)
        # Reading only when not writing is what lets yosys see a single-port RAM (SPRAM).
        m.d.comb += [mem_rd.addr.eq(mem_addr), mem_rd.en.eq(~self.w_en),
                     mem_wr.addr.eq(mem_addr), mem_wr.data.eq(self.w_data),
                     mem_wr.en.eq(self.w_en)]

        acc_shape = signed(cfg.acc_width)
        m.submodules.acc = acc = memory.Memory(shape=acc_shape, depth=cfg.bank_depth, init=[])
        acc_rd = acc.read_port()
        acc_wr = acc.write_port()

        # F and D: the entry arriving from the PE memory and the choice of the next address.
        d_valid = Signal()          # the memory output holds an entry read last cycle
        d_first = Signal()          # ... the first of its column
        d_addr = Signal(self._ptr_width)
        d_a = Signal(signed(cfg.act_width))
        entry = Entry(mem_rd.data[:Entry.as_shape().size])
        run_ends = ~d_valid | entry.last
        fetch_addr = Signal(self._ptr_width)
        with m.If(~run_ends):
            m.d.comb += fetch_addr.eq(d_addr + 1)
            m.d.sync += [d_valid.eq(1), d_first.eq(0)]
        with m.Elif(queue.r_rdy):
            m.d.comb += [fetch_addr.eq(head.ptr), queue.r_en.eq(1)]
            m.d.sync += [d_valid.eq(1), d_first.eq(1), d_a.eq(head.a)]
        with m.Else():
            m.d.sync += d_valid.eq(0)
        m.d.sync += d_addr.eq(fetch_addr)

        # D -> X: the row, counted from the column's start.
        x_valid = Signal()
        x_row = Signal(self._row_width)
        x_v = Signal(4)
        x_a = Signal(signed(cfg.act_width))
        row = Mux(d_first, 0, x_row + 1) + entry.z
        m.d.sync += x_valid.eq(d_valid)
        with m.If(d_valid):
            m.d.sync += [x_row.eq(row), x_v.eq(entry.v), x_a.eq(d_a)]

        # X -> A: accumulator read, codebook lookup, multiply.
        a_valid = Signal()
        a_row = Signal(self._row_width)
        a_prod = Signal(signed(cfg.act_width + cfg.code_width))
        a_forward = Signal()
        a_sum = Signal(acc_shape)      # what A wrote last cycle
        m.d.sync += [a_valid.eq(x_valid), a_row.eq(x_row),
                     a_prod.eq(x_a * self.codebook[x_v]),
                     a_forward.eq(x_valid & a_valid & (x_row == a_row))]

        # A: accumulate.
        base = Mux(a_forward, a_sum, acc_rd.data)
        m.d.sync += a_sum.eq(base + a_prod)

        # The drain, two cycles a row: read accumulator and bias; add (and clear the
        # accumulator); requantise.
        drain_d1 = Signal()
        drain_row_d1 = Signal(self._row_width)
        m.d.sync += [drain_d1.eq(self.drain_read), drain_row_d1.eq(self.drain_row)]
        bias = mem_rd.data.as_signed() << self.layer.bias_shift
        with m.If(drain_d1):
            m.d.sync += self.total.eq(acc_rd.data + bias)
        m.d.comb += self.result.eq(requantise(self.total, self.layer.shift, self.layer.relu,
                                              cfg.act_width))

        with m.If(self.w_en):
            m.d.comb += mem_addr.eq(self.w_addr)
        with m.Elif(self.drain_read):
            m.d.comb += mem_addr.eq(self.layer.bias_base + self.drain_row)
        with m.Else():
            m.d.comb += mem_addr.eq(fetch_addr)

        m.d.comb += acc_rd.addr.eq(Mux(self.drain_read, self.drain_row, x_row))
        with m.If(drain_d1):
            m.d.comb += [acc_wr.addr.eq(drain_row_d1), acc_wr.data.eq(0), acc_wr.en.eq(1)]
        with m.Else():
            m.d.comb += [acc_wr.addr.eq(a_row), acc_wr.data.eq(base + a_prod),
                         acc_wr.en.eq(a_valid)]

        m.d.comb += self.busy.eq(queue.r_rdy | d_valid | x_valid | a_valid)
        return m
