# amaranth: UnusedElaboratable=no
"""HostProtocol on Amaranth's simulator, byte for byte against the reference
`tinyeie.sw.host.board_model.BoardModel`.

The bench (`Bench`) drives the receiver's stream with bytes and in-band line errors (no UART
bit timing), takes the answers from the transmitter's stream with random back-pressure, and
stands in for the loader and the engine with testbench processes: `StubLoader` reads a tiny
image format of its own and `stub_engine` computes integer logits. The same stand-ins, as
Python functions, are the BoardModel's loader and engine, so every scenario asserts
`rtl_bytes == model_bytes`; the answers are also decoded for readable checks. WAVES=1 writes a
VCD per scenario.
"""

import random

import pytest
from amaranth.sim import Simulator

from tinyeie.contract.config import EngineConfig
from tinyeie.contract.image import load_length_bits
from tinyeie.contract.protocol import SOF, ErrorCode, LoaderError, Request, Response
from tinyeie.hw.protocol import HostProtocol
from tinyeie.hw.uart import RxError
from tinyeie.sim.pysim import (
    ModelBench,
    check_stream_rules,
    run_simulation,
    send_damaged,
    stream_get,
    stream_put,
)
from tinyeie.sw.host.board_model import BoardModel
from tinyeie.sw.host.frames import Frame, FrameDecoder, encode_frame
from tinyeie.sw.host.payloads import (
    infer_payload,
    load_start_payload,
    parse_error,
    parse_result,
    parse_status,
    sparse_payload,
)

CONFIG = EngineConfig(pes=2, act_width=8, code_width=8, acc_width=24)
TIMEOUT = 48        # cycles of quiet line that end a frame (the board's is 2**20)
ENGINE_TIMEOUT = 1 << 11    # engine cycles an inference may take: above the stub's 1768
WATCHDOG = 60000    # cycles a scenario may take


# -- the stand-ins -----------------------------------------------------------------------------

MAGIC = 0xA5


def stub_image(in_count, out_count, *, filler=5, damage=None):
    """A stub image: magic, total length (u8), in_count, out_count (u16 each), filler bytes,
    and a checksum byte (the sum of all others)."""
    body = bytes([MAGIC, 7 + filler]) + in_count.to_bytes(2, "little") + \
        out_count.to_bytes(2, "little") + bytes(range(filler))
    image = bytearray(body + bytes([sum(body) & 0xFF]))
    if damage is not None:
        image[damage] ^= 0x40
    return bytes(image)


class StubLoader:
    """The stub image format, checked byte by byte like the real loader does its own."""

    def __init__(self):
        self.restart()

    def restart(self):
        self.data = bytearray()
        self.done, self.error, self.in_count, self.out_count = False, LoaderError.NONE, 0, 0

    def feed(self, byte):
        if self.done:
            return                      # bytes after the image are dropped
        self.data.append(byte)
        k = len(self.data)
        if k == 1 and byte != MAGIC:
            self.done, self.error = True, LoaderError.MAGIC
        elif k == 7:
            self.in_count = int.from_bytes(self.data[2:4], "little")
            self.out_count = int.from_bytes(self.data[4:6], "little")
        elif k > 2 and k == self.data[1]:
            self.done = True
            if sum(self.data[:-1]) & 0xFF != self.data[-1]:
                self.error = LoaderError.CRC

    @property
    def ok(self):
        return self.done and self.error == LoaderError.NONE

    @classmethod
    def verdict(cls, data):
        """The BoardModel's loader: LENGTH unless the bytes are exactly one image."""
        loader = cls()
        for byte in data:
            if loader.done:
                return (LoaderError.LENGTH if loader.ok else loader.error), 0, 0
            loader.feed(byte)
        if not loader.done:
            return LoaderError.LENGTH, 0, 0
        return loader.error, loader.in_count, loader.out_count


def stub_engine(activations):
    """The stub engine's logits and cycle count: small integer sums with ties built in."""
    logits = []
    for j in range(3):
        weights = [((i * 7 + j * 3) % 5) - 2 for i in range(len(activations))]
        logits.append([40, 90, 90][j] + sum(w * a for w, a in zip(weights, activations)) * 1000)
    logits[2] -= 5 * 1000 * (len(activations) > 6)     # break the symmetry for wide inputs
    return logits, 1000 + sum(abs(a) for a in activations)


