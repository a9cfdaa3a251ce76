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


# -- declared sizes are bounded before anything is allocated (issue 11, finding 3) ------------

def test_a_code_length_of_40_is_refused_at_once():
    """Length 40 once built a 2**40-entry decode table (8 TiB)."""
    lengths = np.array([40] + [0] * 15)
    with pytest.raises(TinyeieError, match=f"0..{huffman.MAX_CODE_LENGTH}, got 40"):
        huffman.decode(np.zeros(4, np.uint8), 1, lengths, 1)


@pytest.mark.parametrize("n_bits, count, message", [
    (10 ** 12, 10, "claims 1000000000000 bits but holds 32"),
    (32, 10 ** 12, "cannot hold 1000000000000 symbols"),      # was a list of 10**12 items
    (4, 1, "cannot hold 1 symbols of 1..3 bits"),
    (-1, 1, "of -1 bits"),
    (8, 0, "no symbols"),
])
def test_declared_sizes_are_checked_against_the_stream(n_bits, count, message):
    lengths = np.array([1, 2, 3, 3])
    with pytest.raises(TinyeieError, match=message):
        huffman.decode(np.zeros(4, np.uint8), n_bits, lengths, count)


def test_long_codes_decode_without_a_table_of_their_size():
    """Fibonacci counts give the deepest Huffman trees: the encoder keeps them within
    MAX_CODE_LENGTH, and codes of that length decode."""
    fib = [1, 1]
    while len(fib) < 30:
        fib.append(fib[-1] + fib[-2])
    counts = np.array(fib, dtype=np.int64)
    assert huffman._huffman_lengths(counts).max() == 29        # unlimited: 29 bits deep
    lengths = huffman.code_lengths(counts)
    assert lengths.max() <= huffman.MAX_CODE_LENGTH and np.all(lengths[counts > 0] > 0)
    rng = np.random.default_rng(0)
    symbols = np.r_[np.arange(30), rng.integers(0, 30, 5000)]
    packed, n_bits = huffman.encode(symbols, lengths)
    np.testing.assert_array_equal(huffman.decode(packed, n_bits, lengths, len(symbols)), symbols)


def test_a_stream_longer_than_a_chunk(monkeypatch):
    monkeypatch.setattr(huffman, "_CHUNK_BITS", 37)
    rng = np.random.default_rng(1)
    symbols = rng.choice(16, size=3000, p=np.r_[0.6, np.full(15, 0.4 / 15)])
    lengths = huffman.code_lengths(np.bincount(symbols, minlength=16))
    packed, n_bits = huffman.encode(symbols, lengths)
    np.testing.assert_array_equal(huffman.decode(packed, n_bits, lengths, len(symbols)), symbols)
    with pytest.raises(TinyeieError, match="bits left"):
        huffman.decode(packed, n_bits, lengths, len(symbols) - 1)
