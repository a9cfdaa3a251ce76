"""The model-image loader on Amaranth's simulator, against `write_commands` and `loader_model`.

Good images must come out as exactly the engine writes `write_commands` lists, under random
idle cycles on the bytes and back-pressure on the writes; every damaged or mismatched image
must end with the error `loader_model` (the Python model in hw/loader.py) predicts, after the
same partial writes, without `ok` ever rising, and the next image after `start` must load.
"""

import struct
import zlib
from dataclasses import dataclass, replace

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import Elaboratable, Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from tinyeie.contract.config import EngineConfig
from tinyeie.contract.image import HEADER_WORDS, VERSION, loader_model
from tinyeie.contract.layouts import Target, column_slices
from tinyeie.contract.protocol import LoaderError
from tinyeie.hw.engine import Engine
from tinyeie.hw.loader import ImageLoader
from tinyeie.sim.engine_run import write_commands
from tinyeie.sim.pysim import check_stream_rules, get_count, put_all
from tinyeie.sw.compiler.golden import int_forward
from tinyeie.sw.compiler.image import write_image
from tinyeie.sw.compiler.pack import layer_descriptor, pack
from tinyeie.sw.compiler.random_model import random_inputs, random_layers

E = LoaderError


def small_config(pes, **changes):
    sizes = dict(pe_depth=256, col_depth=64, act_depth=32, max_layers=3, queue_depth=2)
    return EngineConfig(pes=pes, **{**sizes, **changes})


def model(cfg, seed, sizes=(10, 7, 4), **kwargs):
    """Random layers, packed for ``cfg``."""
    layers = random_layers(np.random.default_rng(seed), list(sizes), cfg=cfg, **kwargs)
    return layers, pack(layers, cfg)


# -- image surgery ------------------------------------------------------------------------------

def reseal(body):
    """An image with its CRC recomputed, so that only the checks before the CRC can catch it."""
    return body + struct.pack("<I", zlib.crc32(body))


def body_words(image):
    return np.frombuffer(image[:-4], dtype="<u2").copy()


def edited(image, **words):
    """``image`` with body words replaced (``w12=0``: word 12 becomes 0), resealed."""
    body = body_words(image)
    for name, value in words.items():
        body[int(name[1:])] = value
    return reseal(body.tobytes())


def sections(image):
    """``(word offset, target, slice, base, count)`` of each section of a well-formed image."""
    body = body_words(image)
    out, at = [], HEADER_WORDS
    for _ in range(body[12]):
        kind, base, count = (int(w) for w in body[at:at + 3])
        out.append((at, kind & 0xFF, kind >> 8, base, count))
        at += 3 + count
    return out


def flipped(image, at, bit=0):
    bad = bytearray(image)
    bad[at] ^= 1 << bit
    return bytes(bad)


# -- the simulation -----------------------------------------------------------------------------

@dataclass
class RtlResult:
    """The loader's outputs after an image, as :class:`LoaderResult` has them."""

    commands: list
    done: bool
    error: int
    in_count: int
    out_count: int


@dataclass
class Loaded:
    """What the loader showed after an image: the model's view plus the raw outputs."""

    result: RtlResult
    ok: bool
    busy: bool
    received: int
    ok_rose: bool       # `ok` was high at any time while this image was fed
    cycles: int         # from the first byte offered to `done` (or to the end of the bytes)


def rtl_load(cfg, images, *, idle=0.0, stall=0.0, seed=0):
    """Pulse ``start`` and feed each image in turn; one :class:`Loaded` per image."""
    dut = ImageLoader(cfg)
    feed_rng, sink_rng = np.random.default_rng([seed, 0]), np.random.default_rng([seed, 1])
    commands = [[] for _ in images]
    ok_rose = [False] * len(images)
    loaded = []
    current = 0
    cycle = 0

    async def sink(ctx):
        while True:
            payload, = await get_count(ctx, dut.o_model, 1, stall=stall, rng=sink_rng)
            commands[current].append(payload.as_bits())

    async def watch(ctx):
        nonlocal cycle
        async for _, _, ok in ctx.tick().sample(dut.ok):
            ok_rose[current] |= bool(ok)
            cycle += 1

    async def feeder(ctx):
        nonlocal current
        for i, image in enumerate(images):
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            # One more cycle, so that the previous image's `ok` is not taken for this one's.
            await ctx.tick()
            current = i
            assert ctx.get(dut.busy) and not ctx.get(dut.done) and not ctx.get(dut.received)
            began = cycle
            await put_all(ctx, dut.i_stream, image, idle=idle, rng=feed_rng)
            for _ in range(3):
                if ctx.get(dut.done):
                    break
                await ctx.tick()
            result = RtlResult(commands=commands[i], done=bool(ctx.get(dut.done)),
                                  error=ctx.get(dut.error), in_count=ctx.get(dut.in_count),
                                  out_count=ctx.get(dut.out_count))
            loaded.append(Loaded(result=result, ok=bool(ctx.get(dut.ok)),
                                 busy=bool(ctx.get(dut.busy)), received=ctx.get(dut.received),
                                 ok_rose=ok_rose[i], cycles=cycle - began))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(feeder)
    sim.add_testbench(sink, background=True)
    sim.add_testbench(watch, background=True)
    sim.add_testbench(check_stream_rules(dut.o_model, unless=dut.start), background=True)
    sim.run()
    return loaded