# -- the bench -----------------------------------------------------------------------------

class Bench(ModelBench):
    """One scenario: a list of line events, run on the RTL and on the model.

    Events: ``send(data)`` bytes; ``line_error()`` a UART framing error in place of a byte;
    ``quiet()`` the line idle for longer than the timeout; ``boot(image)`` a boot load.
    """

    def __init__(self, *, config=CONFIG, preloaded=None, seed=0, idle=0.2, stall=0.3,
                 tx_stall=None, engine_latency=20, hangs=lambda acts: False, sparse=True,
                 rx_buffer=0):
        self.config = config
        self.seed = seed
        self.rng = random.Random(seed)
        self.idle, self.stall, self.engine_latency = idle, stall, engine_latency
        self.tx_stall = stall if tx_stall is None else tx_stall
        self.preloaded = preloaded
        # ``hangs(acts)``: the stub engine never finishes these activations (it counts its
        # cycles until the protocol resets it); to the model, an engine that returns None.
        self.hangs = hangs
        self.dut = HostProtocol(config, timeout_cycles=TIMEOUT,
                                engine_timeout_cycles=ENGINE_TIMEOUT, preloaded=preloaded,
                                sparse=sparse, rx_buffer=rx_buffer, bit_cycles=8)
        super().__init__(BoardModel(
            config, lambda acts: None if hangs(acts) else stub_engine(acts), StubLoader.verdict,
            preloaded=preloaded, sparse=sparse, rx_buffer=rx_buffer, bit_cycles=8))
        self.loader = StubLoader()
        self.engine_counts = preloaded or (0, 0)    # the model the stub engine runs
        self.inferences = []                        # activations the engine got
        self.received = 0                           # the stub loader's `received`

    def boot_begin(self):
        # after the answers so far are out: STATUS reads the state when it is sent
        self.events.append(("boot-begin", len(self.expected)))
        self.model.boot_begin()

    def boot_end(self, image):
        self.events.append(("boot-end", (bytes(image), len(self.expected))))
        self.model.boot(image)

    def boot(self, image):
        self.boot_begin()
        self.boot_end(image)

    # processes

    async def _host(self, ctx):
        dut = self.dut
        for kind, data in self.events:
            if kind == "bytes":
                for byte in data:
                    await stream_put(ctx, dut.i_rx, {"data": byte, "error": RxError.NONE},
                                     idle=self.idle, rng=self.rng)
            elif kind == "line":
                await stream_put(ctx, dut.i_rx, {"data": 0, "error": RxError.FRAMING})
            elif kind == "quiet":
                # The board's timeout counts from the last byte the receiver takes: with an
                # inbox in front, from when the inbox has let the last one through.
                if dut.inbox is not None:
                    while ctx.get(dut.inbox.o_stream.valid):
                        await ctx.tick()
                await ctx.tick().repeat(TIMEOUT + 4)
            elif kind == "boot-begin":
                while len(self.got) < data:
                    await ctx.tick()
                ctx.set(dut.boot_busy, 1)
                await ctx.tick()
            elif kind == "boot-end":
                data, answered = data
                while len(self.got) < answered:
                    await ctx.tick()
                # the flash reader feeds the loader (which counts the bytes as `received`)
                self.loader.restart()
                self.received = 0
                for byte in data:
                    self.loader.feed(byte)
                    self.received += 1
                    self._loader_outputs(ctx)
                    await ctx.tick()
                if self.loader.ok:
                    self.engine_counts = (self.loader.in_count, self.loader.out_count)
                ctx.set(dut.boot_busy, 0)
                await ctx.tick()
        # Wait for every answer, then a little more to catch any extra byte.
        for _ in range(20000):
            if len(self.got) >= len(self.expected):
                break
            await ctx.tick()
        await ctx.tick().repeat(200)
        self.final = {name: ctx.get(getattr(dut, name))
                      for name in ("model_valid", "predicted", "predicted_valid")}

    def _loader_outputs(self, ctx):
        dut, loader = self.dut, self.loader
        ctx.set(dut.loader_done, loader.done)
        ctx.set(dut.loader_ok, loader.ok)
        ctx.set(dut.loader_error, loader.error)
        ctx.set(dut.loader_in_count, loader.in_count)
        ctx.set(dut.loader_out_count, loader.out_count)
        ctx.set(dut.loader_received, self.received)

    async def _loader(self, ctx):
        dut = self.dut
        while True:
            ready = self.rng.random() >= self.stall
            ctx.set(dut.o_image.ready, ready)
            _, _, start, valid, byte = await ctx.tick().sample(
                dut.loader_start, dut.o_image.valid, dut.o_image.payload)
            if start:
                self.loader.restart()
                self.received = 0
            elif ready and valid:
                self.loader.feed(byte)
                self.received += 1
                if self.loader.ok:
                    self.engine_counts = (self.loader.in_count, self.loader.out_count)
            self._loader_outputs(ctx)

    async def _engine(self, ctx):
        dut = self.dut
        ctx.set(dut.engine_out_count, 3)       # the stub engine's logits, whatever the model
        while True:
            acts = []
            while not acts or len(acts) < self.engine_counts[0]:
                ready = self.rng.random() >= self.stall
                ctx.set(dut.o_activations.ready, ready)
                _, _, valid, value = await ctx.tick().sample(dut.o_activations.valid,
                                                             dut.o_activations.payload)
                if ready and valid:
                    acts.append(value)
            ctx.set(dut.o_activations.ready, 0)
            ctx.set(dut.cycles, 0)          # as the engine: the count restarts after the input
            self.inferences.append(acts)
            self.busy = True
            if self.hangs(acts):
                count = 0
                while not (await ctx.tick().sample(dut.engine_reset))[2]:
                    count += 1
                    ctx.set(dut.cycles, count)
                ctx.set(dut.cycles, 0)
                self.resets += 1
                self.busy = False
                continue
            logits, cycles = stub_engine(acts)
            await ctx.tick().repeat(self.engine_latency)
            ctx.set(dut.cycles, cycles)
            for j, value in enumerate(logits):
                while self.rng.random() < self.idle:
                    await ctx.tick()
                ctx.set(dut.i_results.payload, {"value": value, "last": j == len(logits) - 1})
                ctx.set(dut.i_results.valid, 1)
                # one-shot waits: a pending `until()` breaks when the simulation ends
                while True:
                    _, _, ready, reset = await ctx.tick().sample(dut.i_results.ready,
                                                                 dut.engine_reset)
                    if ready or reset:
                        break
                ctx.set(dut.i_results.valid, 0)
                if reset:
                    self.resets += 1
                    ctx.set(dut.cycles, 0)
                    break
            self.busy = False

    async def _watchdog(self, ctx):
        # one-shot waits: a pending `repeat()` breaks when the simulation ends
        for _ in range(WATCHDOG):
            await ctx.tick()
        raise AssertionError(f"the scenario did not finish in {WATCHDOG} cycles (seed "
                             f"{self.seed}); answers so far: {decode(self.got)}")

    async def _collector(self, ctx):
        while True:
            self.got.append(await stream_get(ctx, self.dut.o_tx, stall=self.tx_stall,
                                             rng=self.rng))

    def run(self, name="protocol"):
        """Run the scenario; return the RTL's answer bytes (asserted equal to the model's)."""
        self.got, self.busy, self.resets = bytearray(), False, 0
        sim = Simulator(self.dut)
        sim.add_clock(1e-6)
        sim.add_testbench(self._host)
        for process in (self._loader, self._engine, self._collector, self._watchdog,
                        *(check_stream_rules(stream) for stream in (
                            self.dut.o_tx, self.dut.o_image, self.dut.o_activations))):
            sim.add_testbench(process, background=True)
        run_simulation(sim, name)
        assert decode(self.got) == decode(self.expected), f"seed {self.seed}"
        assert bytes(self.got) == bytes(self.expected), f"seed {self.seed}"
        assert not self.busy, "the engine still has results nobody took"
        assert self.final["model_valid"] == self.model.model_valid
        return bytes(self.got)


