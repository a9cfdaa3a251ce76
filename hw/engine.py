"""The engine: N PEs, the scanner and broadcaster, activation banks and the layer sequencer."""

from amaranth.hdl import Cat, Module, Signal, signed
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from tinyeie.contract.layouts import (
    CODEBOOK_OFFSET,
    CODEBOOK_SIZE,
    COUNT_BITS,
    DESCRIPTOR_WORDS,
    INDEX_BITS,
    LAYER_WORDS,
    SLICE_BITS,
    Descriptor,
    Target,
    WriteCommand,
    column_slices,
)
from tinyeie.hw.broadcast import Broadcaster
from tinyeie.hw.configured import Configured
from tinyeie.hw.model_check import ModelChecker
from tinyeie.hw.pe import PE
from tinyeie.hw.requant import overflow_mask, shift_plan
from tinyeie.hw.scanner import Scanner

__all__ = ["Result", "Engine", "CYCLE_WIDTH", "wipe_cycles"]

CYCLE_WIDTH = 32
# The drain's first result is written to the banks at the end of its fifth cycle (its row passes
# the PE's F, D, X and A stages, then R); the scanner, started in cycle DRAIN_LEAD (counting
# from 0), reads its first word, no sooner than that, in the next one, and every later word at
# least a cycle after the drain has written it. (Reading the next descriptor, DESCRIPTOR_WORDS + 1
# cycles from the drain's start, takes longer today; this keeps the rule if that changes.)
DRAIN_LEAD = 4


