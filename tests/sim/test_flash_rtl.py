"""The RTL flash model used to simulate board boots answers the SPI flash reader correctly."""

import numpy as np
from amaranth.hdl import Module
from amaranth.sim import Simulator

from tinyeie.hw.spiflash import SPIFlashReader
from tinyeie.sim.flash_rtl import RTLFlash
from tinyeie.sim.pysim import stream_get


def test_reader_reads_back_what_the_rtl_flash_holds():
    contents = np.random.default_rng(0).integers(0, 256, 512).tolist()
    m = Module()
    m.submodules.reader = reader = SPIFlashReader(wake_cycles=16)
    m.submodules.flash = flash = RTLFlash(512, 0x100000)
    m.d.comb += [flash.cs_n.eq(reader.cs_n), flash.sck.eq(reader.sck),
                 flash.copi.eq(reader.copi), reader.cipo.eq(flash.cipo)]
    got = []

    async def testbench(ctx):
        ctx.set(flash.load_en, 1)
        for k, byte in enumerate(contents):
            ctx.set(flash.load_addr, k)
            ctx.set(flash.load_data, byte)
            await ctx.tick()
        ctx.set(flash.load_en, 0)
        for start, count in ((0x100000, 40), (0x100000 + 500, 20)):
            ctx.set(reader.address, start)
            ctx.set(reader.start, 1)
            await ctx.tick()
            ctx.set(reader.start, 0)
            got.append([await stream_get(ctx, reader.o_stream, stall=0.3,
                                         rng=np.random.default_rng(1)) for _ in range(count)])
            ctx.set(reader.stop, 1)
            await ctx.tick()
            ctx.set(reader.stop, 0)
            await ctx.tick().repeat(4)

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    assert got[0] == contents[:40]
    assert got[1] == contents[500:] + [0xFF] * 8        # past the model's memory: erased flash
