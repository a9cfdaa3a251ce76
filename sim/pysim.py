"""Stream helpers for testbenches on Amaranth's simulator (``sim.add_testbench``).

They keep the stream rules from the testbench's side: a source holds payload and valid until
the transfer; a sink may drop ready at random (back-pressure) and a source may idle at random.
"""

import os

from amaranth.hdl import Value
from amaranth.sim import Simulator

from tinyeie.contract.protocol import Request
from tinyeie.sw.host.frames import encode_frame
from tinyeie.sw.host.payloads import load_start_payload

__all__ = ["stream_put", "stream_get", "put_all", "get_count", "check_stream_rules", "simulate",
           "run_simulation", "send_damaged", "DAMAGES", "ModelBench", "watch_level"]


async def stream_put(ctx, stream, payload, *, idle=0.0, rng=None):
    """Send one ``payload`` into ``stream``, after random idle cycles with probability ``idle``."""
    while rng is not None and rng.random() < idle:
        await ctx.tick()
    ctx.set(stream.payload, payload)
    ctx.set(stream.valid, 1)
    await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)


async def stream_get(ctx, stream, *, stall=0.0, rng=None):
    """Receive one payload from ``stream``, holding ready low with probability ``stall`` a cycle."""
    while True:
        ready = rng is None or rng.random() >= stall
        ctx.set(stream.ready, ready)
        _, _, valid, payload = await ctx.tick().sample(stream.valid, stream.payload)
        if ready and valid:
            ctx.set(stream.ready, 0)
            return payload


async def put_all(ctx, stream, payloads, **kwargs):
    for payload in payloads:
        await stream_put(ctx, stream, payload, **kwargs)


async def get_count(ctx, stream, count, **kwargs):
    return [await stream_get(ctx, stream, **kwargs) for _ in range(count)]


def check_stream_rules(stream, *, unless=None):
    """A background testbench failing if ``stream`` withdraws or changes an offer not taken.

    ``unless``: a signal that, while high, lets the stream drop the offer pending (an abort,
    such as a ``start`` that drops what was under way).
    """
    async def testbench(ctx):
        watched = [stream.valid, stream.ready, Value.cast(stream.payload)]
        held = None
        async for _, _, valid, ready, payload, *excused in ctx.tick().sample(
                *watched, *([] if unless is None else [unless])):
            if any(excused):
                held = None
                continue
            if held is not None:
                assert valid, "valid fell before the transfer"
                assert payload == held, f"payload changed while valid: {held:#x} -> {payload:#x}"
            held = payload if valid and not ready else None
    return testbench


def watch_level(i_stream, o_stream, levels):
    """A background testbench that appends to ``levels``, every cycle, the items ``i_stream``
    has taken and ``o_stream`` not yet given: what a queue between them holds."""
    async def testbench(ctx):
        taken = given = 0
        async for _, _, i_valid, i_ready, o_valid, o_ready in ctx.tick().sample(
                i_stream.valid, i_stream.ready, o_stream.valid, o_stream.ready):
            taken += i_valid and i_ready
            given += o_valid and o_ready
            levels.append(taken - given)
    return testbench


def simulate(dut, testbenches, background=(), *, timeout, name="sim"):
    """Run ``dut`` until every testbench returns; fail if that takes over ``timeout`` cycles.

    ``background`` testbenches run alongside and are not waited for. With ``WAVES=1`` in the
    environment the run is recorded in ``{name}.vcd``.
    """
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for testbench in testbenches:
        sim.add_testbench(testbench)
    for testbench in background:
        sim.add_testbench(testbench, background=True)

    async def watchdog(ctx):
        # One tick a wait: a `repeat()` left pending when the simulation ends breaks on GC.
        for _ in range(timeout):
            await ctx.tick()
        raise AssertionError(f"simulation did not finish in {timeout} cycles")
    sim.add_testbench(watchdog, background=True)
    run_simulation(sim, name)


def run_simulation(sim, name="sim"):
    """Run ``sim`` to its end; with ``WAVES=1`` in the environment, recorded in ``{name}.vcd``."""
    if os.environ.get("WAVES"):
        with sim.write_vcd(f"{name}.vcd"):
            sim.run()
    else:
        sim.run()


#: The ways :func:`send_damaged` spoils a request frame.
DAMAGES = ("corrupt", "cut", "noise", "line")


def send_damaged(bench, rng, frame, damage):
    """Send ``frame`` spoilt by ``damage`` (one of :data:`DAMAGES`: a flipped bit, cut short,
    three bytes of noise instead, or cut by a UART framing error), then keep the line quiet
    until the frame timeout. ``bench`` has ``send(data)``, ``line_error()`` and ``quiet()``;
    ``rng`` is a :class:`random.Random`."""
    if damage == "corrupt":
        damaged = bytearray(frame)
        damaged[rng.randrange(1, len(frame))] ^= 1 << rng.randrange(8)
        bench.send(damaged)
    elif damage == "cut":
        bench.send(frame[:rng.randrange(1, len(frame))])
    elif damage == "noise":
        bench.send(bytes(rng.randrange(256) for _ in range(3)))
    elif damage == "line":
        bench.send(frame[:rng.randrange(len(frame))])
        bench.line_error()
    else:
        raise ValueError(f"unknown damage {damage!r}: expected one of {DAMAGES}")
    bench.quiet()


class ModelBench:
    """The request side of a protocol test bench: what is sent is recorded in ``events`` (for
    the bench's host process to play into the design) and fed to ``model`` (a
    :class:`~tinyeie.sw.host.board_model.BoardModel`), whose answers accumulate in ``expected``,
    the bytes the design must send."""

    def __init__(self, model):
        self.model = model
        self.events = []
        self.expected = bytearray()

    def send(self, data):
        self.events.append(("bytes", bytes(data)))
        self.expected += self.model.receive(data)

    def line_error(self):
        self.events.append(("line", None))
        self.expected += self.model.line_error()

    def quiet(self):
        self.events.append(("quiet", None))
        self.expected += self.model.quiet()

    def request(self, frame_type, payload=b""):
        """Send one good request frame."""
        self.send(encode_frame(frame_type, payload))

    def load(self, image, chunk=16):
        """Send a whole load: LOAD-START, ``image`` in LOAD-DATA frames of ``chunk`` bytes,
        LOAD-END."""
        self.request(Request.LOAD_START, load_start_payload(len(image)))
        for k in range(0, len(image), chunk):
            self.request(Request.LOAD_DATA, image[k:k + chunk])
        self.request(Request.LOAD_END)