def decode(data):
    """The frames in ``data`` as (type name, payload) pairs, for readable assertions."""
    frames = []
    for event in FrameDecoder(types=list(Response)).feed(data):
        assert isinstance(event, Frame), f"the board sent a damaged frame: {event}"
        frames.append((Response(event.type).name, event.payload.hex()))
    return frames


def answers(data):
    """The frames in ``data``, decoded: ("ERROR", names), ("ACK", type), ("STATUS", Status),
    ("RESULT", InferResult)."""
    out = []
    for event in FrameDecoder(types=list(Response)).feed(data):
        kind = Response(event.type)
        parse = {Response.ERROR: parse_error, Response.ACK: lambda p: Request(p[0]).name,
                 Response.STATUS: parse_status, Response.RESULT: parse_result}[kind]
        out.append((kind.name, parse(event.payload)))
    return out


# -- scenarios ---------------------------------------------------------------------------------

IMAGE = stub_image(6, 3)
ACTS = [3, -7, 0, 127, -128, 5]


def loaded_bench(**kwargs):
    bench = Bench(**kwargs)
    bench.load(IMAGE)
    return bench


def test_status_at_power_up():
    bench = Bench()
    bench.request(Request.STATUS)
    [(kind, status)] = answers(bench.run())
    assert kind == "STATUS"
    assert (status.version, status.model_valid, status.pes, status.act_width, status.code_width,
            status.acc_width) == (2, False, 2, 8, 8, 24)
    assert (status.in_count, status.out_count, status.last_error,
            status.last_loader_error) == (0, 0, 0, 0)


