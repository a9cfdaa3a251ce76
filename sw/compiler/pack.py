"""The compiler: integer layers -> the engine's memory contents (docs/engine.md, "Memories").

:func:`pack` lays out every layer's per-PE column runs behind one shared column pointer, the
biases, the column table and the layer table (descriptors and codebooks), refusing anything that
does not fit the configured memories. :func:`unpack` reads the memories back into
:class:`~tinyeie.sw.compiler.golden.IntLayer` s, so pack then unpack is the identity.
"""

from dataclasses import dataclass, field

import numpy as np

from tinyeie.contract.config import EngineConfig
from tinyeie.contract.errors import TinyeieError
from tinyeie.contract.layouts import (
    CODEBOOK_OFFSET,
    CODEBOOK_SIZE,
    DESCRIPTOR_WORDS,
    LAYER_WORDS,
    REL_BITS,
    SLICE_BITS,
    Descriptor,
    Entry,
    column_slices,
    from_words,
    mask_slices,
    pack_bits,
    to_signed,
    to_words,
    unpack_bits,
)
from tinyeie.sw.compiler.golden import IntLayer, check_chain
from tinyeie.sw.compress.sparse import pe_rows, relative_encode

__all__ = ["PackedModel", "pack", "unpack", "read_run", "column_row", "layer_descriptor",
           "layer_codebook"]

WORD_MASK = (1 << SLICE_BITS) - 1


@dataclass
class PackedModel:
    """The contents of every engine memory, as 16-bit words.

    ``pe_words[p]``: PE ``p``'s memory (entries, then biases), as long as the highest word used;
    ``columns``: (rows, slices) column table; ``layer_table``: ``LAYER_WORDS`` words per layer.
    ``stats``: per-layer sizes for the manifest.
    """

    config: EngineConfig
    pe_words: list
    columns: np.ndarray
    layer_table: np.ndarray
    stats: list = field(default_factory=list)

    @property
    def n_layers(self):
        return len(self.layer_table) // LAYER_WORDS


def layer_descriptor(packed, layer):
    """The :class:`~tinyeie.contract.layouts.Descriptor` fields of ``layer`` as a dict."""
    base = LAYER_WORDS * layer
    return unpack_bits(Descriptor, from_words(packed.layer_table[base:base + DESCRIPTOR_WORDS]))


def layer_codebook(packed, layer):
    """The signed codes of ``layer``'s codebook."""
    base = LAYER_WORDS * layer + CODEBOOK_OFFSET
    return to_signed(packed.layer_table[base:base + CODEBOOK_SIZE], packed.config.code_width)


def column_row(packed, row):
    """``(ptr, mask, single)`` of a column-table row: the run pointer, the PEs with entries in
    the column and the PEs with exactly one."""
    words, k = packed.columns[row], mask_slices(packed.config.pes)
    return int(words[0]), from_words(words[1:1 + k]), from_words(words[1 + k:1 + 2 * k])


def _encode_run(column):
    """One PE's run for one column: the Entry words, ``next_last`` set on the one before the
    final one."""
    positions = np.flatnonzero(column)
    v, z = relative_encode(positions, column[positions], REL_BITS)
    words = [pack_bits(Entry, v=int(vi), z=int(zi), next_last=0) for vi, zi in zip(v, z)]
    if len(words) >= 2:
        words[-2] |= pack_bits(Entry, v=0, z=0, next_last=1)
    return words


def read_run(words, ptr, limit, single):
    """Walk a run from ``ptr`` as the PE does: ``(local rows, codebook indices)`` of its entries
    (fillers included). ``single``: the column table says the run is one entry. Raises if the
    run does not end before ``limit``."""
    rows, codes, row = [], [], -1
    addr, ends = ptr, bool(single)
    while True:
        if addr >= min(limit, len(words)):
            raise TinyeieError(f"the column run starting at word {ptr} does not end before the "
                               f"end of the PE memory")
        e = unpack_bits(Entry, int(words[addr]))
        row += e["z"] + 1
        rows.append(row)
        codes.append(e["v"])
        if ends:
            return np.array(rows), np.array(codes)
        ends = bool(e["next_last"])
        addr += 1


def _check_fits(what, used, capacity, hint):
    if used > capacity:
        raise TinyeieError(f"the model does not fit: {what} needs {used:,}, the engine has "
                           f"{capacity:,} ({hint})")


