# amaranth: UnusedElaboratable=no
"""SPI flash reader on Amaranth's simulator, against the flash model of tinyeie.sim.flash_model.

Every simulation puts a strict :class:`FlashChip` on the reader's pins (any protocol violation
stops it with :class:`FlashProtocolError`), records the pins every cycle for the timing rules,
and watches ``o_stream`` for the stream rules. The model's own checks are tested at the end by
driving its pins by hand. WAVES=1 writes a VCD per simulation into the current directory.
"""

import random

import pytest

from tinyeie.hw.spiflash import SPIFlashReader, wake_cycles_for
from tinyeie.sim.flash_model import (
    DEVICE_ID,
    READ_DATA,
    RELEASE_POWER_DOWN,
    FlashChip,
    FlashProtocolError,
    flash_testbench,
)
from tinyeie.sim.pysim import simulate as run_simulation

BASE = 0x100000
IMAGE = random.Random(2024).randbytes(1024)
WAKE = 16           # the readers' tRES1 in these tests, in cycles; the chip's is the same


# -- simulation helpers -------------------------------------------------------------------------

class Pins:
    """The reader's pins after every clock edge: ``cycles[k]`` is ``(cs_n, sck, copi)``."""

    def __init__(self, reader):
        self.reader, self.cycles = reader, []

    async def testbench(self, ctx):
        r = self.reader
        while True:
            self.cycles.append((ctx.get(r.cs_n), ctx.get(r.sck), ctx.get(r.copi)))
            await ctx.tick()

    def sck_highs(self):
        """Lengths of SCK's high phases, but for those cut short by ``stop`` raising CS."""
        return [length for level, start, length in self.runs(1)
                if level and start + length < len(self.cycles)
                and not self.cycles[start + length][0]]

    def runs(self, index):
        """``(level, first cycle, length)`` of the runs of one pin (0 cs_n, 1 sck, 2 copi)."""
        runs, start = [], 0
        levels = [c[index] for c in self.cycles]
        for k in range(1, len(levels) + 1):
            if k == len(levels) or levels[k] != levels[start]:
                runs.append((levels[start], start, k - start))
                start = k
        return runs


def stream_rules(reader):
    """A background testbench failing if ``o_stream`` withdraws or changes a byte offered and
    not taken, except when ``stop`` withdraws it (the documented exception)."""
    o = reader.o_stream

    async def testbench(ctx):
        held = None
        async for _, _, valid, ready, payload, stop in ctx.tick().sample(
                o.valid, o.ready, o.payload, reader.stop):
            if held is not None:
                assert valid, "o_stream: valid fell before the transfer"
                assert payload == held, f"o_stream: payload changed {held:#x} -> {payload:#x}"
            held = payload if valid and not ready and not stop else None
    return testbench


def simulate(reader, chip, testbench, *, flash=flash_testbench, timeout=50_000,
             name="spiflash"):
    """Run ``testbench`` with the chip on the reader's pins; return the recorded pins."""
    pins = Pins(reader)
    run_simulation(reader, [testbench],
                   [flash(chip, reader.cs_n, reader.sck, reader.copi, reader.cipo),
                    pins.testbench, stream_rules(reader)], timeout=timeout, name=name)
    return pins


def make_chip(**kwargs):
    kwargs.setdefault("t_res1", WAKE)
    kwargs.setdefault("t_shsl", 2)
    return FlashChip(IMAGE, base=BASE, **kwargs)


async def read(ctx, reader, address, count, *, stall=0.0, rng=None, times=None):
    """Read ``count`` bytes from ``address`` as a boot loader would: ``start`` held until the
    reader takes it, ``stop`` with the transfer of the last byte. ``times`` collects the
    cycle of every transfer, counted from the one taking ``start``."""
    o = reader.o_stream
    ctx.set(reader.address, address)
    ctx.set(reader.start, 1)
    busy = True
    while busy:
        _, _, busy = await ctx.tick().sample(reader.busy)
    ctx.set(reader.start, 0)
    got, cycle = [], 0
    while len(got) < count:
        ready = rng is None or rng.random() >= stall
        ctx.set(o.ready, ready)
        ctx.set(reader.stop, ready and ctx.get(o.valid) and len(got) == count - 1)
        _, _, valid, payload = await ctx.tick().sample(o.valid, o.payload)
        cycle += 1
        if ready and valid:
            got.append(payload)
            if times is not None:
                times.append(cycle)
    ctx.set(o.ready, 0)
    ctx.set(reader.stop, 0)
    await ctx.tick().until(~reader.busy)
    return bytes(got)


# -- reading -----------------------------------------------------------------------------------