@pytest.mark.parametrize("config", [
    CONFIG, EngineConfig(pes=3, act_width=4, code_width=4, acc_width=24),
    EngineConfig(pes=1, act_width=12, code_width=8, acc_width=32)], ids=str)
def test_load_then_infer(config):
    """The engine gets each byte's low act_width bits, signed; the logits come back whole."""
    bench = Bench(config=config)
    bench.load(IMAGE, chunk=5)
    bench.request(Request.STATUS)
    bench.request(Request.INFER, infer_payload(ACTS))
    got = answers(bench.run())
    assert got[:5] == [("ACK", "LOAD_START"), ("ACK", "LOAD_DATA"), ("ACK", "LOAD_DATA"),
                       ("ACK", "LOAD_DATA"), ("ACK", "LOAD_END")]
    status = got[5][1]
    assert status.model_valid and (status.in_count, status.out_count) == (6, 3)
    assert (status.pes, status.act_width, status.acc_width) == (config.pes, config.act_width,
                                                                config.acc_width)
    half = 1 << min(config.act_width, 8) - 1
    acts = [(a + half) % (2 * half) - half for a in ACTS]
    logits, cycles = stub_engine(acts)
    result = got[6][1]
    assert result.logits == logits and result.cycles == cycles
    assert result.cls == max(range(3), key=lambda j: (logits[j], -j))
    assert bench.inferences == [acts]
    assert bench.final["predicted"] == result.cls and bench.final["predicted_valid"]


def test_argmax_ties_go_to_the_lowest_index():
    bench = loaded_bench()
    bench.request(Request.INFER, bytes(6))      # all zero: logits 40, 90, 90
    result = answers(bench.run())[-1][1]
    assert result.logits == [40, 90, 90] and result.cls == 1


def test_negative_logits_are_sign_extended():
    bench = loaded_bench()
    acts = [-128, -128, 127, -128, 127, -128]
    bench.request(Request.INFER, infer_payload(acts))
    result = answers(bench.run())[-1][1]
    assert result.logits == stub_engine(acts)[0] and min(result.logits) < 0


def error(code, request=None):
    from tinyeie.contract.protocol import doc_name
    return ("ERROR", (doc_name(code), doc_name(request, Request) if request else "-"))


def status_request(bench):
    bench.request(Request.STATUS)


