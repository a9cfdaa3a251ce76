# amaranth: UnusedElaboratable=no
"""UART receiver and transmitter on Amaranth's simulator, against the line model `frame_bits`.

The receiver is driven by a bit-banged line (`line`) whose bit period may be fractional, as a
transmitter with another clock would produce; every output stream is watched by
`check_stream_rules`. WAVES=1 writes a VCD per simulation into the current directory.
"""

import math
import random

import pytest
from amaranth.hdl import Module

from tinyeie.hw.uart import (
    RxError,
    UARTReceiver,
    UARTTransmitter,
    baud_divisor,
    frame_bits,
    receiver_tolerance,
)
from tinyeie.sim.pysim import check_stream_rules, simulate, stream_put

NONE, FRAMING, OVERRUN = RxError.NONE, RxError.FRAMING, RxError.OVERRUN


# -- simulation helpers -------------------------------------------------------------------------

def collector(stream, items, ready=lambda: True):
    """A background testbench appending ``(data, error)`` of every transfer to ``items``;
    ``ready()`` decides the consumer's ready for each next cycle."""
    async def testbench(ctx):
        ctx.set(stream.ready, ready())
        async for _, _, valid, rdy, payload in ctx.tick().sample(stream.valid, stream.ready,
                                                                  stream.payload):
            if valid and rdy:
                items.append((payload.data, payload.error))
            ctx.set(stream.ready, ready())
    return testbench


def line(bits, period, phase=0.0):
    """``(level, cycles)`` runs of a line sending ``bits`` with a bit period of ``period`` cycles,
    as the receiver's clock sees it: bit k starts at time ``phase + k * period`` (in cycles,
    both may be fractional) and shows from the first clock edge at or after that."""
    edges = [math.ceil(phase + k * period) for k in range(len(bits) + 1)]
    return [(bit, edges[k + 1] - edges[k]) for k, bit in enumerate(bits)]


async def drive(ctx, rx, runs):
    for level, cycles in runs:
        ctx.set(rx, level)
        if cycles:
            await ctx.tick().repeat(cycles)


def receive(divisor, runs, *, ready=lambda: True, name="uart_rx"):
    """Drive ``runs`` into a receiver and return the items it offers, waiting two bit times
    after the line's last run for the last byte."""
    dut = UARTReceiver(divisor=divisor)
    items = []

    async def testbench(ctx):
        await drive(ctx, dut.rx, runs + [(1, 2 * divisor)])

    total = sum(cycles for _, cycles in runs)
    simulate(dut, [testbench], [collector(dut.o_stream, items, ready),
                                check_stream_rules(dut.o_stream)],
             timeout=total + 4 * divisor, name=name)
    return items


IDLE = [1, 1]


# -- parameters ---------------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [UARTReceiver, UARTTransmitter])
def test_divisor_checked(cls):
    with pytest.raises(ValueError, match=r"^divisor must be at least 4, not 2$"):
        cls(divisor=2)
    with pytest.raises(TypeError, match=r"divisor must be an integer .* not 8.5"):
        cls(divisor=8.5)
    assert cls(divisor=4).divisor == 4


def test_baud_divisor():
    assert baud_divisor(12e6, 115200) == 104                # 0.16 % fast
    assert baud_divisor(48e6, 3_000_000) == 16
    with pytest.raises(ValueError, match=r"2\.04% off 3000000 baud"):
        baud_divisor(12e6 * 1.0204, 3_000_000)
    with pytest.raises(ValueError, match=r"at least 4000000 Hz"):
        baud_divisor(3e6, 1_000_000)
    # the ULX3S: 50 MHz / 17 is 1.96 % slow of 3 Mbaud, within half of 4.64 %
    assert baud_divisor(50e6, 3_000_000) == 17
    assert receiver_tolerance(17) == pytest.approx(7.5 / 161.5)
    with pytest.raises(ValueError, match=r"4\.17% off 4000000 baud \(at most 2\.19%\)"):
        baud_divisor(50e6, 4_000_000)     # 50 MHz / 12


def test_frame_bits():
    assert frame_bits(0x01) == [0, 1, 0, 0, 0, 0, 0, 0, 0, 1]
    assert frame_bits(0x80, stop=0) == [0, 0, 0, 0, 0, 0, 0, 0, 1, 0]
    with pytest.raises(ValueError, match="not 256"):
        frame_bits(256)