def assert_as_modelled(cfg, image, got, what):
    """The loader did what `loader_model` says, and its flags agree with each other."""
    want = loader_model(image, cfg)
    # The counts are only valid once ok (the loader keeps the previous image's otherwise).
    counts = {} if want.ok else dict(in_count=want.in_count, out_count=want.out_count)
    expected = RtlResult(commands=want.commands, done=want.done, error=want.error,
                         in_count=want.in_count, out_count=want.out_count)
    assert replace(got.result, **counts) == expected, what
    assert got.ok == want.ok and got.busy == (not want.done), what
    if not want.ok:
        assert not got.ok_rose, f"{what}: ok rose"
    assert got.received == len(image), what
    return want


# -- good images --------------------------------------------------------------------------------

@pytest.mark.parametrize("pes", [1, 3, 4])
def test_good_images_load_as_write_commands(pes):
    cfg = small_config(pes)
    packs = [model(cfg, pes * 10 + 1)[1],
             model(cfg, pes * 10 + 2, sizes=(15, 20, 9, 3), density=0.3, gap_rows=5,
                   empty_cols=0.3)[1],
             model(cfg, pes * 10 + 3, sizes=(6, 2), density=0.9)[1]]
    images = [write_image(p) for p in packs]
    seed = 100 + pes
    for loaded, packed, image in zip(rtl_load(cfg, images, idle=0.3, stall=0.4, seed=seed),
                                     packs, images):
        assert loaded.result.commands == [int(c) for c in write_commands(packed)], f"seed {seed}"
        assert loaded.result.done and loaded.ok and not loaded.busy
        assert loaded.result.error == E.NONE
        first, last = layer_descriptor(packed, 0), layer_descriptor(packed, packed.n_layers - 1)
        assert (loaded.result.in_count, loaded.result.out_count) == (first["in_count"],
                                                                      last["out_count"])
        assert loaded.received == len(image)


def test_a_byte_a_cycle_without_idle_or_backpressure():
    cfg = small_config(3)
    image = write_image(model(cfg, 5)[1])
    loaded, = rtl_load(cfg, [image])
    assert loaded.ok
    # One byte a cycle; `done` two cycles after the last byte (the CRC register, then the check).
    assert loaded.cycles == len(image) + 1


def test_loader_model_replays_write_commands():
    for pes in (1, 3, 4, 17):
        cfg = small_config(pes, pe_depth=1024, col_depth=128)
        packed = model(cfg, pes, sizes=(20, 9, 5))[1]
        result = loader_model(write_image(packed), cfg)
        assert result.ok and result.commands == [int(c) for c in write_commands(packed)]


