"""cocotb side of tests/rtl/test_harness.py: a stream design must pass data through unchanged.

Run by ``harness.run`` in the simulator, never collected by pytest (the name does not start
with ``test_``). Parameters come from :func:`tinyeie.sim.harness.sim_args`:

``items``
    How many random payloads to push through (default 200).
``expect_delta``
    Added to every expected output (default 0). A non-zero value makes the comparison fail on
    purpose, which is how the pytest side proves that failures reach it.
``max_latency``
    For the full-throughput test: cycles the design may add beyond one item a cycle.
``count``
    The design has a ``count`` output of transfers, to check against the items sent.
"""

import random

import cocotb
from cocotb.triggers import RisingEdge

from tinyeie.sim.harness import sim_args
from tinyeie.sim.streams import StreamRules, StreamSink, StreamSource, start_clock, to_signed

PATTERNS = [0.0, 0.3, 0.7]


def random_payloads(count, width, seed):
    """Seeded signed payloads spanning the whole width, both extremes included."""
    rng = random.Random(seed)
    low, high = -(1 << (width - 1)), (1 << (width - 1)) - 1
    return [low, high, 0, -1] + [rng.randint(low, high) for _ in range(count - 4)]


async def cycles_until(clk, awaitable):
    """Await ``awaitable`` and return it with the number of rising edges it took."""
    edges = 0

    async def count():
        nonlocal edges
        while True:
            await RisingEdge(clk)
            edges += 1

    counter = cocotb.start_soon(count())
    result = await awaitable
    counter.cancel()
    return result, edges


@cocotb.test(timeout_time=2, timeout_unit="ms")
@cocotb.parametrize(idle_prob=PATTERNS, backpressure_prob=PATTERNS)
async def fifo_keeps_data(dut, idle_prob, backpressure_prob):
    """Every payload comes out once, in order, bit-exact, whatever the stalls on either side."""
    args = sim_args()
    await start_clock(dut)
    source = StreamSource(dut, "i_stream", dut.clk, idle_prob=idle_prob)
    sink = StreamSink(dut, "o_stream", dut.clk, backpressure_prob=backpressure_prob,
                      signed=True)
    # the rules of streams, for the test's source and for the design's output
    rules = [StreamRules(dut, "i_stream", dut.clk), StreamRules(dut, "o_stream", dut.clk)]
    data = random_payloads(args.get("items", 200), source.width, cocotb.RANDOM_SEED)
    source.send(data)
    got = await sink.recv(len(data))
    await source.wait_idle()
    expected = [to_signed(x + args.get("expect_delta", 0), source.width) for x in data]
    first_wrong = next((i for i, (g, e) in enumerate(zip(got, expected)) if g != e), None)
    assert got == expected, (
        f"item {first_wrong} of {len(data)}: got {got[first_wrong]}, "
        f"expected {expected[first_wrong]} (idle {idle_prob}, back-pressure {backpressure_prob})")
    assert sink.pending == 0 and source.pending == 0
    assert [r.transfers for r in rules] == [len(data), len(data)]
    if args.get("count"):
        await RisingEdge(dut.clk)  # the last transfer's count is visible an edge later
        assert int(dut.count.value) == len(data)


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def fifo_full_throughput(dut):
    """With no stalls, n items cross in n cycles plus the FIFO's latency: no cycle wasted."""
    args = sim_args()
    await start_clock(dut)
    source = StreamSource(dut, "i_stream", dut.clk)
    sink = StreamSink(dut, "o_stream", dut.clk)
    data = list(range(args.get("items", 200)))
    source.send(data)
    got, edges = await cycles_until(dut.clk, sink.recv(len(data)))
    assert got == data
    assert len(data) <= edges <= len(data) + args.get("max_latency", 2), (
        f"{len(data)} items took {edges} cycles, expected {len(data)} plus at most "
        f"{args.get('max_latency', 2)}")
