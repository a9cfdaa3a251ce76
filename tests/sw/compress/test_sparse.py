import numpy as np
import pytest

from tinyeie.sw.compress.sparse import (
    csc_decode,
    csc_encode,
    flat_decode,
    flat_encode,
    pe_rows,
    relative_decode,
    relative_encode,
)


def random_index(rng, rows, cols, density):
    return ((rng.random((rows, cols)) < density) * rng.integers(1, 16, (rows, cols))).astype(
        np.uint8)


def test_paper_example_filler():
    # Deep Compression Fig. 3: a 3-bit relative index bridges a gap of 8 or more with a filler.
    v, z = relative_encode([1, 4, 15], [2, 3, 7], bits=3)
    assert v.tolist() == [2, 3, 0, 7]
    assert z.tolist() == [1, 2, 7, 2]
    positions, values = relative_decode(v, z, bits=3)
    assert positions.tolist() == [1, 4, 15] and values.tolist() == [2, 3, 7]


@pytest.mark.parametrize("gap", [0, 14, 15, 16, 17, 31, 32, 33, 100])
def test_gap_sizes_round_trip(gap):
    positions = np.array([gap, gap + 1 + gap])
    v, z = relative_encode(positions, [5, 6], bits=4)
    assert np.all(z <= 15)
    assert np.count_nonzero(v == 0) == 2 * (gap // 16)
    p, vals = relative_decode(v, z, bits=4)
    assert p.tolist() == positions.tolist() and vals.tolist() == [5, 6]


def test_zero_value_is_refused():
    with pytest.raises(ValueError, match="reserved for fillers"):
        relative_encode([3], [0], bits=4)


@pytest.mark.parametrize("seed", range(20))
def test_flat_round_trip(seed):
    rng = np.random.default_rng(seed)
    index = random_index(rng, *rng.integers(1, 60, 2), rng.choice([0, 0.02, 0.1, 0.5, 1.0]))
    for bits in (1, 3, 4, 5, 8):
        v, z = flat_encode(index, bits)
        assert np.array_equal(flat_decode(v, z, bits, index.shape), index)


@pytest.mark.parametrize("pes", [1, 2, 3, 4, 7, 8, 16, 33, 64])
@pytest.mark.parametrize("seed", range(4))
def test_csc_round_trip(pes, seed):
    rng = np.random.default_rng(seed * 100 + pes)
    rows, cols = rng.integers(1, 90), rng.integers(1, 40)
    index = random_index(rng, rows, cols, rng.choice([0.0, 0.01, 0.08, 0.3, 1.0]))
    index[:, rng.integers(0, cols)] = 0  # an empty column
    if rows > 40:
        index[3:40, 0] = 0  # a gap of over 15 local rows for small pe counts
        index[40, 0] = 9
    streams = csc_encode(index, pes)
    assert len(streams) == pes
    assert all(len(s.ptr) == cols + 1 and np.all(s.z <= 15) for s in streams)
    assert np.array_equal(csc_decode(streams, index.shape), index)


def test_empty_pes_when_fewer_rows_than_pes():
    index = np.array([[1, 0], [0, 2], [3, 4]], dtype=np.uint8)
    streams = csc_encode(index, pes=8)
    assert [pe_rows(3, 8, p) for p in range(8)] == [1, 1, 1, 0, 0, 0, 0, 0]
    assert all(s.entries == 0 for s in streams[3:])
    assert np.array_equal(csc_decode(streams, index.shape), index)


def test_csc_rows_interleave_over_pes():
    index = np.zeros((8, 1), dtype=np.uint8)
    index[5, 0] = 7  # row 5 -> PE 1, local row 1
    streams = csc_encode(index, pes=4)
    assert streams[1].v.tolist() == [7] and streams[1].z.tolist() == [1]
    assert all(s.entries == 0 for i, s in enumerate(streams) if i != 1)