def test_bad_crc_then_a_good_frame():
    bench = Bench()
    frame = bytearray(encode_frame(Request.STATUS))
    frame[-1] ^= 1
    bench.send(frame)
    status_request(bench)
    got = answers(bench.run())
    assert got[0] == error(ErrorCode.BAD_CRC, Request.STATUS) and got[1][0] == "STATUS"
    assert got[1][1].last_error == ErrorCode.BAD_CRC


def test_bad_crc_infer_discards_the_engines_results():
    bench = loaded_bench()
    frame = bytearray(encode_frame(Request.INFER, infer_payload(ACTS)))
    frame[-2] ^= 0x80
    bench.send(frame)
    bench.request(Request.INFER, infer_payload(ACTS[::-1]))
    got = answers(bench.run())
    assert got[-2] == error(ErrorCode.BAD_CRC, Request.INFER)
    assert got[-1][1].logits == stub_engine(ACTS[::-1])[0]
    # the engine ran both inputs; the first one's results went nowhere
    assert bench.inferences == [ACTS, ACTS[::-1]]


def test_back_to_back_infers():
    """The next INFER's activations wait until the RESULT before has gone out whole (the host
    should not send it before, but the RESULT's cycle count must not be the next input's)."""
    bench = loaded_bench(stall=0.0, tx_stall=0.9)
    bench.send(encode_frame(Request.INFER, infer_payload(ACTS))
               + encode_frame(Request.INFER, infer_payload(ACTS[::-1])))
    got = answers(bench.run())
    assert [r.cycles for _, r in got[-2:]] == [stub_engine(ACTS)[1], stub_engine(ACTS[::-1])[1]]


def test_back_to_back_infer_and_broken_infer():
    """The zeros completing a broken INFER's input also wait for the RESULT before."""
    bench = loaded_bench(stall=0.0, tx_stall=0.9)
    bench.send(encode_frame(Request.INFER, infer_payload(ACTS))
               + encode_frame(Request.INFER, infer_payload(ACTS))[:4])
    bench.line_error()
    got = answers(bench.run())
    assert got[-2][1].cycles == stub_engine(ACTS)[1]
    assert got[-1] == error(ErrorCode.LINE, Request.INFER)
    assert bench.inferences[-1] == [0] * 6


@pytest.mark.parametrize("header", [
    pytest.param(bytes([SOF, Request.STATUS, 0x01, 0x04]), id="over-1024"),
    pytest.param(bytes([SOF, Request.STATUS, 0x01, 0x00]), id="status-with-payload"),
    pytest.param(bytes([SOF, Request.LOAD_START, 0x03, 0x00]), id="load-start-3"),
    pytest.param(bytes([SOF, Request.LOAD_DATA, 0x00, 0x00]), id="load-data-empty"),
    pytest.param(bytes([SOF, Request.LOAD_DATA, 0x01, 0x04]), id="load-data-1025"),
    pytest.param(bytes([SOF, Request.INFER, 0x05, 0x00]), id="infer-short"),
    pytest.param(bytes([SOF, Request.INFER, 0x07, 0x00]), id="infer-long"),
])
def test_bad_length_drops_until_quiet(header):
    bench = loaded_bench()
    bench.send(header + bytes(range(SOF - 4, SOF + 4)))    # the rest, a SOF among it, dropped
    bench.quiet()
    bench.request(Request.INFER, infer_payload(ACTS))
    got = answers(bench.run())
    assert got[-2] == error(ErrorCode.BAD_LENGTH, header[1])
    assert got[-1][0] == "RESULT"
    assert bench.inferences == [ACTS]


@pytest.mark.parametrize("frame_type", [0x00, 0x07, 0x81, 0xFF])
def test_unknown_type(frame_type):
    bench = Bench()
    bench.send(encode_frame(frame_type, b"\x01\x02"))
    bench.quiet()
    status_request(bench)
    got = answers(bench.run())
    assert got[0] == ("ERROR", ("UNKNOWN-TYPE", f"0x{frame_type:02X}" if frame_type else "-"))
    assert got[1][0] == "STATUS"


