"""The model-image loader: a ``model.bin`` byte stream in, the engine's model writes out.

:class:`ImageLoader` checks an image (:mod:`tinyeie.contract.image`) as its bytes arrive and
replays its sections into :class:`~tinyeie.hw.engine.Engine`'s ``i_model`` port, one write per
data word, so a board can load a model from SPI flash or the UART without a buffer for the
image. :func:`tinyeie.contract.image.loader_model` is its Python model: the writes it makes and
the error it ends with for any byte string, including damaged and cut-off ones.
"""

from contextlib import contextmanager

from amaranth.hdl import Cat, Module, Mux, Shape, Signal
from amaranth.lib import crc, stream, wiring
from amaranth.lib.wiring import In, Out

from tinyeie.contract.image import (
    COUNT_BITS,
    HEADER_WORDS,
    HeaderRule,
    ImageHeader,
    SectionHeader,
    field_word,
    header_rules,
    memories,
)
from tinyeie.contract.layouts import LAYER_WORDS, Target, WriteCommand
from tinyeie.contract.protocol import LoaderError
from tinyeie.hw.configured import Configured
from tinyeie.hw.crc_unit import restartable_crc

__all__ = ["ImageLoader", "loader_control"]

RECEIVED_BITS = 32


def loader_control():
    """The members of a block that drives an :class:`ImageLoader`, each named ``loader_`` and
    the loader's own: ``start`` out; ``done``, ``ok``, ``error``, ``in_count``, ``out_count``,
    ``received`` and ``checking`` in."""
    return {"loader_start": Out(1), "loader_done": In(1), "loader_ok": In(1),
            "loader_error": In(Shape.cast(LoaderError)), "loader_in_count": In(COUNT_BITS),
            "loader_out_count": In(COUNT_BITS), "loader_received": In(RECEIVED_BITS),
            "loader_checking": In(1)}


