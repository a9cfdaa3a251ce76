"""The engine's arithmetic in exact integers: the specification the RTL is judged against.

Three tiers, each checked against the next (see docs/engine.md, "Number formats"):

1. float: :func:`tinyeie.sw.compress.quantised.mlp_forward` on the compressed model's shared
   weights;
2. integer (this module): :func:`quantise_layers` picks the number formats and turns each layer
   into :class:`IntLayer` (codebook, bias and shifts as integers); :func:`int_forward` runs a
   batch through them exactly as the engine's arithmetic does;
3. the packed memory image: :mod:`tinyeie.sw.compiler.interpreter`, which must equal tier 2 exactly.

Only tier 1 against tier 2 has a tolerance (accuracy, not bits).
"""

from dataclasses import dataclass

import numpy as np

from tinyeie.contract.config import EngineConfig
from tinyeie.contract.errors import TinyeieError
from tinyeie.contract.layouts import CODEBOOK_SIZE, INDEX_BITS, MAX_SHIFT
from tinyeie.sw.compiler.fixedpoint import Fixed, frac_for_range, round_shift
from tinyeie.sw.compress.quantised import SharedWeights
from tinyeie.sw.compress.sparse import csc_encode

__all__ = ["IntLayer", "BIAS", "check_chain", "quantise_layers", "input_format",
           "input_activations", "input_activity", "int_forward", "classify", "column_entries",
           "ideal_cycles", "balanced_cycles", "dense_cycles"]

BIAS = Fixed(16, 0)     # a stored bias: 16-bit signed, at accumulator scale / 2**bias_shift
MAX_BIAS_SHIFT = 14     # 2**bias_shift must be a positive 16-bit signed multiplier operand
CALIBRATION_PERCENTILE = 99.99


@dataclass
class IntLayer(SharedWeights):
    """One layer in the engine's integers.

    ``index`` (M, K) uint8 into ``codebook`` (16 ints at ``code_frac``); ``bias`` (M,) 16-bit
    ints that the engine shifts left by ``bias_shift``; the accumulator's frac is ``in_frac +
    code_frac``; a hidden layer's output is requantised by ``shift`` to ``out_frac``.
    """

    index: np.ndarray
    codebook: np.ndarray
    bias: np.ndarray
    bias_shift: int
    shift: int
    relu: bool
    last: bool
    in_frac: int
    code_frac: int
    out_frac: int

    @property
    def full_bias(self):
        """The bias at accumulator scale."""
        return self.bias.astype(np.int64) << self.bias_shift

    @property
    def rounding_fold(self):
        """What the stored bias adds for round-half-up: ``2**(shift - 1)`` at accumulator scale,
        in units of ``2**bias_shift`` (0 for a layer that does not shift)."""
        return 1 << (self.shift - 1 - self.bias_shift) if self.shift else 0

    @property
    def stored_bias(self):
        """The 16-bit bias the engine stores: the bias with the rounding term folded in, so the
        engine's requantiser only shifts (floor) and saturates."""
        return self.bias.astype(np.int64) + self.rounding_fold


def check_chain(layers):
    """Refuse layers the engine cannot run in sequence: none, shapes that do not chain, a
    codebook larger than the index addresses."""
    if not layers:
        raise TinyeieError("the model has no layers")
    for i, layer in enumerate(layers):
        cols = layer.shape[1]
        if i and cols != layers[i - 1].shape[0]:
            raise TinyeieError(f"layer {i} takes {cols} inputs but layer {i - 1} gives "
                               f"{layers[i - 1].shape[0]}: shapes must chain")
        if len(layer.codebook) > CODEBOOK_SIZE:
            raise TinyeieError(f"layer {i} has a codebook of {len(layer.codebook)} entries; the "
                               f"engine's {INDEX_BITS}-bit index addresses at most "
                               f"{CODEBOOK_SIZE}")


def input_format(cfg=EngineConfig()):
    """The engine's input activations: pixels in [0, 1) with ``act_width - 1`` fraction bits."""
    return Fixed(cfg.act_width, cfg.act_width - 1)


def input_activations(pixels, cfg=EngineConfig()):
    """MNIST pixels in [0, 1) as the engine's input integers (any batch shape)."""
    return input_format(cfg).quantise(pixels)


def _bias_format(bias, acc_frac, shift):
    """``(ints, bias_shift)``: the 16-bit bias that, shifted left, best gives ``bias``.

    The smallest shift that fits, and no more than ``shift - 1`` when the layer shifts, so that
    the rounding term ``2**(shift - 1)`` can be folded into the stored bias exactly.
    """
    largest = MAX_BIAS_SHIFT if shift == 0 else min(MAX_BIAS_SHIFT, shift - 1)
    for bias_shift in range(largest + 1):
        ints = Fixed(64, acc_frac - bias_shift).quantise(bias)
        fold = 1 << (shift - 1 - bias_shift) if shift else 0
        if BIAS.fits(ints) and BIAS.fits(ints + fold):
            return ints, bias_shift
    raise TinyeieError(f"a bias of {np.abs(bias).max():g} does not fit 16 bits even shifted by "
                       f"{largest}")


