"""The shipped LeNet-300-100 on the engine's RTL (Verilator), on 200 real MNIST test images:
every logit equals the golden model's, with back-pressure on the streams."""

from pathlib import Path

import numpy as np
import pytest

from tinyeie.contract.config import EngineConfig
from tinyeie.sim.engine_run import EngineCase, run_cases
from tinyeie.sw.compiler.compile import compile_model
from tinyeie.sw.compiler.golden import input_activations
from tinyeie.sw.mnist import load_mnist

pytestmark = [pytest.mark.verilator, pytest.mark.slow]

MODEL = Path(__file__).resolve().parents[2] / "models" / "lenet300.npz"
IMAGES = 200


@pytest.mark.parametrize("pes, idle, stall", [(4, 0.0, 0.0), (8, 0.3, 0.5)])
def test_lenet300_mnist_bit_exact(pes, idle, stall):
    cfg = EngineConfig(pes=pes, queue_depth=8)
    compiled = compile_model(MODEL, cfg)
    xt, yt = load_mnist()["test"]
    inputs = input_activations(xt[:IMAGES], cfg)
    [result] = run_cases(cfg, [EngineCase(compiled.packed, inputs)], idle=idle, stall=stall)
    want = compiled.int_logits(xt[:IMAGES])
    mismatched = np.flatnonzero((result.logits != want).any(axis=1))
    assert len(mismatched) == 0, f"images {mismatched[:10].tolist()} differ from the golden model"
