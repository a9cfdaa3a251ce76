"""The compiler: integer layers -> the engine's memory contents (docs/engine.md, "Memories").

:func:`pack` orders every layer's rows over the PEs (:mod:`tinyeie.sw.compiler.balance`), lays
out each PE's column runs as 8-bit entries packed two to a word, behind the biases, with no
padding beyond what keeps every PE's next run within reach of one shared base
(:class:`~tinyeie.contract.layouts.ColumnRow`); then the column table and the layer table
(descriptors and codebooks). It refuses anything that does not fit the configured memories,
saying which and by how much. :func:`unpack` reads the memories back into
:class:`~tinyeie.sw.compiler.golden.IntLayer` s in the engine's row order, so pack then unpack
gives the layers of :func:`~tinyeie.sw.compiler.balance.order_layers`.
"""

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from tinyeie.contract.config import EngineConfig
from tinyeie.contract.errors import TinyeieError
from tinyeie.contract.layouts import (
    BASE_UNIT,
    CODEBOOK_OFFSET,
    CODEBOOK_SIZE,
    DESCRIPTOR_WORDS,
    ENTRIES_PER_WORD,
    LAYER_WORDS,
    MAX_OFFSET,
    REL_BITS,
    SLICE_BITS,
    ColumnRow,
    Descriptor,
    Entry,
    column_slices,
    from_words,
    pack_bits,
    pack_entries,
    to_signed,
    to_words,
    unpack_bits,
    unpack_entries,
)
from tinyeie.contract.structure import column_starts
from tinyeie.sw.compiler.balance import balance_rows, identity_orders, order_layers
from tinyeie.sw.compiler.golden import IntLayer, check_chain
from tinyeie.sw.compress.sparse import pe_rows, relative_encode

__all__ = ["PackedModel", "pack", "unpack", "read_run", "column_row", "run_bounds",
           "layer_descriptor", "layer_codebook", "pe_entries", "place_runs"]

WORD_MASK = (1 << SLICE_BITS) - 1


@dataclass
class PackedModel:
    """The contents of every engine memory, as 16-bit words.

    ``pe_words[p]``: PE ``p``'s memory (every layer's biases, then the entries two a word), as
    long as the highest word used; ``columns``: (rows, slices) column table; ``layer_table``:
    ``LAYER_WORDS`` words per layer. ``orders``: the original row at each engine position, per
    layer (the last layer's is the identity). ``stats``: per-layer sizes for the manifest.
    """

    config: EngineConfig
    pe_words: list
    columns: np.ndarray
    layer_table: np.ndarray
    orders: list = None
    stats: list = field(default_factory=list)

    @property
    def n_layers(self):
        return len(self.layer_table) // LAYER_WORDS

    @cached_property
    def starts(self):
        """(pes, rows): where each column-table row says each PE's run starts (bytes)."""
        return column_starts(self.columns, self.config.pes)


def layer_descriptor(packed, layer):
    """The :class:`~tinyeie.contract.layouts.Descriptor` fields of ``layer`` as a dict."""
    base = LAYER_WORDS * layer
    return unpack_bits(Descriptor, from_words(packed.layer_table[base:base + DESCRIPTOR_WORDS]))


def layer_codebook(packed, layer):
    """The signed codes of ``layer``'s codebook."""
    base = LAYER_WORDS * layer + CODEBOOK_OFFSET
    return to_signed(packed.layer_table[base:base + CODEBOOK_SIZE], packed.config.code_width)


def column_row(packed, row):
    """The :class:`~tinyeie.contract.layouts.ColumnRow` fields of a column-table row."""
    return unpack_bits(ColumnRow(packed.config.pes), from_words(packed.columns[row]))


def run_bounds(packed, row, pe):
    """``(start, end)``: the bytes of PE ``pe``'s memory that hold its run of the column at
    column-table row ``row`` (empty when equal)."""
    return int(packed.starts[pe, row]), int(packed.starts[pe, row + 1])


