import numpy as np

from tinyeie.sw.compress.prune import iterative_prune, magnitude_masks
from tinyeie.sw.compress.train import TrainConfig, train


def test_threshold_is_quality_times_std():
    w = np.array([[-3.0, -0.5, 0.2, 1.0, 2.5]], dtype=np.float32)
    (mask,) = magnitude_masks([w], [0.9])
    assert mask.tolist() == [[True, False, False, True, True]]


def test_masks_never_grow():
    w = np.array([1.0, 0.1, 2.0, 0.05], dtype=np.float32)
    old = np.array([True, True, False, True])
    (mask,) = magnitude_masks([w], [0.07], [old])
    assert mask.tolist() == [True, True, False, False]


def test_retraining_never_revives_a_pruned_weight(tiny_mlp, digits):
    (x, y), _ = digits
    rng = np.random.default_rng(3)
    masks = [rng.random(p.w.shape) < 0.3 for p in tiny_mlp.params]
    for p, m in zip(tiny_mlp.params, masks):
        p.w *= m
    train(tiny_mlp, x, y, TrainConfig(epochs=2, lr=0.05, augment=1, seed=5), masks=masks)
    for p, m in zip(tiny_mlp.params, masks):
        assert np.all(p.w[~m] == 0.0)
        assert np.count_nonzero(p.w[m]) == m.sum()  # the kept weights did train


def test_iterative_pruning_shrinks_masks_monotonically(tiny_mlp, digits):
    (x, y), test = digits
    train(tiny_mlp, x, y, TrainConfig(epochs=3, lr=0.05, augment=0, seed=1))

    masks, history = iterative_prune(tiny_mlp, x, y, [1.0, 1.0, 0.5], 3,
                                     TrainConfig(epochs=1, lr=0.02, augment=0, seed=2),
                                     evaluate=lambda net: net.error(*test))
    densities = [h["density"] for h in history]
    for before, after in zip(densities, densities[1:]):
        assert all(a <= b for a, b in zip(after, before))
    assert densities[-1][0] < 0.5
    for p, m in zip(tiny_mlp.params, masks):
        assert np.all(p.w[~m] == 0.0)
    assert history[-1]["test_error"] < 0.2
