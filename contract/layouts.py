"""Bit layouts shared by the RTL and the compiler: the one source of truth for both.

The compiler packs with ``Layout.const(...).as_bits()``; the RTL views memory words through the
same layouts. docs/engine.md describes them for readers outside Python.
"""

import numpy as np
from amaranth.hdl import Shape, unsigned
from amaranth.lib import data

__all__ = ["Entry", "ColumnRow", "Descriptor", "WriteAddr", "WriteCommand", "Target",
           "DESCRIPTOR_WORDS", "LAYER_WORDS", "CODEBOOK_OFFSET", "SLICE_BITS", "COUNT_BITS",
           "SHIFT_BITS", "MAX_SHIFT", "INDEX_BITS", "CODEBOOK_SIZE", "REL_BITS", "ENTRY_BITS",
           "ENTRIES_PER_WORD", "BASE_UNIT", "OFFSET_BITS", "MAX_OFFSET", "column_slices",
           "run_start", "pack_entries", "unpack_entries", "pack_bits", "unpack_bits", "to_words",
           "from_words", "to_signed"]

SLICE_BITS = 16        # every memory is written 16 bits at a time
LAYER_WORDS = 32       # layer table words per layer
CODEBOOK_OFFSET = 16   # the codebook's first word within a layer's words


class Entry(data.Struct):
    """One stored weight of a PE's column run: one byte of the PE memory.

    ``v`` indexes the layer's codebook (0: zero weight, used by fillers), ``z`` counts the PE's
    zero rows skipped before it. Entries are packed two to a 16-bit word, the entry at byte
    address ``b`` in word ``b // 2``, bits ``8 * (b % 2)`` up (:func:`pack_entries`). Where a
    run starts and ends is the column table's business (:class:`ColumnRow`), not the entries'.
    """

    v: 4
    z: 4


ENTRY_BITS = Entry.as_shape().size
ENTRIES_PER_WORD = SLICE_BITS // ENTRY_BITS

#: ``ColumnRow.base`` counts units of this many bytes (entries) of a PE memory: it is a word
#: address, so a PE memory of up to 2**16 words can be reached.
BASE_UNIT = ENTRIES_PER_WORD
#: Bits of a PE's offset from ``BASE_UNIT * base``.
OFFSET_BITS = 4
MAX_OFFSET = (1 << OFFSET_BITS) - 1


def ColumnRow(pes):
    """One row of the column table: where every PE's run of a column starts.

    PE ``p``'s run of the column starts at byte :func:`run_start` ``= BASE_UNIT * base +
    offset[p]`` of its memory and ends where its run of the next column starts (the next row;
    the table has a row after the last column for that). One shared base and a small offset per
    PE, rather than a pointer per PE as in EIE: the compiler keeps every PE's next run within
    ``MAX_OFFSET`` bytes of the same base, padding the lagging PEs when they drift apart.
    """
    return data.StructLayout({"base": 16, "offset": data.ArrayLayout(OFFSET_BITS, pes)})


def run_start(row, pe):
    """The byte address where PE ``pe``'s run starts, from a :class:`ColumnRow`'s fields."""
    return BASE_UNIT * row["base"] + row["offset"][pe]


class Descriptor(data.Struct):
    """One layer of the layer table (words 0..4 of the layer): see docs/engine.md."""

    in_count: 12
    out_count: 12
    col_base: 16
    bias_base: 16
    shift: 5
    bias_shift: 4
    relu: 1
    last: 1


DESCRIPTOR_WORDS = -(-Descriptor.as_shape().size // SLICE_BITS)
assert DESCRIPTOR_WORDS <= CODEBOOK_OFFSET

# Widths that follow from the layouts: the rest of tinyeie takes them from here.
COUNT_BITS = Descriptor.as_shape()["in_count"].width       # a layer's inputs or outputs
SHIFT_BITS = Descriptor.as_shape()["shift"].width          # the requantisation shift
MAX_SHIFT = (1 << SHIFT_BITS) - 1
INDEX_BITS = Entry.as_shape()["v"].width                   # a codebook index
CODEBOOK_SIZE = 1 << INDEX_BITS
REL_BITS = Entry.as_shape()["z"].width                     # a relative (zero-run) index
assert CODEBOOK_OFFSET + CODEBOOK_SIZE <= LAYER_WORDS


class Target:
    """``WriteAddr.target`` values: which memory a write goes to."""

    PE = 0          # slice = PE index
    COLUMNS = 1     # slice = 16-bit slice of the column-table row
    LAYERS = 2      # word = LAYER_WORDS * layer + k


class WriteAddr(data.Struct):
    word: 16
    slice: 6
    target: 2


class WriteCommand(data.Struct):
    addr: WriteAddr
    data: unsigned(SLICE_BITS)


def column_slices(pes):
    """16-bit slices of a column-table row (:class:`ColumnRow`): the base in slice 0, then the
    offsets of four PEs a slice."""
    return -(-ColumnRow(pes).size // SLICE_BITS)


def pack_entries(entries):
    """The 16-bit words that hold a sequence of :class:`Entry` bytes, two to a word (a final odd
    byte is paired with a zero).

    >>> pack_entries([0x12, 0x34, 0x56])
    [13330, 86]
    """
    entries = list(entries) + [0] * (len(entries) % ENTRIES_PER_WORD)
    return [sum(int(e) << ENTRY_BITS * k for k, e in enumerate(entries[w:w + ENTRIES_PER_WORD]))
            for w in range(0, len(entries), ENTRIES_PER_WORD)]


def unpack_entries(words):
    """The :class:`Entry` bytes of 16-bit words, as a uint8 array (byte address order)."""
    words = np.asarray(words, dtype=np.uint16)
    return np.stack([(words >> ENTRY_BITS * k) & ((1 << ENTRY_BITS) - 1)
                     for k in range(ENTRIES_PER_WORD)], axis=-1).reshape(-1).astype(np.uint8)


def pack_bits(layout, **fields):
    """The integer a ``layout`` with these field values is stored as."""
    return data.Layout.cast(layout).const(fields).as_bits()


def unpack_bits(layout, bits):
    """The field values of an integer stored with ``layout``, as a dict of ints."""
    layout = data.Layout.cast(layout)
    out = {}
    for name, field in layout:
        raw = (bits >> field.offset) & ((1 << field.width) - 1)
        if isinstance(field.shape, data.Layout):
            fields = unpack_bits(field.shape, raw)
            # An array's elements as a list, in index order.
            out[name] = ([fields[k] for k in range(len(fields))]
                         if isinstance(field.shape, data.ArrayLayout) else fields)
            continue
        if Shape.cast(field.shape).signed and raw >> (field.width - 1):
            raw -= 1 << field.width
        out[name] = raw
    return out


def to_words(bits, count):
    """The ``count`` 16-bit words an integer is stored as, lowest first."""
    return [(bits >> (SLICE_BITS * k)) & ((1 << SLICE_BITS) - 1) for k in range(count)]


def from_words(words):
    """The integer stored as these 16-bit words, lowest first."""
    return sum(int(w) << (SLICE_BITS * k) for k, w in enumerate(words))


def to_signed(values, bits):
    """``values`` (ints or an array) read as ``bits``-bit two's complement numbers: the value a
    register of that width holds."""
    values = np.asarray(values, dtype=np.int64) & ((1 << bits) - 1)
    return np.where(values >> (bits - 1), values - (1 << bits), values)