# -- transmitter --------------------------------------------------------------------------------

@pytest.mark.parametrize("divisor", [4, 7])
def test_tx_timing_and_back_pressure(divisor):
    """Idle high; each bit exactly ``divisor`` cycles; a second byte waits (ready low) and then
    follows with no idle time; idle high again afterwards."""
    dut = UARTTransmitter(divisor=divisor)
    trace = []   # (tx, transfer) per cycle

    async def testbench(ctx):
        await ctx.tick().repeat(3)
        for byte in (0x35, 0xCA):
            await stream_put(ctx, dut.i_stream, byte)
        await ctx.tick().repeat(11 * divisor)

    async def monitor(ctx):
        async for _, _, tx, valid, ready in ctx.tick().sample(dut.tx, dut.i_stream.valid,
                                                               dut.i_stream.ready):
            trace.append((tx, bool(valid and ready)))

    simulate(dut, [testbench], [monitor], timeout=40 * divisor)
    tx = [level for level, _ in trace]
    taken = [n for n, (_, transfer) in enumerate(trace) if transfer]
    assert taken == [3, 3 + 10 * divisor], "the second byte must wait exactly one frame"
    expected = [1] * 4 + [bit for byte in (0x35, 0xCA) for bit in frame_bits(byte)
                          for _ in range(divisor)]
    expected += [1] * (len(tx) - len(expected))
    assert tx == expected


# -- loopback -----------------------------------------------------------------------------------

@pytest.mark.parametrize("divisor", [4, 5, 8, 16])
def test_loopback_random_bytes(divisor):
    """Random bytes with random gaps through TX -> RX, under random consumer back-pressure that
    is too light to overrun."""
    seed = 1000 + divisor
    rng = random.Random(seed)
    sent = [rng.randrange(256) for _ in range(24)]
    tx, rx = UARTTransmitter(divisor=divisor), UARTReceiver(divisor=divisor)
    m = Module()
    m.submodules.tx, m.submodules.rx = tx, rx
    m.d.comb += rx.rx.eq(tx.tx)
    items = []

    async def producer(ctx):
        for byte in sent:
            if rng.random() < 0.3:
                await ctx.tick().repeat(rng.randrange(1, 3 * divisor))
            await stream_put(ctx, tx.i_stream, byte)
        while len(items) < len(sent):
            await ctx.tick()
        await ctx.tick().repeat(12 * divisor)     # and nothing more comes

    simulate(m, [producer], [collector(rx.o_stream, items, lambda: rng.random() < 0.5),
                             check_stream_rules(rx.o_stream)],
             timeout=len(sent) * 14 * divisor + 100, name=f"uart_loop_{divisor}")
    assert items == [(byte, NONE) for byte in sent], f"seed {seed}"


# -- receiver -----------------------------------------------------------------------------------

# The receiver's guaranteed tolerance (UARTReceiver's docstring) is 2.6 % at divisor 4, 3.2 % at 5,
# 3.9 % at 8 and 4.6 % at 16.
@pytest.mark.parametrize(("divisor", "skew"), [(4, 0.025), (5, 0.03), (8, 0.03), (16, 0.03),
                                               (16, 0.045)])
@pytest.mark.parametrize("sign", [-1, +1])
def test_rx_clock_mismatch(divisor, skew, sign):
    """A transmitter some % fast or slow with a random phase against the receiver's clock, frames
    back to back with no idle time between them."""
    seed = 2000 + 10 * divisor + int(sign * skew * 1000)
    rng = random.Random(seed)
    sent = [0x00, 0xFF] + [rng.randrange(256) for _ in range(6)]
    bits = IDLE + [bit for byte in sent for bit in frame_bits(byte)]
    items = receive(divisor, line(bits, divisor * (1 + sign * skew), phase=rng.random()))
    assert items == [(byte, NONE) for byte in sent], f"seed {seed}"


@pytest.mark.parametrize("sign", [-1, +1])
def test_rx_clock_mismatch_beyond_tolerance(sign):
    """8 % off is too much: the stop bit's sample falls outside it (so the skew is applied)."""
    sent = [0x00, 0xFF, 0x55]
    bits = IDLE + [bit for byte in sent for bit in frame_bits(byte)]
    assert receive(16, line(bits, 16 * (1 + sign * 0.08))) != [(byte, NONE) for byte in sent]


