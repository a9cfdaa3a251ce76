"""What makes the memories a model image writes a model: the structure rules, defined once.

The loader's checks (:mod:`tinyeie.contract.image`) make sure an image's bytes are whole and
its writes land inside the engine's memories. These rules say whether what they wrote is a
model the engine can run and the golden model can follow: every reader of images applies them
(``read_image``, the interpreter) and so does the gateware of a board built with the model
check (:class:`tinyeie.hw.model_check.ModelChecker`, docs/formats.md).
"""

import numpy as np

from .layouts import (
    BASE_UNIT,
    DESCRIPTOR_WORDS,
    LAYER_WORDS,
    OFFSET_BITS,
    SLICE_BITS,
    ColumnRow,
    Descriptor,
    Entry,
    Target,
    column_slices,
    from_words,
    unpack_bits,
    unpack_entries,
)

__all__ = ["pe_rows", "column_starts", "descriptors", "declared_depth", "written_memories",
           "structure_fault"]


def pe_rows(rows, pes, pe):
    """Rows of a ``rows``-row layer that PE ``pe`` of ``pes`` owns (global row ``r`` is PE
    ``r mod pes``'s local row ``r div pes``)."""
    return max(0, (rows - pe + pes - 1) // pes)


def column_starts(columns, pes):
    """``(pes, rows)`` int64: the byte where each column-table row says each PE's run starts
    (:func:`~tinyeie.contract.layouts.run_start`), for a ``(rows, slices)`` table of words."""
    columns = np.asarray(columns, dtype=np.int64).reshape(-1, column_slices(pes))
    base_field, offset_field = ColumnRow(pes)["base"], ColumnRow(pes)["offset"]
    assert base_field.offset == 0 and base_field.width == SLICE_BITS
    assert offset_field.offset == SLICE_BITS
    starts = np.empty((pes, len(columns)), dtype=np.int64)
    per_slice = SLICE_BITS // OFFSET_BITS
    for p in range(pes):
        word = columns[:, 1 + p // per_slice]
        offset = (word >> OFFSET_BITS * (p % per_slice)) & ((1 << OFFSET_BITS) - 1)
        starts[p] = BASE_UNIT * columns[:, 0] + offset
    return starts


def descriptors(layer_table):
    """The :class:`~tinyeie.contract.layouts.Descriptor` fields of every layer of a layer
    table, as a dict of int64 arrays."""
    table = np.asarray(layer_table).reshape(-1, LAYER_WORDS)
    fields = [unpack_bits(Descriptor, from_words(row[:DESCRIPTOR_WORDS])) for row in table]
    return {name: np.array([f[name] for f in fields], dtype=np.int64)
            for name, _ in Descriptor.as_shape()}


def declared_depth(header, target):
    """Words of the memory ``target`` an image's header declares it writes (every slice)."""
    return {Target.PE: header["pe_words"], Target.COLUMNS: header["column_rows"],
            Target.LAYERS: LAYER_WORDS * header["layers"]}[target]


def written_memories(header, sections, pes):
    """``(layer_table, columns, pe_words)``: the memories the header declares, as the image's
    ``sections`` (``(target, slice, base, words)``, each inside its declared depth) leave them
    written over zeros; each PE memory as long as its highest word written."""
    pe_words = [np.zeros(header["pe_words"], np.uint16) for _ in range(pes)]
    columns = np.zeros((header["column_rows"], column_slices(pes)), np.uint16)
    layer_table = np.zeros(LAYER_WORDS * header["layers"], np.uint16)
    ends = [0] * pes
    memory = {Target.PE: lambda k: pe_words[k], Target.COLUMNS: lambda k: columns[:, k],
              Target.LAYERS: lambda k: layer_table}
    for target, slice_, base, words in sections:
        if len(words):
            memory[target](slice_)[base:base + len(words)] = words
            if target == Target.PE:
                ends[slice_] = max(ends[slice_], base + len(words))
    return layer_table, columns, [words[:end] for words, end in zip(pe_words, ends)]


def structure_fault(config, layer_table, columns, pe_words, in_count=None, out_count=None):
    """Why the memories are not a model for an engine built as ``config``, in words, or "".

    ``pe_words[p]``: PE ``p``'s memory as far as it was written. ``in_count``, ``out_count``:
    what the image's header says (None: not checked). The rules: at least one layer; the
    header's counts are the first layer's inputs and the last one's outputs; every layer has
    1..``act_depth`` inputs and outputs and takes what the one before gives; a layer's bias
    scale is below its shift; only the final layer is marked last; every layer's column-table
    rows (one per input, and one after) lie in the table; every PE's biases of the layer lie in
    what was written of its memory; every PE's run of every column starts before it ends, ends
    inside what was written, and is shorter than the ``2**run_end_bits`` bytes a PE can tell the
    end of; every weight (a non-zero codebook index) lands on one of its PE's rows of the layer.
    """
    cfg, n = config, config.pes
    d = descriptors(layer_table)
    layers = len(d["in_count"])
    if layers < 1:
        return "it has no layers"
    if in_count is not None and (in_count, out_count) != (d["in_count"][0], d["out_count"][-1]):
        return (f"the header says {in_count} inputs and {out_count} outputs, the layers "
                f"{d['in_count'][0]} and {d['out_count'][-1]}")
    starts = column_starts(columns, n)
    sizes = np.array([len(words) for words in pe_words], dtype=np.int64)
    for i in range(layers):
        ins, outs = int(d["in_count"][i]), int(d["out_count"][i])
        for name, count in (("in", ins), ("out", outs)):
            if not 1 <= count <= cfg.act_depth:
                return f"layer {i} has {count} {name}puts; the engine holds 1..{cfg.act_depth}"
        if i and ins != d["out_count"][i - 1]:
            return f"layer {i} takes {ins} inputs, layer {i - 1} gives {d['out_count'][i - 1]}"
        shift, bias_shift = int(d["shift"][i]), int(d["bias_shift"][i])
        if shift and bias_shift >= shift:
            # the compiler folds round-half-up into the bias as 2**(shift - 1) in units of
            # 2**bias_shift: a whole number only below the shift
            return (f"layer {i}'s bias is scaled by 2**{bias_shift}, not below its shift of "
                    f"{shift}")
        if bool(d["last"][i]) != (i == layers - 1):
            return f"layer {i} of {layers} is {'' if d['last'][i] else 'not '}marked last"
        col_base = int(d["col_base"][i])
        if col_base + ins + 1 > len(columns):
            return (f"layer {i}'s columns need column-table rows {col_base}..{col_base + ins}, "
                    f"the image has {len(columns)}")
        for p in range(n):
            end = int(d["bias_base"][i]) + pe_rows(outs, n, p)
            if end > sizes[p]:
                return (f"layer {i}'s biases on PE {p} end at word {end}, past the {sizes[p]} "
                        f"words written")
        layer_starts = starts[:, col_base:col_base + ins + 1]
        fault = _runs_fault(cfg, i, layer_starts, sizes) or _rows_fault(cfg, i, outs,
                                                                         layer_starts, pe_words)
        if fault:
            return fault
    return ""


def _runs_fault(cfg, i, starts, sizes):
    """A PE's run of a column of layer ``i`` that runs backwards, past what was written of its
    memory, or as long as ``2**run_end_bits`` bytes (the PE finds a run's end by its low address
    bits)."""
    begin, end = starts[:, :-1], starts[:, 1:]
    for bad, what in ((end < begin, "ends before it starts"),
                      (end > 2 * sizes[:, None], "runs past the PE memory's written bytes"),
                      (end - begin >= 1 << cfg.run_end_bits,
                       f"is {1 << cfg.run_end_bits} bytes or longer, past what the PE can tell "
                       f"the end of")):
        if bad.any():
            p, j = (int(k) for k in np.argwhere(bad)[0])
            return (f"layer {i}: PE {p}'s run of column {j} (bytes {begin[p, j]}.."
                    f"{end[p, j] - 1}) {what}")
    return ""


_V, _Z = Entry.as_shape()["v"], Entry.as_shape()["z"]


def _rows_fault(cfg, i, outs, starts, pe_words):
    """A weight (a non-zero codebook index) of layer ``i`` on a row past its PE's rows of the
    layer. Such a row is never drained: the engine would keep its sum into the next layer or
    image, where the golden model starts from zero (fillers and padding, index 0, add nothing
    wherever they walk). A run's rows count from -1, each entry ``z + 1`` on."""
    for p in range(cfg.pes):
        first, final = int(starts[p, 0]), int(starts[p, -1])
        run = unpack_entries(pe_words[p])[first:final].astype(np.int64)
        z = (run >> _Z.offset) & ((1 << _Z.width) - 1)
        v = (run >> _V.offset) & ((1 << _V.width) - 1)
        # the layer's runs lie end to end: walk them as one, then count each run's rows from
        # where the walk stood when it began
        rows = np.cumsum(z + 1) - 1
        stood = np.concatenate([[-1], rows])[starts[p, :-1] - first]
        local = rows - np.repeat(stood, np.diff(starts[p])) - 1
        bad = np.flatnonzero((v != 0) & (local >= pe_rows(outs, cfg.pes, p)))
        if len(bad):
            j = int(np.searchsorted(starts[p], first + bad[0], side="right")) - 1
            return (f"layer {i}: PE {p}'s run of column {j} puts a weight on its local row "
                    f"{int(local[bad[0]])}; the PE has rows 0..{pe_rows(outs, cfg.pes, p) - 1} "
                    f"of the layer")
    return ""
