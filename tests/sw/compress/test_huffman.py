import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyeie.contract.errors import TinyeieError
from tinyeie.sw.compress import huffman


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 31), max_size=3000), st.integers(5, 6))
def test_round_trip_and_length_within_one_bit_of_entropy(symbols, bits):
    symbols = np.array(symbols, dtype=np.int64)
    counts = np.bincount(symbols, minlength=1 << bits)
    lengths = huffman.code_lengths(counts)
    packed, n_bits = huffman.encode(symbols, lengths)
    decoded = huffman.decode(packed, n_bits, lengths, len(symbols))
    np.testing.assert_array_equal(decoded, symbols)
    if len(symbols):
        assert n_bits / len(symbols) <= huffman.entropy_bits(counts) + 1


def test_skewed_distribution_beats_fixed_width():
    rng = np.random.default_rng(0)
    symbols = rng.choice(16, size=20000, p=np.r_[0.5, np.full(15, 0.5 / 15)])
    lengths = huffman.code_lengths(np.bincount(symbols, minlength=16))
    _, n_bits = huffman.encode(symbols, lengths)
    assert n_bits < 4 * len(symbols)
    assert lengths[0] == 1


def test_canonical_codes_are_prefix_free():
    lengths = np.array([2, 3, 3, 2, 2])
    codes = huffman.canonical_codes(lengths)
    words = [format(int(c), f"0{int(n)}b") for c, n in zip(codes, lengths)]
    for a in words:
        for b in words:
            assert a == b or not b.startswith(a)


def test_truncated_stream_is_an_error():
    symbols = np.arange(8).repeat(10)
    lengths = huffman.code_lengths(np.bincount(symbols))
    packed, n_bits = huffman.encode(symbols, lengths)
    with pytest.raises(TinyeieError):
        huffman.decode(packed, n_bits - 5, lengths, len(symbols))
    with pytest.raises(TinyeieError, match="prefix code"):
        huffman.decode(packed, n_bits, np.ones(8, dtype=np.int64), len(symbols))
