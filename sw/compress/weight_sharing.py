"""Trained quantisation: per-layer k-means weight sharing and centroid fine-tuning.

Each parameter layer's surviving (non-pruned) weights are clustered in one dimension; the layer
then stores, for every weight, a ``bits``-bit index into its own codebook. Index 0 is reserved
for the exact zero of pruned weights and fillers, leaving ``2**bits - 1`` shared values.

Fine-tuning trains the shared values: the gradient of centroid ``k`` is the sum of the gradients
of the weights that share it, ``dL/dC_k = sum_{I_ij = k} dL/dW_ij`` (Deep Compression, eq. 3).
"""

import numpy as np

from tinyeie.sw.compress.train import run_epochs

__all__ = ["INITS", "init_centroids", "kmeans_1d", "share_weights", "centroid_gradients",
           "finetune_centroids"]

INITS = ("linear", "forgy", "density")


def init_centroids(values, k, method, rng):
    """``k`` starting centroids for 1-D ``values`` by the paper's three methods.

    * linear: evenly spaced between the smallest and largest weight (keeps the rare large
      weights, which matter most);
    * forgy: ``k`` weights drawn at random;
    * density: evenly spaced on the cumulative distribution (quantiles).
    """
    values = np.asarray(values, dtype=np.float64)
    if method == "linear":
        return np.linspace(values.min(), values.max(), k)
    if method == "forgy":
        return np.sort(rng.choice(values, size=k, replace=len(values) < k))
    if method == "density":
        return np.quantile(values, (np.arange(k) + 0.5) / k)
    raise ValueError(f"unknown k-means initialisation {method!r}: expected one of {INITS}")


def kmeans_1d(values, k, method="linear", seed=0, iterations=100):
    """Lloyd's k-means on 1-D ``values``: ``(centroids, labels)``, centroids ascending.

    Clusters that lose all members keep their previous centre.
    """
    values = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    centroids = np.sort(init_centroids(values, k, method, rng))
    labels = np.zeros(len(values), dtype=np.int64)
    for _ in range(iterations):
        # In 1-D the nearest centroid is found by bisecting on the midpoints.
        labels = np.searchsorted((centroids[1:] + centroids[:-1]) / 2, values)
        sums = np.bincount(labels, weights=values, minlength=k)
        counts = np.bincount(labels, minlength=k)
        updated = np.where(counts > 0, sums / np.maximum(counts, 1), centroids)
        order = np.argsort(updated, kind="stable")
        if np.allclose(updated, centroids, rtol=0, atol=1e-12):
            break
        centroids = updated[order]
    labels = np.searchsorted((centroids[1:] + centroids[:-1]) / 2, values)
    return centroids, labels


def share_weights(weights, masks, bits, method="linear", seed=0):
    """Cluster every layer: returns ``(codebooks, indices)``.

    ``codebooks[i]`` is float32 with ``codebooks[i][0] == 0`` and up to ``2**bits - 1`` shared
    values after it; ``indices[i]`` (uint8, the weight's shape) is 0 where ``masks[i]`` pruned.
    """
    codebooks, indices = [], []
    for i, (w, m, b) in enumerate(zip(weights, masks, bits)):
        alive = w[m]
        k = min(2 ** b - 1, len(np.unique(alive)))
        index = np.zeros(w.shape, dtype=np.uint8)
        if k == 0:
            codebooks.append(np.zeros(1, dtype=np.float32))
            indices.append(index)
            continue
        centroids, labels = kmeans_1d(alive, k, method, seed + i)
        index[m] = labels + 1
        codebooks.append(np.concatenate([[0.0], centroids]).astype(np.float32))
        indices.append(index)
    return codebooks, indices


def centroid_gradients(index, dw, k):
    """``dL/dC`` for a codebook of ``k`` entries: the sum of member gradients (entry 0 gets 0)."""
    grad = np.bincount(index.reshape(-1), weights=dw.reshape(-1).astype(np.float64),
                       minlength=k)
    grad[0] = 0.0
    return grad


def finetune_centroids(net, x, y, codebooks, indices, cfg, desc="fine-tune centroids"):
    """Train the shared values (and biases) of ``net`` in place; weights follow their codebook.

    Returns the fine-tuned codebooks; entry 0 stays exactly zero.
    """
    params = net.params
    codebooks = [c.astype(np.float32).copy() for c in codebooks]
    vel_c = [np.zeros(len(c)) for c in codebooks]
    vel_b = [np.zeros_like(p.b) for p in params]
    for p, c, idx in zip(params, codebooks, indices):
        p.w = c[idx]

    def update(lr):
        for i, p in enumerate(params):
            grad = centroid_gradients(indices[i], p.dw, len(codebooks[i]))
            vel_c[i] = cfg.momentum * vel_c[i] - lr * grad
            codebooks[i] = (codebooks[i] + vel_c[i]).astype(np.float32)
            codebooks[i][0] = 0.0
            vel_b[i] = cfg.momentum * vel_b[i] - lr * p.db
            p.b += vel_b[i]
            p.w = codebooks[i][indices[i]]

    run_epochs(net, x, y, cfg, update, desc)
    return codebooks