def pe_entries(packed, pe):
    """PE ``pe``'s memory as entry bytes, byte address order."""
    return unpack_entries(packed.pe_words[pe])


_V, _Z = Entry.as_shape()["v"], Entry.as_shape()["z"]


def _encode_run(column):
    """One PE's run for one column: its Entry bytes (fillers included), as an array."""
    positions = np.flatnonzero(column)
    v, z = relative_encode(positions, column[positions], REL_BITS)
    return (v.astype(np.int64) << _V.offset) | (z.astype(np.int64) << _Z.offset)


def _field(entries, f):
    return (np.asarray(entries, dtype=np.int64) >> f.offset) & ((1 << f.width) - 1)


def read_run(entries, start, end):
    """Walk a run of entry bytes ``entries[start:end]`` as the PE does: ``(local rows, codebook
    indices)`` of its entries (fillers included), rows counted from -1 by ``z + 1`` each."""
    if not 0 <= start <= end <= len(entries):
        raise TinyeieError(f"a column run covers bytes {start}..{end - 1}, outside the "
                           f"{len(entries)} bytes of the PE memory")
    run = entries[start:end]
    return np.cumsum(_field(run, _Z) + 1) - 1, _field(run, _V)


def place_runs(lengths, start=0, activity=None, longest=None):
    """Where every PE's runs go: ``(bases, starts)`` for runs of ``lengths`` (PEs, columns)
    entries laid out one column after another from byte ``start`` of every PE memory.

    ``starts[p, j]`` is where PE ``p``'s run of column ``j`` starts and ``starts[:, -1]`` where
    its last one ends; ``bases`` the column-table rows' bases: every start lies within
    ``MAX_OFFSET`` bytes above ``BASE_UNIT * bases[j]``. Where a PE falls that far behind the
    others it is padded; the padding ends the run of some column before (the PE walks it as
    entries that add nothing), and goes after the column least often active (``activity``, the
    fraction of inputs where it is non-zero; later columns win ties) within reach, as long as
    that run, with its padding, stays at most ``longest`` bytes (the realigning padding alone
    never takes a run past the longest run of any PE plus ``BASE_UNIT - 1``).
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    pes, cols = lengths.shape
    activity = np.zeros(cols) if activity is None else np.asarray(activity, dtype=float)
    longest = np.inf if longest is None else longest
    bases = np.zeros(cols + 1, dtype=np.int64)
    starts = np.zeros((pes, cols + 1), dtype=np.int64)
    padding = np.zeros((pes, cols + 1), dtype=np.int64)     # padding[p, j]: before row j
    cursor = np.full(pes, start, dtype=np.int64)
    for j in range(cols + 1):
        low, high = int(cursor.min()), int(cursor.max())
        bases[j] = max(low // BASE_UNIT, -(-(high - MAX_OFFSET) // BASE_UNIT))
        moved = np.maximum(cursor, BASE_UNIT * bases[j])
        padding[:, j] = moved - cursor
        starts[:, j] = moved
        if j < cols:
            cursor = moved + lengths[:, j]
    # Move each padding back to the boundary after the least active column it can reach:
    # raising a lagging PE earlier keeps it within the window as long as it stays below the
    # window's top at every row in between.
    top = BASE_UNIT * bases + MAX_OFFSET
    for p in range(pes):
        for j in np.flatnonzero(padding[p]):
            need = int(padding[p, j])
            while need:
                best, room, reach = j, 0, np.inf
                for k in range(j - 1, 0, -1):
                    reach = min(reach, top[k] - starts[p, k])
                    if reach <= 0:
                        break
                    slack = longest - (starts[p, k] - starts[p, k - 1])
                    if slack > 0 and activity[k - 1] < activity[best - 1]:
                        best, room = k, int(min(reach, slack))
                if best == j:
                    break
                amount = min(need, room)
                padding[p, best] += amount
                padding[p, j] -= amount
                starts[p, best:j] += amount
                need -= amount
    return bases, starts


def _check_fits(what, used, capacity, hint):
    if used > capacity:
        raise TinyeieError(f"the model does not fit: {what} needs {used:,}, the engine has "
                           f"{capacity:,}, {used - capacity:,} too many ({hint})")


def _check_layers(layers, cfg):
    check_chain(layers)
    _check_fits("layers", len(layers), cfg.max_layers, "max_layers: rows of the layer table")
    for i, layer in enumerate(layers):
        rows, cols = layer.shape
        for what, count in (("inputs", cols), ("outputs", rows)):
            _check_fits(f"layer {i}'s {count} {what}", count, cfg.act_depth,
                        "act_depth: the widest layer the activation memories hold")
        if layer.last != (i == len(layers) - 1):
            raise TinyeieError(f"layer {i}: only the final layer may be marked last")
    _check_fits("the column table (a row per layer input, and one)",
                sum(layer.shape[1] for layer in layers) + 1, cfg.col_depth, "col_depth")


def _layer_words(layer, col_base, bias_base):
    descriptor = pack_bits(Descriptor, in_count=layer.shape[1], out_count=layer.shape[0],
                           col_base=col_base, bias_base=bias_base, shift=layer.shift,
                           bias_shift=layer.bias_shift, relu=int(layer.relu),
                           last=int(layer.last))
    words = np.zeros(LAYER_WORDS, dtype=np.uint16)
    words[:DESCRIPTOR_WORDS] = to_words(descriptor, DESCRIPTOR_WORDS)
    words[CODEBOOK_OFFSET:CODEBOOK_OFFSET + CODEBOOK_SIZE] = np.asarray(layer.codebook) & WORD_MASK
    return words


def pack(layers, cfg=EngineConfig(), balance=True, activity=None):
    """Lay ``layers`` (a chain of :class:`IntLayer`) out in the engine's memories.

    ``balance``: order each hidden layer's rows over the PEs with
    :func:`~tinyeie.sw.compiler.balance.balance_rows` (which keeps EIE's ``i mod N`` where it
    does not win); otherwise ``i mod N`` everywhere. The network's outputs keep their order.
    ``activity``: per layer, the fraction of inputs in which each of its inputs is non-zero
    (from calibration data), so that padding goes where the PEs rarely walk it
    (:func:`place_runs`).
    """
    n = cfg.pes
    _check_layers(layers, cfg)
    orders = identity_orders(layers)
    if balance:
        orders[:-1] = [balance_rows(layer.index, n) for layer in layers[:-1]]
    layers = order_layers(layers, orders)

    # Every layer's biases first, at the same words in every PE: local row r of layer i at
    # bias_base[i] + r. Then the entries, from the same byte in every PE.
    local_rows = [-(-layer.shape[0] // n) for layer in layers]
    bias_base = np.concatenate([[0], np.cumsum(local_rows)]).astype(int)
    runs = []                                   # runs[column][p], all layers' columns in turn
    for layer in layers:
        runs += [[_encode_run(layer.index[p::n, j]) for p in range(n)]
                 for j in range(layer.shape[1])]
    lengths = np.array([[len(r) for r in column] for column in runs], dtype=np.int64).T
    if activity is not None:
        activity = np.concatenate([np.asarray(a, dtype=float)[columns] for a, columns
                                   in zip(activity, [np.arange(layers[0].shape[1])] + orders)])
    bases, starts = place_runs(lengths, ENTRIES_PER_WORD * int(bias_base[-1]), activity,
                               (1 << cfg.run_end_bits) - 1)
    longest = int(np.diff(starts, axis=1).max(initial=0))
    _check_fits("the longest run of one column and PE, with its padding (bytes)", longest,
                (1 << cfg.run_end_bits) - 1, "run_end_bits: the PE compares that many low "
                "address bits to find a run's end; a larger act_depth gives more")
    pe_bytes = [np.zeros(int(starts[p, -1]) - ENTRIES_PER_WORD * int(bias_base[-1]),
                         dtype=np.int64) for p in range(n)]
    for j, column in enumerate(runs):
        for p, run in enumerate(column):
            at = int(starts[p, j]) - ENTRIES_PER_WORD * int(bias_base[-1])
            pe_bytes[p][at:at + len(run)] = run
    layout = ColumnRow(n)
    rows = [to_words(pack_bits(layout, base=int(bases[j]),
                               offset=[int(starts[p, j] - BASE_UNIT * bases[j])
                                       for p in range(n)]), column_slices(n))
            for j in range(len(bases))]

    layer_table, stats = [], []
    col_base = 0
    for i, layer in enumerate(layers):
        out_count, in_count = layer.shape
        mine = slice(col_base, col_base + in_count)
        walked = starts[:, col_base + 1:col_base + in_count + 1] - starts[:, mine]
        entries = int(lengths[:, mine].sum())
        fillers = sum(int((_field(run, _V) == 0).sum()) for column in runs[mine]
                      for run in column)
        layer_table.extend(_layer_words(layer, col_base, int(bias_base[i])))
        stats.append(dict(shape=[out_count, in_count], balanced=not np.array_equal(
                              orders[i], np.arange(out_count)),
                          entry_bytes=entries, filler_entries=fillers,
                          padding_bytes=int(walked.sum()) - entries,
                          bias_words=out_count, unused_bias_words=n * local_rows[i] - out_count,
                          col_base=col_base, bias_base=int(bias_base[i]), shift=layer.shift,
                          bias_shift=layer.bias_shift, relu=bool(layer.relu),
                          in_frac=layer.in_frac, code_frac=layer.code_frac,
                          out_frac=layer.out_frac))
        col_base += in_count

    pe_words = []
    for p in range(n):
        biases = np.zeros(int(bias_base[-1]), dtype=np.int64)
        for i, layer in enumerate(layers):
            mine = layer.stored_bias[p::n]
            biases[bias_base[i]:bias_base[i] + len(mine)] = mine
        words = [int(b) & WORD_MASK for b in biases] + pack_entries(pe_bytes[p].tolist())
        pe_words.append(np.array(words, dtype=np.uint16))
    used = max(len(w) for w in pe_words)
    _check_fits("PE memory words (biases and entries)", used, cfg.pe_depth,
                "pe_depth; more PEs spread the entries thinner")
    return PackedModel(config=cfg, pe_words=pe_words,
                       columns=np.array(rows, dtype=np.uint16).reshape(-1, column_slices(n)),
                       layer_table=np.array(layer_table, dtype=np.uint16), orders=orders,
                       stats=stats)


def unpack(packed):
    """Read the memories back into :class:`IntLayer` s, rows in the engine's order (fracs are not
    stored: they are 0)."""
    n = packed.config.pes
    entries = [pe_entries(packed, p) for p in range(n)]
    layers = []
    for i in range(packed.n_layers):
        d = layer_descriptor(packed, i)
        rows, cols = d["out_count"], d["in_count"]
        index = np.zeros((rows, cols), dtype=np.uint8)
        for j in range(cols):
            for p in range(n):
                start, end = run_bounds(packed, d["col_base"] + j, p)
                if end - start >= 1 << packed.config.run_end_bits:
                    raise TinyeieError(f"layer {i} column {j}: PE {p}'s run spans {end - start} "
                                       f"bytes; the PE tells runs of at most "
                                       f"{(1 << packed.config.run_end_bits) - 1} apart")
                local, codes = read_run(entries[p], start, end)
                # Fillers and padding are zero weights: only the others must land on a row.
                local, codes = local[codes != 0], codes[codes != 0]
                if len(local) and local[-1] >= pe_rows(rows, n, p):
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
