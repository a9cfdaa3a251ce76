"""Random integer networks for tests and regressions: every shape, density and corner case the
engine must handle, without training anything."""

import numpy as np

from tinyeie.contract.config import EngineConfig
from tinyeie.sw.compiler.golden import IntLayer

__all__ = ["random_layers", "random_inputs"]


def random_layers(rng, sizes, density=0.3, cfg=EngineConfig(), gap_rows=0, empty_cols=0.0,
                  saturate=False):
    """A chain of :class:`IntLayer` with ``sizes = [inputs, hidden..., outputs]``.

    ``density``: fraction of non-zero weights (one value or one per layer); ``gap_rows``: also
    clear every row of each column between two random rows this far apart, so that runs need
    fillers; ``empty_cols``: fraction of columns with no weight at all. ``saturate`` picks
    shifts too small for the outputs, so requantisation saturates often. Every layer fits the
    accumulator of ``cfg`` in the worst case.
    """
    densities = np.broadcast_to(np.asarray(density, dtype=float), (len(sizes) - 1,))
    code_max = (1 << (cfg.code_width - 1)) - 1
    layers = []
    for i, (cols, rows) in enumerate(zip(sizes, sizes[1:])):
        last = i == len(sizes) - 2
        n_codes = int(rng.integers(1, 16))
        index = np.where(rng.random((rows, cols)) < densities[i],
                         rng.integers(1, n_codes + 1, (rows, cols)), 0).astype(np.uint8)
        if gap_rows and rows > gap_rows:
            for j in range(cols):
                start = int(rng.integers(0, rows - gap_rows))
                index[start + 1:start + gap_rows, j] = 0
        index[:, rng.random(cols) < empty_cols] = 0
        codebook = np.zeros(16, dtype=np.int64)
        codebook[1:n_codes + 1] = rng.integers(-code_max - 1, code_max + 1, n_codes)
        # Keep the worst case inside the accumulator: scale the codes down if needed.
        act_max = 1 << (cfg.act_width - 1)
        worst = np.abs(codebook[index]).sum(axis=1).max(initial=0) * act_max
        room = 1 << (cfg.acc_width - 2)
        if worst > room:
            codebook = codebook * room // worst
        # Outputs of a typical size (a random input of half non-zeros) land a few bits below
        # full scale, or far above it when asked to saturate; biases are of the same size.
        spread = np.sqrt((codebook[index].astype(float) ** 2).sum(axis=1) * act_max ** 2 / 6)
        typical = max(1.0, float(spread.mean()))
        target = cfg.act_width - 3 + (5 if saturate else 0)
        shift = 0 if last else int(np.clip(round(np.log2(typical)) - target, 0, 31))
        # The engine stores bias + 2**(shift - 1 - bias_shift) (the rounding term) in 16 bits,
        # so bias_shift lies in shift - 15 .. shift - 1 when the layer shifts.
        low = max(0, shift - 15)
        high = 3 if shift == 0 else max(low, min(shift - 1, low + 3))
        bias_shift = int(rng.integers(low, high + 1))
        fold = 1 << (shift - 1 - bias_shift) if shift else 0
        bias_max = int(min((1 << 15) - 1 - fold, max(1, typical / (1 << bias_shift)),
                           room >> (bias_shift + 1)))
        bias = rng.integers(-bias_max, bias_max + 1, rows)
        layers.append(IntLayer(index=index, codebook=codebook, bias=bias, bias_shift=bias_shift,
                               shift=shift, relu=not last and bool(rng.random() < 0.8),
                               last=last, in_frac=0, code_frac=0, out_frac=0))
    return layers


def random_inputs(rng, count, size, density=0.5, cfg=EngineConfig()):
    """``count`` input vectors with the given fraction of non-zeros, full signed range."""
    top = 1 << (cfg.act_width - 1)
    values = rng.integers(-top, top, (count, size))
    return np.where(rng.random((count, size)) < density, values, 0)