def test_start_drops_an_image_with_a_write_waiting():
    cfg = small_config(3)
    first, second = (write_image(model(cfg, seed)[1]) for seed in (11, 12))
    dut = ImageLoader(cfg)
    stream_in, stream_out = dut.i_stream, dut.o_model
    written = []

    async def sink(ctx):
        async for _, _, valid, ready, payload in ctx.tick().sample(
                stream_out.valid, stream_out.ready, stream_out.payload):
            if valid and ready:
                written.append(payload.as_bits())

    async def testbench(ctx):
        ctx.set(stream_out.ready, 1)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        data = 2 * (HEADER_WORDS + 3)       # the first section's first data word
        await put_all(ctx, stream_in, first[:data + 1])
        ctx.set(stream_out.ready, 0)
        ctx.set(stream_in.payload, first[data + 1])
        ctx.set(stream_in.valid, 1)
        await ctx.tick().repeat(3)
        assert ctx.get(stream_out.valid) and not ctx.get(stream_in.ready)
        # `start` with the next image's first byte offered (and the engine ready) at once:
        # nothing is written, and the byte waits for the cycle after.
        ctx.set(stream_in.payload, second[0])
        ctx.set(stream_out.ready, 1)
        ctx.set(dut.start, 1)
        assert not ctx.get(stream_out.valid) and not ctx.get(stream_in.ready)
        await ctx.tick()
        ctx.set(dut.start, 0)
        await ctx.tick().until(stream_in.ready)
        ctx.set(stream_in.valid, 0)
        await put_all(ctx, stream_in, second[1:])
        await ctx.tick().until(dut.done)
        assert ctx.get(dut.ok) and ctx.get(dut.received) == len(second)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.add_testbench(sink, background=True)
    sim.add_testbench(check_stream_rules(stream_out, unless=dut.start), background=True)
    sim.run()
    assert written == loader_model(second, cfg).commands


def test_start_in_the_verdict_cycle_drops_the_verdict():
    # `start` in the cycle the loader checks the CRC (the one after the trailer's last byte):
    # the next image starts with no verdict. The verdict used to win over `start`, so `done`
    # and `ok` of the image dropped stayed high while the next one loaded (found by the
    # loader's induction proof, sim/proofs_loader.py).
    cfg = small_config(2)
    first, second = (write_image(model(cfg, seed)[1]) for seed in (21, 22))
    dut = ImageLoader(cfg)
    stream_in = dut.i_stream

    async def testbench(ctx):
        ctx.set(dut.o_model.ready, 1)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        await put_all(ctx, stream_in, first)
        ctx.set(dut.start, 1)                   # the CRC is being checked in this cycle
        await ctx.tick()
        ctx.set(dut.start, 0)
        assert ctx.get(dut.busy)
        assert not ctx.get(dut.done) and not ctx.get(dut.ok)
        assert ctx.get(dut.error) == E.NONE
        for byte in second[:-1]:
            await put_all(ctx, stream_in, [byte])
            assert not ctx.get(dut.done)
        await put_all(ctx, stream_in, second[-1:])
        await ctx.tick()
        assert ctx.get(dut.done) and ctx.get(dut.ok)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()


# -- bad images ---------------------------------------------------------------------------------

CFG = small_config(3)


