"""Shared fixtures: small generated data and a tiny trained MLP, so no test needs real MNIST."""

import numpy as np
import pytest

from tinyeie.sw.compress.nets import build


def synthetic_digits(n, seed=0):
    """``n`` sparse 784-pixel 'images' in 10 classes, pixels in [0, 1) like MNIST's.

    Each class lights its own random 15% of the pixels; every image dims them at random and adds
    a few stray pixels.
    """
    rng = np.random.default_rng(seed)
    prototypes = np.random.default_rng(1234).random((10, 784)) < 0.15
    y = rng.integers(0, 10, n)
    x = prototypes[y] * rng.uniform(0.5, 0.99, (n, 784))
    x += (rng.random((n, 784)) < 0.03) * rng.uniform(0, 0.99, (n, 784))
    return np.minimum(x, 0.99).astype(np.float32), y


@pytest.fixture
def digits():
    return synthetic_digits(512, seed=0), synthetic_digits(256, seed=1)


@pytest.fixture
def tiny_mlp():
    return build("mlp:784-32-16-10", seed=0)
