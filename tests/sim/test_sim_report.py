"""What `tinyeie sim` reports beyond the counts: where the RTL first differs (image, layer,
output, both values), traced to its layer by running the model cut after each layer; and the
waveforms, in the file asked for."""

from dataclasses import replace

import numpy as np
import pytest

import tinyeie.sim.engine_run as engine_run
from tinyeie.contract.config import EngineConfig
from tinyeie.contract.layouts import CODEBOOK_OFFSET, LAYER_WORDS
from tinyeie.sim.engine_bench import simulate_engine
from tinyeie.sim.mismatch import cut_after, first_mismatch
from tinyeie.sw.compiler.compile import golden_logits
from tinyeie.sw.compiler.golden import input_activations, int_forward
from tinyeie.sw.compiler.pack import pack, unpack
from tinyeie.sw.compiler.random_model import random_layers
from tinyeie.sw.data import Dataset

# The engine of tests/rtl/test_engine_random.py with 3 PEs: one Verilator build for both.
CFG = EngineConfig(pes=3, pe_depth=8192, col_depth=512, act_depth=128, max_layers=4,
                   queue_depth=4)


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(21)
    layers = random_layers(rng, [20, 16, 12, 6], density=0.5, cfg=CFG)
    x = rng.random((12, 20)).astype(np.float32) * 0.99
    data = Dataset("random.npz", 20, 6, lambda: {"train": (x, np.zeros(12, int)),
                                                  "test": (x, np.arange(12) % 6)})
    return pack(layers, CFG), layers, data, x


def test_a_cut_model_gives_its_last_layer_sums(model):
    packed, layers, _, x = model
    inputs = input_activations(x, CFG)
    first = replace(unpack(packed)[0], last=True, shift=0, relu=False)
    acc = inputs.astype(np.int64) @ first.weights.T.astype(np.int64) + first.full_bias
    assert cut_after(packed, 1).n_layers == 2
    np.testing.assert_array_equal(golden_logits(cut_after(packed, 0), inputs), acc)
    np.testing.assert_array_equal(golden_logits(cut_after(packed, 0), inputs),
                                  int_forward([first], inputs, CFG))
    assert first_mismatch(packed, inputs, golden_logits(packed, inputs),
                          golden_logits(packed, inputs)) is None


def damaged_layer_1(packed, value):
    """``packed`` with one codebook entry of layer 1 negated: what a faulty engine computes."""
    table = packed.layer_table.copy()
    word = LAYER_WORDS + CODEBOOK_OFFSET + value
    table[word] = (0x10000 - int(table[word])) & 0xFFFF
    return replace(packed, layer_table=table)


@pytest.mark.verilator
def test_a_difference_is_traced_to_the_layer_it_starts_in(model, monkeypatch):
    packed, layers, data, x = model
    used = np.bincount(layers[1].index[layers[1].index > 0]).argmax()
    assert layers[1].codebook[used] != 0
    write = engine_run.write_commands
    # The RTL receives the damaged model whenever layer 1 is in it; the golden model does not.
    monkeypatch.setattr(engine_run, "write_commands", lambda p: write(
        damaged_layer_1(p, used) if p.n_layers > 1 else p))
    stats = simulate_engine(packed, 12, data=data, progress=False)
    inputs = input_activations(x, CFG)
    wrong = golden_logits(damaged_layer_1(packed, used), inputs)
    right = golden_logits(packed, inputs)
    differs = np.flatnonzero((wrong != right).any(axis=1))
    assert stats["mismatches"] == len(differs) > 0
    first = stats["first_mismatch"]
    assert first["image"] == differs[0] and first["layer"] == 1
    cut = cut_after(packed, 1)
    sums = golden_logits(cut, inputs[differs[0]][None])[0]
    bad = golden_logits(damaged_layer_1(cut, used), inputs[differs[0]][None])[0]
    j = int(np.flatnonzero(sums != bad)[0])
    assert (first["output"], first["golden"], first["rtl"]) == (j, sums[j], bad[j])


@pytest.mark.verilator
def test_waves_go_to_the_file_asked_for(model, tmp_path):
    packed, _, data, _ = model
    stats = simulate_engine(packed, 2, data=data, progress=False, waves=tmp_path / "w" / "a.vcd")
    assert stats["waves"] == str(tmp_path / "w" / "a.vcd") and stats["mismatches"] == 0
    assert (tmp_path / "w" / "a.vcd").read_text()[:200].lstrip().startswith("$")
