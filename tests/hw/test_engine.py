"""The whole engine on Amaranth's simulator, small configurations, against the golden model.

The exhaustive regression (many shapes, back-pressure, MNIST) runs on Verilator in sim/; these
cases are the quick check that the blocks fit together.
"""

import numpy as np
import pytest
from amaranth.hdl import ResetInserter, Signal
from amaranth.sim import Simulator

from tinyeie.contract.config import EngineConfig
from tinyeie.hw.engine import Engine
from tinyeie.sim.pysim import get_count, put_all, simulate
from tinyeie.sw.compiler.golden import int_forward
from tinyeie.sw.compiler.image import image_sections
from tinyeie.sw.compiler.pack import layer_descriptor, pack
from tinyeie.sw.compiler.random_model import random_inputs, random_layers


def model_writes(packed):
    """The packed model as write-port payloads."""
    for target, slice_, base, words in image_sections(packed):
        for k, word in enumerate(words):
            yield {"addr": {"word": base + k, "slice": slice_, "target": target},
                   "data": int(word)}


def rtl_infer(cfg, packed, inputs, *, load=False, seed=0, idle=0.0, stall=0.0):
    """Logits and cycle counts of the engine for each input vector."""
    dut = Engine(cfg, packed=None if load else packed)
    rng = np.random.default_rng(seed)
    out_count = layer_descriptor(packed, packed.n_layers - 1)["out_count"]
    outputs, cycles = [], []

    async def testbench(ctx):
        if load:
            await put_all(ctx, dut.i_model, model_writes(packed), idle=idle, rng=rng)
        for a in inputs:
            await put_all(ctx, dut.i_stream, [int(x) for x in a], idle=idle, rng=rng)
            results = await get_count(ctx, dut.o_stream, out_count, stall=stall, rng=rng)
            assert [r.last for r in results] == [0] * (len(results) - 1) + [1]
            outputs.append([r.value for r in results])
            cycles.append(ctx.get(dut.cycles))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    return np.array(outputs), cycles


@pytest.mark.parametrize("pes, sizes, density, seed", [
    (4, [30, 21, 10], 0.4, 1),
    (3, [17, 40, 5], [0.9, 0.2], 2),
    (1, [12, 9, 4], 0.5, 3),
])
def test_engine_matches_golden(pes, sizes, density, seed):
    cfg = EngineConfig(pes=pes, pe_depth=2048, col_depth=256, act_depth=64, queue_depth=4)
    rng = np.random.default_rng(seed)
    layers = random_layers(rng, sizes, density=density, cfg=cfg, gap_rows=17)
    packed = pack(layers, cfg)
    inputs = random_inputs(rng, 3, sizes[0], density=0.5, cfg=cfg)
    logits, cycles = rtl_infer(cfg, packed, inputs, seed=seed)
    np.testing.assert_array_equal(logits, int_forward(layers, inputs, cfg),
                                  err_msg=f"seed {seed}")


SMALL = EngineConfig(pes=2, pe_depth=512, col_depth=64, act_depth=32, queue_depth=2)


def small_case(seed, density=0.5, input_density=0.5):
    """A random 20-13-6 network packed for :data:`SMALL`, and two input vectors."""
    rng = np.random.default_rng(seed)
    layers = random_layers(rng, [20, 13, 6], density=density, cfg=SMALL)
    inputs = random_inputs(rng, 2, 20, density=input_density, cfg=SMALL)
    return SMALL, layers, pack(layers, SMALL), inputs


def test_model_written_through_the_write_port_under_backpressure():
    cfg, layers, packed, inputs = small_case(7)
    logits, _ = rtl_infer(cfg, packed, inputs, load=True, seed=7, idle=0.3, stall=0.5)
    np.testing.assert_array_equal(logits, int_forward(layers, inputs, cfg))


def test_output_backpressure_does_not_count_as_cycles():
    cfg, _, packed, inputs = small_case(8)
    _, free = rtl_infer(cfg, packed, inputs, seed=8)
    _, stalled = rtl_infer(cfg, packed, inputs, seed=8, stall=0.7)
    assert free == stalled


@pytest.mark.parametrize("cut", [2, 12, 25, "first-result"])
def test_a_reset_mid_inference_leaves_nothing_behind(cut):
    """The protocol resets the engine when it gives an inference up: the next inference must
    be exact, though the one cut short left partial sums in the accumulators."""
    cfg, layers, packed, inputs = small_case(9, density=0.6, input_density=0.9)
    dut = Engine(cfg, packed)
    reset = Signal()
    got = []

    async def testbench(ctx):
        await put_all(ctx, dut.i_stream, [int(x) for x in inputs[0]])
        if cut == "first-result":
            await get_count(ctx, dut.o_stream, 1)
        else:
            await ctx.tick().repeat(cut)
        ctx.set(reset, 1)
        await ctx.tick()
        ctx.set(reset, 0)
        await put_all(ctx, dut.i_stream, [int(x) for x in inputs[1]])
        got.extend(r.value for r in await get_count(ctx, dut.o_stream, 6))

    simulate(ResetInserter(reset)(dut), [testbench], timeout=20000, name="engine_reset")
    assert got == int_forward(layers, inputs[1:], cfg)[0].tolist()


@pytest.mark.parametrize("pes", [1, 2, 4])
@pytest.mark.parametrize("seed", [11, 12])
def test_layers_that_follow_a_drain_at_once(pes, seed):
    # The next layer starts while the drain still writes its input: chained narrow dense layers
    # (each drain a few rows long) make the scanner read the first words right behind it.
    cfg = EngineConfig(pes=pes, pe_depth=2048, col_depth=256, act_depth=64, max_layers=4,
                       queue_depth=4)
    rng = np.random.default_rng(seed)
    sizes = [10, pes, 9, pes, 6]
    layers = random_layers(rng, sizes, density=[0.8, 1.0, 1.0, 1.0], cfg=cfg)
    inputs = random_inputs(rng, 4, sizes[0], density=0.9, cfg=cfg)
    logits, _ = rtl_infer(cfg, pack(layers, cfg), inputs, seed=seed)
    np.testing.assert_array_equal(logits, int_forward(layers, inputs, cfg),
                                  err_msg=f"seed {seed}")
