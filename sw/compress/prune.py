"""Magnitude pruning with retraining (Han et al., "Learning both weights and connections").

A weight is removed when its magnitude falls below ``quality x std`` of its layer's trained
weights. The threshold rises to its final value over several iterations, each followed by
retraining with the masks held, so the network adapts before the next cut. Masks only ever
lose entries: a pruned weight is never revived.
"""

import numpy as np

from tinyeie.sw.compress.train import train

__all__ = ["magnitude_masks", "iterative_prune"]


def magnitude_masks(weights, thresholds, masks=None):
    """Masks keeping ``|w| >= threshold``, and-ed with the previous ``masks`` if given."""
    new = [np.abs(w) >= t for w, t in zip(weights, thresholds)]
    if masks is not None:
        new = [m & old for m, old in zip(new, masks)]
    return new


def iterative_prune(net, x, y, quality, iterations, cfg, evaluate=None):
    """Prune ``net`` in place to ``quality[i] x std`` per parameter layer, retraining between.

    Returns ``(masks, history)``: the boolean masks (True = kept) and one record per iteration
    with the density of each layer and, if ``evaluate(net)`` is given, its result.
    """
    params = net.params
    stds = [float(p.w.std()) for p in params]
    masks = None
    history = []
    for it in range(1, iterations + 1):
        thresholds = [q * s * it / iterations for q, s in zip(quality, stds)]
        masks = magnitude_masks([p.w for p in params], thresholds, masks)
        for p, m in zip(params, masks):
            p.w *= m
        train(net, x, y, cfg, masks=masks, desc=f"prune {it}/{iterations} retrain")
        record = {"iteration": it, "density": [float(m.mean()) for m in masks]}
        if evaluate is not None:
            record["test_error"] = evaluate(net)
        history.append(record)
    return masks, history