def test_noise_is_answered_once_per_run():
    bench = Bench()
    bench.send(b"\x00\x13garbage")
    status_request(bench)
    bench.send(b"\xff\xfe")
    bench.quiet()
    bench.send(b"\x01")
    bench.line_error()                     # between frames a line error is noise too
    status_request(bench)
    got = answers(bench.run())
    assert [g[0] for g in got] == ["ERROR", "STATUS", "ERROR", "ERROR", "STATUS"]
    assert got[0] == got[2] == got[3] == error(ErrorCode.NOISE)


@pytest.mark.parametrize("cut", [1, 2, 4, 9, 11])
def test_timeout_mid_frame(cut):
    """A frame cut after `cut` bytes: TIMEOUT, then the next frame is served (the cut INFER's
    engine gets zeros for what never came, and its results are thrown away)."""
    bench = loaded_bench()
    bench.send(encode_frame(Request.INFER, infer_payload(ACTS))[:cut])
    bench.quiet()
    bench.request(Request.INFER, infer_payload(ACTS))
    got = answers(bench.run())
    assert got[-2] == error(ErrorCode.TIMEOUT, Request.INFER if cut >= 2 else None)
    assert got[-1][1].logits == stub_engine(ACTS)[0]
    padded = list(infer_payload(ACTS)[:max(0, cut - 4)])
    started = [[v - 256 * (v > 127) for v in padded] + [0] * (6 - len(padded))] \
        if 4 <= cut else []
    assert bench.inferences == started + [ACTS]


@pytest.mark.parametrize("at", [1, 3, 6, 10, 11])
def test_line_error_mid_frame(at):
    bench = loaded_bench()
    frame = encode_frame(Request.INFER, infer_payload(ACTS))
    bench.send(frame[:at])
    bench.line_error()
    bench.send(frame[at:])                  # dropped
    bench.quiet()
    bench.request(Request.INFER, infer_payload(ACTS))
    got = answers(bench.run())
    assert got[-2] == error(ErrorCode.LINE, Request.INFER if at >= 2 else None)
    assert got[-1][1].logits == stub_engine(ACTS)[0]


def test_infer_without_a_model():
    bench = Bench()
    bench.request(Request.INFER, infer_payload(ACTS))
    bench.request(Request.INFER, bytes(40))            # any length: NO-MODEL all the same
    bench.load(IMAGE)
    bench.request(Request.INFER, infer_payload(ACTS))
    got = answers(bench.run())
    assert got[:2] == [error(ErrorCode.NO_MODEL, Request.INFER)] * 2
    assert got[-1][1].logits == stub_engine(ACTS)[0]
    assert bench.inferences == [ACTS]


def test_load_steps_out_of_sequence():
    bench = loaded_bench()
    bench.request(Request.LOAD_DATA, IMAGE[:4])
    bench.request(Request.LOAD_END)
    bench.request(Request.INFER, infer_payload(ACTS))  # the loaded model is untouched
    got = answers(bench.run())
    assert got[-3:-1] == [error(ErrorCode.SEQUENCE, Request.LOAD_DATA),
                          error(ErrorCode.SEQUENCE, Request.LOAD_END)]
    assert got[-1][0] == "RESULT"


def test_more_data_than_announced_abandons_the_load():
    bench = Bench()
    bench.request(Request.LOAD_START, load_start_payload(len(IMAGE) - 3))
    bench.request(Request.LOAD_DATA, IMAGE)
    bench.request(Request.LOAD_END)                     # no load under way any more
    bench.load(IMAGE)
    bench.request(Request.INFER, infer_payload(ACTS))
    got = answers(bench.run())
    assert got[:3] == [("ACK", "LOAD_START"), error(ErrorCode.SEQUENCE, Request.LOAD_DATA),
                       error(ErrorCode.SEQUENCE, Request.LOAD_END)]
    assert got[-1][0] == "RESULT"


