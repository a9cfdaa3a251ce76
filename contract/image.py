"""The model image (``model.bin``): its layout and the one definition of what a loader accepts.

An image is little-endian 16-bit words:

* the header, :class:`ImageHeader` (16 words);
* sections, each a :class:`SectionHeader` (``target``, ``slice``, ``base``, ``count``) then
  ``count`` data words, written to words ``base .. base + count - 1`` of the memory
  ``(target, slice)`` names (:class:`~tinyeie.contract.layouts.Target`; docs/engine.md,
  "Write port");
* the trailer: ``zlib.crc32`` of every byte before it, as 2 words (low, high).

The compiler writes images (:mod:`tinyeie.sw.compiler.image`), the gateware loader
(:class:`tinyeie.hw.loader.ImageLoader`) checks them as their bytes arrive, and
:func:`loader_model` says what that loader does with any byte string: the checks, in stream
order, are :func:`header_rules` and :func:`section_depth`, used by both; with the model check
(the ECP5 boards' loader, and ``read_image``) also the header's declared sizes and, after the
CRC, the structure rules of :mod:`tinyeie.contract.structure`.
"""

import enum
import struct
import zlib
from dataclasses import dataclass, field

from amaranth.lib import data

from .layouts import (
    COUNT_BITS,
    LAYER_WORDS,
    SLICE_BITS,
    Target,
    WriteCommand,
    column_slices,
    from_words,
    pack_bits,
    to_words,
)
from .protocol import LoaderError
from .structure import declared_depth, structure_fault, written_memories

__all__ = ["MAGIC", "VERSION", "ImageHeader", "SectionHeader", "HEADER_WORDS", "SECTION_WORDS",
           "TRAILER_WORDS", "MAX_SECTION", "COUNT_BITS", "header_words", "read_header",
           "field_word", "memories", "section_depth", "HeaderRule", "header_rules", "LoaderResult",
           "loader_model", "max_image_bytes", "load_length_bits"]

MAGIC = b"TEIE"
#: 3: 8-bit entries two a word, runs found by a shared base and per-PE offsets (2: one 9-bit
#: entry a word with next_last, runs padded to the longest PE's; 1: a last bit)
VERSION = 3
MAX_SECTION = 0xFFFF    # data words of one section (its count is one word)
TRAILER_WORDS = 2


class ImageHeader(data.Struct):
    """The image's first 16 words. ``pes`` .. ``acc_width``: the engine it was packed for;
    ``act_depth``, ``layers``, ``column_rows``, ``pe_words``: what it needs of the memories;
    ``in_count``, ``out_count``: the first layer's inputs and the last layer's outputs."""

    magic: 32
    version: 16
    pes: 16
    act_width: 16
    code_width: 16
    acc_width: 16
    act_depth: 16
    layers: 16
    column_rows: 16
    pe_words: 32
    sections: 16
    in_count: 16
    out_count: 16
    reserved: 16


class SectionHeader(data.Struct):
    """The three words before a section's data."""

    target: 8
    slice: 8
    base: 16
    count: 16


HEADER_WORDS = ImageHeader.as_shape().size // SLICE_BITS
SECTION_WORDS = SectionHeader.as_shape().size // SLICE_BITS
MAGIC_VALUE = struct.unpack("<I", MAGIC)[0]


def header_words(**fields):
    """The 16 header words for these :class:`ImageHeader` fields (magic and version filled in,
    the rest 0 unless given)."""
    values = {name: 0 for name, _ in data.Layout.cast(ImageHeader)}
    values.update(magic=MAGIC_VALUE, version=VERSION, **fields)
    return to_words(pack_bits(ImageHeader, **values), HEADER_WORDS)


def read_header(words):
    """The :class:`ImageHeader` fields of the first 16 words, as a dict of ints."""
    layout = data.Layout.cast(ImageHeader)
    bits = from_words(words[:HEADER_WORDS])
    return {name: (bits >> f.offset) & ((1 << f.width) - 1) for name, f in layout}


def field_word(layout, name):
    """The word a field of ``layout`` starts in (fields start on word boundaries)."""
    offset = data.Layout.cast(layout)[name].offset
    assert offset % SLICE_BITS == 0, name
    return offset // SLICE_BITS


def memories(config):
    """``{target: (slices, depth)}``: the memories a section may write in an engine built with
    ``config``, each ``slices`` memories of ``depth`` 16-bit words."""
    return {Target.PE: (config.pes, config.pe_depth),
            Target.COLUMNS: (column_slices(config.pes), config.col_depth),
            Target.LAYERS: (1, LAYER_WORDS * config.max_layers)}


