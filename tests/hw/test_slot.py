"""OneSlot: a one-item queue, against a list as its model, with random idle and stall."""

import random

import pytest

from tinyeie.hw.slot import OneSlot
from tinyeie.sim.pysim import check_stream_rules, get_count, put_all, simulate


@pytest.mark.parametrize("idle, stall", [(0.0, 0.0), (0.5, 0.0), (0.0, 0.5), (0.4, 0.4)])
def test_items_leave_in_order_unchanged(idle, stall):
    rng = random.Random(7)
    items = [rng.randrange(1 << 12) for _ in range(200)]
    dut = OneSlot(12)
    got = []

    async def source(ctx):
        await put_all(ctx, dut.w_stream, items, idle=idle, rng=random.Random(1))

    async def sink(ctx):
        got.extend(await get_count(ctx, dut.r_stream, len(items), stall=stall,
                                   rng=random.Random(2)))

    async def one_at_most(ctx):
        async for _, _, level, ready, valid in ctx.tick().sample(
                dut.level, dut.w_stream.ready, dut.r_stream.valid):
            assert ready == (level == 0) and valid == (level == 1)

    simulate(dut, [source, sink], [check_stream_rules(dut.r_stream), one_at_most],
             timeout=2000)
    assert got == items

