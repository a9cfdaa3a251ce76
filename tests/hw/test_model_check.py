"""The model check (loader and engine built with ``check_model``) on Amaranth's simulator: its
verdict on structurally edited images, one after another in the same memories, must be the one
``loader_model(..., check_model=True)`` (``read_image``'s definition) gives, and a good image
must still load and run bit-exact after a refused one."""

import numpy as np
from amaranth.hdl import Elaboratable, Module, ResetInserter, Signal
from amaranth.lib import wiring
from amaranth.sim import Simulator

from tinyeie.contract.config import EngineConfig
from tinyeie.contract.image import loader_model
from tinyeie.contract.protocol import LoaderError
from tinyeie.hw.engine import Engine
from tinyeie.hw.loader import ImageLoader
from tinyeie.hw.server import connect_model_check
from tinyeie.sim.fuzz_images import edited_image
from tinyeie.sim.pysim import put_all
from tinyeie.sw.compiler.image import read_image, write_image
from tinyeie.sw.compiler.pack import pack
from tinyeie.sw.compiler.random_model import random_layers


class CheckedLoad(Elaboratable):
    """A loader and an engine with the model check, wired as ModelServer wires them."""

    def __init__(self, cfg):
        self.loader = ImageLoader(cfg, check_model=True)
        self.engine = Engine(cfg, check_model=True)

    def elaborate(self, platform):
        m = Module()
        loader, engine = self.loader, self.engine
        m.submodules.loader = loader
        m.submodules.engine = ResetInserter(loader.start)(engine)
        wipe = Signal()
        m.d.sync += wipe.eq(loader.start)
        wiring.connect(m, loader.o_model, engine.i_model)
        m.d.comb += engine.wipe.eq(wipe)
        connect_model_check(m, loader, engine)
        return m


def _config(pes):
    return EngineConfig(pes=pes, pe_depth=256, col_depth=64, act_depth=32, max_layers=3,
                        queue_depth=2)


def _run(cfg, images):
    """Load ``images`` one after another into the same memories; each one's LoaderError."""
    dut = CheckedLoad(cfg)
    loader, engine = dut.loader, dut.engine
    verdicts = []

    async def testbench(ctx):
        ctx.set(engine.o_stream.ready, 1)
        for image in images:
            ctx.set(loader.start, 1)
            await ctx.tick()
            ctx.set(loader.start, 0)
            await put_all(ctx, loader.i_stream, image)
            await ctx.tick().until(loader.done)
            verdicts.append(LoaderError(ctx.get(loader.error)))
            assert ctx.get(loader.ok) == (verdicts[-1] == LoaderError.NONE)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    return verdicts


def test_the_check_agrees_with_read_image_on_edited_images():
    rng = np.random.default_rng(7)
    for pes in (1, 3, 4):
        cfg = _config(pes)
        layers = random_layers(rng, [12, 9, 5], density=0.5, cfg=cfg)
        good = write_image(pack(layers, cfg))
        images, want = [good], [LoaderError.NONE]
        while len(images) < 25:
            image, _ = edited_image(rng, good)
            result = loader_model(image, cfg, check_model=True)
            if result.done:
                images.append(image)
                want.append(result.error)
        got = _run(cfg, images)
        assert got == want, f"{pes} PEs"
        assert LoaderError.MODEL in want
        for image, verdict in zip(images, want):
            # the check's verdict is read_image's
            try:
                read_image(image, cfg)
                accepted = True
            except Exception:
                accepted = False
            assert accepted == (verdict == LoaderError.NONE)
