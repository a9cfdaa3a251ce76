"""The Deep Compression pipeline: prune + retrain, share weights + fine-tune, Huffman code.

:func:`compress` takes a trained float network and returns a
:class:`~tinyeie.sw.compress.modelfile.CompressedModel` whose history records what a reader of
the paper looks for: error after each stage, codebooks before and after fine-tuning, and the
accuracy-against-compression sweep of Fig. 6.
"""

import copy
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from tinyeie.contract.errors import TinyeieError
from tinyeie.sw.compress.modelfile import CompressedModel, encode_layer, layer_names
from tinyeie.sw.compress.prune import iterative_prune
from tinyeie.sw.compress.train import TrainConfig
from tinyeie.sw.compress.weight_sharing import (
    INITS,
    finetune_centroids,
    init_centroids,
    share_weights,
)

__all__ = ["CompressConfig", "PRESETS", "default_config", "check_config", "compress", "fig6_sweep"]


@dataclass
class CompressConfig:
    """Options of ``tinyeie compress``; lists hold one value per parameter layer."""

    quality: list
    bits: list
    prune_iterations: int = 3
    retrain: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=4, lr=0.01))
    finetune: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=3, lr=1e-4))
    init: str = "linear"
    seed: int = 0
    sweep: bool = True


# Per-architecture defaults, tuned so the shipped models meet the paper's Table 1.
PRESETS = {
    "mlp:784-300-100-10": dict(quality=[1.9, 1.7, 0.7], bits=[4, 4, 4]),
    "lenet5": dict(quality=[0.4, 1.5, 1.8, 1.3], bits=[4, 4, 4, 4]),
}


def default_config(arch, n_layers):
    preset = PRESETS.get(arch, dict(quality=[1.5] * (n_layers - 1) + [0.7], bits=[4] * n_layers))
    return CompressConfig(**copy.deepcopy(preset))


def _per_layer(values, n, what):
    values = list(values)
    if len(values) == 1:
        values = values * n
    if len(values) != n:
        raise TinyeieError(f"{what} needs 1 or {n} values (one per layer), got {len(values)}")
    return values


def check_config(cfg, n):
    """Per-layer ``(quality, bits)`` of ``cfg`` for ``n`` layers, or a TinyeieError."""
    quality = _per_layer(cfg.quality, n, "quality")
    bits = _per_layer(cfg.bits, n, "bits")
    if any(not 1 <= b <= 8 for b in bits):
        raise TinyeieError(f"bits must be 1..8 per layer, got {bits}")
    if any(q < 0 for q in quality):
        raise TinyeieError(f"quality must be non-negative, got {quality}")
    if cfg.init not in INITS:
        raise TinyeieError(f"unknown k-means initialisation {cfg.init!r}: expected one of "
                           f"{', '.join(INITS)}")
    if cfg.prune_iterations < 1:
        raise TinyeieError(f"prune iterations must be at least 1, got {cfg.prune_iterations}")
    return quality, bits


def compress(net, train_data, test_data, cfg, log=print):
    """Compress ``net`` (modified in place) and return the :class:`CompressedModel`."""
    x, y = train_data
    xt, yt = test_data
    n = len(net.params)
    quality, bits = check_config(cfg, n)

    def evaluate(model):
        return model.error(xt, yt)

    history = {"float_test_error": evaluate(net), "config": {
        "quality": quality, "bits": bits, "prune_iterations": cfg.prune_iterations,
        "retrain": cfg.retrain.as_dict(), "finetune": cfg.finetune.as_dict(), "init": cfg.init}}
    log(f"float: test error {history['float_test_error']:.2%}")
    if cfg.sweep:
        history["sweep"] = fig6_sweep(net, xt, yt, seed=cfg.seed)

    masks, prune_history = iterative_prune(net, x, y, quality, cfg.prune_iterations,
                                           cfg.retrain, evaluate)
    history["prune"] = prune_history
    density = sum(int(m.sum()) for m in masks) / sum(m.size for m in masks)
    log(f"pruned: {density:.1%} of weights left, test error {prune_history[-1]['test_error']:.2%}")

    weights = [p.w.copy() for p in net.params]
    codebooks, indices = share_weights(weights, masks, bits, cfg.init, cfg.seed)
    for p, c, idx in zip(net.params, codebooks, indices):
        p.w = c[idx]
    history["quantised_test_error"] = evaluate(net)
    tuned = finetune_centroids(net, x, y, codebooks, indices, cfg.finetune)
    history["finetuned_test_error"] = evaluate(net)
    log(f"quantised: test error {history['quantised_test_error']:.2%}, after centroid "
        f"fine-tuning {history['finetuned_test_error']:.2%}")
    history["layers"] = [_distribution(w, m, c0, c1, cfg.seed)
                         for w, m, c0, c1 in zip(weights, masks, codebooks, tuned)]

    names = layer_names(net.arch, n)
    layers = []
    for i, (p, c, idx) in enumerate(zip(net.params, tuned, indices)):
        relu = i < n - 1
        layers.append(encode_layer(names[i], p.kind, c, idx, p.b, relu, bits=bits[i]))
    return CompressedModel(net.arch, layers, history)