@pytest.mark.parametrize("divisor", [1, 2, 3])
@pytest.mark.parametrize("address", [
    BASE,                       # the model image's place
    BASE + 0x2A5,               # inside, at an odd place
    BASE + len(IMAGE) - 5,      # runs off the image's end into erased flash
    0x5A3C81,                   # an address with many ones and zeros, all erased
    0xFFFFFC,                   # the top of the flash, wrapping around to 0
])
def test_reads_at_address(address, divisor):
    reader = SPIFlashReader(divisor=divisor, wake_cycles=WAKE)
    chip = make_chip()
    result = {}

    async def testbench(ctx):
        result["data"] = await read(ctx, reader, address, 24)
    simulate(reader, chip, testbench)

    assert result["data"] == chip.read(address, 24)
    assert [t.command for t in chip.log] == [RELEASE_POWER_DOWN, READ_DATA]
    assert chip.reads()[0][0] == address
    assert not chip.violations and not chip.asleep


@pytest.mark.parametrize("divisor,stall", [(1, 0.5), (1, 0.9), (2, 0.5), (3, 0.97)])
def test_back_pressure_keeps_every_byte_once_in_order(divisor, stall):
    reader = SPIFlashReader(divisor=divisor, wake_cycles=WAKE)
    chip = make_chip()
    seed = 7 + divisor
    result = {}

    async def testbench(ctx):
        result["data"] = await read(ctx, reader, BASE + 3, 300, stall=stall,
                                    rng=random.Random(seed))
    pins = simulate(reader, chip, testbench, timeout=200_000)

    assert result["data"] == IMAGE[3:303], f"seed {seed}"
    # the reader clocks at most one byte ahead of its consumer (the one it drops at `stop`)
    (address, clocked), = chip.reads()
    assert 300 <= clocked <= 301
    # and under back-pressure it parks SCK low, never high
    assert set(pins.sck_highs()) == {divisor}


@pytest.mark.parametrize("divisor", [1, 2, 4])
def test_full_rate_without_back_pressure(divisor):
    """Bytes come every 16 * divisor cycles: the clock never stops for a prompt consumer."""
    reader = SPIFlashReader(divisor=divisor, wake_cycles=WAKE)
    chip = make_chip()
    times = []

    async def testbench(ctx):
        await read(ctx, reader, BASE, 40, times=times)
    simulate(reader, chip, testbench)

    assert {b - a for a, b in zip(times, times[1:])} == {16 * divisor}
    # from `start`: 0xAB (15 half periods after the first rising edge), the wait, the command
    # and address (63 more), the first byte (16), the output register (1), and twice the
    # wait for the first rising edge after CS falls (1 to `divisor` cycles, as SCK's divider
    # runs freely)
    assert 93 * divisor + WAKE + 3 <= times[0] <= 95 * divisor + WAKE + 1


def test_stop_anywhere_then_start_again():
    """A stop in every cycle of a transaction (0xAB, the wait, the address, the data), each
    followed by a new read elsewhere: every read is right and the flash sees no violation."""
    reader = SPIFlashReader(divisor=1, wake_cycles=8)
    chip = make_chip(t_res1=8)
    failures = []

    async def testbench(ctx):
        for k in range(1, 130):
            ctx.set(reader.address, BASE + k)
            ctx.set(reader.start, 1)
            await ctx.tick()
            ctx.set(reader.start, 0)
            ctx.set(reader.o_stream.ready, k % 2)
            await ctx.tick().repeat(k)
            ctx.set(reader.stop, 1)
            await ctx.tick()
            ctx.set(reader.stop, 0)
            ctx.set(reader.o_stream.ready, 0)
            # `start` at once: the reader must keep CS high long enough by itself (tSHSL)
            data = await read(ctx, reader, BASE + 500 + k, 3)
            if data != IMAGE[500 + k:503 + k]:
                failures.append(k)
    simulate(reader, chip, testbench, timeout=100_000)

    assert not failures, f"wrong data after a stop {failures[:5]} cycles after start"
    assert not chip.violations
    # the second read of every pair went to its own address (the first ones are below 500)
    second = [address for address, _ in chip.reads() if address >= BASE + 500]
    assert second == [BASE + 500 + k for k in range(1, 130)]


# -- timing rules --------------------------------------------------------------------------------

