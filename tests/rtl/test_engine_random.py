"""The engine's RTL on Verilator against the golden model: random layers of every kind.

Shapes that are not multiples of N, densities from 0 to 100 %, empty columns, gaps of more
than 15 rows, all-zero inputs and saturating requantisation, several models written one after
another into the same engine, with random idle cycles and back-pressure on every stream.
"""

import numpy as np
import pytest

from tinyeie.contract.config import EngineConfig
from tinyeie.sim.engine_run import EngineCase, run_cases
from tinyeie.sw.compiler.golden import int_forward
from tinyeie.sw.compiler.pack import pack
from tinyeie.sw.compiler.random_model import random_inputs, random_layers

pytestmark = pytest.mark.verilator

SHAPES = [[37, 23, 11], [64, 64, 64, 5], [5, 90, 3], [100, 17], [33, 1, 9], [120, 60, 30, 10]]


def random_cases(cfg, seed):
    rng = np.random.default_rng(seed)
    cases, models = [], []
    for k, sizes in enumerate(SHAPES):
        density = rng.choice([0.0, 0.02, 0.3, 0.8, 1.0], len(sizes) - 1)
        density[0] = max(density[0], 0.05)       # some work in every model
        layers = random_layers(rng, sizes, density=density, cfg=cfg, gap_rows=20,
                               empty_cols=0.15, saturate=bool(k % 2))
        inputs = random_inputs(rng, 4, sizes[0], density=rng.uniform(0.1, 1.0), cfg=cfg)
        inputs[0] = 0                            # all-zero input vector
        inputs[1, :] = rng.choice([-128, 127], sizes[0])   # full scale everywhere
        cases.append(EngineCase(packed=pack(layers, cfg), inputs=inputs))
        models.append(layers)
    return cases, models


@pytest.mark.parametrize("pes", [1, 3, 4, 8])
# Every combination of an idle source and a stalling sink (make sim-full runs them at scale).
@pytest.mark.parametrize("idle, stall", [(0.0, 0.0), (0.5, 0.0), (0.0, 0.7), (0.5, 0.7)])
def test_random_layers_bit_exact(pes, idle, stall):
    cfg = EngineConfig(pes=pes, pe_depth=8192, col_depth=512, act_depth=128, max_layers=4,
                       queue_depth=4)
    seed = 100 * pes + int(10 * idle) + int(stall > 0)
    cases, models = random_cases(cfg, seed)
    results = run_cases(cfg, cases, idle=idle, stall=stall, seed=seed)
    for k, (case, layers, result) in enumerate(zip(cases, models, results)):
        np.testing.assert_array_equal(result.logits, int_forward(layers, case.inputs, cfg),
                                      err_msg=f"seed {seed}, model {k} {SHAPES[k]}")
