"""The shipped models meet the paper's Table 1, measured on the 10,000 real MNIST test images."""

from pathlib import Path

import pytest

from tinyeie.sw.compress.modelfile import load_model
from tinyeie.sw.compress.stats import model_stats
from tinyeie.sw.mnist import load_mnist

MODELS = Path(__file__).resolve().parents[3] / "models"


@pytest.mark.parametrize("name, max_error, min_ratio", [
    ("lenet300", 0.0160, 40.0),  # paper: 1.58% at 40x
    ("lenet5", 0.0080, 39.0),    # paper: 0.74% at 39x
])
def test_shipped_model_meets_table1(name, max_error, min_ratio):
    stats = model_stats(load_model(MODELS / f"{name}.npz"), load_mnist()["test"])
    assert stats["test_error"] <= max_error
    assert stats["compression_ratio"] >= min_ratio
    if name == "lenet300":
        # The engine's format: 4-bit codebook indices (tests/sw/compiler has its image).
        assert all(r["weight_bits_pq"] == 4 for r in stats["layers"])