@pytest.mark.parametrize("divisor", [1, 2, 3])
def test_mode0_timing_and_wake_wait(divisor):
    reader = SPIFlashReader(divisor=divisor, wake_cycles=WAKE)
    chip = make_chip()
    address = 0x1A2B3C

    async def testbench(ctx):
        await read(ctx, reader, address, 6, stall=0.6, rng=random.Random(divisor))
        await ctx.tick().repeat(3)
        await read(ctx, reader, BASE, 2)
    pins = simulate(reader, chip, testbench)
    cycles = pins.cycles

    for k in range(1, len(cycles)):
        (was_cs_n, was_sck, was_copi), (cs_n, sck, copi) = cycles[k - 1], cycles[k]
        if cs_n != was_cs_n:
            assert not sck and not (was_sck and not cs_n), f"cycle {k}: CS moved, SCK high"
        if was_cs_n and cs_n:
            assert not sck, f"cycle {k}: SCK high while CS is high"
        if copi != was_copi and not cs_n:
            # mode 0: COPI changes while SCK is low (or as it falls), never as it rises or high
            assert not sck, f"cycle {k}: COPI changed with SCK high"

    # SCK: high for exactly `divisor` cycles, low for at least as long inside a transaction
    assert set(pins.sck_highs()) == {divisor}
    lows = [(start, length) for level, start, length in pins.runs(1)[1:-1] if not level]
    assert all(length >= divisor for start, length in lows if not cycles[start][0])

    # CS: four transactions, 0xAB then READ twice; high for the wake-up time after each 0xAB
    cs_runs = pins.runs(0)
    low = [(start, length) for level, start, length in cs_runs if not level]
    high = [length for level, start, length in cs_runs[1:-1] if level]
    assert len(low) == 4
    assert high[0] == high[2] == reader.wake_cycles == WAKE
    assert high[1] >= 2

    # what the flash saw on COPI at rising edges: 0xAB, then 0x03 and the address
    def sent_bits(start, length):
        return [cycles[k][2] for k in range(start, start + length)
                if cycles[k][1] and not cycles[k - 1][1]]
    release, command = sent_bits(*low[0]), sent_bits(*low[1])
    assert release == [int(b) for b in f"{RELEASE_POWER_DOWN:08b}"]
    assert command[:32] == [int(b) for b in f"{READ_DATA:08b}{address:024b}"]
    # and no SCK edge comes before CS has been low for a cycle
    for start, _ in low:
        assert cycles[start][1] == 0


def skewed_flash_testbench(chip, cs_n, sck, copi, cipo):
    """Like :func:`flash_testbench`, but CIPO holds the flash's bit only while SCK is low and
    its complement while SCK is high: right only for a reader sampling as SCK rises."""
    chip.exact, chip.unit = True, " cycles"

    async def testbench(ctx):
        cycle, level = 0, 1
        while True:
            clock = ctx.get(sck)
            new = chip.step(cycle, ctx.get(cs_n), clock, ctx.get(copi))
            level = level if new is None else new
            ctx.set(cipo, level ^ clock)
            await ctx.tick()
            cycle += 1
    return testbench


@pytest.mark.parametrize("divisor", [1, 2])
def test_cipo_sampled_as_sck_rises(divisor):
    reader = SPIFlashReader(divisor=divisor, wake_cycles=WAKE)
    chip = make_chip()
    result = {}

    async def testbench(ctx):
        result["data"] = await read(ctx, reader, BASE + 9, 20)
    simulate(reader, chip, testbench, flash=skewed_flash_testbench)
    assert result["data"] == IMAGE[9:29]


def test_reader_too_quick_for_the_flash_is_caught():
    """A reader whose wake-up wait is shorter than the flash's tRES1 fails the simulation."""
    reader = SPIFlashReader(divisor=1, wake_cycles=8)
    chip = make_chip(t_res1=20)

    async def testbench(ctx):
        await read(ctx, reader, BASE, 4)
    with pytest.raises(FlashProtocolError, match="before the wake-up time tRES1"):
        simulate(reader, chip, testbench)


# -- parameters -----------------------------------------------------------------------------------

def test_parameters_are_checked():
    with pytest.raises(ValueError, match="divisor must be at least 1, not 0"):
        SPIFlashReader(divisor=0)
    with pytest.raises(TypeError, match="divisor must be an integer number of clock cycles"):
        SPIFlashReader(divisor=1.5)
    with pytest.raises(TypeError, match="divisor"):
        SPIFlashReader(divisor=True)
    with pytest.raises(ValueError, match="wake_cycles must be at least 1, not -3"):
        SPIFlashReader(wake_cycles=-3)
    reader = SPIFlashReader()
    assert (reader.divisor, reader.wake_cycles) == (2, 144)
    assert SPIFlashReader(wake_cycles=wake_cycles_for(12e6)).wake_cycles == 40   # 36, rounded
    assert (wake_cycles_for(48e6), wake_cycles_for(12e6), wake_cycles_for(25e6)) == (144, 36, 75)


# -- the flash model itself, driven by hand -------------------------------------------------------

