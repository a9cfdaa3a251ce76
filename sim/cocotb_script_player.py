"""cocotb side of :mod:`tinyeie.sim.script_player`: start the clock, release the reset and wait
for ``done``; the script and the answers are the testbench's files."""

import cocotb
from cocotb.triggers import First, RisingEdge, Timer

from tinyeie.sim.harness import sim_args
from tinyeie.sim.streams import start_clock


@cocotb.test()
async def play_script(dut):
    args = sim_args()
    period = args["period_ns"]
    await start_clock(dut, period_ns=period)
    waits = [RisingEdge(dut.done)]
    if args.get("budget_cycles"):
        waits.append(Timer(args["budget_cycles"] * period, "ns"))
    if not int(dut.done.value):
        ended = await First(*waits)
        assert ended is waits[0], (f"the script player did not finish within "
                                   f"{args['budget_cycles']:,} cycles")