@pytest.mark.parametrize("image, announced, reason", [
    pytest.param(stub_image(6, 3, damage=8), None, LoaderError.CRC, id="corrupted"),
    pytest.param(b"\x00" + IMAGE[1:], None, LoaderError.MAGIC, id="magic"),
    pytest.param(IMAGE[:-2], None, LoaderError.LENGTH, id="cut-short"),
    pytest.param(IMAGE + b"\x00\x00", None, LoaderError.LENGTH, id="bytes-after-the-image"),
    pytest.param(IMAGE, len(IMAGE) + 5, LoaderError.LENGTH, id="announced-longer"),
])
def test_bad_image(image, announced, reason):
    bench = loaded_bench()
    bench.request(Request.LOAD_START, load_start_payload(announced or len(image)))
    bench.request(Request.LOAD_DATA, image)
    bench.request(Request.LOAD_END)
    status_request(bench)
    bench.request(Request.INFER, infer_payload(ACTS))
    got = answers(bench.run())
    assert got[-4] == ("ACK", "LOAD_DATA")
    assert got[-3] == error(ErrorCode.BAD_IMAGE, Request.LOAD_END)
    status = got[-2][1]
    assert not status.model_valid and status.last_loader_error == reason
    assert got[-1] == error(ErrorCode.NO_MODEL, Request.INFER)


def test_load_start_invalidates_the_model():
    bench = loaded_bench()
    bench.request(Request.LOAD_START, load_start_payload(len(IMAGE)))
    status_request(bench)
    bench.request(Request.INFER, infer_payload(ACTS))
    got = answers(bench.run())
    assert not got[-2][1].model_valid and got[-1] == error(ErrorCode.NO_MODEL, Request.INFER)


def test_announced_length_too_large():
    bench = loaded_bench()
    bench.request(Request.LOAD_START, load_start_payload(1 << load_length_bits(CONFIG)))
    status_request(bench)
    bench.request(Request.INFER, infer_payload(ACTS))   # the model is untouched
    got = answers(bench.run())
    assert got[-3] == error(ErrorCode.BAD_IMAGE, Request.LOAD_START)
    assert got[-2][1].last_loader_error == LoaderError.TOO_LARGE and got[-2][1].model_valid
    assert got[-1][0] == "RESULT"


def test_boot_load():
    bench = Bench()
    bench.load(stub_image(6, 3, filler=9))      # LOAD-START's length is not a boot's business
    bench.boot_begin()
    bench.request(Request.LOAD_START, load_start_payload(100))
    bench.request(Request.INFER, infer_payload(ACTS))
    bench.boot_end(IMAGE)
    status_request(bench)
    bench.request(Request.INFER, infer_payload(ACTS))
    bench.boot(stub_image(6, 3, damage=3))
    status_request(bench)
    got = answers(bench.run())[3:]
    assert got[:2] == [error(ErrorCode.SEQUENCE, Request.LOAD_START),
                       error(ErrorCode.NO_MODEL, Request.INFER)]
    got = got[2:]
    assert got[0][1].model_valid and got[1][0] == "RESULT"
    assert not got[2][1].model_valid
    assert (got[2][1].last_error, got[2][1].last_loader_error) == (ErrorCode.BAD_IMAGE,
                                                                    LoaderError.CRC)


def test_preloaded_model():
    bench = Bench(preloaded=(6, 3))
    bench.engine_counts = (6, 3)
    status_request(bench)
    bench.request(Request.INFER, infer_payload(ACTS))
    got = answers(bench.run())
    assert got[0][1].model_valid and (got[0][1].in_count, got[0][1].out_count) == (6, 3)
    assert got[1][1].logits == stub_engine(ACTS)[0]


@pytest.mark.parametrize("seed, sparse, rx_buffer", [(0, True, 0), (1, True, 0), (2, True, 0),
                                                    (3, True, 16), (4, True, 64), (5, False, 0),
                                                    (6, True, 16), (7, False, 32)])
def test_random_traffic(seed, sparse, rx_buffer):
    """Random requests, good and damaged, back to back (dense and sparse INFERs, and with an
    inbox in front); every byte equals the model's."""
    rng = random.Random(seed)
    bench = Bench(seed=seed, sparse=sparse, rx_buffer=rx_buffer)
    for _ in range(14):
        action = rng.choice(["status", "load", "infer", "infer", "corrupt", "cut", "noise",
                             "line"])
        acts = [rng.choice([0, rng.randrange(-128, 128)]) for _ in range(6)]
        kind = rng.choice([Request.INFER, Request.INFER_SPARSE])
        frame = encode_frame(kind, infer_payload(acts) if kind == Request.INFER
                             else sparse_payload(acts))
        if action == "status":
            status_request(bench)
        elif action == "load":
            bench.load(IMAGE, chunk=rng.randrange(1, 14))
        elif action == "infer":
            bench.send(frame)
        else:
            send_damaged(bench, rng, frame, action)
    bench.run()


