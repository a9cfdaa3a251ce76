"""The shipped LeNet-300-100 in the engine's integers, on the 10,000 real MNIST test images."""

from pathlib import Path

import numpy as np
import pytest

from tinyeie.contract.config import EngineConfig
from tinyeie.sw.compiler.compile import compile_model
from tinyeie.sw.compiler.golden import input_activations, int_forward
from tinyeie.sw.compiler.image import save_packed
from tinyeie.sw.compiler.interpreter import Interpreter
from tinyeie.sw.compiler.sizes import engine_stats
from tinyeie.sw.compress.modelfile import load_model
from tinyeie.sw.mnist import load_mnist

MODEL = Path(__file__).resolve().parents[3] / "models" / "lenet300.npz"


def test_fixed_point_lenet300_within_a_tenth_of_a_point_of_float():
    compiled = compile_model(MODEL)
    xt, yt = load_mnist()["test"]
    float_error, int_error = compiled.errors(xt, yt)
    assert int_error <= float_error + 0.0010, (float_error, int_error)


def test_packed_image_runs_exactly_as_the_integer_model():
    compiled = compile_model(MODEL)
    xt, _ = load_mnist()["test"]
    a = input_activations(xt[:100])
    want = int_forward(compiled.int_layers, a)
    interpreter = Interpreter(compiled.packed)
    got = np.array([interpreter.run(x).logits for x in a])
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("pes, most_bytes", [(4, 36_000), (16, 48_000)])
def test_stats_report_the_bytes_pack_writes(pes, most_bytes, tmp_path):
    """issue 10's sizes: the image holds the model densely, and stats reports that image."""
    cfg = EngineConfig(pes=pes)
    stats = engine_stats(load_model(MODEL), load_mnist()["test"], cfg)
    path, _ = save_packed(compile_model(MODEL, cfg).packed, tmp_path)
    image = path.read_bytes()
    assert stats["hw_bytes"] == len(image) == sum(stats["hw_sizes"].values())
    assert stats["hw_bytes"] <= most_bytes
    assert stats["hw_test_error"] <= 0.016
