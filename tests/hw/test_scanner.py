"""Leading non-zero detection and the requantiser, on Amaranth's simulator."""

import numpy as np
import pytest
from amaranth.hdl import Module, Signal, signed
from amaranth.lib import memory
from amaranth.sim import Simulator

from tinyeie.contract.config import EngineConfig
from tinyeie.hw.requant import overflow_mask, requantise, shift_plan
from tinyeie.hw.scanner import Scanner
from tinyeie.sim.pysim import stream_get
from tinyeie.sw.compiler.fixedpoint import Fixed


def scan(acts, pes, half, stall, seed):
    """The (j, a) pairs the scanner emits for activations ``acts`` stored in bank half ``half``."""
    cfg = EngineConfig(pes=pes, act_depth=64)
    dut = Scanner(cfg)
    m = Module()
    m.submodules.scanner = dut
    words = 1 << max(1, int(np.ceil(np.log2(cfg.bank_depth))))
    for p in range(pes):
        init = [0] * (2 * words)
        for i in range(p, len(acts), pes):
            init[half * words + i // pes] = int(acts[i])
        mem = memory.Memory(shape=signed(8), depth=2 * words, init=init)
        m.submodules[f"bank{p}"] = mem
        rd = mem.read_port()
        m.d.comb += [rd.addr.eq(dut.bank_addr), rd.en.eq(dut.bank_en),
                     dut.bank_data[p].eq(rd.data)]
    rng = np.random.default_rng(seed)
    got = []

    async def testbench(ctx):
        ctx.set(dut.in_count, len(acts))
        ctx.set(dut.half, half)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        while ctx.get(dut.busy):
            if ctx.get(dut.o_stream.valid):
                item = await stream_get(ctx, dut.o_stream, stall=stall, rng=rng)
                got.append((item.j, item.a))
            else:
                await ctx.tick()

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    return got


@pytest.mark.parametrize("pes, count, density, half, stall, seed", [
    (4, 37, 0.3, 0, 0.0, 0), (4, 40, 1.0, 1, 0.5, 1), (3, 50, 0.1, 0, 0.3, 2),
    (1, 20, 0.5, 1, 0.0, 3), (8, 64, 0.0, 0, 0.0, 4), (5, 7, 0.6, 1, 0.7, 5),
])
def test_scanner_emits_every_nonzero_in_order(pes, count, density, half, stall, seed):
    rng = np.random.default_rng(seed)
    acts = np.where(rng.random(count) < density, rng.integers(-128, 128, count), 0)
    want = [(int(j), int(acts[j])) for j in np.flatnonzero(acts)]
    assert scan(acts, pes, half, stall, seed) == want, f"seed {seed}"


@pytest.mark.parametrize("act_width, acc_width", [(8, 24), (8, 40), (4, 12), (16, 32), (6, 16)])
def test_requantiser_is_a_saturating_floor_shift(act_width, acc_width):
    total = Signal(signed(acc_width))
    shift = Signal(5)
    relu = Signal()
    out = Signal(signed(act_width))
    m = Module()
    window, scale = shift_plan(shift, act_width, acc_width)
    m.d.comb += out.eq(requantise(total, window, scale, overflow_mask(shift, act_width, acc_width),
                                  relu, act_width))
    rng = np.random.default_rng(acc_width)
    top = 1 << (acc_width - 1)
    values = np.concatenate([rng.integers(-top, top, 300), np.arange(-300, 300), [top - 1, -top],
                             [v for v in 127 << np.arange(16) if v < top],
                             [v for v in -128 << np.arange(16) if v >= -top],
                             [v for v in (128 << np.arange(15)) - 1 if v < top]])
    fmt = Fixed(act_width, 0)

    async def testbench(ctx):
        for s in range(32):
            want = fmt.saturate(values >> s)
            for r in (0, 1):
                ctx.set(shift, s)
                ctx.set(relu, r)
                for v, w in zip(values, np.maximum(want, 0) if r else want):
                    ctx.set(total, int(v))
                    assert ctx.get(out) == w, (v, s, r)

    sim = Simulator(m)
    sim.add_testbench(testbench)
    sim.run()