def test_a_full_size_frame():
    """1024 payload bytes are taken (and those past the image's end noticed: LENGTH)."""
    bench = Bench(stall=0.1, idle=0.0)
    image = IMAGE + bytes(1024 - len(IMAGE))
    bench.request(Request.LOAD_START, load_start_payload(len(image)))
    bench.request(Request.LOAD_DATA, image)
    bench.request(Request.LOAD_END)
    status_request(bench)
    got = answers(bench.run())
    assert got[:3] == [("ACK", "LOAD_START"), ("ACK", "LOAD_DATA"),
                       error(ErrorCode.BAD_IMAGE, Request.LOAD_END)]
    assert got[3][1].last_loader_error == LoaderError.LENGTH


def test_a_model_without_inputs_cannot_hang_the_board():
    bench = Bench()
    bench.load(stub_image(0, 3))
    bench.request(Request.INFER)
    bench.quiet()
    status_request(bench)
    got = answers(bench.run())
    assert got[-2] == error(ErrorCode.BAD_LENGTH, Request.INFER) and got[-1][0] == "STATUS"


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="acc_width must be at most 32, not 40"):
        HostProtocol(EngineConfig(acc_width=40))
    with pytest.raises(ValueError, match="timeout_cycles must be at least 2"):
        HostProtocol(CONFIG, timeout_cycles=1)
    with pytest.raises(ValueError, match=r"\(in_count, out_count\), each 1..4095"):
        HostProtocol(CONFIG, preloaded=(784, 0))
    assert HostProtocol(CONFIG, preloaded=(784, 10)).preloaded == (784, 10)


def test_an_engine_that_never_finishes_is_given_up():
    """Its cycle count reaches the engine timeout: ENGINE-FAULT, the engine reset, the model
    invalid until the next load."""
    bench = loaded_bench(hangs=lambda acts: acts[0] == 99)
    bench.request(Request.INFER, infer_payload([99] + ACTS[1:]))
    status_request(bench)
    bench.request(Request.INFER, infer_payload(ACTS))
    bench.load(IMAGE)
    bench.request(Request.INFER, infer_payload(ACTS))
    got = answers(bench.run())[3:]
    assert got[0] == error(ErrorCode.ENGINE_FAULT, Request.INFER)
    assert not got[1][1].model_valid and got[1][1].last_error == ErrorCode.ENGINE_FAULT
    assert got[2] == error(ErrorCode.NO_MODEL, Request.INFER)
    assert got[-1][1].logits == stub_engine(ACTS)[0]
    assert bench.resets == 1


def test_a_failed_infer_whose_engine_never_finishes_gets_its_own_error():
    """The results to throw away never come: given up all the same, BAD-CRC answered, and the
    model (which the frame never asked to run) stays valid."""
    bench = loaded_bench(hangs=lambda acts: acts[0] == 99)
    frame = bytearray(encode_frame(Request.INFER, infer_payload([99] + ACTS[1:])))
    frame[-1] ^= 1
    bench.send(frame)
    bench.request(Request.INFER, infer_payload(ACTS))
    got = answers(bench.run())
    assert got[-2] == error(ErrorCode.BAD_CRC, Request.INFER)
    assert got[-1][1].logits == stub_engine(ACTS)[0]
    assert bench.resets == 1


def test_a_model_whose_output_count_the_engine_does_not_give_is_given_up():
    """The header promises 4 logits, the engine has 3: the RESULT is never started."""
    bench = Bench()
    bench.load(stub_image(6, 4))
    bench.request(Request.INFER, infer_payload(ACTS))
    status_request(bench)
    got = answers(bench.run())
    assert got[-2] == error(ErrorCode.ENGINE_FAULT, Request.INFER)
    assert not got[-1][1].model_valid
    assert bench.resets == 1
