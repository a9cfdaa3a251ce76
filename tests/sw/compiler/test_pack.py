"""The compiler: pack then unpack gives the layers back (rows in the engine's order); runs lie
back to back within reach of the column table's shared base; what does not fit is refused with
numbers."""

import numpy as np
import pytest

from tinyeie.contract.config import EngineConfig
from tinyeie.contract.errors import TinyeieError
from tinyeie.contract.layouts import BASE_UNIT, MAX_OFFSET, Entry, unpack_bits
from tinyeie.sw.compiler.balance import order_layers
from tinyeie.sw.compiler.pack import (
    column_row,
    layer_descriptor,
    pack,
    pe_entries,
    place_runs,
    read_run,
    run_bounds,
    unpack,
)
from tinyeie.sw.compiler.random_model import random_layers


def assert_same_layers(got, want):
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g.index, w.index)
        np.testing.assert_array_equal(g.codebook, w.codebook)
        np.testing.assert_array_equal(g.bias, w.bias)
        assert (g.shift, g.bias_shift, g.relu, g.last) == (w.shift, w.bias_shift, w.relu, w.last)


@pytest.mark.parametrize("balance", [False, True])
@pytest.mark.parametrize("pes", [1, 2, 3, 4, 5, 8, 13, 16, 31, 64])
def test_pack_unpack_round_trip(pes, balance):
    rng = np.random.default_rng(pes)
    cfg = EngineConfig(pes=pes, pe_depth=8192, act_depth=200)
    # 40 rows: with 64 PEs, 24 PEs own no row at all.
    layers = random_layers(rng, [60, 40, 90, 7], density=[0.5, 0.05, 0.9], cfg=cfg,
                           gap_rows=35, empty_cols=0.2)
    activity = [rng.random(layer.shape[1]) for layer in layers]
    packed = pack(layers, cfg, balance=balance, activity=activity)
    assert_same_layers(unpack(packed), order_layers(layers, packed.orders))
    if not balance:
        assert_same_layers(unpack(packed), layers)
    np.testing.assert_array_equal(packed.orders[-1], np.arange(7))    # outputs keep their order


def test_long_gaps_are_bridged_by_fillers():
    cfg = EngineConfig(pes=1, pe_depth=512, act_depth=100)
    layers = random_layers(np.random.default_rng(0), [2, 100], density=0.0, cfg=cfg)
    layers[0].index[[0, 40, 99], 0] = [3, 5, 7]     # gaps of 39 and 58 rows
    packed = pack(layers, cfg)
    start, end = run_bounds(packed, 0, 0)
    assert end - start == 8
    rows, codes = read_run(pe_entries(packed, 0), start, end)
    assert codes.tolist() == [3, 0, 0, 5, 0, 0, 0, 7]          # 2 and 3 fillers
    assert rows[codes != 0].tolist() == [0, 40, 99]
    entries = [unpack_bits(Entry, int(e)) for e in pe_entries(packed, 0)[start:end]]
    assert all(e["z"] == 15 for e in entries if e["v"] == 0)
    assert run_bounds(packed, 1, 0) == (end, end)              # an empty column
    assert_same_layers(unpack(packed), layers)


