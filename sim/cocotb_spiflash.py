"""cocotb side of tests/rtl/test_spiflash_verilator.py: the SPI flash reader against the cocotb
flash model.

Run by ``harness.run`` in the simulator, never collected by pytest. The flash holds a random
image at ``base``; the test reads it from ``address`` as a boot loader would, with a consumer
that drops ``ready`` at random, stops, then reads again elsewhere. Parameters come from
:func:`tinyeie.sim.harness.sim_args`:

``size``
    Bytes of the image, all read by the first transaction (default 4096).
``base``, ``address``
    Where the image sits in the flash and where the first read starts (default 0x100000).
``backpressure``
    Chance of ``ready`` being low in a cycle (default 0.5).
``period_ns``
    The clock period (default 20, 50 MHz); the flash times tRES1 in real time (3 us).
``image_seed``
    Seed of the image's bytes (default 1).
"""

import random

import cocotb
from cocotb.triggers import FallingEdge, RisingEdge

from tinyeie.sim.flash_model import SPIFlashModel
from tinyeie.sim.harness import sim_args
from tinyeie.sim.streams import StreamRules, StreamSink, start_clock


async def start(dut, address):
    """Pulse ``start`` with ``address``, once the reader is idle."""
    await FallingEdge(dut.clk)
    while int(dut.busy.value):
        await FallingEdge(dut.clk)
    dut.address.value = address
    dut.start.value = 1
    await FallingEdge(dut.clk)
    dut.start.value = 0


async def stop(dut):
    """Pulse ``stop`` in a cycle where no byte is offered, so none is withdrawn."""
    await FallingEdge(dut.clk)
    while int(dut.o_stream__valid.value):
        await FallingEdge(dut.clk)
    dut.stop.value = 1
    await FallingEdge(dut.clk)
    dut.stop.value = 0


def first_difference(got, expected):
    return next((i for i, (g, e) in enumerate(zip(got, expected)) if g != e), None)


@cocotb.test(timeout_time=20, timeout_unit="ms")
async def reads_image(dut):
    """Every byte of the image once and in order, then a second read after a stop."""
    args = sim_args()
    size, base = args.get("size", 4096), args.get("base", 0x100000)
    address = args.get("address", base)
    image = random.Random(args.get("image_seed", 1)).randbytes(size)
    dut.start.value = dut.stop.value = 0
    await start_clock(dut, period_ns=args.get("period_ns", 20))
    flash = SPIFlashModel(dut, "cs_n", "sck", "copi", "cipo", image, base=base)
    sink = StreamSink(dut, "o_stream", dut.clk, backpressure_prob=args.get("backpressure", 0.5))
    rules = StreamRules(dut, "o_stream", dut.clk)

    await start(dut, address)
    got = await sink.recv(size - (address - base))
    await stop(dut)
    got += sink.drain()     # the sink may have taken a byte or two more before the stop
    expected = flash.chip.read(address, len(got))
    wrong = first_difference(got, expected)
    assert wrong is None, (f"byte {wrong} of {len(got)} from {address:#x}: got "
                           f"{got[wrong]:#04x}, expected {expected[wrong]:#04x}")
    (read_at, clocked), = flash.chip.reads()
    assert read_at == address
    # no byte clocked twice or skipped, and at most one read ahead of the consumer
    assert len(got) <= clocked <= len(got) + 1, (clocked, len(got))

    # again, elsewhere, after the stop: a new wake-up and read
    again = address + 1234
    await start(dut, again)
    second = await sink.recv(300)
    await stop(dut)
    assert bytes(second) == flash.chip.read(again, 300)
    assert [a for a, _ in flash.chip.reads()] == [address, again]
    assert flash.chip.violations == []
    assert rules.transfers == len(got) + 300 + len(sink.drain())
    await RisingEdge(dut.clk)
