"""The model-image loader: a ``model.bin`` byte stream in, the engine's model writes out.

:class:`ImageLoader` checks an image (``sw/image.py``) as its bytes arrive and replays its
sections into :class:`~tinyeie.hw.engine.Engine`'s ``i_model`` port, one write per data word, so
a board can load a model from SPI flash or the UART without a buffer for the image.
:func:`loader_model` is its Python model: the writes it makes and the error it ends with for any
byte string, including damaged and cut-off ones.
"""

import struct
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field

from amaranth.hdl import Cat, Module, Mux, ResetInserter, Signal
from amaranth.lib import crc, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from ..sw.image import HEADER_WORDS, MAGIC, SECTION_WORDS, VERSION
from .layouts import LAYER_WORDS, Target, WriteCommand, column_slices, pack_bits

__all__ = ["LoaderError", "ImageLoader", "LoaderResult", "loader_model"]

COUNT_BITS = 12           # in_count and out_count, as in the layer descriptor
RECEIVED_BITS = 32
MAGIC_WORDS = struct.unpack("<2H", MAGIC)


class LoaderError(enum.IntEnum, shape=3):
    """Why an image was refused: the loader error codes of docs/protocol.md (the host reads the
    same codes from STATUS and BAD-IMAGE answers: :mod:`tinyeie.sw.protocol` uses this enum)."""

    NONE = 0
    #: The image does not start with ``TEIE``.
    MAGIC = 1
    #: A format version other than :data:`~tinyeie.sw.image.VERSION`.
    VERSION = 2
    #: Packed for other PEs or widths than the engine's.
    CONFIG = 3
    #: Needs more layers, activations, column rows or PE words than the engine has.
    TOO_LARGE = 4
    #: A section names a memory the engine does not have, or runs past its end.
    SECTION = 5
    #: The CRC-32 trailer does not match the bytes before it.
    CRC = 6
    #: The image's length is wrong. The loader never raises it (it cannot know where a stream
    #: should have ended): the host protocol does, from ``busy``, ``done`` and ``received``.
    LENGTH = 7


def _section_depth(config, target, slice_):
    """Words of the memory ``(target, slice_)`` names, or None if the engine has no such one."""
    if target == Target.PE and slice_ < config.pes:
        return config.pe_depth
    if target == Target.COLUMNS and slice_ < column_slices(config.pes):
        return config.col_depth
    if target == Target.LAYERS and slice_ == 0:
        return LAYER_WORDS * config.max_layers
    return None


def _header_error(config, k, header):
    """The error header word ``k`` raises, given the words so far (``header[k]`` the latest)."""
    cfg, word = config, header[k]
    if k < 2:
        return LoaderError.MAGIC if word != MAGIC_WORDS[k] else None
    if k == 2:
        return LoaderError.VERSION if word != VERSION else None
    if k in (3, 4, 5, 6):
        want = (cfg.pes, cfg.act_width, cfg.code_width, cfg.acc_width)[k - 3]
        return LoaderError.CONFIG if word != want else None
    limits = {7: cfg.act_depth, 8: cfg.max_layers, 9: cfg.col_depth, 13: cfg.act_depth,
              14: cfg.act_depth}
    if k in limits:
        return LoaderError.TOO_LARGE if word > limits[k] else None
    if k == 11:
        return LoaderError.TOO_LARGE if header[10] | word << 16 > cfg.pe_depth else None
    return None


@dataclass
class LoaderResult:
    """What :func:`loader_model` predicts: the loader's writes and outputs after an image.

    Members
    -------
    commands : list of int
        The ``o_model`` payloads (``WriteCommand`` as integers), in order.
    done : bool
        The image ended or failed; False if the bytes stopped first (the loader still busy).
    error : LoaderError
    in_count, out_count : int
        From the header, 12 bits each (0 if it never got that far). The loader's outputs only
        equal them once ``ok``: it does not clear them on ``start``.
    """

    commands: list = field(default_factory=list)
    done: bool = False
    error: LoaderError = LoaderError.NONE
    in_count: int = 0
    out_count: int = 0

    @property
    def ok(self):
        return self.done and self.error == LoaderError.NONE


class _Ended(Exception):
    pass