def test_runs_lie_back_to_back_two_entries_a_word():
    cfg = EngineConfig(pes=2, pe_depth=64, act_depth=8)
    layers = random_layers(np.random.default_rng(0), [3, 6], density=0.0, cfg=cfg)
    layers[0].index[[0, 2, 4], 0] = [1, 2, 3]      # PE 0: three entries in column 0
    layers[0].index[1, 1] = 4                      # PE 1: one entry in column 1
    layers[0].index[[3, 5], 2] = [5, 6]            # PE 1: two in column 2
    packed = pack(layers, cfg, balance=False)
    d = layer_descriptor(packed, 0)
    assert d["bias_base"] == 0
    first = 2 * 3                                   # after 3 bias words a PE
    assert [run_bounds(packed, j, 0) for j in range(3)] == [(first, first + 3)] + [
        (first + 3, first + 3)] * 2
    assert [run_bounds(packed, j, 1) for j in range(3)] == [(first, first), (first, first + 1),
                                                           (first + 1, first + 3)]
    assert column_row(packed, 0) == {"base": first // BASE_UNIT, "offset": [0, 0]}
    # PE 0's entries (v | z << 4; local rows 0, 1, 2) in bytes 6..8: words 3 and 4.
    assert packed.pe_words[0][3:].tolist() == [0x01 | 0x02 << 8, 0x03]
    assert len(packed.pe_words[1]) == 3 + 2


def test_a_pe_falling_behind_is_padded_after_the_least_active_column():
    lengths = [[0, 0, 20, 0],
               [1, 1, 0, 0]]
    bases, starts = place_runs(lengths, activity=[0.9, 0.1, 0.9, 0.5])
    assert starts[0].tolist() == [0, 0, 0, 20, 20]
    assert starts[1].tolist() == [0, 1, 6, 6, 6]    # 4 bytes after column 1, not column 2
    for j, base in enumerate(bases):
        offsets = starts[:, j] - BASE_UNIT * base
        assert 0 <= offsets.min() and offsets.max() <= MAX_OFFSET
    # Without activities, it stays where it was needed.
    _, lazy = place_runs(lengths)
    assert lazy[1].tolist() == [0, 1, 2, 6, 6]


@pytest.mark.parametrize("pes", [2, 4, 16])
def test_every_run_is_within_reach_of_its_base(pes):
    rng = np.random.default_rng(pes)
    lengths = rng.poisson(3, (pes, 300)) * (rng.random((pes, 300)) < 0.7)
    lengths[0, :50] += 4                             # one PE drifts ahead
    bases, starts = place_runs(lengths, start=10, activity=rng.random(300))
    offsets = starts - BASE_UNIT * bases
    assert offsets.min() >= 0 and offsets.max() <= MAX_OFFSET
    assert (np.diff(starts, axis=1) >= lengths).all()   # runs in order, never overlapping
    assert (starts[:, 0] >= 10).all()


def test_model_too_large_is_refused_with_what_it_needs():
    cfg = EngineConfig(pes=2, pe_depth=100, act_depth=64)
    layers = random_layers(np.random.default_rng(0), [64, 64], density=0.5, cfg=cfg)
    with pytest.raises(TinyeieError, match=r"PE memory words .* needs ([\d,]+), the engine has "
                                           r"100, [\d,]+ too many"):
        pack(layers, cfg)


@pytest.mark.parametrize("change, message", [
    (dict(act_depth=50), "act_depth"),
    (dict(col_depth=60), "column table .* needs 145, the engine has 60, 85 too many"),
    (dict(max_layers=1), "layers needs 2"),
])
def test_each_memory_limit_is_checked(change, message):
    cfg = EngineConfig(pes=2, pe_depth=4096, act_depth=100)
    layers = random_layers(np.random.default_rng(0), [64, 80, 10], cfg=cfg)
    with pytest.raises(TinyeieError, match=message):
        pack(layers, EngineConfig(pes=2, pe_depth=4096, **{"act_depth": 100, **change}))


def test_bad_layer_chains_are_refused():
    cfg = EngineConfig(pes=2, act_depth=64)
    rng = np.random.default_rng(0)
    a = random_layers(rng, [10, 20, 5], cfg=cfg)
    b = random_layers(rng, [21, 5], cfg=cfg)
    with pytest.raises(TinyeieError, match="must chain"):
        pack([a[0], b[0]], cfg)
    a[1].codebook = np.zeros(17, dtype=np.int64)
    with pytest.raises(TinyeieError, match="at most 16"):
        pack(a, cfg)



def test_padding_keeps_every_run_short_enough_for_the_pe():
    # PE 0 runs ahead by 6 bytes a column; PE 1 is padded. Column 0 is the least active, but
    # a run may span at most 8 bytes (the PE tells its end by 3 low address bits).
    lengths = [[0] + [6] * 9, [0] * 10]
    activity = np.r_[0.0, np.ones(9)]
    _, free = place_runs(lengths, activity=activity)
    assert np.diff(free[1]).max() > 8                  # without the limit, all of it there
    bases, starts = place_runs(lengths, activity=activity, longest=8)
    assert np.diff(starts, axis=1).max() <= 8
    offsets = starts - BASE_UNIT * bases
    assert offsets.min() >= 0 and offsets.max() <= MAX_OFFSET
