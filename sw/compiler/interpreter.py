"""Tier 3 of the golden model: the packed memories run as the engine runs them.

Nothing here looks at a weight matrix: each non-zero input is looked up in the column table,
each PE named by the mask walks its run from the shared pointer until the ``last`` entry,
decoding relative indices, and accumulates ``a_j x codebook[v]`` into its local rows (wrapping
at ``acc_width`` bits, as the hardware would). The drain adds the PE memory's bias (which holds
the rounding term), shifts right (floor), saturates and applies ReLU. It must equal
:func:`tinyeie.sw.compiler.golden.int_forward` exactly; it also counts the ideal cycles from the
entries it actually walked.
"""

from dataclasses import dataclass

import numpy as np

from tinyeie.contract.errors import TinyeieError
from tinyeie.contract.layouts import SLICE_BITS, to_signed
from tinyeie.sw.compiler.fixedpoint import Fixed
from tinyeie.sw.compiler.pack import column_row, layer_codebook, layer_descriptor, read_run
from tinyeie.sw.compress.sparse import pe_rows

__all__ = ["Interpreter", "Run"]


@dataclass
class Run:
    """One input vector through the image: its logits and the cycle counts of an ideal engine."""

    logits: np.ndarray
    ideal_cycles: int
    layer_inputs: list
    layer_cycles: list


class Interpreter:
    """Runs input vectors through a :class:`~tinyeie.sw.compiler.pack.PackedModel`."""

    def __init__(self, packed):
        self.packed = packed
        self.cfg = packed.config
        self.layers = [layer_descriptor(packed, i) for i in range(packed.n_layers)]
        if not self.layers or not self.layers[-1]["last"]:
            raise TinyeieError("the image's final layer is not marked last")
        self.codebooks = [layer_codebook(packed, i) for i in range(len(self.layers))]
        self._runs = {}

    def _run(self, pe, ptr, single):
        key = (pe, ptr)
        if key not in self._runs:
            self._runs[key] = read_run(self.packed.pe_words[pe], ptr, self.cfg.pe_depth, single)
        return self._runs[key]

    def run(self, a):
        """Logits for one input vector ``a`` (ints), and the ideal cycle count."""
        cfg, n = self.cfg, self.cfg.pes
        act = Fixed(cfg.act_width, 0)
        a = np.asarray(a, dtype=np.int64)
        inputs, cycles = [], []
        for i, d in enumerate(self.layers):
            rows, cols = d["out_count"], d["in_count"]
            if len(a) != cols:
                raise TinyeieError(f"layer {i} takes {cols} inputs, got {len(a)}")
            inputs.append(a)
            acc = np.zeros((n, cfg.bank_depth), dtype=np.int64)
            work = np.zeros(n, dtype=np.int64)
            nonzero = np.flatnonzero(a)
            for j in nonzero:
                ptr, mask, single = column_row(self.packed, d["col_base"] + j)
                for p in range(n):
                    if mask >> p & 1:
                        local, codes = self._run(p, ptr, single >> p & 1)
                        acc[p, local] += a[j] * self.codebooks[i][codes]
                        work[p] += len(local)
            cycles.append(max(len(nonzero), int(work.max(initial=0))))
            out = np.zeros(rows, dtype=np.int64)
            for p in range(n):
                local = pe_rows(rows, n, p)
                stored = self.packed.pe_words[p][d["bias_base"]:d["bias_base"] + local]
                bias = to_signed(stored, SLICE_BITS) << d["bias_shift"]
                total = to_signed(to_signed(acc[p, :local], cfg.acc_width) + bias, cfg.acc_width)
                out[p::n] = total
            if d["last"]:
                return Run(logits=out, ideal_cycles=sum(cycles), layer_inputs=inputs,
                           layer_cycles=cycles)
            a = act.saturate(out >> d["shift"])
            if d["relu"]:
                a = np.maximum(a, 0)
        raise TinyeieError("no layer is marked last")  # unreachable: checked in __init__