class ImageLoader(Configured, wiring.Component):
    """Checks a model image byte by byte and writes its sections into the engine.

    The image format is :mod:`tinyeie.contract.image`'s, and so are its checks
    (:func:`~tinyeie.contract.image.header_rules`); :func:`~tinyeie.contract.image.loader_model`
    is this block's Python model.
    Checks run in stream order, each when its word is complete: magic, version, the engine
    parameters (PEs and widths equal ``config``'s), the sizes (at most ``config``'s; also the
    input and output counts at most ``act_depth``), each section's memory and range, and last
    the CRC-32 of every byte before the trailer. The first failing check ends the image.

    Parameters
    ----------
    config : :class:`~tinyeie.contract.config.EngineConfig`
        The engine the writes go to.

    Members
    -------
    i_stream : In(stream of 8 bits)
        Image bytes, in order. Ready whenever no write is waiting on ``o_model`` (and not in the
        cycle of ``start``); once the image is done, or before the first ``start``, bytes are
        taken and dropped.
    o_model : Out(stream of WriteCommand)
        One write per section data word, to ``Engine.i_model``. The write is offered while the
        word's high byte is on ``i_stream`` and takes that byte when it is taken (no buffer).
    start : In(1)
        A one-cycle pulse: drop any image under way; the next byte taken starts a header (a
        byte offered in the cycle of ``start`` is not taken in it). A write waiting on
        ``o_model`` is withdrawn, against the stream rules: nothing is written in that cycle.
    busy : Out(1)
        An image is under way (from the cycle after ``start`` until ``done``).
    done : Out(1)
        The image ended (trailer checked) or failed; held until the next ``start``.
    ok : Out(1)
        With ``done``: every check passed. The model in the engine is only valid then.
    error : Out(LoaderError)
        Why the image failed; ``NONE`` unless it did.
    in_count, out_count : Out(12)
        The model's input and output counts, from the header; valid once ``ok`` (otherwise
        whatever the last header that got so far said).
    received : Out(32)
        Bytes taken since ``start``, the dropped ones after the image included.
    layers, column_rows : Out(16)
        With ``check_model``: the header's fields, for the model check.
    check_start, check_done, check_ok : Out, In, In
        With ``check_model``: once the CRC matches, ``check_start`` pulses and the loader waits
        for ``check_done``; the image is refused with MODEL unless ``check_ok``
        (:class:`~tinyeie.hw.model_check.ModelChecker`, in the engine).
    checking : Out(1)
        Every byte of the image is in and its model check is under way (``done`` follows).

    With ``check_model`` a section must also lie inside the words its header declares of the
    memory (:func:`~tinyeie.contract.structure.declared_depth`), as
    :func:`~tinyeie.contract.image.loader_model` with ``check_model`` says.
    """

    def __init__(self, config, *, check_model=False):
        self._config = config
        self._check_model = check_model
        super().__init__({
            "i_stream": In(stream.Signature(8)),
            "o_model": Out(stream.Signature(WriteCommand)),
            "start": In(1),
            "busy": Out(1),
            "done": Out(1),
            "ok": Out(1),
            "error": Out(LoaderError),
            "in_count": Out(COUNT_BITS),
            "out_count": Out(COUNT_BITS),
            "received": Out(RECEIVED_BITS),
            "layers": Out(16),
            "column_rows": Out(16),
            "check_start": Out(1),
            "check_done": In(1),
            "check_ok": In(1),
            "checking": Out(1),
        })

    def elaborate(self, platform):
        # The image is a sequence of 16-bit words, so the FSM moves on words: a byte register
        # keeps the low byte and every check or write happens when the high byte arrives. The
        # header is checked against a table of bounds indexed by the word's position (one
        # equality and one magnitude comparator for all of it, rather than one per field),
        # and only the counts the loader needs are stored. A data word's write goes out while
        # its high byte is still on i_stream and the byte is taken only with the write: the
        # engine's back-pressure reaches the source without a buffer. A section ends when the
        # address reaches the end computed for its range check, so no word count is kept. The
        # CRC-32 unit eats every byte including the trailer's; a correct trailer leaves its
        # register at the CRC's residue, which spares a 32-bit trailer register and comparator.
        cfg = self._config
        m = Module()
        crc_unit, _ = restartable_crc(m, crc.catalog.CRC32_ISO_HDLC, self.start)

        byte = self.i_stream.payload
        take = self.i_stream.valid & self.i_stream.ready
        parsing = Signal()      # bytes belong to the image (to the CRC and the word FSM)
        writing = Signal()      # the byte on i_stream completes a data word
        high = Signal()         # the next byte is a word's high byte
        low = Signal(8)
        word = Cat(low, byte)   # the word completed by the byte taken, when `high`
        got_word = take & parsing & high

        idx = Signal(range(HEADER_WORDS))   # word within the header, section header or trailer
        sections = Signal(16)   # sections left, the one under way included
        addr = Signal(16)       # the next data word's address
        end = Signal(17)        # one past the section's last address
        target = Signal(2)
        slice_ = Signal(6)

        m.d.comb += [
            crc_unit.data.eq(byte),
            crc_unit.valid.eq(take & parsing),
            # The start cycle's byte waits: it is the first of the new header.
            self.i_stream.ready.eq(~self.start & (~writing | self.o_model.ready)),
            self.o_model.valid.eq(writing & self.i_stream.valid & ~self.start),
            self.o_model.payload.addr.word.eq(addr),
            self.o_model.payload.addr.slice.eq(slice_),
            self.o_model.payload.addr.target.eq(target),
            self.o_model.payload.data.eq(word),
        ]
        with m.If(take):
            m.d.sync += [self.received.eq(self.received + 1), low.eq(byte)]
            with m.If(parsing):
                m.d.sync += high.eq(~high)

        # The header's check table, and the verdict on the word against its row.
        rule = Signal(HeaderRule)
        bound = Signal(16)
        code = Signal(LoaderError)
        with m.Switch(idx):
            for k, (rule_k, bound_k, code_k) in enumerate(header_rules(cfg)):
                with m.Case(k):
                    m.d.comb += [rule.eq(rule_k), bound.eq(bound_k), code.eq(code_k)]
        equal = word == bound
        above = word > bound
        low_above = Signal()    # a LOW_HALF word was above its bound (decides a tie above it)
        header_bad = (((rule == HeaderRule.EQUAL) & ~equal)
                      | ((rule == HeaderRule.AT_MOST) & (above | (equal & low_above))))

        # The section header's first word: target and slice (SectionHeader).
        kind_target, kind_slice = word[:8], word[8:]
        kind_ok = 0
        depth = 0
        for memory_target, (slices, memory_depth) in memories(cfg).items():
            kind_ok |= (kind_target == memory_target) & (kind_slice < slices)
            depth = Mux(target == memory_target, memory_depth, depth)
        if self._check_model:
            # the header's declared sizes, kept as they stream by (the engine's are their bounds)
            pe_words = Signal(17)
            depth = Mux(target == Target.PE, pe_words,
                        Mux(target == Target.COLUMNS, self.column_rows,
                            self.layers * LAYER_WORDS))
        section_end = addr + word

        def fail(error):
            m.d.sync += [self.error.eq(error), self.done.eq(1)]
            m.next = "IDLE"

        def end_section():
            m.d.sync += sections.eq(sections - 1)
            with m.If(sections == 1):
                m.next = "TRAILER"
            with m.Else():
                m.next = "SECTION"

        @contextmanager
        def state(name):
            with m.State(name):
                yield
                # `start` wins over whatever the state decided.
                with m.If(self.start):
                    m.next = "HEADER"

        with m.FSM(init="IDLE") as fsm:
            with state("IDLE"):
                pass
            with state("HEADER"):
                m.d.comb += parsing.eq(1)
                with m.If(got_word):
                    m.d.sync += [idx.eq(idx + 1),
                                 low_above.eq((rule == HeaderRule.LOW_HALF) & above)]
                    # The counts are kept whether their checks pass or not (`ok` says).
                    with m.Switch(idx):
                        with m.Case(field_word(ImageHeader, "sections")):
                            m.d.sync += sections.eq(word)
                        with m.Case(field_word(ImageHeader, "in_count")):
                            m.d.sync += self.in_count.eq(word)
                        with m.Case(field_word(ImageHeader, "out_count")):
                            m.d.sync += self.out_count.eq(word)
                        if self._check_model:
                            with m.Case(field_word(ImageHeader, "layers")):
                                m.d.sync += self.layers.eq(word)
                            with m.Case(field_word(ImageHeader, "column_rows")):
                                m.d.sync += self.column_rows.eq(word)
                            with m.Case(field_word(ImageHeader, "pe_words")):
                                m.d.sync += pe_words[:16].eq(word)
                            with m.Case(field_word(ImageHeader, "pe_words") + 1):
                                m.d.sync += pe_words[16].eq(word[0])
                        with m.Case(HEADER_WORDS - 1):
                            m.d.sync += idx.eq(0)
                            with m.If(sections == 0):
                                m.next = "TRAILER"
                            with m.Else():
                                m.next = "SECTION"
                    with m.If(header_bad):
                        fail(code)
            with state("SECTION"):
                m.d.comb += parsing.eq(1)
                with m.If(got_word):
                    m.d.sync += idx.eq(idx + 1)
                    with m.Switch(idx):
                        with m.Case(field_word(SectionHeader, "target")):
                            m.d.sync += [target.eq(kind_target), slice_.eq(kind_slice)]
                            with m.If(~kind_ok):
                                fail(LoaderError.SECTION)
                        with m.Case(field_word(SectionHeader, "base")):
                            m.d.sync += addr.eq(word)
                        with m.Case(field_word(SectionHeader, "count")):
                            m.d.sync += [idx.eq(0), end.eq(section_end)]
                            with m.If(section_end > depth):
                                fail(LoaderError.SECTION)
                            with m.Elif(word == 0):
                                end_section()
                            with m.Else():
                                m.next = "DATA"
            with state("DATA"):
                m.d.comb += [parsing.eq(1), writing.eq(high)]
                with m.If(got_word):
                    m.d.sync += addr.eq(addr + 1)
                    with m.If(addr + 1 == end):
                        end_section()
            with state("TRAILER"):
                m.d.comb += parsing.eq(1)
                with m.If(got_word):
                    m.d.sync += idx.eq(idx + 1)
                    with m.If(idx == 1):
                        m.next = "CHECK"
            with state("CHECK"):
                # The trailer's last byte reached the CRC register in the cycle before.
                if self._check_model:
                    with m.If(crc_unit.match_detected):
                        m.d.comb += self.check_start.eq(~self.start)
                        m.next = "MODEL"
                    with m.Else():
                        fail(LoaderError.CRC)
                else:
                    m.d.sync += [self.done.eq(1), self.ok.eq(crc_unit.match_detected),
                                 self.error.eq(Mux(crc_unit.match_detected, LoaderError.NONE,
                                                   LoaderError.CRC))]
                    m.next = "IDLE"
            if self._check_model:
                with state("MODEL"):
                    m.d.comb += self.checking.eq(1)
                    # (the check's done falls in the cycle after its start)
                    with m.If(self.check_done):
                        m.d.sync += [self.done.eq(1), self.ok.eq(self.check_ok),
                                     self.error.eq(Mux(self.check_ok, LoaderError.NONE,
                                                       LoaderError.MODEL))]
                        m.next = "IDLE"
        with m.If(self.start):
            # After the FSM, so that `start` also wins over the verdict of CHECK (a byte is
            # never taken with it, so nothing else is overridden).
            # (in_count and out_count are not cleared: that costs 20 LUTs, and `ok` says.)
            m.d.sync += [self.received.eq(0), high.eq(0), idx.eq(0), self.done.eq(0),
                         self.ok.eq(0), self.error.eq(LoaderError.NONE)]
        m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
        return m
