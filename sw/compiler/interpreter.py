"""Tier 3 of the golden model: the packed memories run as the engine runs them.

Nothing here looks at a weight matrix: each non-zero input is looked up in the column table,
each PE walks its run, from where that row says it starts to where the next row says its next
run starts (padding included), decoding relative indices, and accumulates ``a_j x
codebook[v]`` into its local rows (wrapping at ``acc_width`` bits, as the hardware would). The
drain adds the PE memory's bias (which holds the rounding term), shifts right (floor),
saturates and applies ReLU. It must equal :func:`tinyeie.sw.compiler.golden.int_forward` of the
layers in the engine's row order exactly (the logits: the network's outputs keep their order);
it also counts the ideal cycles from the entries it actually walked.
"""

from dataclasses import dataclass

import numpy as np

from tinyeie.contract.errors import TinyeieError
from tinyeie.contract.layouts import SLICE_BITS, to_signed
from tinyeie.sw.compiler.fixedpoint import Fixed
from tinyeie.sw.compiler.pack import (
    layer_codebook,
    layer_descriptor,
    pe_entries,
    read_run,
    run_bounds,
)
from tinyeie.sw.compiler.validate import check_packed
from tinyeie.sw.compress.sparse import pe_rows

__all__ = ["Interpreter", "Run"]


@dataclass
class Run:
    """One input vector through the image: its logits and the cycle counts of ideal engines.

    ``ideal_cycles``: per layer, the larger of the non-zero inputs (one broadcast a cycle) and
    the entries the busiest PE walked (padding included; one a cycle), summed over layers.
    ``balanced_cycles``: the same with every PE doing an equal share of the entries (fillers
    included, padding not): the bound no row order can beat. ``layer_inputs``: each layer's
    input as the engine holds it (a balanced layer's rows in the engine's order);
    ``layer_cycles``: the ideal cycles of each layer; ``layer_work``: the entries each PE walked
    in each layer.
    """

    logits: np.ndarray
    ideal_cycles: int
    balanced_cycles: int
    layer_inputs: list
    layer_cycles: list
    layer_work: list


class Interpreter:
    """Runs input vectors through a :class:`~tinyeie.sw.compiler.pack.PackedModel`."""

    def __init__(self, packed):
        self.packed = packed
        self.cfg = packed.config
        check_packed(packed)
        self.layers = [layer_descriptor(packed, i) for i in range(packed.n_layers)]
        self.codebooks = [layer_codebook(packed, i) for i in range(len(self.layers))]
        self._entries = [pe_entries(packed, p) for p in range(self.cfg.pes)]
        self._runs = {}

    def _run(self, pe, row):
        """PE ``pe``'s run of the column at table row ``row``: (local rows, codes, entries
        before the padding)."""
        key = (pe, row)
        if key not in self._runs:
            start, end = run_bounds(self.packed, row, pe)
            rows, codes = read_run(self._entries[pe], start, end)
            # Padding only follows the last weight (fillers only come before one).
            real = np.flatnonzero(codes)
            self._runs[key] = rows % self.cfg.row_span, codes, int(real[-1]) + 1 if len(real) else 0
        return self._runs[key]

    def run(self, a):
        """Logits for one input vector ``a`` (ints), and the ideal cycle count."""
        cfg, n = self.cfg, self.cfg.pes
        act = Fixed(cfg.act_width, 0)
        a = np.asarray(a, dtype=np.int64)
        inputs, cycles, works, balanced = [], [], [], 0
        for i, d in enumerate(self.layers):
            rows, cols = d["out_count"], d["in_count"]
            if len(a) != cols:
                raise TinyeieError(f"layer {i} takes {cols} inputs, got {len(a)}")
            inputs.append(a)
            acc = np.zeros((n, cfg.row_span), dtype=np.int64)
            work = np.zeros(n, dtype=np.int64)
            entries = 0
            nonzero = np.flatnonzero(a)
            for j in nonzero:
                for p in range(n):
                    local, codes, real = self._run(p, d["col_base"] + j)
                    np.add.at(acc[p], local, a[j] * self.codebooks[i][codes])
                    work[p] += len(local)
                    entries += real
            cycles.append(max(len(nonzero), int(work.max(initial=0))))
            balanced += max(len(nonzero), -(-entries // n))
            works.append(work)
            out = np.zeros(rows, dtype=np.int64)
            for p in range(n):
                local = pe_rows(rows, n, p)
                stored = self.packed.pe_words[p][d["bias_base"]:d["bias_base"] + local]
                bias = to_signed(stored, SLICE_BITS) << d["bias_shift"]
                total = to_signed(to_signed(acc[p, :local], cfg.acc_width) + bias, cfg.acc_width)
                out[p::n] = total
            if d["last"]:
                return Run(logits=out, ideal_cycles=sum(cycles), balanced_cycles=balanced,
                           layer_inputs=inputs, layer_cycles=cycles, layer_work=works)
            a = act.saturate(out >> d["shift"])
            if d["relu"]:
                a = np.maximum(a, 0)
        raise TinyeieError("no layer is marked last")  # unreachable: checked in __init__
