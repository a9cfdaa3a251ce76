"""Amaranth's own CRC (``amaranth.lib.crc``) is the host protocol's checksum: these tests pin down
which catalog entries equal which Python functions, in software and on the simulated RTL, so
that the board and the host compute the same numbers.

* CRC-32 (the model image's trailer, frames): ``catalog.CRC32_ISO_HDLC`` == ``zlib.crc32``.
* CRC-16: ``catalog.CRC16_IBM_3740`` (alias ``CRC16_CCITT_FALSE``) ==
  ``binascii.crc_hqx(data, 0xFFFF)``; ``catalog.CRC16_XMODEM`` == ``binascii.crc_hqx(data, 0)``.
"""

import binascii
import random
import zlib

import pytest
from amaranth.lib.crc import catalog
from amaranth.sim import Simulator

CRC32 = (catalog.CRC32_ISO_HDLC, zlib.crc32, "little")
CCITT_FALSE = (catalog.CRC16_CCITT_FALSE, lambda data: binascii.crc_hqx(data, 0xFFFF), "big")
XMODEM = (catalog.CRC16_XMODEM, lambda data: binascii.crc_hqx(data, 0), "big")
CASES = {"crc32": CRC32, "ccitt_false": CCITT_FALSE, "xmodem": XMODEM}

# The catalogue's check values, the CRC of b"123456789".
CHECK = {"crc32": 0xCBF43926, "ccitt_false": 0x29B1, "xmodem": 0x31C3}


def test_aliases():
    assert catalog.CRC16_CCITT_FALSE is catalog.CRC16_IBM_3740


@pytest.mark.parametrize("name", CASES)
def test_software_model_equals_python(name):
    algorithm, reference, _ = CASES[name]
    params = algorithm(data_width=8)
    assert params.compute(b"123456789") == reference(b"123456789") == CHECK[name]
    seed = 7
    rng = random.Random(seed)
    for length in [0, 1, 2, 3, 4, 5, 17, 64, 255]:
        data = rng.randbytes(length)
        assert params.compute(data) == reference(data), f"seed {seed}, length {length}"


def rtl_crcs(algorithm, messages, seed):
    """Run ``messages`` through ``Processor`` back to back, with random idle cycles between
    bytes, and return the CRC and ``match_detected`` after every byte of every message."""
    dut = algorithm(data_width=8).create()
    rng = random.Random(seed)
    results = []

    async def testbench(ctx):
        for message in messages:
            for k, byte in enumerate(message):
                while rng.random() < 0.3:      # idle: valid low, the CRC must hold
                    await ctx.tick()
                ctx.set(dut.start, k == 0)     # a new message starts with its first byte
                ctx.set(dut.data, byte)
                ctx.set(dut.valid, 1)
                await ctx.tick()
                ctx.set(dut.valid, 0)
                ctx.set(dut.start, 0)
                results.append((ctx.get(dut.crc), ctx.get(dut.match_detected)))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    return results


@pytest.mark.parametrize("name", CASES)
def test_rtl_equals_python_on_a_byte_stream(name):
    """Every prefix of every message, one cycle after its last byte, across restarts."""
    algorithm, reference, _ = CASES[name]
    seed = 100 + len(name)
    rng = random.Random(seed)
    messages = [b"123456789"] + [rng.randbytes(rng.randrange(1, 40)) for _ in range(4)]
    got = [crc for crc, _ in rtl_crcs(algorithm, messages, seed)]
    expected = [reference(message[:k + 1]) for message in messages for k in range(len(message))]
    assert got == expected, f"seed {seed}"


@pytest.mark.parametrize("name", CASES)
def test_rtl_match_detected_on_trailing_crc(name):
    """``match_detected`` checks a frame that ends with its own CRC, sent in the byte order the
    protocol uses (little-endian for the reflected CRC-32, big-endian for the CRC-16s)."""
    algorithm, reference, order = CASES[name]
    width = algorithm.crc_width // 8
    seed = 200 + len(name)
    rng = random.Random(seed)
    good = [payload + reference(payload).to_bytes(width, order)
            for payload in (rng.randbytes(rng.randrange(1, 24)) for _ in range(3))]
    bad = bytearray(good[0])
    bad[rng.randrange(len(bad))] ^= 1 << rng.randrange(8)
    results = rtl_crcs(algorithm, good + [bytes(bad)], seed)
    ends = [sum(map(len, good[:k + 1])) - 1 for k in range(len(good))] + [len(results) - 1]
    assert [results[end][1] for end in ends] == [1, 1, 1, 0], f"seed {seed}"