def loader_model(image, config):
    """What an :class:`ImageLoader` built for ``config`` does with the bytes ``image``.

    Every check happens when the word it needs is complete, in stream order, so the first one
    failing decides the error; the writes made until then stay made. Bytes after the image are
    ignored, and an image that stops early leaves the loader busy (``done`` False).

    >>> from tinyeie.sw.config import EngineConfig
    >>> loader_model(b"TEIF" + bytes(40), EngineConfig()).error
    <LoaderError.MAGIC: 1>
    """
    words = iter(struct.unpack(f"<{len(image) // 2}H", image[:len(image) // 2 * 2]))
    result = LoaderResult()
    taken = 0

    def word():
        nonlocal taken
        try:
            value = next(words)
        except StopIteration:
            raise _Ended from None
        taken += 1
        return value

    def fail(error):
        result.done, result.error = True, error
        return result

    try:
        header = []
        for k in range(HEADER_WORDS):
            header.append(word())
            # The counts are kept as their words arrive, checked or not (`ok` says).
            if k == 13:
                result.in_count = header[k] & (1 << COUNT_BITS) - 1
            if k == 14:
                result.out_count = header[k] & (1 << COUNT_BITS) - 1
            error = _header_error(config, k, header)
            if error is not None:
                return fail(error)
        for _ in range(header[12]):
            kind = word()
            target, slice_ = kind & 0xFF, kind >> 8
            depth = _section_depth(config, target, slice_)
            if depth is None:
                return fail(LoaderError.SECTION)
            base, count = word(), word()
            if base + count > depth:
                return fail(LoaderError.SECTION)
            for k in range(count):
                result.commands.append(pack_bits(
                    WriteCommand, data=word(),
                    addr={"word": base + k, "slice": slice_, "target": target}))
        body_bytes = 2 * taken
        trailer = word() | word() << 16
        if trailer != zlib.crc32(image[:body_bytes]):
            return fail(LoaderError.CRC)
        result.done = True
        return result
    except _Ended:
        return result


class _Rule(enum.Enum, shape=2):
    """How :class:`ImageLoader` checks a header word against its bound."""

    NONE = 0
    EQUAL = 1
    AT_MOST = 2
    #: The low half of a two-word number checked with AT_MOST by the next word.
    LOW_HALF = 3


def _header_rules(config):
    """``(rule, bound, error)`` per header word, for :class:`ImageLoader`'s check table."""
    cfg = config
    rules = [(_Rule.NONE, 0, LoaderError.NONE)] * HEADER_WORDS
    rules[0:3] = [(_Rule.EQUAL, MAGIC_WORDS[0], LoaderError.MAGIC),
                  (_Rule.EQUAL, MAGIC_WORDS[1], LoaderError.MAGIC),
                  (_Rule.EQUAL, VERSION, LoaderError.VERSION)]
    rules[3:7] = [(_Rule.EQUAL, value, LoaderError.CONFIG)
                  for value in (cfg.pes, cfg.act_width, cfg.code_width, cfg.acc_width)]

    def at_most(limit):
        # A word cannot exceed 0xFFFF (and 1 << 16 does not fit the bound).
        if limit >= 0xFFFF:
            return (_Rule.NONE, 0, LoaderError.NONE)
        return (_Rule.AT_MOST, limit, LoaderError.TOO_LARGE)

    rules[7:12] = [at_most(cfg.act_depth), at_most(cfg.max_layers), at_most(cfg.col_depth),
                   (_Rule.LOW_HALF, cfg.pe_depth & 0xFFFF, LoaderError.NONE),
                   at_most(cfg.pe_depth >> 16)]
    rules[13:15] = [at_most(cfg.act_depth)] * 2
    return rules


class ImageLoader(wiring.Component):
    """Checks a model image byte by byte and writes its sections into the engine.

    The image format is ``sw/image.py``'s; :func:`loader_model` is this block's Python model.
    Checks run in stream order, each when its word is complete: magic, version, the engine
    parameters (PEs and widths equal ``config``'s), the sizes (at most ``config``'s; also the
    input and output counts at most ``act_depth``), each section's memory and range, and last
    the CRC-32 of every byte before the trailer. The first failing check ends the image.

    Parameters
    ----------
    config : :class:`~tinyeie.sw.config.EngineConfig`
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
    """

    def __init__(self, config):
        self._config = config
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
        })

    @property
    def config(self):
        return self._config

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
        crc_unit = crc.catalog.CRC32_ISO_HDLC(data_width=8).create()
        # Restarted through its reset rather than its `start`: `start` may come with a byte,
        # which puts a multiplexer in front of every XOR tree (60 LUTs); here it never does.
        m.submodules.crc = ResetInserter(self.start)(crc_unit)

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
        with m.If(self.start):
            # (in_count and out_count are not cleared: that costs 20 LUTs, and `ok` says.)
            m.d.sync += [self.received.eq(0), high.eq(0), idx.eq(0), self.done.eq(0),
                         self.ok.eq(0), self.error.eq(LoaderError.NONE)]

        # The header's check table, and the verdict on the word against its row.
        rule = Signal(_Rule)
        bound = Signal(16)
        code = Signal(LoaderError)
        with m.Switch(idx):
            for k, (rule_k, bound_k, code_k) in enumerate(_header_rules(cfg)):
                with m.Case(k):
                    m.d.comb += [rule.eq(rule_k), bound.eq(bound_k), code.eq(code_k)]
        equal = word == bound
        above = word > bound
        low_above = Signal()    # a LOW_HALF word was above its bound (decides a tie above it)
        header_bad = (((rule == _Rule.EQUAL) & ~equal)
                      | ((rule == _Rule.AT_MOST) & (above | (equal & low_above))))

        kind_target, kind_slice = word[:8], word[8:]
        kind_ok = (((kind_target == Target.PE) & (kind_slice < cfg.pes))
                   | ((kind_target == Target.COLUMNS) & (kind_slice < column_slices(cfg.pes)))
                   | ((kind_target == Target.LAYERS) & (kind_slice == 0)))
        depth = Mux(target == Target.PE, cfg.pe_depth,
                    Mux(target == Target.COLUMNS, cfg.col_depth, LAYER_WORDS * cfg.max_layers))
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
                    m.d.sync += [idx.eq(idx + 1), low_above.eq((rule == _Rule.LOW_HALF) & above)]
                    # The counts are kept whether their checks pass or not (`ok` says).
                    with m.Switch(idx):
                        with m.Case(12):
                            m.d.sync += sections.eq(word)
                        with m.Case(13):
                            m.d.sync += self.in_count.eq(word)
                        with m.Case(14):
                            m.d.sync += self.out_count.eq(word)
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
                        with m.Case(0):
                            m.d.sync += [target.eq(kind_target), slice_.eq(kind_slice)]
                            with m.If(~kind_ok):
                                fail(LoaderError.SECTION)
                        with m.Case(1):
                            m.d.sync += addr.eq(word)
                        with m.Case(SECTION_WORDS - 1):
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
                m.d.sync += [self.done.eq(1), self.ok.eq(crc_unit.match_detected),
                             self.error.eq(Mux(crc_unit.match_detected, LoaderError.NONE,
                                               LoaderError.CRC))]
                m.next = "IDLE"
        m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
        return m
