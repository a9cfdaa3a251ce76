"""The integer golden model: number formats, requantisation and the fixed-point accuracy."""

import numpy as np
import pytest

from tinyeie.contract.config import EngineConfig
from tinyeie.contract.errors import TinyeieError
from tinyeie.sw.compiler.fixedpoint import Fixed, frac_for_range, round_shift
from tinyeie.sw.compiler.golden import (
    classify,
    column_entries,
    dense_cycles,
    ideal_cycles,
    input_activations,
    int_forward,
    quantise_layers,
)
from tinyeie.sw.compress.quantised import QuantisedLayer, mlp_forward


def test_round_shift_rounds_half_up_like_the_engine():
    x = np.arange(-40, 41)
    for shift in range(0, 6):
        want = np.floor(x / 2 ** shift + 0.5).astype(np.int64)
        np.testing.assert_array_equal(round_shift(x, shift), want)


def test_fixed_saturates_and_rounds():
    fmt = Fixed(8, 7)
    np.testing.assert_array_equal(fmt.quantise([0.0, 0.5, 0.999, -1.0, -2.0, 1.0]),
                                  [0, 64, 127, -128, -128, 127])
    assert fmt.fits([-128, 127]) and not fmt.fits([128])


@pytest.mark.parametrize("largest, width", [(0.7, 8), (3.2, 8), (0.001, 8), (127.0, 8),
                                            (0.5, 4)])
def test_frac_for_range_is_the_most_fraction_bits_that_fit(largest, width):
    frac = frac_for_range(largest, width)
    assert Fixed(width, frac).fits(Fixed(64, frac).quantise(largest))
    assert not Fixed(width, frac + 1).fits(Fixed(64, frac + 1).quantise(largest))


def test_input_pixels_use_seven_fraction_bits():
    np.testing.assert_array_equal(input_activations(np.array([0.0, 0.5, 0.99609375])),
                                  [0, 64, 127])


def test_classify_ties_go_to_the_lowest_index():
    assert classify(np.array([3, 7, 7, 1])) == 1
    np.testing.assert_array_equal(classify(np.array([[0, 0], [1, 2]])), [0, 1])


def float_layers(rng, sizes, codebook_size=16):
    layers = []
    for i, (cols, rows) in enumerate(zip(sizes, sizes[1:])):
        codebook = np.concatenate([[0.0], rng.normal(0, 0.2, codebook_size - 1)])
        index = np.where(rng.random((rows, cols)) < 0.3,
                         rng.integers(1, codebook_size, (rows, cols)), 0).astype(np.uint8)
        layers.append(QuantisedLayer(codebook=codebook.astype(np.float32), index=index,
                                     bias=rng.normal(0, 0.1, rows).astype(np.float32),
                                     relu=i < len(sizes) - 2))
    return layers


def test_integer_model_tracks_the_float_model(digits):
    (x, y), (xt, yt) = digits
    rng = np.random.default_rng(0)
    layers = float_layers(rng, [784, 40, 10])
    int_layers = quantise_layers(layers, x)
    logits = int_forward(int_layers, input_activations(xt))
    want = mlp_forward(layers, xt)
    scale = 2.0 ** -(int_layers[-1].in_frac + int_layers[-1].code_frac)
    assert np.abs(logits * scale - want).max() < 0.05 * np.abs(want).max()
    assert np.mean(classify(logits) == want.argmax(axis=1)) > 0.97


def test_refuses_what_the_engine_cannot_hold():
    rng = np.random.default_rng(1)
    layers = float_layers(rng, [784, 20, 10])
    with pytest.raises(TinyeieError, match="at most 16"):
        big = float_layers(rng, [784, 10], codebook_size=17)
        quantise_layers(big, np.zeros((4, 784)))
    with pytest.raises(TinyeieError, match="must chain"):
        quantise_layers([layers[0], float_layers(rng, [21, 10])[0]], np.zeros((4, 784)))
    with pytest.raises(TinyeieError, match="accumulator"):
        quantise_layers(layers, np.zeros((4, 784)), EngineConfig(acc_width=16))


def test_ideal_and_dense_cycles():
    index = np.zeros((6, 3), np.uint8)
    index[[0, 2, 4], 0] = 1          # PE 0 (rows 0, 2, 4) holds 3 entries of column 0
    index[1, 1] = 1                  # PE 1 holds 1 entry of column 1
    entries = column_entries(index, 2)
    np.testing.assert_array_equal(entries, [[3, 0, 0], [0, 1, 0]])
    assert ideal_cycles([np.array([5, 5, 5])], [entries]) == 3       # busiest PE: 3 entries
    assert ideal_cycles([np.array([0, 5, 5])], [entries]) == 2       # two broadcasts
    assert ideal_cycles([np.array([0, 0, 0])], [entries]) == 0
    assert dense_cycles([(6, 3), (5, 6)], 2) == 3 * 3 + 6 * 3