class Controller:
    """Bit-bangs the pins of a FlashChip one step (time unit) at a time, in SPI mode 0."""

    def __init__(self, chip):
        self.chip, self.now, self.pins = chip, 0, [1, 0, 0]
        self.cipo = 1

    def set(self, cs_n=None, sck=None, copi=None):
        for i, value in enumerate((cs_n, sck, copi)):
            if value is not None:
                self.pins[i] = value
        self.now += 1
        level = self.chip.step(self.now, *self.pins)
        if level is not None:
            self.cipo = level

    def byte(self, value):
        """Send ``value`` and return the byte read meanwhile."""
        got = 0
        for i in range(7, -1, -1):
            self.set(sck=0, copi=(value >> i) & 1)
            self.set(sck=1)
            got = (got << 1) | self.cipo
        self.set(sck=0)
        return got

    def transaction(self, *values, wait=5):
        self.set(cs_n=0)
        got = bytes(self.byte(v) for v in values)
        self.set(cs_n=1)
        for _ in range(wait):
            self.set()
        return got


def test_model_reads_like_a_w25q128():
    chip = FlashChip(IMAGE, base=BASE, t_res1=5, t_shsl=1, exact=True)
    bus = Controller(chip)
    bus.transaction(RELEASE_POWER_DOWN)
    got = bus.transaction(READ_DATA, *(BASE - 2).to_bytes(3, "big"), *[0] * 6)
    assert got[4:] == b"\xff\xff" + IMAGE[:4]
    # 0xAB with three dummy bytes reads the device ID
    assert bus.transaction(RELEASE_POWER_DOWN, 0, 0, 0, 0, 0)[4:] == bytes([DEVICE_ID] * 2)
    assert chip.read(0xFFFFFF, 2) == b"\xff\xff" and chip.byte_at(BASE + 7) == IMAGE[7]
    assert chip.reads() == [(BASE - 2, 6)] and not chip.violations


@pytest.mark.parametrize("misuse,message", [
    ("read asleep", "command 0x03 while in deep power-down"),
    ("read too soon", "before the wake-up time tRES1"),
    ("clock deselected", "SCK rose while CS was high"),
    ("copi while high", "COPI changed while SCK was high"),
    ("copi at rise", "COPI changed as SCK rose"),
    ("mode 3", "CS fell with SCK high"),
    ("short deselect", "CS was high for only 1"),
    ("unknown command", "command 0x9f is not modelled"),
])
def test_model_flags_misuse(misuse, message):
    chip = FlashChip(IMAGE, base=BASE, t_res1=20, t_shsl=2, exact=True, strict=False)
    bus = Controller(chip)
    if misuse != "read asleep":
        bus.transaction(RELEASE_POWER_DOWN, wait=25 if misuse != "read too soon" else 3)
    if misuse == "clock deselected":
        bus.set(sck=1)
    elif misuse == "copi while high":
        bus.set(cs_n=0)
        bus.set(sck=1)
        bus.set(copi=1 - bus.pins[2])
    elif misuse == "copi at rise":
        bus.set(cs_n=0)
        bus.set(sck=1, copi=1 - bus.pins[2])
    elif misuse == "mode 3":
        bus.set(sck=1)
        bus.set(cs_n=0)
    elif misuse == "short deselect":
        bus.transaction(READ_DATA, 0, 0, 0, wait=0)
        bus.transaction(READ_DATA, 0, 0, 0)
    elif misuse == "unknown command":
        bus.transaction(0x9F)
    else:
        bus.transaction(READ_DATA, 0x10, 0, 0, 0)
    assert any(message in v for v in chip.violations), chip.violations


def test_strict_model_raises_at_the_first_violation():
    chip = FlashChip(IMAGE, base=BASE, t_res1=20, t_shsl=2, exact=True)
    bus = Controller(chip)
    with pytest.raises(FlashProtocolError, match=r"SPI flash: \d+ns: command 0x03 while"):
        bus.transaction(READ_DATA, 0, 0, 0)


def test_model_aborted_commands_are_no_violation():
    """CS rising inside a command or an address aborts it; an aborted 0xAB leaves the flash
    asleep, so the read after it is refused."""
    chip = FlashChip(IMAGE, base=BASE, t_res1=3, t_shsl=1, exact=True, strict=False)
    bus = Controller(chip)
    bus.set(cs_n=0)
    for bit in (1, 0, 1):
        bus.set(sck=0, copi=bit)
        bus.set(sck=1)
    bus.set(sck=0)
    bus.set(cs_n=1)
    bus.transaction(READ_DATA, 0, 0, 0)
    assert chip.log[0].aborted and chip.log[0].bits == 3
    assert chip.asleep and len(chip.violations) == 1 and "deep power-down" in chip.violations[0]
