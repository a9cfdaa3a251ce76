"""Where the RTL first differs from the golden model: the image, the layer and the output, with
both values, for `tinyeie sim` to print.

The engine's output stream carries only the last layer's logits, so a difference found there is
traced back by running the same engine on the model cut after each earlier layer (that layer
marked last, so its sums come out before requantisation) and comparing each with the golden
model of the cut: the first layer whose sums differ is where it starts.
"""

from dataclasses import replace

import numpy as np

from tinyeie.sim.engine_run import EngineCase, run_cases
from tinyeie.sw.compiler.compile import golden_logits
from tinyeie.sw.compiler.pack import pack, unpack

__all__ = ["first_mismatch", "cut_after", "locate_layer"]


def cut_after(packed, layer):
    """The packed model of layers 0..``layer``, the last of them giving its sums (accumulator
    plus bias, no requantisation or ReLU) as the engine gives logits."""
    layers = unpack(packed)[:layer + 1]
    layers[-1] = replace(layers[-1], last=True, shift=0, relu=False)
    return pack(layers, packed.config)


def locate_layer(packed, vector):
    """The first layer before the last whose sums the engine computes differently from the
    golden model for the input ``vector``: ``{layer, output, rtl, golden}``, or None when every
    cut agrees."""
    cuts = [cut_after(packed, k) for k in range(packed.n_layers - 1)]
    if not cuts:
        return None
    results = run_cases(packed.config, [EngineCase(cut, vector[None]) for cut in cuts])
    for k, (cut, result) in enumerate(zip(cuts, results)):
        gold = golden_logits(cut, vector[None])[0]
        differs = np.flatnonzero(result.logits[0] != gold)
        if len(differs):
            j = int(differs[0])
            return {"layer": k, "output": j, "rtl": int(result.logits[0, j]),
                    "golden": int(gold[j])}
    return None


def first_mismatch(packed, inputs, logits, golden, locate=True):
    """The first input whose ``logits`` differ from ``golden``: ``{image, layer, output, rtl,
    golden}``, the layer traced back with :func:`locate_layer` when ``locate``; None if all
    agree."""
    differs = np.asarray(logits) != np.asarray(golden)
    rows = np.flatnonzero(differs.any(axis=1))
    if not len(rows):
        return None
    image = int(rows[0])
    output = int(np.flatnonzero(differs[image])[0])
    found = {"image": image, "layer": packed.n_layers - 1, "output": output,
             "rtl": int(logits[image][output]), "golden": int(golden[image][output])}
    earlier = locate_layer(packed, np.asarray(inputs[image])) if locate else None
    if earlier is not None:
        found.update(earlier)
    return found