def pack(layers, cfg=EngineConfig()):
    """Lay ``layers`` (a chain of :class:`IntLayer`) out in the engine's memories."""
    n, k, slices = cfg.pes, mask_slices(cfg.pes), column_slices(cfg.pes)
    check_chain(layers)
    _check_fits("layers", len(layers), cfg.max_layers, "max_layers")
    for i, layer in enumerate(layers):
        rows, cols = layer.shape
        for what, count in (("inputs", cols), ("outputs", rows)):
            _check_fits(f"layer {i}'s {count} {what}", count, cfg.act_depth,
                        "act_depth: the widest layer the activation memories hold")
        if layer.last != (i == len(layers) - 1):
            raise TinyeieError(f"layer {i}: only the final layer may be marked last")
    _check_fits("the column table (one row per layer input)",
                sum(layer.shape[1] for layer in layers), cfg.col_depth, "col_depth")

    pe_words = [[] for _ in range(n)]
    columns, layer_table, stats = [], [], []
    cursor = 0
    for i, layer in enumerate(layers):
        rows, cols = layer.shape
        col_base, layer_start = len(columns), cursor
        padding = 0
        for j in range(cols):
            runs = [_encode_run(layer.index[p::n, j]) for p in range(n)]
            length = max(len(r) for r in runs)
            mask = sum(1 << p for p, r in enumerate(runs) if r)
            single = sum(1 << p for p, r in enumerate(runs) if len(r) == 1)
            columns.append(to_words(cursor if length else 0, 1) + to_words(mask, k)
                           + to_words(single, k))
            for p, run in enumerate(runs):
                pe_words[p].extend(run + [0] * (length - len(run)))
                padding += length - len(run)
            cursor += length
        bias_base = cursor
        local = -(-rows // n)
        for p in range(n):
            mine = [int(b) & WORD_MASK for b in layer.stored_bias[p::n]]
            pe_words[p].extend(mine + [0] * (local - len(mine)))
        cursor += local
        _check_fits(f"PE memory words (entries and biases, through layer {i})", cursor,
                    cfg.pe_depth, "pe_depth; more PEs spread the entries thinner")
        descriptor = pack_bits(Descriptor, in_count=cols, out_count=rows, col_base=col_base,
                               bias_base=bias_base, shift=layer.shift,
                               bias_shift=layer.bias_shift, relu=int(layer.relu),
                               last=int(layer.last))
        words = np.zeros(LAYER_WORDS, dtype=np.uint16)
        words[:DESCRIPTOR_WORDS] = to_words(descriptor, DESCRIPTOR_WORDS)
        words[CODEBOOK_OFFSET:CODEBOOK_OFFSET + CODEBOOK_SIZE] = (np.asarray(layer.codebook)
                                                                  & WORD_MASK)
        layer_table.extend(words)
        stats.append(dict(shape=[rows, cols], entry_words=bias_base - layer_start,
                          padding_words=padding, bias_words=local, col_base=col_base,
                          bias_base=bias_base, shift=layer.shift, bias_shift=layer.bias_shift,
                          relu=bool(layer.relu), in_frac=layer.in_frac,
                          code_frac=layer.code_frac, out_frac=layer.out_frac))
    return PackedModel(config=cfg,
                       pe_words=[np.array(w, dtype=np.uint16) for w in pe_words],
                       columns=np.array(columns, dtype=np.uint16).reshape(-1, slices),
                       layer_table=np.array(layer_table, dtype=np.uint16), stats=stats)


def unpack(packed):
    """Read the memories back into :class:`IntLayer` s (fracs are not stored: they are 0)."""
    cfg, n = packed.config, packed.config.pes
    layers = []
    for i in range(packed.n_layers):
        d = layer_descriptor(packed, i)
        rows, cols = d["out_count"], d["in_count"]
        index = np.zeros((rows, cols), dtype=np.uint8)
        for j in range(cols):
            ptr, mask, single = column_row(packed, d["col_base"] + j)
            for p in range(n):
                if not mask >> p & 1:
                    continue
                local, codes = read_run(packed.pe_words[p], ptr, cfg.pe_depth, single >> p & 1)
                if local[-1] >= pe_rows(rows, n, p):
                    raise TinyeieError(f"layer {i} column {j}: PE {p}'s run reaches local row "
                                       f"{local[-1]}, past its {pe_rows(rows, n, p)} rows")
                index[local * n + p, j] = codes
        stored = np.zeros(rows, dtype=np.int64)
        for p in range(n):
            mine = packed.pe_words[p][d["bias_base"]:d["bias_base"] + pe_rows(rows, n, p)]
            stored[p::n] = to_signed(mine, SLICE_BITS)
        layer = IntLayer(index=index, codebook=layer_codebook(packed, i), bias=stored,
                         bias_shift=d["bias_shift"], shift=d["shift"], relu=bool(d["relu"]),
                         last=bool(d["last"]), in_frac=0, code_frac=0, out_frac=0)
        layer.bias = stored - layer.rounding_fold
        layers.append(layer)
    return layers
