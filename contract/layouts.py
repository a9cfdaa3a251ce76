"""Bit layouts shared by the RTL and the compiler: the one source of truth for both.

The compiler packs with ``Layout.const(...).as_bits()``; the RTL views memory words through the
same layouts. docs/engine.md describes them for readers outside Python.
"""

import numpy as np
from amaranth.hdl import Shape, unsigned
from amaranth.lib import data

__all__ = ["Entry", "Descriptor", "WriteAddr", "WriteCommand", "Target",
           "DESCRIPTOR_WORDS", "LAYER_WORDS", "CODEBOOK_OFFSET", "SLICE_BITS", "COUNT_BITS",
           "SHIFT_BITS", "MAX_SHIFT", "INDEX_BITS", "CODEBOOK_SIZE", "REL_BITS",
           "column_slices", "mask_slices", "pack_bits", "unpack_bits", "to_words", "from_words",
           "to_signed"]

SLICE_BITS = 16        # every memory is written 16 bits at a time
LAYER_WORDS = 32       # layer table words per layer
CODEBOOK_OFFSET = 16   # the codebook's first word within a layer's words


class Entry(data.Struct):
    """One stored weight of a PE's column run (bits 0..8 of a PE memory word).

    ``v`` indexes the layer's codebook (0: zero weight, used by fillers), ``z`` counts the PE's
    zero rows skipped before it, ``next_last``: the entry after this one ends the run. (A run
    of one entry is marked in the column table instead.) The PE so knows whether the entry it
    reads ends the run before the word arrives, and chooses the next address from registers.
    """

    v: 4
    z: 4
    next_last: 1


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


def mask_slices(pes):
    """16-bit slices of one per-PE bit mask of a column-table row."""
    return -(-pes // SLICE_BITS)


def column_slices(pes):
    """16-bit slices of a column-table row: the pointer, the mask of PEs with entries in the
    column, the mask of PEs with exactly one."""
    return 1 + 2 * mask_slices(pes)


def pack_bits(layout, **fields):
    """The integer a ``layout`` with these field values is stored as."""
    return data.Layout.cast(layout).const(fields).as_bits()


def unpack_bits(layout, bits):
    """The field values of an integer stored with ``layout``, as a dict of ints."""
    layout = data.Layout.cast(layout)
    out = {}
    for name, field in layout:
        raw = (bits >> field.offset) & ((1 << field.width) - 1)
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