def _distribution(w, mask, before, after, seed, bins=120):
    """What Fig. 4 shows of a layer: the surviving weights' histogram, where each k-means
    initialisation would start, and the codebook after k-means and after fine-tuning."""
    alive = w[mask]
    counts, edges = np.histogram(alive, bins=bins)
    rng = np.random.default_rng(seed)
    k = len(before) - 1
    starts = {m: init_centroids(alive, k, m, rng).tolist() for m in INITS} if k else {}
    return {"hist_counts": counts.tolist(), "hist_edges": edges.tolist(), "inits": starts,
            "codebook_initial": before[1:].tolist(), "codebook_finetuned": after[1:].tolist()}


def _evaluate_with(net, weights, x, y):
    trial = copy.deepcopy(net)
    for p, w in zip(trial.params, weights):
        p.w = w.astype(np.float32)
    return trial.error(x, y)


def fig6_sweep(net, x, y, seed=0):
    """Test error against compression rate for pruning only, quantisation only and both.

    No retraining at each point (so the curves are conservative next to the paper's, which
    retrain); storage counted without Huffman coding: a pruned weight costs 32 bits plus a 5-bit
    relative index, a quantised one its index width plus the codebook.
    """
    dense = [p.w for p in net.params]
    total = sum(w.size for w in dense) * 32
    points = {"prune_only": [], "quant_only": [], "prune_quant": []}
    densities = [0.5, 0.3, 0.2, 0.15, 0.1, 0.08, 0.06, 0.04, 0.03, 0.02]
    bit_choices = [8, 6, 5, 4, 3, 2]
    steps = tqdm(total=2 * len(densities) + len(bit_choices), desc="Fig. 6 sweep", leave=False)

    def pruned(d):
        out = []
        for w in dense:
            keep = max(1, int(round(d * w.size)))
            threshold = np.sort(np.abs(w).reshape(-1))[-keep]
            out.append(w * (np.abs(w) >= threshold))
        return out

    for d in densities:
        ws = pruned(d)
        nnz = sum(int(np.count_nonzero(w)) for w in ws)
        points["prune_only"].append([total / (nnz * (32 + 5)), _evaluate_with(net, ws, x, y)])
        steps.update()
        cbs, idxs = share_weights(ws, [w != 0 for w in ws], [4] * len(ws), "linear", seed)
        wq = [c[i] for c, i in zip(cbs, idxs)]
        points["prune_quant"].append([total / (nnz * (4 + 5) + len(ws) * 15 * 32),
                                      _evaluate_with(net, wq, x, y)])
        steps.update()
    everything = [np.ones(w.shape, dtype=bool) for w in dense]
    n_weights = sum(w.size for w in dense)
    for b in bit_choices:
        # b-bit indices address the zero plus 2**b - 1 shared values.
        cbs, idxs = share_weights(dense, everything, [b] * len(dense), "linear", seed)
        wq = [c[i] for c, i in zip(cbs, idxs)]
        points["quant_only"].append([total / (n_weights * b + len(dense) * (2 ** b - 1) * 32),
                                     _evaluate_with(net, wq, x, y)])
        steps.update()
    steps.close()
    return points
