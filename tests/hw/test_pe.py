"""The PE on Amaranth's simulator: queued columns in, drained rows out, against the golden model.

Each case packs a random layer for N PEs, runs PE p alone on its share (its memory holding the
packed words), and compares every local row's total and requantised result with the exact
integer model.
"""

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from tinyeie.contract.config import EngineConfig
from tinyeie.contract.layouts import SHIFT_BITS
from tinyeie.hw.pe import PE, run_end_width
from tinyeie.hw.requant import shift_plan
from tinyeie.sim.pysim import stream_put
from tinyeie.sw.compiler.balance import order_layers
from tinyeie.sw.compiler.fixedpoint import Fixed, round_shift
from tinyeie.sw.compiler.pack import layer_codebook, layer_descriptor, pack, run_bounds
from tinyeie.sw.compiler.random_model import random_inputs, random_layers
from tinyeie.sw.compress.sparse import pe_rows


def expected_pe(layer, a, pes, pe, cfg):
    """(totals, results) of PE ``pe``'s local rows: the golden arithmetic on its rows only.

    The total includes the rounding term folded into the stored bias, so the result is the
    floor shift of it (which equals the round-half-up shift of the bias without it).
    """
    totals = (layer.weights[pe::pes] @ a
              + (layer.stored_bias[pe::pes] << layer.bias_shift))
    act = Fixed(cfg.act_width, 0)
    results = act.saturate(totals >> layer.shift)
    np.testing.assert_array_equal(results, act.saturate(round_shift(
        layer.weights[pe::pes] @ a + layer.full_bias[pe::pes], layer.shift)))
    if layer.relu:
        results = np.maximum(results, 0)
    return totals, results


def run_pe(cfg, packed, pe, a, seed, idle=0.3, passes=1):
    """``passes`` lists of (totals, results) of PE ``pe`` on input ``a``, the layer run
    ``passes`` times as the engine runs layers: each drain starts as soon as no entries are
    left to read, and the next pass's first column waits in the queue during it."""
    d = layer_descriptor(packed, 0)
    codebook = [int(c) for c in layer_codebook(packed, 0)]
    dut = PE(cfg, init=packed.pe_words[pe], codebook_init=codebook)
    # The layer's shift as the engine hands it to the PEs.
    m = Module()
    m.submodules.pe = dut
    shift = Signal(SHIFT_BITS)
    window, scale = shift_plan(shift, cfg.act_width, cfg.acc_width)
    m.d.comb += [dut.window.eq(window), dut.scale.eq(scale)]
    rng = np.random.default_rng(seed)
    local = pe_rows(d["out_count"], cfg.pes, pe)
    columns = []
    for j in np.flatnonzero(a):
        start, end = run_bounds(packed, d["col_base"] + j, pe)
        if end > start:
            columns.append({"a": int(a[j]), "start": start,
                            "last": (end - 1) % (1 << run_end_width(cfg))})
    outcome = []

    async def testbench(ctx):
        ctx.set(dut.bias_scale, 1 << d["bias_shift"])
        ctx.set(shift, d["shift"])
        ctx.set(dut.mask, ((1 << cfg.acc_width) - 1) & (-1 << (d["shift"] + cfg.act_width - 1)))
        ctx.set(dut.relu, d["relu"])
        queued = 0
        for run in range(passes):
            for column in columns[queued:]:
                await stream_put(ctx, dut.i_column, column, idle=idle, rng=rng)
            await ctx.tick().until(~dut.fetching)
            queued = int(run + 1 < passes and bool(columns))
            if queued:
                ctx.set(dut.i_column.payload, columns[0])
                ctx.set(dut.i_column.valid, 1)
            # One row a cycle; each result comes back with its row.
            totals, results = [], []
            for r in range(local + 6):
                ctx.set(dut.drain, r < local)
                ctx.set(dut.drain_row, min(r, local - 1))
                ctx.set(dut.drain_addr, d["bias_base"] + min(r, local - 1))
                taken = ctx.get(dut.i_column.ready)
                await ctx.tick()
                if taken:
                    ctx.set(dut.i_column.valid, 0)
                if ctx.get(dut.result_valid):
                    assert ctx.get(dut.result_row) == len(totals)
                    totals.append(ctx.get(dut.total))
                    results.append(ctx.get(dut.result))
            outcome.append((np.array(totals), np.array(results)))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    return outcome


@pytest.mark.parametrize("pes, pe, rows, cols, density, seed", [
    (4, 1, 37, 30, 0.4, 1),      # rows not a multiple of the PEs
    (2, 0, 80, 12, 0.03, 2),     # long gaps: filler entries
    (8, 7, 8, 40, 0.9, 3),       # one local row: every entry hits it, forwarding each cycle
    (3, 2, 20, 25, 1.0, 4),      # dense
])
def test_pe_matches_golden(pes, pe, rows, cols, density, seed):
    cfg = EngineConfig(pes=pes, pe_depth=1024, act_depth=128, queue_depth=4)
    rng = np.random.default_rng(seed)
    layers = [random_layers(rng, [cols, rows, 1], density=density, cfg=cfg)[0],
              random_layers(rng, [rows, 1], cfg=cfg)[0]]
    packed = pack(layers, cfg, activity=[rng.random(cols), rng.random(rows)])
    layer = order_layers(layers, packed.orders)[0]      # rows as the PEs hold them
    a = random_inputs(rng, 1, cols, density=0.6, cfg=cfg)[0]
    want_totals, want_results = expected_pe(layer, a, pes, pe, cfg)
    # Twice: the second run's first entries follow the first drain's last rows at once (with
    # one local row, every entry lands on the row drained last).
    for run, (totals, results) in enumerate(run_pe(cfg, packed, pe, a, seed, passes=2)):
        np.testing.assert_array_equal(totals, want_totals, err_msg=f"seed {seed}, run {run}")
        np.testing.assert_array_equal(results, want_results, err_msg=f"seed {seed}, run {run}")