def bad_images():
    """``(name, image, expected error or None for a good one, done)`` against :data:`CFG`."""
    layers, packed = model(CFG, 42, sizes=(9, 6, 4), density=0.5)
    image = write_image(packed)
    body = body_words(image)
    secs = sections(image)
    pe0, layer_table = secs[0], secs[-1]
    column = next(s for s in secs if s[1] == Target.COLUMNS)
    other_pes = small_config(4)
    narrow_codes = small_config(3, code_width=6)
    pe_words = int(body[10])
    n = int(body[12])
    cases = [
        ("magic", b"TEIF" + image[4:], E.MAGIC),
        ("magic, first byte", b"X" + image[1:], E.MAGIC),
        ("the next version", edited(image, w2=VERSION + 1), E.VERSION),
        ("version 1 (runs ended by a last flag)", edited(image, w2=1), E.VERSION),
        ("version 0", edited(image, w2=0), E.VERSION),
        ("packed for 4 PEs", write_image(pack(layers, other_pes)), E.CONFIG),
        ("packed for 6-bit codes",
         write_image(model(narrow_codes, 42, sizes=(9, 6, 4))[1]), E.CONFIG),
        ("act_width", edited(image, w4=CFG.act_width + 1), E.CONFIG),
        ("acc_width", edited(image, w6=CFG.acc_width - 1), E.CONFIG),
        ("act_depth over", edited(image, w7=CFG.act_depth + 1), E.TOO_LARGE),
        ("act_depth at the limit", edited(image, w7=CFG.act_depth), None),
        ("layers over", edited(image, w8=CFG.max_layers + 1), E.TOO_LARGE),
        ("layers at the limit", edited(image, w8=CFG.max_layers), None),
        ("column rows over", edited(image, w9=CFG.col_depth + 1), E.TOO_LARGE),
        ("column rows at the limit", edited(image, w9=CFG.col_depth), None),
        ("PE words over", edited(image, w10=CFG.pe_depth + 1), E.TOO_LARGE),
        ("PE words at the limit", edited(image, w10=CFG.pe_depth), None),
        ("PE words, high half", edited(image, w10=0, w11=1), E.TOO_LARGE),
        ("in_count over", edited(image, w13=CFG.act_depth + 1), E.TOO_LARGE),
        ("out_count over", edited(image, w14=CFG.act_depth + 1), E.TOO_LARGE),
        ("section for PE 3", edited(image, **{f"w{pe0[0]}": Target.PE | 3 << 8}), E.SECTION),
        ("section for target 3", edited(image, **{f"w{pe0[0]}": 3}), E.SECTION),
        ("section for target 0x80", edited(image, **{f"w{pe0[0]}": 0x80}), E.SECTION),
        ("column slice past the mask",
         edited(image, **{f"w{column[0]}": Target.COLUMNS | column_slices(3) << 8}), E.SECTION),
        ("layer table slice 1",
         edited(image, **{f"w{layer_table[0]}": Target.LAYERS | 1 << 8}), E.SECTION),
        ("PE section past the end",
         edited(image, **{f"w{pe0[0] + 1}": CFG.pe_depth - pe0[4] + 1}), E.SECTION),
        ("PE section up to the end",
         edited(image, **{f"w{pe0[0] + 1}": CFG.pe_depth - pe0[4]}), None),
        ("column section past the end",
         edited(image, **{f"w{column[0] + 1}": CFG.col_depth - column[4] + 1}), E.SECTION),
        ("layer table past the end",
         edited(image, **{f"w{layer_table[0] + 1}": 32 * CFG.max_layers - layer_table[4] + 1}),
         E.SECTION),
        ("an empty section",
         edited(reseal(np.concatenate([body[:16], [Target.COLUMNS, 5, 0], body[16:]])
                       .astype("<u2").tobytes()), w12=n + 1), None),
        ("no sections", reseal(np.concatenate([body[:12], [0], body[13:16]])
                              .astype("<u2").tobytes()), None),
        ("a data bit", flipped(image, 2 * (pe0[0] + 3) + 1, 7), E.CRC),
        ("a bit of the reserved header word", flipped(image, 30, 3), E.CRC),
        ("a trailer bit", flipped(image, len(image) - 1, 0), E.CRC),
        ("one section fewer", edited(image, w12=n - 1), E.CRC),
        # The trailer, read as a section header, names no memory (for this image's CRC).
        ("one section more", edited(image, w12=n + 1), E.SECTION),
        ("cut by one byte", image[:-1], "busy"),
        ("cut in half", image[:len(image) // 2], "busy"),
        ("cut in the header", image[:7], "busy"),
        ("extra bytes after the trailer", image + b"\x5a\x00\xff", None),
        ("good", image, None),
    ]
    assert pe_words < CFG.pe_depth
    return image, cases


def test_every_bad_image_fails_as_modelled_and_the_next_one_loads():
    good, cases = bad_images()
    images = []
    for _, image, _ in cases:
        images += [image, good]
    loaded = rtl_load(CFG, images, idle=0.2, stall=0.3, seed=9)
    for k, (name, image, expected) in enumerate(cases):
        got, after = loaded[2 * k], loaded[2 * k + 1]
        want = assert_as_modelled(CFG, image, got, name)
        if expected is None:
            assert got.ok, name
        elif expected == "busy":
            assert got.busy and not got.result.done and got.result.error == E.NONE, name
        else:
            assert got.result.done and got.result.error == expected, name
            assert want.error == expected, name
        assert after.ok, f"the good image after {name!r}"


@pytest.mark.parametrize("smaller", [dict(pe_depth=10), dict(col_depth=12), dict(act_depth=8),
                                     dict(max_layers=1)])
def test_image_too_large_for_the_engine(smaller):
    cfg = small_config(3)
    image = write_image(model(cfg, 3, sizes=(14, 9, 4))[1])
    loaded, = rtl_load(small_config(3, **smaller), [image], stall=0.5)
    assert loaded.result.done and loaded.result.error == E.TOO_LARGE and not loaded.ok_rose
    assert loaded.result.commands == []


@pytest.mark.parametrize("depths", [dict(pe_depth=1 << 16, col_depth=1 << 16),
                                    dict(pe_depth=300, col_depth=255)])
def test_sizes_at_the_top_of_the_word_range(depths):
    # Headers and one section header (the images stop there): busy, or failed as modelled.
    cfg = small_config(3, **depths)
    pe_depth, col_depth = cfg.pe_depth, cfg.col_depth
    header = body_words(write_image(model(cfg, 1)[1]))[:HEADER_WORDS]
    header[12] = 1
    cases = []
    for pe_words in (pe_depth, pe_depth + 1, 0xFFFF, 0x20000, pe_depth - 1):
        low, high = pe_words & 0xFFFF, pe_words >> 16
        words = header.copy()
        words[10:12] = low, high
        cases.append((words, E.TOO_LARGE if low | high << 16 > pe_depth else E.NONE))
    for rows in (min(col_depth, 0xFFFF), min(col_depth + 1, 0xFFFF)):
        words = header.copy()
        words[9] = rows
        cases.append((words, E.TOO_LARGE if rows > col_depth else E.NONE))
    for base, count in ((0xFFFF, 1), (0xFFFF, 2), (pe_depth - 2, 2), (pe_depth - 1, 2)):
        words = np.concatenate([header, [Target.PE, base, count, 0x1234]])
        cases.append((words, E.SECTION if base + count > pe_depth else E.NONE))
    images = [words.astype("<u2").tobytes() for words, _ in cases]
    for (_, error), image, got in zip(cases, images, rtl_load(cfg, images)):
        assert_as_modelled(cfg, image, got, image.hex())
        assert got.result.error == error, image.hex()


def test_random_damage_as_modelled():
    cfg = small_config(4)
    rng = np.random.default_rng(2024)
    image = write_image(model(cfg, 8, sizes=(8, 6, 3), density=0.4)[1])
    n_words = len(image) // 2 - 2
    images = []
    for _ in range(24):
        kind = rng.integers(4)
        if kind == 0:       # a random bit anywhere
            images.append(flipped(image, int(rng.integers(len(image))), int(rng.integers(8))))
        elif kind == 1:     # a random word behind a good CRC
            at = int(rng.integers(n_words))
            images.append(edited(image, **{f"w{at}": int(rng.integers(1 << 16))}))
        elif kind == 2:     # a section header word a little off, behind a good CRC
            at, *_ = sections(image)[int(rng.integers(len(sections(image))))]
            at += int(rng.integers(3))
            body = body_words(image)
            images.append(edited(image, **{f"w{at}": int(body[at] ^ 1 << rng.integers(12))}))
        else:               # cut short or run long
            cut = int(rng.integers(1, len(image)))
            images.append(image[:cut] if rng.random() < 0.5 else image + image[:cut])
    for k, (image, got) in enumerate(zip(images, rtl_load(cfg, images, idle=0.3, stall=0.3,
                                                         seed=3))):
        assert_as_modelled(cfg, image, got, f"case {k} (seed 2024)")


# -- the engine behind the loader ---------------------------------------------------------------

class LoadedEngine(Elaboratable):
    def __init__(self, cfg):
        self.loader = ImageLoader(cfg)
        self.engine = Engine(cfg)

    def elaborate(self, platform):
        m = Module()
        m.submodules.loader = self.loader
        m.submodules.engine = self.engine
        wiring.connect(m, self.loader.o_model, self.engine.i_model)
        return m


def test_engine_loaded_through_the_loader_matches_golden():
    cfg = small_config(3, queue_depth=4)
    rng = np.random.default_rng(77)
    layers = random_layers(rng, [14, 11, 5], density=0.4, cfg=cfg, gap_rows=6)
    packed = pack(layers, cfg)
    inputs = random_inputs(rng, 2, 14, cfg=cfg)
    dut = LoadedEngine(cfg)
    loader, engine = dut.loader, dut.engine
    outputs = []

    async def testbench(ctx):
        ctx.set(loader.start, 1)
        await ctx.tick()
        ctx.set(loader.start, 0)
        await put_all(ctx, loader.i_stream, write_image(packed), idle=0.2, rng=rng)
        await ctx.tick().until(loader.done)
        assert ctx.get(loader.ok)
        for a in inputs:
            await put_all(ctx, engine.i_stream, [int(x) for x in a])
            results = await get_count(ctx, engine.o_stream, 5)
            outputs.append([r.value for r in results])

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    np.testing.assert_array_equal(outputs, int_forward(layers, inputs, cfg))


@pytest.mark.parametrize("pes", [1, 64])
def test_converts_to_verilog(pes):
    assert "module" in verilog.convert(ImageLoader(EngineConfig(pes=pes)))
