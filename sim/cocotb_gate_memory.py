"""cocotb side of the block-RAM stand-in's check (tests/sim/test_gate.py): random writes and
reads on a synthesised netlist of memories, against what the RTL means: a read returns the
contents before the same cycle's write, except the one port transparent to its write."""

import random

import cocotb
from cocotb.triggers import FallingEdge

from tinyeie.sim.harness import sim_args
from tinyeie.sim.streams import start_clock


@cocotb.test()
async def memories_read_what_was_written(dut):
    args = sim_args()
    bytes_, words = list(args["init8"]), list(args["init16"])
    old, new = list(args["init16"]), list(args["init16"])    # the one-port memories
    rng = random.Random(args["seed"])
    await start_clock(dut)
    dut.rst.value = 0
    want = None
    for cycle in range(args["cycles"]):
        await FallingEdge(dut.clk)
        if want is not None:
            got = (int(dut.rd8.value), int(dut.rd16.value), int(dut.rd_old.value),
                   int(dut.rd_new.value))
            assert got == want, f"cycle {cycle}: read {got}, the memories hold {want}"
        # mostly a few addresses, so that reads meet the writes just made
        ra, ra16 = rng.randrange(4) if rng.random() < 0.5 else rng.randrange(1024), \
            rng.randrange(1024)
        wa, wa16 = rng.randrange(8) if rng.random() < 0.5 else rng.randrange(2048), \
            rng.choice([ra16, rng.randrange(1024)])
        wd, wd16, we, we16 = rng.randrange(256), rng.randrange(65536), rng.randrange(2), \
            rng.randrange(4)
        a1, wd1, we1 = rng.randrange(16), rng.randrange(65536), rng.randrange(2)
        for name, value in dict(ra=ra, ra16=ra16, wa=wa, wa16=wa16, wd=wd, wd16=wd16, we=we,
                                we16=we16, a1=a1, wd1=wd1, we1=we1).items():
            getattr(dut, name).value = value
        if we1:
            new[a1] = wd1
        want = (bytes_[2 * ra] | bytes_[2 * ra + 1] << 8, words[ra16], old[a1], new[a1])
        if we1:
            old[a1] = wd1
        if we:
            bytes_[wa] = wd
        mask = (0xff if we16 & 1 else 0) | (0xff00 if we16 & 2 else 0)
        words[wa16] = (words[wa16] & ~mask) | (wd16 & mask)