@pytest.mark.parametrize("divisor", [5, 8, 16])
def test_rx_glitch_is_not_a_start_bit(divisor):
    """A low pulse shorter than half a bit is ignored; one longer than half a bit is a start
    bit (of an all-ones byte, as the line stays high)."""
    short, long = (divisor + 1) // 2 - 1, divisor // 2 + 1
    for width, expected in [(short, []), (long, [(0xFF, NONE)])]:
        runs = line(IDLE, divisor) + [(0, width)] + line([1] * 12 + frame_bits(0xA5), divisor)
        items = receive(divisor, runs)
        assert items == expected + [(0xA5, NONE)], f"{width}-cycle pulse"


@pytest.mark.parametrize("divisor", [4, 8])
def test_rx_framing_error_then_recovery(divisor):
    """A low stop bit is reported with the bits sampled, and the next good byte gets through."""
    bits = IDLE + frame_bits(0x3C, stop=0) + [0] + IDLE + frame_bits(0x5A) + frame_bits(0x00)
    assert receive(divisor, line(bits, divisor)) == [(0x3C, FRAMING), (0x5A, NONE),
                                                    (0x00, NONE)]


@pytest.mark.parametrize("divisor", [4, 8])
def test_rx_break_is_one_error(divisor):
    """A line held low for several frames is one framing error (a break, data 0); reception
    starts again only on the next idle-to-start edge."""
    bits = IDLE + [0] * 35 + IDLE + frame_bits(0x81)
    assert receive(divisor, line(bits, divisor)) == [(0x00, FRAMING), (0x81, NONE)]


def test_rx_overrun_reported_then_recovery():
    """With the consumer stalled, the first byte waits in the output register, the next two are
    dropped and reported as one OVERRUN item once the consumer is back; then all is normal."""
    divisor = 8
    dut = UARTReceiver(divisor=divisor)
    items = []

    async def testbench(ctx):
        ctx.set(dut.o_stream.ready, 0)
        await drive(ctx, dut.rx, line(IDLE + frame_bits(0x11) + frame_bits(0x22)
                                      + frame_bits(0x33) + IDLE, divisor))
        assert ctx.get(dut.o_stream.valid), "the first byte must be offered without ready"
        assert items == []
        ctx.set(dut.o_stream.ready, 1)
        await ctx.tick().repeat(3)
        assert items == [(0x11, NONE), (0x00, OVERRUN)]
        await drive(ctx, dut.rx, line(frame_bits(0x44) + IDLE, divisor))

    async def consumer(ctx):
        async for _, _, valid, ready, payload in ctx.tick().sample(
                dut.o_stream.valid, dut.o_stream.ready, dut.o_stream.payload):
            if valid and ready:
                items.append((payload.data, payload.error))

    simulate(dut, [testbench], [consumer, check_stream_rules(dut.o_stream)], timeout=1000)
    assert items == [(0x11, NONE), (0x00, OVERRUN), (0x44, NONE)]


def test_rx_overrun_at_every_moment_of_release():
    """The consumer, stalled while three bytes arrive, comes back at each cycle around the end of
    the third byte. The first byte and an OVERRUN item always come out, then the third byte if
    it found room, then the fourth byte: never a second OVERRUN for the same gap, never a hang."""
    divisor = 4
    bits = IDLE + frame_bits(0x11) + frame_bits(0x22) + frame_bits(0x33) + [1] * 4
    runs = line(bits, divisor)
    end_of_third = 2 * divisor + 29 * divisor + divisor // 2 + 2   # its stop bit's sample
    outcomes = set()
    for release in range(end_of_third - 3, end_of_third + 4):
        elapsed = iter(range(10**6))

        def ready(release=release, elapsed=elapsed):
            return next(elapsed) >= release
        items = receive(divisor, runs + line(frame_bits(0x44), divisor), ready=ready)
        assert items[:2] == [(0x11, NONE), (0x00, OVERRUN)], f"released at {release}"
        assert items[2:] in ([(0x33, NONE), (0x44, NONE)], [(0x44, NONE)]), \
            f"released at {release}: {items}"
        outcomes.add(len(items))
    assert outcomes == {3, 4}, "the sweep must cover both sides of the third byte's end"