def quantise_layers(layers, calibration, cfg=EngineConfig()):
    """Turn float :class:`~tinyeie.sw.compress.quantised.QuantisedLayer` s into :class:`IntLayer` s.

    ``calibration`` is a batch of input images (n, 784) from the training set: each hidden
    layer's output frac is the largest that holds the 99.99th percentile of its activations.
    Refuses (TinyeieError) what :func:`check_chain` refuses and a layer whose worst case could
    overflow the accumulator.
    """
    check_chain(layers)
    in_frac = input_format(cfg).frac
    a = np.asarray(calibration, dtype=np.float64)
    out = []
    for i, layer in enumerate(layers):
        last = i == len(layers) - 1
        codebook = np.zeros(CODEBOOK_SIZE)
        codebook[:len(layer.codebook)] = layer.codebook
        code_frac = frac_for_range(np.abs(codebook).max(), cfg.code_width)
        codebook_int = Fixed(cfg.code_width, code_frac).quantise(codebook)
        acc_frac = in_frac + code_frac

        a = a @ layer.weights.T.astype(np.float64) + layer.bias
        if layer.relu:
            a = np.maximum(a, 0)
        if last:
            out_frac = acc_frac
        else:
            top = float(np.percentile(np.abs(a), CALIBRATION_PERCENTILE)) if a.size else 0.0
            # More output fraction bits than the accumulator has would only scale, not refine.
            out_frac = min(acc_frac, frac_for_range(max(top, 1e-12), cfg.act_width))
        shift = acc_frac - out_frac
        if shift > MAX_SHIFT:
            raise TinyeieError(f"layer {i} needs a requantisation shift of {shift}; the engine "
                               f"shifts by at most {MAX_SHIFT}")
        bias_int, bias_shift = _bias_format(layer.bias.astype(np.float64), acc_frac, shift)

        weights = codebook_int[layer.index]
        largest_input = 1 << (cfg.act_width - 1)
        fold = 1 << (shift - 1 - bias_shift) if shift else 0
        worst = (np.abs((bias_int.astype(np.int64) + fold) << bias_shift)
                 + np.abs(weights).sum(axis=1) * largest_input)
        if worst.max(initial=0) >= 1 << (cfg.acc_width - 1):
            need = int(worst.max()).bit_length() + 1
            raise TinyeieError(f"layer {i} could overflow the {cfg.acc_width}-bit accumulator: "
                               f"its worst case needs {need} bits (acc_width={need} would fit)")
        out.append(IntLayer(index=layer.index.astype(np.uint8), codebook=codebook_int,
                            bias=bias_int, bias_shift=bias_shift, shift=shift,
                            relu=bool(layer.relu), last=last, in_frac=in_frac,
                            code_frac=code_frac, out_frac=out_frac))
        in_frac = out_frac
    return out


def _exact_matmul(a, w):
    # float64 holds every partial sum exactly (|a|, |w| <= 2**15, K < 2**12: sums < 2**42),
    # and BLAS makes it fast; integer matmul in numpy has no BLAS.
    return np.rint(a.astype(np.float64) @ w.T.astype(np.float64)).astype(np.int64)


def int_forward(layers, a, cfg=EngineConfig(), trace=False):
    """The integer reference: logits (the last layer's ``acc + bias``) for inputs ``a``.

    ``a``: (K,) or (n, K) input integers. With ``trace``, also returns every layer's input
    (the activations each layer scans), for cycle counting.
    """
    act = Fixed(cfg.act_width, 0)
    a = np.asarray(a, dtype=np.int64)
    inputs = []
    for layer in layers:
        inputs.append(a)
        acc = _exact_matmul(a, layer.weights) + layer.full_bias
        if layer.last:
            return (acc, inputs) if trace else acc
        a = act.saturate(round_shift(acc, layer.shift))
        if layer.relu:
            a = np.maximum(a, 0)
    raise TinyeieError("no layer is marked last")


def input_activity(layers, a, cfg=EngineConfig()):
    """Per layer, the fraction of the input vectors ``a`` (n, K) in which each of the layer's
    inputs is non-zero."""
    _, inputs = int_forward(layers, a, cfg, trace=True)
    return [np.mean(np.asarray(x) != 0, axis=0) for x in inputs]


def classify(logits):
    """The class the engine reports: argmax, ties to the lowest index (any batch shape)."""
    return np.argmax(logits, axis=-1)


def column_entries(index, pes):
    """(pes, K) array: entries (fillers included) each PE stores for each column."""
    return np.array([np.diff(s.ptr) for s in csc_encode(index, pes)])


def ideal_cycles(layer_inputs, entries_per_layer):
    """Cycles an ideal engine needs: per layer, the larger of the non-zero inputs (one
    broadcast a cycle) and the busiest PE's entries over those columns (one a cycle).

    ``layer_inputs[l]`` is layer l's input vector, ``entries_per_layer[l]`` its
    :func:`column_entries`.
    """
    total = 0
    for a, entries in zip(layer_inputs, entries_per_layer):
        nz = np.flatnonzero(a)
        total += max(len(nz), int(entries[:, nz].sum(axis=1).max(initial=0)))
    return total


def balanced_cycles(layer_inputs, entries_per_layer):
    """The balanced bound: per layer, the larger of the non-zero inputs and an equal share of
    the entries over those columns for every PE (``ceil(entries / N)``), summed over layers.
    No row order beats it. Arguments as for :func:`ideal_cycles`."""
    total = 0
    for a, entries in zip(layer_inputs, entries_per_layer):
        nz = np.flatnonzero(a)
        total += max(len(nz), -(-int(entries[:, nz].sum()) // len(entries)))
    return total


def dense_cycles(shapes, pes):
    """The same engine on the unpruned, unskipped work: every column broadcast and every PE
    doing all its ``ceil(rows / pes)`` rows of it."""
    return sum(cols * -(-rows // pes) for rows, cols in shapes)
