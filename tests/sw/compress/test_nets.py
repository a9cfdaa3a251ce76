import numpy as np
import pytest

from tinyeie.contract.errors import TinyeieError
from tinyeie.sw.compress.nets import build, parse_arch, softmax_cross_entropy
from tinyeie.sw.compress.train import shift_augment


def numeric_check(net, x, y, rng, samples=6):
    """Compare backprop gradients with central differences on a few weights of every layer."""
    for p in net.params:
        p.w = p.w.astype(np.float64)
        p.b = p.b.astype(np.float64)
    _, d = softmax_cross_entropy(net.forward(x), y)
    net.backward(d)
    for p in net.params:
        analytic = p.dw.copy()
        for _ in range(samples):
            i = tuple(rng.integers(0, s) for s in p.w.shape)
            old = p.w[i]
            p.w[i] = old + 1e-6
            lp = softmax_cross_entropy(net.forward(x), y)[0]
            p.w[i] = old - 1e-6
            lm = softmax_cross_entropy(net.forward(x), y)[0]
            p.w[i] = old
            assert (lp - lm) / 2e-6 == pytest.approx(analytic[i], rel=1e-3, abs=1e-7)


def test_lenet5_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    net = build("lenet5", seed=1)
    x = rng.random((3, 784))
    numeric_check(net, x, rng.integers(0, 10, 3), rng)


def test_mlp_gradients_match_finite_differences():
    rng = np.random.default_rng(1)
    net = build("mlp:784-20-12-10", seed=2)
    numeric_check(net, rng.random((4, 784)), rng.integers(0, 10, 4), rng)


def test_lenet5_shape_and_weight_count():
    net = build("lenet5")
    assert [p.w.shape for p in net.params] == [(20, 1, 5, 5), (50, 20, 5, 5), (500, 800),
                                               (10, 500)]
    assert sum(p.w.size for p in net.params) == 430500
    assert net.forward(np.zeros((2, 784), np.float32)).shape == (2, 10)


def test_seeded_builds_are_reproducible():
    a, b = build("lenet300", seed=7), build("lenet300", seed=7)
    assert all(np.array_equal(p.w, q.w) for p, q in zip(a.params, b.params))


def test_model_names():
    assert parse_arch("lenet300") == "mlp:784-300-100-10"
    assert parse_arch("mlp:784-64-10") == "mlp:784-64-10"
    assert parse_arch("mlp:64-32-3") == "mlp:64-32-3"      # any sizes an engine holds
    for bad in ("vgg16", "mlp:", "mlp:784-x-10", "mlp:100-1", "mlp:0-10", "mlp:5000-10"):
        with pytest.raises(TinyeieError):
            parse_arch(bad)


def test_an_mlp_of_any_size_runs():
    net = build("mlp:64-32-3", seed=0)
    assert (net.inputs, net.outputs) == (64, 3)
    assert net.predict(np.zeros((5, 64), np.float32)).shape == (5, 3)


def test_shift_augment_moves_pixels():
    x = np.zeros((1, 784), np.float32)
    x[0, 14 * 28 + 14] = 1.0
    rng = np.random.default_rng(0)
    shifted = shift_augment(np.repeat(x, 50, axis=0), 2, rng)
    rows, cols = np.nonzero(shifted.reshape(50, 28, 28))[1:]
    assert set(rows) <= set(range(12, 17)) and set(cols) <= set(range(12, 17))
    assert len(set(zip(rows, cols))) > 5
    assert np.all(shifted.sum(axis=1) == 1.0)
