# amaranth: UnusedElaboratable=no
"""EngineWatchdog on Amaranth's simulator: one engine reset for each inference given up, and
the receiver's inference given up until its next one."""

import pytest

from tinyeie.hw.engine_watchdog import EngineWatchdog
from tinyeie.sim.pysim import simulate

IDLE = (0, 0, 0, 0)
RESTART = (1, 0, 0, 0)


def run(steps):
    """Drive ``steps``, one ``(restart, overtime, trip, owed)`` a cycle; the (given_up, reset)
    seen in each cycle, before its clock edge."""
    dut = EngineWatchdog()
    seen = []

    async def testbench(ctx):
        for restart, overtime, trip, owed in steps:
            for port, value in zip((dut.restart, dut.overtime, dut.trip, dut.owed),
                                   (restart, overtime, trip, owed)):
                ctx.set(port, value)
            seen.append((ctx.get(dut.given_up), ctx.get(dut.reset)))
            await ctx.tick()

    simulate(dut, [testbench], timeout=len(steps) + 10, name="engine_watchdog")
    return seen


def test_a_trip_gives_the_receivers_inference_up_until_its_next():
    trip = (0, 0, 1, 0)
    assert run([IDLE, RESTART, IDLE, trip, IDLE, IDLE, RESTART, IDLE]) == [
        (0, 0), (0, 0), (0, 0), (0, 0), (1, 1), (1, 0), (1, 0), (0, 0)]


@pytest.mark.parametrize("owed", [0, 1])
def test_overtime_resets_the_engine_once_and_gives_up_the_receivers_inference_unless_owed(owed):
    # the engine's count stays over the bound until the reset has cleared it
    over = (0, 1, 0, owed)
    assert run([RESTART, IDLE, over, over, IDLE, IDLE]) == [
        (0, 0), (0, 0), (0, 0), (1 - owed, 1), (1 - owed, 0), (1 - owed, 0)]


def test_nothing_happens_without_a_cause():
    assert run([IDLE, RESTART] + [IDLE] * 5 + [(0, 0, 0, 1)] * 3) == [(0, 0)] * 10