def section_depth(config, target, slice_):
    """Words of the memory ``(target, slice_)`` names, or None if the engine has no such one."""
    slices, depth = memories(config).get(target, (0, 0))
    return depth if slice_ < slices else None


class HeaderRule(enum.IntEnum):
    """How a header word is checked against its bound."""

    NONE = 0
    EQUAL = 1
    AT_MOST = 2
    #: The low half of a two-word number, checked with AT_MOST by the next word.
    LOW_HALF = 3


def header_rules(config):
    """``(rule, bound, error)`` for each header word: the loader's checks of an image's header
    against the engine ``config`` it loads into, in the order the words arrive.

    The engine's parameters must be equal, its sizes at least the image's needs.
    """
    cfg = config
    equal = {"magic": (MAGIC_VALUE, LoaderError.MAGIC), "version": (VERSION, LoaderError.VERSION),
             "pes": (cfg.pes, LoaderError.CONFIG), "act_width": (cfg.act_width, LoaderError.CONFIG),
             "code_width": (cfg.code_width, LoaderError.CONFIG),
             "acc_width": (cfg.acc_width, LoaderError.CONFIG)}
    at_most = {"act_depth": cfg.act_depth, "layers": cfg.max_layers,
               "column_rows": cfg.col_depth, "pe_words": cfg.pe_depth,
               "in_count": cfg.act_depth, "out_count": cfg.act_depth}
    rules = []
    for name, f in data.Layout.cast(ImageHeader):
        count = f.width // SLICE_BITS
        if name in equal:
            value, error = equal[name]
            rules += [(HeaderRule.EQUAL, w, error) for w in to_words(value, count)]
        elif name in at_most:
            low, high = to_words(at_most[name], count), at_most[name] >> SLICE_BITS * (count - 1)
            rules += [(HeaderRule.LOW_HALF, w, LoaderError.NONE) for w in low[:-1]]
            # A word cannot exceed 0xFFFF (and a bound of 1 << 16 does not fit a word).
            rules.append((HeaderRule.AT_MOST, high, LoaderError.TOO_LARGE) if high < 0xFFFF
                         else (HeaderRule.NONE, 0, LoaderError.NONE))
        else:
            rules += [(HeaderRule.NONE, 0, LoaderError.NONE)] * count
    return rules


@dataclass
class LoaderResult:
    """What :func:`loader_model` predicts: the loader's writes and outputs after an image.

    Members
    -------
    sections : list of (target, slice, base, list of int)
        The sections written, in order; the last one cut short where the bytes stopped or a
        check failed.
    done : bool
        The image ended or failed; False if the bytes stopped first (the loader still busy).
    error : LoaderError
    detail : str
        What failed, in words ("" unless it did).
    length : int
        Bytes up to the end of the trailer, once the trailer has been read.
    in_count, out_count : int
        From the header, :data:`COUNT_BITS` each (0 if it never got that far). The loader's
        outputs only equal them once ``ok``: it does not clear them on ``start``.
    memories : tuple or None
        With ``check_model``, once the CRC matched: ``(layer_table, columns, pe_words)`` as the
        sections leave them (:func:`~tinyeie.contract.structure.written_memories`).
    """

    sections: list = field(default_factory=list)
    done: bool = False
    error: LoaderError = LoaderError.NONE
    detail: str = ""
    length: int = 0
    in_count: int = 0
    out_count: int = 0
    memories: tuple = None

    @property
    def ok(self):
        return self.done and self.error == LoaderError.NONE

    @property
    def commands(self):
        """The engine writes the loader makes, as ``WriteCommand`` integers, in order."""
        return [pack_bits(WriteCommand, data=w,
                          addr={"word": base + k, "slice": slice_, "target": target})
                for target, slice_, base, words in self.sections for k, w in enumerate(words)]


class _Ended(Exception):
    pass


