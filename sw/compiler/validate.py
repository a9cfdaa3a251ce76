"""What makes a model image's contents a model, beyond what the board's loader checks.

The loader (:func:`tinyeie.contract.image.loader_model`) checks an image as its bytes arrive:
the header's fields against the engine, every section inside its memory, the CRC. What the
words *mean* it does not check: that the layers chain, that the header's counts are the layers'
counts, that every run of entries lies inside its PE memory and ends where the PE can tell, that
every weight lands on one of its PE's rows of the layer. An
image that passes the loader and fails here cannot hang the board (the engine watchdog ends the
inference with ENGINE-FAULT, docs/protocol.md), but it is not a model: ``read_image`` (every
command's reader) and the interpreter refuse it with :func:`check_packed`, so the host never
sends one.
"""

import numpy as np

from tinyeie.contract.errors import TinyeieError
from tinyeie.sw.compiler.pack import layer_descriptor, pe_entries, read_run
from tinyeie.sw.compress.sparse import pe_rows

__all__ = ["check_packed"]


def _bad(what):
    raise TinyeieError(f"not a valid tinyeie model image: {what}")


def check_packed(packed):
    """Refuse (TinyeieError) a :class:`~tinyeie.sw.compiler.pack.PackedModel` whose layers do
    not chain, whose column rows or biases lie outside their memories, whose runs of entries
    run backwards, past their PE memory, or longer than a PE can tell the end of, or put a
    weight on a row past the PE's rows of the layer."""
    cfg = packed.config
    n = cfg.pes
    if packed.n_layers < 1:
        _bad("it has no layers")
    layers = [layer_descriptor(packed, i) for i in range(packed.n_layers)]
    for i, d in enumerate(layers):
        for name in ("in_count", "out_count"):
            if not 1 <= d[name] <= cfg.act_depth:
                _bad(f"layer {i} has {d[name]} {name.split('_')[0]}puts; the engine holds "
                     f"1..{cfg.act_depth}")
        if i and d["in_count"] != layers[i - 1]["out_count"]:
            _bad(f"layer {i} takes {d['in_count']} inputs, layer {i - 1} gives "
                 f"{layers[i - 1]['out_count']}")
        if d["shift"] and d["bias_shift"] >= d["shift"]:
            # the compiler folds round-half-up into the bias as 2**(shift - 1) in units of
            # 2**bias_shift: a whole number only below the shift
            _bad(f"layer {i}'s bias is scaled by 2**{d['bias_shift']}, not below its shift of "
                 f"{d['shift']}")
        if bool(d["last"]) != (i == len(layers) - 1):
            _bad(f"layer {i} of {len(layers)} is {'' if d['last'] else 'not '}marked last")
        rows = d["col_base"] + d["in_count"] + 1    # a row after the last column ends its runs
        if rows > len(packed.columns):
            _bad(f"layer {i}'s columns need column-table rows {d['col_base']}..{rows - 1}, the "
                 f"image has {len(packed.columns)}")
        _check_runs(packed, i, d)
        _check_rows(packed, i, d)
        for p in range(n):
            end = d["bias_base"] + pe_rows(d["out_count"], n, p)
            if end > len(packed.pe_words[p]):
                _bad(f"layer {i}'s biases on PE {p} end at word {end}, past the "
                     f"{len(packed.pe_words[p])} words written")


def _check_runs(packed, i, d):
    """Every PE's run of every column of layer ``i``: forwards, inside the PE's memory, and
    shorter than ``2**run_end_bits`` bytes (the PE finds a run's end by its low address bits)."""
    cfg = packed.config
    starts = packed.starts[:, d["col_base"]:d["col_base"] + d["in_count"] + 1]
    begin, end = starts[:, :-1], starts[:, 1:]
    sizes = np.array([2 * len(words) for words in packed.pe_words])[:, None]
    for bad, what in ((end < begin, "ends before it starts"),
                      (end > sizes, "runs past the PE memory's written bytes"),
                      (end - begin >= 1 << cfg.run_end_bits,
                       f"is {1 << cfg.run_end_bits} bytes or longer, past what the PE can tell "
                       f"the end of")):
        if bad.any():
            p, j = (int(k) for k in np.argwhere(bad)[0])
            _bad(f"layer {i}: PE {p}'s run of column {j} (bytes {begin[p, j]}..{end[p, j] - 1}) "
                 f"{what}")


def _check_rows(packed, i, d):
    """Every weight (a non-zero codebook index) of layer ``i`` on a PE lands on one of the PE's
    rows of the layer. One past them is never drained: the engine would keep its sum into the
    next layer or image, where the golden model starts from zero (fillers and padding, index
    0, add nothing wherever they walk)."""
    cfg = packed.config
    for p in range(cfg.pes):
        starts = packed.starts[p, d["col_base"]:d["col_base"] + d["in_count"] + 1].astype(int)
        first = int(starts[0])
        # the layer's runs lie end to end (checked above): walk them as one, then count each
        # run's rows from where the walk stood when it began
        rows, codes = read_run(pe_entries(packed, p), first, int(starts[-1]))
        stood = np.concatenate([[-1], rows])[starts[:-1] - first]
        local = rows - np.repeat(stood, np.diff(starts)) - 1
        limit = pe_rows(d["out_count"], cfg.pes, p)
        bad = np.flatnonzero((codes != 0) & (local >= limit))
        if len(bad):
            j = int(np.searchsorted(starts, first + bad[0], side="right")) - 1
            _bad(f"layer {i}: PE {p}'s run of column {j} puts a weight on its local row "
                 f"{int(local[bad[0]])}; the PE has rows 0..{limit - 1} of the layer")
