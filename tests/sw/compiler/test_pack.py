"""The compiler: pack then unpack is the identity; what does not fit is refused with numbers."""

import numpy as np
import pytest

from tinyeie.contract.config import EngineConfig
from tinyeie.contract.errors import TinyeieError
from tinyeie.contract.layouts import Entry, unpack_bits
from tinyeie.sw.compiler.pack import column_row, layer_descriptor, pack, read_run, unpack
from tinyeie.sw.compiler.random_model import random_layers


def assert_same_layers(got, want):
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g.index, w.index)
        np.testing.assert_array_equal(g.codebook, w.codebook)
        np.testing.assert_array_equal(g.bias, w.bias)
        assert (g.shift, g.bias_shift, g.relu, g.last) == (w.shift, w.bias_shift, w.relu, w.last)


@pytest.mark.parametrize("pes", [1, 2, 3, 4, 5, 8, 13, 16, 31, 64])
def test_pack_unpack_round_trip(pes):
    rng = np.random.default_rng(pes)
    cfg = EngineConfig(pes=pes, pe_depth=8192, act_depth=200)
    # 40 rows: with 64 PEs, 24 PEs own no row at all.
    layers = random_layers(rng, [60, 40, 90, 7], density=[0.5, 0.05, 0.9], cfg=cfg,
                           gap_rows=35, empty_cols=0.2)
    assert_same_layers(unpack(pack(layers, cfg)), layers)


def test_long_gaps_are_bridged_by_fillers():
    cfg = EngineConfig(pes=1, pe_depth=512, act_depth=100)
    layers = random_layers(np.random.default_rng(0), [2, 100], density=0.0, cfg=cfg)
    layers[0].index[[0, 40, 99], 0] = [3, 5, 7]     # gaps of 39 and 58 rows
    packed = pack(layers, cfg)
    ptr, mask, single = column_row(packed, 0)
    assert (mask, single) == (1, 0)
    rows, codes = read_run(packed.pe_words[0], ptr, cfg.pe_depth, single)
    assert codes.tolist() == [3, 0, 0, 5, 0, 0, 0, 7]          # 2 and 3 fillers
    assert rows[codes != 0].tolist() == [0, 40, 99]
    entries = [unpack_bits(Entry, int(w)) for w in packed.pe_words[0][ptr:ptr + 8]]
    assert [e["next_last"] for e in entries] == [0] * 6 + [1, 0]
    assert all(e["z"] == 15 for e in entries if e["v"] == 0)
    assert column_row(packed, 1) == (0, 0, 0)                  # an empty column: no PE
    assert_same_layers(unpack(packed), layers)


def test_runs_share_one_pointer_and_the_longest_sets_the_stride():
    cfg = EngineConfig(pes=2, pe_depth=64, act_depth=8)
    layers = random_layers(np.random.default_rng(0), [2, 6], density=0.0, cfg=cfg)
    layers[0].index[[0, 2, 4], 0] = 1     # PE 0: three entries in column 0
    layers[0].index[1, 1] = 2             # PE 1: one entry in column 1
    packed = pack(layers, cfg)
    assert column_row(packed, 0) == (0, 0b01, 0)
    assert column_row(packed, 1) == (3, 0b10, 0b10)     # PE 1's run is that one entry
    assert layer_descriptor(packed, 0)["bias_base"] == 4


def test_model_too_large_is_refused_with_what_it_needs():
    cfg = EngineConfig(pes=2, pe_depth=100, act_depth=64)
    layers = random_layers(np.random.default_rng(0), [64, 64], density=0.5, cfg=cfg)
    with pytest.raises(TinyeieError, match=r"PE memory words .* needs [\d,]+, the engine has 100"):
        pack(layers, cfg)


@pytest.mark.parametrize("change, message", [
    (dict(act_depth=50), "act_depth"),
    (dict(col_depth=60), "column table"),
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
