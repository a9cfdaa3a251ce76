# amaranth: UnusedElaboratable=no
"""RequestInbox on Amaranth's simulator: bytes come out in order, whatever the traffic."""

import random

import pytest

from tinyeie.hw.request_inbox import RequestInbox
from tinyeie.hw.uart import RxError
from tinyeie.sim.pysim import check_stream_rules, simulate, stream_get, stream_put, watch_level


@pytest.mark.parametrize("depth, idle, stall", [(4, 0.0, 0.0), (4, 0.0, 0.8), (8, 0.6, 0.0),
                                                (16, 0.3, 0.5), (256, 0.0, 0.95)])
def test_bytes_come_out_in_order(depth, idle, stall):
    rng = random.Random(depth)
    dut = RequestInbox(depth)
    items = [{"data": rng.randrange(256), "error": rng.choice(list(RxError))}
             for _ in range(3 * depth + 40)]
    got = []
    level = []

    async def producer(ctx):
        for item in items:
            await stream_put(ctx, dut.i_stream, item, idle=idle, rng=rng)

    async def consumer(ctx):
        for _ in items:
            payload = await stream_get(ctx, dut.o_stream, stall=stall, rng=rng)
            got.append({"data": payload.data, "error": payload.error})

    simulate(dut, [producer, consumer],
             [check_stream_rules(dut.o_stream), watch_level(dut.i_stream, dut.o_stream, level)],
             timeout=50_000, name="request_inbox")
    assert got == items
    assert max(level) <= depth      # a full inbox refuses bytes
    if stall > 0.9:
        assert max(level) == depth      # it did fill up


def test_a_byte_into_an_empty_inbox_is_out_two_cycles_later():
    dut = RequestInbox(8)
    seen = []

    async def bench(ctx):
        ctx.set(dut.o_stream.ready, 1)
        ctx.set(dut.i_stream.payload, {"data": 0x5A, "error": RxError.NONE})
        ctx.set(dut.i_stream.valid, 1)
        await ctx.tick()
        ctx.set(dut.i_stream.valid, 0)
        for _ in range(4):
            seen.append(ctx.get(dut.o_stream.valid))
            await ctx.tick()

    simulate(dut, [bench], timeout=100, name="request_inbox_latency")
    assert seen == [0, 1, 0, 0]


@pytest.mark.parametrize("depth", [0, 3, 100, True])
def test_depth_is_checked(depth):
    with pytest.raises(ValueError, match="depth must be a power of two"):
        RequestInbox(depth)