def loader_model(image, config, check_model=False):
    """What the gateware loader built for ``config`` does with the bytes ``image``.

    Every check happens when the word it needs is complete, in stream order, so the first one
    failing decides the error; the writes made until then stay made. Bytes after the image are
    ignored, and an image that stops early leaves the loader busy (``done`` False).

    With ``check_model`` (a board built with the model check, and every reader of images), a
    section must also lie inside the words its header declares of the memory
    (:func:`~tinyeie.contract.structure.declared_depth`), and once the CRC matches, the memories
    as the sections leave them written over zeros must pass
    :func:`~tinyeie.contract.structure.structure_fault` (else ``MODEL``).

    >>> from tinyeie.contract.config import EngineConfig
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

    def fail(error, detail):
        result.done, result.error, result.detail = True, error, detail
        return result

    count_mask = (1 << COUNT_BITS) - 1
    in_word, out_word = field_word(ImageHeader, "in_count"), field_word(ImageHeader, "out_count")
    try:
        header, low_above = [], False
        for k, (rule, bound, error) in enumerate(header_rules(config)):
            w = word()
            header.append(w)
            # The counts are kept as their words arrive, checked or not (`ok` says).
            if k == in_word:
                result.in_count = w & count_mask
            if k == out_word:
                result.out_count = w & count_mask
            if ((rule == HeaderRule.EQUAL and w != bound)
                    or (rule == HeaderRule.AT_MOST and (w > bound or (w == bound and low_above)))):
                return fail(error, _header_detail(header, config))
            low_above = rule == HeaderRule.LOW_HALF and w > bound
        n_sections = read_header(header)["sections"]
        for s in range(n_sections):
            kind = word()
            target, slice_ = kind & 0xFF, kind >> 8
            depth = section_depth(config, target, slice_)
            if depth is None:
                return fail(LoaderError.SECTION, f"section {s} targets memory {target}, slice "
                            f"{slice_}, which a {config.pes}-PE engine does not have")
            if check_model:
                depth = declared_depth(read_header(header), target)
            base, count = word(), word()
            if base + count > depth:
                mine = "the header declares" if check_model else "the engine has"
                return fail(LoaderError.SECTION, f"section {s} writes words {base}.."
                            f"{base + count - 1} of memory {target}, slice {slice_}, of which "
                            f"{mine} {depth}")
            written = []
            result.sections.append((target, slice_, base, written))
            for _ in range(count):
                written.append(word())
        body_bytes = 2 * taken
        trailer = word() | word() << 16
        result.length = 2 * taken
        crc = zlib.crc32(image[:body_bytes])
        if trailer != crc:
            return fail(LoaderError.CRC, f"its CRC-32 is {crc:#010x} but the image says "
                        f"{trailer:#010x} (corrupted)")
        if check_model:
            h = read_header(header)
            result.memories = written_memories(h, result.sections, config.pes)
            fault = structure_fault(config, *result.memories, in_count=h["in_count"],
                                    out_count=h["out_count"])
            if fault:
                return fail(LoaderError.MODEL, fault)
        result.done = True
        return result
    except _Ended:
        return result


def _header_detail(header, config):
    """Why the header so far fails :func:`header_rules`, in words."""
    k = len(header) - 1
    name = next(n for n, f in data.Layout.cast(ImageHeader)
                if f.offset // SLICE_BITS <= k < (f.offset + f.width) // SLICE_BITS)
    if name == "magic":
        start = struct.pack(f"<{len(header)}H", *header)
        return f"it starts with {start!r}, expected {MAGIC!r}"
    value = from_words(header[field_word(ImageHeader, name):])
    if name == "version":
        older = " (made by an older tinyeie)" if value < VERSION else ""
        return (f"it is image format version {value}{older}, this tinyeie reads version "
                f"{VERSION}: pack the model again with `tinyeie pack`")
    engine = {"act_depth": "act_depth", "layers": "max_layers", "column_rows": "col_depth",
              "pe_words": "pe_depth", "in_count": "act_depth", "out_count": "act_depth"}
    if name in engine:
        return (f"the model needs {name} = {value:,}, the engine has {engine[name]} = "
                f"{getattr(config, engine[name]):,}")
    return (f"the model image was packed for {name}={value}, the engine has "
            f"{name}={getattr(config, name)}: pack it again with the engine's parameters")


def max_image_bytes(config):
    """The length of the largest model image an engine built with ``config`` can take.

    Every memory full, in as few sections as the compiler cuts them into.
    """
    c = config
    pe_sections = -(-c.pe_depth // MAX_SECTION)
    slices = column_slices(c.pes)
    words = (HEADER_WORDS + c.pes * (c.pe_depth + SECTION_WORDS * pe_sections)
             + slices * (c.col_depth + SECTION_WORDS) + LAYER_WORDS * c.max_layers + SECTION_WORDS
             + TRAILER_WORDS)
    return 2 * words


def load_length_bits(config):
    """Bits of an image length the board keeps: LOAD-START may announce less than ``2**bits``.

    A longer announcement cannot be an image for this engine: the board refuses it with
    BAD-IMAGE and loader error TOO-LARGE.
    """
    return max_image_bytes(config).bit_length()
