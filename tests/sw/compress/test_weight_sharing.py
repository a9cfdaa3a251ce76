import numpy as np
import pytest

from tinyeie.sw.compress.nets import softmax_cross_entropy
from tinyeie.sw.compress.train import TrainConfig
from tinyeie.sw.compress.weight_sharing import (
    centroid_gradients,
    finetune_centroids,
    init_centroids,
    kmeans_1d,
    share_weights,
)


def loss_of(net, x, y):
    return softmax_cross_entropy(net.forward(x), y)[0]


def test_centroid_gradient_is_sum_of_member_gradients_numerically(tiny_mlp, digits):
    (x, y), _ = digits
    x, y = x[:64], y[:64]
    net = tiny_mlp
    net.params[0].w = net.params[0].w.astype(np.float64)
    masks = [np.abs(p.w) > 0.02 for p in net.params]
    codebooks, indices = share_weights([p.w for p in net.params], masks, [3, 3, 3])
    layer = 1
    codebook = codebooks[layer].astype(np.float64)
    for p, c, idx in zip(net.params, codebooks, indices):
        p.w = c[idx].astype(np.float64)
    net.params[layer].w = codebook[indices[layer]]
    _, dlogits = softmax_cross_entropy(net.forward(x.astype(np.float64)), y)
    net.backward(dlogits)
    analytic = centroid_gradients(indices[layer], net.params[layer].dw, len(codebook))
    eps = 1e-6
    for k in range(1, len(codebook)):
        plus, minus = codebook.copy(), codebook.copy()
        plus[k] += eps
        minus[k] -= eps
        net.params[layer].w = plus[indices[layer]]
        lp = loss_of(net, x.astype(np.float64), y)
        net.params[layer].w = minus[indices[layer]]
        lm = loss_of(net, x.astype(np.float64), y)
        assert (lp - lm) / (2 * eps) == pytest.approx(analytic[k], rel=1e-4, abs=1e-8)
    assert analytic[0] == 0.0


def test_inits():
    values = np.array([-1.0, -0.2, -0.1, 0.1, 0.15, 0.2, 2.0])
    rng = np.random.default_rng(0)
    assert init_centroids(values, 3, "linear", rng).tolist() == [-1.0, 0.5, 2.0]
    forgy = init_centroids(values, 3, "forgy", rng)
    assert set(forgy) <= set(values)
    density = init_centroids(values, 3, "density", rng)
    assert density[0] > -1.0 and density[-1] < 2.0  # quantiles crowd where the weights are
    with pytest.raises(ValueError, match="unknown"):
        init_centroids(values, 3, "magic", rng)


def test_kmeans_finds_obvious_clusters():
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.normal(c, 0.01, 200) for c in (-1.0, 0.0, 2.0)])
    for method in ("linear", "forgy", "density"):
        centroids, labels = kmeans_1d(values, 3, method, seed=2)
        np.testing.assert_allclose(centroids, [-1.0, 0.0, 2.0], atol=0.01)
        assert np.all(np.diff(centroids) > 0)
        assert np.array_equal(labels, np.repeat([0, 1, 2], 200))


def test_share_weights_reserves_index_zero_for_pruned():
    w = np.array([[0.5, -0.3, 0.01], [0.8, -0.02, 0.4]], dtype=np.float32)
    mask = np.abs(w) > 0.05
    (codebook,), (index,) = share_weights([w], [mask], [2])
    assert codebook[0] == 0.0 and len(codebook) == 4
    assert np.all(index[~mask] == 0) and np.all(index[mask] > 0)
    assert np.max(np.abs(codebook[index] - w)[mask]) < 0.2


def test_finetuning_keeps_zero_and_sharing(tiny_mlp, digits):
    (x, y), _ = digits
    masks = [np.abs(p.w) > 0.03 for p in tiny_mlp.params]
    codebooks, indices = share_weights([p.w for p in tiny_mlp.params], masks, [3, 3, 3])
    tuned = finetune_centroids(tiny_mlp, x, y, codebooks, indices,
                               TrainConfig(epochs=1, lr=1e-3, augment=0, seed=0))
    for p, c, idx in zip(tiny_mlp.params, tuned, indices):
        assert c[0] == 0.0
        assert np.array_equal(p.w, c[idx])
    assert any(not np.array_equal(a, b) for a, b in zip(codebooks, tuned))
