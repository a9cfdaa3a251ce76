"""The packed-image interpreter equals the integer model exactly and counts the ideal cycles."""

import numpy as np
import pytest

from tinyeie.contract.config import EngineConfig
from tinyeie.sw.compiler.golden import balanced_cycles, column_entries, ideal_cycles, int_forward
from tinyeie.sw.compiler.interpreter import Interpreter
from tinyeie.sw.compiler.pack import layer_descriptor, pack, unpack
from tinyeie.sw.compiler.random_model import random_inputs, random_layers


@pytest.mark.parametrize("pes, saturate, seed", [(1, False, 0), (4, True, 1), (7, False, 2),
                                                 (16, True, 3), (64, False, 4)])
def test_interpreter_equals_integer_model(pes, saturate, seed):
    rng = np.random.default_rng(seed)
    cfg = EngineConfig(pes=pes, pe_depth=8192, act_depth=128)
    layers = random_layers(rng, [100, 60, 33, 10], density=[0.3, 0.6, 1.0], cfg=cfg,
                           gap_rows=20, empty_cols=0.1, saturate=saturate)
    inputs = random_inputs(rng, 20, 100, density=0.4, cfg=cfg)
    inputs[0] = 0                                   # an all-zero input
    packed = pack(layers, cfg, activity=[rng.random(layer.shape[1]) for layer in layers])
    want = int_forward(layers, inputs, cfg)
    # The cycles from the layers as the engine holds them: entries (fillers included) for the
    # balanced bound, and for the ideal also the padding each PE walks after its runs.
    held = unpack(packed)
    _, layer_inputs = int_forward(held, inputs, cfg, trace=True)
    entries = [column_entries(layer.index, pes) for layer in held]
    walked = [np.diff(packed.starts[:, d["col_base"]:d["col_base"] + d["in_count"] + 1])
              for d in (layer_descriptor(packed, i) for i in range(len(layers)))]
    assert all((w >= e).all() for w, e in zip(walked, entries))
    interpreter = Interpreter(packed)
    for k, a in enumerate(inputs):
        run = interpreter.run(a)
        np.testing.assert_array_equal(run.logits, want[k], err_msg=f"seed {seed}, input {k}")
        these = [x[k] for x in layer_inputs]
        assert run.ideal_cycles == ideal_cycles(these, walked)
        assert run.balanced_cycles == balanced_cycles(these, entries)
        assert run.balanced_cycles <= run.ideal_cycles