def wipe_cycles(config):
    """Cycles the engine's ``wipe`` takes: one word of every model memory a cycle."""
    return max(config.pe_depth, -(-config.col_depth // 2), LAYER_WORDS * config.max_layers)


def Result(acc_width):
    """One result of the last layer: a logit and whether it is the layer's last."""
    return data.StructLayout({"value": signed(acc_width), "last": 1})


class Engine(Configured, wiring.Component):
    """The EIE-style sparse matrix-vector engine (docs/engine.md).

    Parameters
    ----------
    config : :class:`~tinyeie.contract.config.EngineConfig`
    packed : :class:`~tinyeie.sw.compiler.pack.PackedModel`, optional
        A model to initialise the memories with (block RAM from the bitstream). Without one the
        model is written through ``i_model``.

    Members
    -------
    i_model : In(stream of WriteCommand)
        Model writes; ready only while the engine is idle.
    i_stream : In(stream of signed act_width)
        The first layer's ``in_count`` input activations, in order; the first one starts an
        inference.
    o_stream : Out(stream of Result)
        The last layer's ``out_count`` results (acc + bias, the logits), in order.
    cycles : Out(32)
        Cycles of the running or last inference, counted from the last input taken to the last
        result given, without the cycles ``o_stream`` waited for its consumer.
    busy : Out(1)
        An inference is under way.
    out_count : Out(12)
        The running layer's output count: while ``o_stream`` is valid, the number of results
        the inference gives (at least one).
    wipe : In(1)
        With ``check_model``: a one-cycle pulse that zeroes every model memory (the PE
        memories, the column table, the layer table and the PEs' codebooks), ``pe_depth`` cycles
        in which model writes wait; a load starts from zeros, as ``read_image`` reads an image.
    check_start, check_layers, check_column_rows, check_in_count, check_out_count : In
        With ``check_model``: walk the model in the memories against the structure rules, with
        what the image's header says (:class:`~tinyeie.hw.model_check.ModelChecker`).
    check_busy, check_done, check_ok : Out(1)
        The walk is under way; it ended; it found a model (held until the next start).

    With ``check_model`` (an ECP5 option: 6,054 LUT4s on the ULX3S's 16 PEs), the engine can zero
    its model memories and check a loaded model (``wipe``, ``check_*``).

    After a reset the engine first zeroes every PE's accumulators (2**ceil(log2(bank_depth))
    cycles), so a reset in the middle of an inference (as :class:`~tinyeie.hw.server.ModelServer`
    makes when the protocol gives one up) leaves nothing behind; the model stays in the
    memories.
    """

    def __init__(self, config, packed=None, *, check_model=False):
        if packed is not None and packed.config != config:
            raise ValueError(f"the model was packed for {packed.config}, not {config}")
        self._config = config
        self._packed = packed
        self._check_model = check_model
        self._word_width = max(1, ceil_log2(config.bank_depth))
        pe_init, self._column_init, self._layer_init = self._init()
        codebook_init = [self._code(word) for k in range(0, len(self._layer_init), LAYER_WORDS)
                         for word in self._layer_init[k + CODEBOOK_OFFSET:][:CODEBOOK_SIZE]]
        # Built here rather than in elaborate so that testbenches can watch them.
        self.pes = [PE(config, init=pe_init[p], codebook_init=codebook_init, probe=check_model)
                    for p in range(config.pes)]
        self.scanner = Scanner(config)
        self.broadcaster = Broadcaster(config, init=self._column_init)
        super().__init__({
            "i_model": In(stream.Signature(WriteCommand)),
            "i_stream": In(stream.Signature(signed(config.act_width))),
            "o_stream": Out(stream.Signature(Result(config.acc_width))),
            "cycles": Out(CYCLE_WIDTH),
            "busy": Out(1),
            "out_count": Out(COUNT_BITS),
            "wipe": In(1),
            "check_start": In(1),
            "check_layers": In(16),
            "check_column_rows": In(16),
            "check_in_count": In(COUNT_BITS),
            "check_out_count": In(COUNT_BITS),
            "check_busy": Out(1),
            "check_done": Out(1),
            "check_ok": Out(1),
        })

    def _code(self, word):
        """A codebook word of the layer table as the signed code it holds."""
        width = self._config.code_width
        word &= (1 << width) - 1
        return word - (1 << width) if word >> (width - 1) else word

    def _init(self):
        """Initial contents of the PE memories, column table and layer table."""
        n, packed = self._config.pes, self._packed
        if packed is None:
            return [[] for _ in range(n)], [], []
        columns = [sum(int(w) << SLICE_BITS * k for k, w in enumerate(row))
                   for row in packed.columns]
        return packed.pe_words, columns, [int(w) for w in packed.layer_table]

    def elaborate(self, platform):
        # The sequencer runs each layer in two phases. RUN: the scanner walks the input half of
        # the activation banks and the broadcaster hands non-zeros to the PEs. DRAIN: once no
        # PE has entries left to read, all PEs step through their local rows together, one a
        # cycle, each row gaining its bias and being requantised into the other half of the
        # banks (the next layer's input). The drain keeps what it needs of its layer in
        # registers, so the next descriptor is read as it begins, and the next layer's RUN
        # starts DRAIN_LEAD cycles into it: the scanner reads word w of the banks no sooner
        # than the drain has written it, and the PEs hold the columns they are given until
        # their drain is over. The last layer's rows go out on o_stream instead, in row order.
        cfg = self._config
        n = cfg.pes
        m = Module()

        pes = self.pes
        for p, pe in enumerate(pes):
            m.submodules[f"pe{p}"] = pe
        m.submodules.scanner = scanner = self.scanner
        m.submodules.broadcaster = broadcaster = self.broadcaster
        wiring.connect(m, scanner.o_stream, broadcaster.i_stream)
        for p, pe in enumerate(pes):
            wiring.connect(m, broadcaster.o_columns[p], pe.i_column)

        m.submodules.layers = layers = memory.Memory(
            shape=SLICE_BITS, depth=LAYER_WORDS * cfg.max_layers, init=self._layer_init)
        layers_rd = layers.read_port()
        layers_wr = layers.write_port()

        banks = []
        for p in range(n):
            bank = memory.Memory(shape=signed(cfg.act_width), depth=2 << self._word_width,
                                 init=[])
            m.submodules[f"bank{p}"] = bank
            banks.append((bank.read_port(), bank.write_port()))
        for p, (rd, _) in enumerate(banks):
            m.d.comb += [rd.addr.eq(scanner.bank_addr), rd.en.eq(scanner.bank_en),
                         scanner.bank_data[p].eq(rd.data)]

        # The running layer: its descriptor, read from the layer table. (Each PE keeps its own
        # copy of the codebooks, written with the layer table.)
        desc_raw = Signal(SLICE_BITS * DESCRIPTOR_WORDS)
        desc = Descriptor(desc_raw[:Descriptor.as_shape().size])
        layer = Signal(range(max(cfg.max_layers, 2)))
        half = Signal()         # the bank half holding the running layer's input
        m.d.comb += [scanner.in_count.eq(desc.in_count), scanner.half.eq(half),
                     broadcaster.col_base.eq(desc.col_base), self.out_count.eq(desc.out_count)]
        # What the drain needs of its layer, kept while the next descriptor is read and the
        # next layer runs.
        drain_shift = Signal.like(desc.shift)
        drain_bias_base = Signal.like(desc.bias_base)
        drain_out_count = Signal.like(desc.out_count)
        drain_half = Signal()       # the bank half the drain writes
        drain_bias_shift = Signal.like(desc.bias_shift)
        drain_relu = Signal()
        # The shift's plan from registers, a cycle after drain_shift is set (the first drained
        # row is requantised in the fifth), so that working it out is not in the path from the
        # accumulator through the multiplier to the activation banks.
        mask = Signal(cfg.acc_width)
        m.d.comb += mask.eq(overflow_mask(drain_shift, cfg.act_width, cfg.acc_width))
        window_plan, scale_plan = shift_plan(drain_shift, cfg.act_width, cfg.acc_width)
        window, scale = Signal.like(pes[0].window), Signal.like(pes[0].scale)
        m.d.sync += [window.eq(window_plan), scale.eq(scale_plan)]
        for pe in pes:
            m.d.comb += [pe.layer.eq(layer), pe.bias_scale.eq(1 << drain_bias_shift),
                         pe.window.eq(window), pe.scale.eq(scale), pe.mask.eq(mask),
                         pe.relu.eq(drain_relu)]

        # Layer-table reader: reads one layer's descriptor words, one a cycle.
        lt_run, lt_k = Signal(), Signal(range(LAYER_WORDS))
        lt_layer = Signal(range(max(cfg.max_layers, 2)))
        lt_got, lt_got_k = Signal(), Signal(range(LAYER_WORDS))

        def read_descriptor(layer_index):
            return [lt_run.eq(1), lt_layer.eq(layer_index), lt_k.eq(0)]

        m.d.comb += [layers_rd.addr.eq(Cat(lt_k, lt_layer)), layers_rd.en.eq(lt_run)]
        m.d.sync += [lt_got.eq(lt_run), lt_got_k.eq(lt_k)]
        with m.If(lt_run):
            m.d.sync += lt_k.eq(lt_k + 1)
            with m.If(lt_k == DESCRIPTOR_WORDS - 1):
                m.d.sync += lt_run.eq(0)
        with m.If(lt_got):
            for k in range(DESCRIPTOR_WORDS):
                with m.If(lt_got_k == k):
                    m.d.sync += desc_raw[SLICE_BITS * k:SLICE_BITS * (k + 1)].eq(layers_rd.data)
        lt_busy = lt_run | lt_got

        # Model writes, registered on the way in: the write port's source (a loader fed by the
        # UART) and the PE memories' address multiplexers would otherwise form one long path.
        cmd = Signal(WriteCommand)
        write = Signal()
        m.d.sync += [write.eq(self.i_model.valid & self.i_model.ready),
                     cmd.eq(self.i_model.payload)]
        write_layers = (write & (cmd.addr.target == Target.LAYERS)
                        & (cmd.addr.word < LAYER_WORDS * cfg.max_layers))
        for p, pe in enumerate(pes):
            m.d.comb += [pe.w_addr.eq(cmd.addr.word), pe.w_data.eq(cmd.data),
                         pe.w_en.eq(write & (cmd.addr.target == Target.PE)
                                    & (cmd.addr.slice == p) & (cmd.addr.word < cfg.pe_depth))]
        m.d.comb += [
            broadcaster.w_addr.eq(cmd.addr.word), broadcaster.w_slice.eq(cmd.addr.slice),
            broadcaster.w_data.eq(cmd.data),
            broadcaster.w_en.eq(write & (cmd.addr.target == Target.COLUMNS)
                                & (cmd.addr.slice < column_slices(n))
                                & (cmd.addr.word < cfg.col_depth)),
            layers_wr.addr.eq(cmd.addr.word), layers_wr.data.eq(cmd.data),
            layers_wr.en.eq(write_layers),
        ]
        # Codebook words (layer word CODEBOOK_OFFSET + v, the upper half of the layer's words)
        # also go to every PE's codebook copy.
        assert CODEBOOK_OFFSET == CODEBOOK_SIZE == LAYER_WORDS // 2
        layer_bits = ceil_log2(LAYER_WORDS)
        for pe in pes:
            m.d.comb += [pe.cb_addr.eq(Cat(cmd.addr.word[:INDEX_BITS], cmd.addr.word[layer_bits:])),
                         pe.cb_data.eq(cmd.data[:cfg.code_width]),
                         pe.cb_en.eq(write_layers & cmd.addr.word[INDEX_BITS])]

        # Input loading: activation i to bank i mod N, word i div N, of half 0.
        in_p = Signal(range(max(n, 2)))     # (at least one bit: Verilog has no empty vectors)
        in_word = Signal(self._word_width)
        in_count = Signal(COUNT_BITS)
        take_input = self.i_stream.valid & self.i_stream.ready

        # Drain: all PEs drain local row `row` (global rows row_base .. row_base + N - 1); the
        # results come back with their rows and go to the other half of the banks.
        row = Signal(self._word_width)
        row_base = Signal(COUNT_BITS + 1)
        drain = Signal()
        drain_pending = Signal()    # rows of a (not the last) layer's drain remain to be issued
        lead = Signal(range(DRAIN_LEAD + 1))    # cycles since the drain began, up to DRAIN_LEAD
        for pe in pes:
            m.d.comb += [pe.drain.eq(drain), pe.drain_row.eq(row),
                         pe.drain_addr.eq(drain_bias_base + row)]
        output_phase = Signal()
        for p, (_, wr) in enumerate(banks):
            with m.If(pes[p].result_valid):
                m.d.comb += [wr.addr.eq(Cat(pes[p].result_row, drain_half)),
                             wr.data.eq(pes[p].result),
                             wr.en.eq(~output_phase)]
            with m.Else():
                m.d.comb += [wr.addr.eq(Cat(in_word, 0)), wr.data.eq(self.i_stream.payload),
                             wr.en.eq(take_input & (in_p == p))]

        # Results of the last layer: PE `out_p`'s total of the row drained.
        out_p = Signal(range(max(n, 2)))
        with m.Switch(out_p):
            for p in range(n):
                with m.Case(p):
                    m.d.comb += self.o_stream.payload.value.eq(pes[p].total)
        m.d.comb += self.o_stream.payload.last.eq(row_base + out_p + 1 >= drain_out_count)
        # A table without a last layer must not run forever: its final row counts as last.
        is_last = desc.last | (layer == cfg.max_layers - 1)

        units_idle = ~scanner.busy & ~broadcaster.busy & ~lt_busy
        all_idle = units_idle
        # The layer's work is all in the PEs' pipelines: its drain rows may follow them.
        run_done = units_idle
        for pe in pes:
            all_idle &= ~pe.busy
            run_done &= ~pe.fetching
        counting = Signal()
        stalled = self.o_stream.valid & ~self.o_stream.ready
        with m.If(counting & ~stalled):
            m.d.sync += self.cycles.eq(self.cycles + 1)

        with m.FSM(init="CLEAR"):
            with m.State("CLEAR"):
                # Every PE drains each of its rows once, which zeroes its accumulator (the
                # results go to the banks' other half, which nothing reads before writing).
                m.d.comb += drain.eq(1)
                m.d.sync += row.eq(row + 1)
                with m.If(row.all()):
                    m.next = "CLEAR-FLUSH"
            with m.State("CLEAR-FLUSH"):
                with m.If(all_idle & ~pes[0].result_valid):
                    m.next = "IDLE"
            with m.State("IDLE"):
                m.d.comb += self.i_model.ready.eq(1)
                # Only lt_run and the state wait on whether to start (the model write port's
                # valid comes from the loader and the host protocol, a long way on the iCE40);
                # the rest is set every idle cycle, which changes nothing while idle.
                m.d.sync += [layer.eq(0), half.eq(0), lt_layer.eq(0), lt_k.eq(0)]
                with m.If(self.i_stream.valid & ~self.i_model.valid & ~write & ~self.check_busy):
                    m.d.sync += lt_run.eq(1)
                    m.next = "FIRST-DESCRIPTOR"
            with m.State("FIRST-DESCRIPTOR"):
                with m.If(~lt_busy):
                    m.d.sync += [in_p.eq(0), in_word.eq(0), in_count.eq(0)]
                    m.next = "INPUT"
            with m.State("INPUT"):
                m.d.comb += self.i_stream.ready.eq(in_count < desc.in_count)
                with m.If(take_input):
                    m.d.sync += in_count.eq(in_count + 1)
                    with m.If(in_p == n - 1):
                        m.d.sync += [in_p.eq(0), in_word.eq(in_word + 1)]
                    with m.Else():
                        m.d.sync += in_p.eq(in_p + 1)
                with m.If(in_count == desc.in_count):
                    m.d.sync += [self.cycles.eq(0), counting.eq(1)]
                    m.next = "START"
            with m.State("START"):
                m.d.comb += scanner.start.eq(1)
                m.next = "RUN"
            with m.State("RUN"):
                # (The previous drain's last results must be written before its registers
                # change: a layer with no non-zero input can end within a few cycles.)
                with m.If(run_done & ~drain_pending & ~pes[0].result_valid):
                    m.d.sync += [row.eq(0), row_base.eq(0), out_p.eq(0), lead.eq(0),
                                 drain_shift.eq(desc.shift), drain_bias_shift.eq(desc.bias_shift),
                                 drain_relu.eq(desc.relu), drain_bias_base.eq(desc.bias_base),
                                 drain_out_count.eq(desc.out_count), drain_half.eq(~half)]
                    with m.If(is_last):
                        m.d.sync += output_phase.eq(1)
                        m.next = "OUTPUT-DRAIN"
                    with m.Else():
                        m.d.sync += [read_descriptor(layer + 1), drain_pending.eq(1)]
                        m.next = "DRAIN"
            with m.State("DRAIN"):
                # Rows are issued by drain_pending (below); the next layer starts once its
                # descriptor is read and the drain is DRAIN_LEAD cycles ahead of the scanner.
                with m.If(~lt_busy & (lead == DRAIN_LEAD)):
                    m.d.comb += scanner.start.eq(1)
                    m.d.sync += [layer.eq(layer + 1), half.eq(~half)]
                    m.next = "RUN"
            with m.State("OUTPUT-DRAIN"):
                m.d.comb += drain.eq(1)
                m.next = "OUTPUT-WAIT"
            with m.State("OUTPUT-WAIT"):
                with m.If(pes[0].result_valid):
                    m.next = "OUTPUT"
            with m.State("OUTPUT"):
                m.d.comb += self.o_stream.valid.eq(1)
                with m.If(self.o_stream.ready):
                    with m.If(self.o_stream.payload.last):
                        m.d.sync += [counting.eq(0), output_phase.eq(0)]
                        m.next = "IDLE"
                    with m.Elif(out_p == n - 1):
                        m.d.sync += [out_p.eq(0), row.eq(row + 1), row_base.eq(row_base + n)]
                        m.next = "OUTPUT-DRAIN"
                    with m.Else():
                        m.d.sync += out_p.eq(out_p + 1)
        # The drain's rows, one a cycle, issued also while the next layer starts.
        with m.If(drain_pending):
            m.d.comb += drain.eq(1)
            m.d.sync += [row.eq(row + 1), row_base.eq(row_base + n)]
            with m.If(row_base + n >= drain_out_count):
                m.d.sync += drain_pending.eq(0)
        with m.If(lead != DRAIN_LEAD):
            m.d.sync += lead.eq(lead + 1)
        m.d.comb += self.busy.eq(counting)
        if self._check_model:
            self._model_check(m, cmd, write, layers_rd, layers_wr)
        return m

    def _model_check(self, m, cmd, write, layers_rd, layers_wr):
        """The wipe and the model check: both borrow the memories' ports while the engine is
        idle (model writes wait during the wipe; no inference starts during the check)."""
        cfg = self._config
        pes, broadcaster = self.pes, self.broadcaster

        wipe_words = wipe_cycles(cfg)
        wiping = Signal()
        wipe_addr = Signal(range(wipe_words))
        with m.If(self.wipe):
            m.d.sync += [wiping.eq(1), wipe_addr.eq(0)]
        with m.Elif(wiping):
            m.d.sync += wipe_addr.eq(wipe_addr + 1)
            with m.If(wipe_addr == wipe_words - 1):
                m.d.sync += wiping.eq(0)
        with m.If(wiping | self.wipe):
            m.d.comb += self.i_model.ready.eq(0)
        with m.If(wiping):
            for pe in pes:
                m.d.comb += [pe.w_addr.eq(wipe_addr), pe.w_data.eq(0),
                             pe.w_en.eq(wipe_addr < cfg.pe_depth),
                             pe.cb_addr.eq(wipe_addr), pe.cb_data.eq(0),
                             pe.cb_en.eq(wipe_addr < CODEBOOK_SIZE * cfg.max_layers)]
            m.d.comb += [broadcaster.w_addr.eq(Cat(0, wipe_addr)), broadcaster.w_data.eq(0),
                         broadcaster.w_all.eq(wipe_addr < -(-cfg.col_depth // 2)),
                         layers_wr.addr.eq(wipe_addr), layers_wr.data.eq(0),
                         layers_wr.en.eq(wipe_addr < LAYER_WORDS * cfg.max_layers)]

        m.submodules.checker = checker = ModelChecker(cfg)
        # A check waits for the wipe: an image without sections can end before it does.
        pending = Signal()
        start = (self.check_start | pending) & ~wiping & ~self.wipe
        m.d.sync += pending.eq((self.check_start | pending) & ~start)
        m.d.comb += [
            checker.w_valid.eq(write), checker.w_cmd.eq(cmd),
            checker.start.eq(start), checker.layers.eq(self.check_layers),
            checker.column_rows.eq(self.check_column_rows),
            checker.in_count.eq(self.check_in_count), checker.out_count.eq(self.check_out_count),
            self.check_busy.eq(checker.busy | pending),
            self.check_done.eq(checker.done & ~pending),
            self.check_ok.eq(checker.ok),
            checker.lt_data.eq(layers_rd.data),
            broadcaster.probe_en.eq(checker.col_en), broadcaster.probe_row.eq(checker.col_row),
            checker.col_banks.eq(broadcaster.probe_banks),
        ]
        with m.If(checker.busy):
            m.d.comb += [layers_rd.addr.eq(checker.lt_addr), layers_rd.en.eq(checker.lt_en)]
        for p, pe in enumerate(pes):
            m.d.comb += [pe.probe_en.eq(checker.busy), pe.probe_addr.eq(checker.pe_addr[p]),
                         checker.pe_data[p].eq(pe.probe_data)]
