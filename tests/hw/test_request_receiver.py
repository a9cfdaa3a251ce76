# amaranth: UnusedElaboratable=no
"""RequestReceiver on Amaranth's simulator, against the reference `BoardModel`.

Bytes (with in-band line errors and quiet spells) go into `i_rx`; testbench processes stand in
for the loader (a stand-in image format: `GOOD` is the one good image), the engine (it takes
activations) and the answer slot (it takes answers with random back-pressure). Each posted
answer is compared with the model's answer frame: its kind, error code and request type, and
at a STATUS the `status` port the transmitter would read, field by field.
"""

import random

import pytest

from tinyeie.contract.config import EngineConfig
from tinyeie.contract.image import load_length_bits
from tinyeie.contract.protocol import SOF, ErrorCode, LoaderError, Request, Response
from tinyeie.hw.answer import AnswerKind
from tinyeie.hw.request_receiver import RequestReceiver
from tinyeie.hw.uart import RxError
from tinyeie.sim.pysim import check_stream_rules, simulate, stream_get, stream_put
from tinyeie.sw.host.board_model import BoardModel
from tinyeie.sw.host.frames import FrameDecoder, encode_frame
from tinyeie.sw.host.payloads import infer_payload, load_start_payload, parse_status

CONFIG = EngineConfig(pes=2, act_width=8, code_width=8, acc_width=24)
TIMEOUT = 40
GOOD = bytes(range(100, 110))       # the stand-in loader's one good image: in 6, out 3
COUNTS = (6, 3)


def stand_in_verdict(data):
    """The stand-in loader as BoardModel wants it: the image must be exactly GOOD."""
    data = bytes(data)
    if len(data) < len(GOOD):
        return LoaderError.LENGTH, 0, 0
    if data[:len(GOOD)] != GOOD:
        return LoaderError.CRC, 0, 0
    if len(data) > len(GOOD):
        return LoaderError.LENGTH, 0, 0
    return LoaderError.NONE, *COUNTS


class Bench:
    """One scenario: line events in, answers, activations and image bytes out."""

    def __init__(self, *, preloaded=None, seed=0, idle=0.2, stall=0.3, slot_stall=0.5):
        self.rng = random.Random(seed)
        self.seed, self.idle, self.stall, self.slot_stall = seed, idle, stall, slot_stall
        self.dut = RequestReceiver(CONFIG, timeout_cycles=TIMEOUT, preloaded=preloaded)
        self.model = BoardModel(CONFIG, lambda acts: ([0, 0, 0], 0), stand_in_verdict,
                                preloaded=preloaded)
        self.events = []
        self.expected = bytearray()
        self.result_out = None          # (after answer k, for n cycles): result_out high

    def send(self, data):
        self.events.append(("bytes", bytes(data)))
        self.expected += self.model.receive(data)

    def request(self, frame_type, payload=b""):
        self.send(encode_frame(frame_type, payload))

    def line_error(self):
        self.events.append(("line", None))
        self.expected += self.model.line_error()

    def quiet(self):
        self.events.append(("quiet", None))
        self.expected += self.model.quiet()

    def load(self, image, chunk=4):
        self.request(Request.LOAD_START, load_start_payload(len(image)))
        for k in range(0, len(image), chunk):
            self.request(Request.LOAD_DATA, image[k:k + chunk])
        self.request(Request.LOAD_END)

    def run(self, watch=()):
        """Run the scenario (``watch``: more background testbenches) and check the answers."""
        dut, rng = self.dut, self.rng
        self.answers, self.acts, self.images = [], [], []

        async def host(ctx):
            for kind, data in self.events:
                if kind == "bytes":
                    for byte in data:
                        await stream_put(ctx, dut.i_rx, {"data": byte, "error": RxError.NONE},
                                         idle=self.idle, rng=rng)
                elif kind == "line":
                    await stream_put(ctx, dut.i_rx, {"data": 0, "error": RxError.FRAMING})
                else:
                    await ctx.tick().repeat(TIMEOUT + 4)
            await ctx.tick().repeat(4 * TIMEOUT)

        async def loader(ctx):
            received = bytearray()
            while True:
                ready = rng.random() >= self.stall
                ctx.set(dut.o_image.ready, ready)
                _, _, start, valid, byte = await ctx.tick().sample(
                    dut.loader_start, dut.o_image.valid, dut.o_image.payload)
                if start:
                    received = bytearray()
                    self.images.append(received)
                elif valid and ready:
                    received.append(byte)
                done = len(received) >= len(GOOD)
                ok = done and received[:len(GOOD)] == GOOD
                ctx.set(dut.loader_received, len(received))
                ctx.set(dut.loader_done, done)
                ctx.set(dut.loader_ok, ok)
                ctx.set(dut.loader_error, LoaderError.NONE if ok or not done else LoaderError.CRC)
                ctx.set(dut.loader_in_count, COUNTS[0])
                ctx.set(dut.loader_out_count, COUNTS[1])

        async def engine(ctx):
            while True:
                self.acts.append(await stream_get(ctx, dut.o_activations, stall=self.stall,
                                                  rng=rng))

        async def slot(ctx):
            while True:
                ready = rng.random() >= self.slot_stall
                ctx.set(dut.o_answer.ready, ready)
                _, _, valid, answer = await ctx.tick().sample(dut.o_answer.valid,
                                                              dut.o_answer.payload)
                if valid and ready:
                    status = ctx.get(dut.status)
                    self.answers.append((answer.kind, answer.code, answer.type, answer.drain,
                                         {name: int(getattr(status, name))
                                          for name in ("model_valid", "in_count", "out_count",
                                                       "last_error", "last_loader_error")}))
                if self.result_out is not None:
                    after, cycles = self.result_out
                    ctx.set(dut.result_out, len(self.answers) > after and cycles > 0)
                    if len(self.answers) > after:
                        self.result_out = (after, cycles - 1)

        simulate(dut, [host], [loader, engine, slot, check_stream_rules(dut.o_answer),
                               check_stream_rules(dut.o_image),
                               check_stream_rules(dut.o_activations), *watch],
                 timeout=100_000, name="request_receiver")
        self.check()
        return self

    def check(self):
        """Each answer posted equals the model's: kind, code and type, STATUS's fields."""
        want = []
        for frame in FrameDecoder(types=list(Response)).feed(self.expected):
            kind = Response(frame.type)
            if kind == Response.ERROR:
                want.append(("ERROR", frame.payload[0], frame.payload[1]))
            elif kind == Response.ACK:
                want.append(("ACK", frame.payload[0]))
            elif kind == Response.STATUS:
                status = parse_status(frame.payload)
                want.append(("STATUS", {"model_valid": int(status.model_valid),
                                        "in_count": status.in_count,
                                        "out_count": status.out_count,
                                        "last_error": status.last_error,
                                        "last_loader_error": status.last_loader_error}))
            else:
                want.append(("RESULT",))
        got = []
        for kind, code, frame_type, _, status in self.answers:
            # The status port changes with the answer's post, so a STATUS shows it as it was.
            got.append({AnswerKind.ERROR: ("ERROR", code, frame_type),
                        AnswerKind.ACK: ("ACK", frame_type),
                        AnswerKind.STATUS: ("STATUS", status),
                        AnswerKind.RESULT: ("RESULT",)}[kind])
        assert got == want, f"seed {self.seed}"


def infer_acts(acts):
    return [a - 256 * (a > 127) for a in infer_payload(acts)]


ACTS = [3, -7, 0, 127, -128, 5]


def test_status_at_power_up_and_preloaded():
    bench = Bench()
    bench.request(Request.STATUS)
    bench.run()
    assert bench.answers[0][4] == {"model_valid": 0, "in_count": 0, "out_count": 0,
                                   "last_error": 0, "last_loader_error": 0}
    bench = Bench(preloaded=(784, 10))
    bench.request(Request.STATUS)
    bench.run()
    assert bench.answers[0][4]["model_valid"] == 1
    assert bench.answers[0][4]["in_count"] == 784


def test_a_load_streams_its_bytes_to_the_loader_then_infers():
    bench = Bench()
    bench.load(GOOD, chunk=3)
    bench.request(Request.INFER, infer_payload(ACTS))
    bench.request(Request.STATUS)
    bench.run()
    assert bench.images == [bytearray(GOOD)]
    assert bench.acts == ACTS
    assert bench.answers[-1][4]["model_valid"] == 1


@pytest.mark.parametrize("cut", [5, 8])
def test_a_cut_infer_gives_the_engine_zeros_and_drains(cut):
    bench = Bench(preloaded=COUNTS)
    bench.send(encode_frame(Request.INFER, infer_payload(ACTS))[:cut])
    bench.quiet()
    bench.run()
    assert bench.acts == ACTS[:cut - 4] + [0] * (6 - (cut - 4))
    kind, code, frame_type, drain, _ = bench.answers[0]
    assert (kind, code, frame_type, drain) == (AnswerKind.ERROR, ErrorCode.TIMEOUT,
                                               Request.INFER, 1)


def test_activations_wait_while_a_result_goes_out():
    """No activation leaves while `result_out` is high (the RESULT reads the engine's count)."""
    bench = Bench(preloaded=COUNTS, stall=0.0, slot_stall=0.0)
    bench.request(Request.INFER, infer_payload(ACTS))
    bench.request(Request.INFER, infer_payload(ACTS[::-1]))
    bench.result_out = (0, 300)
    dut = bench.dut
    seen = []

    async def watch(ctx):
        async for _, _, result_out, valid in ctx.tick().sample(dut.result_out,
                                                                 dut.o_activations.valid):
            seen.append((result_out, valid))

    bench.run(watch=[watch])
    assert bench.acts == ACTS + ACTS[::-1]
    assert (1, 0) in seen and (1, 1) not in seen


@pytest.mark.parametrize("header", [bytes([SOF, Request.STATUS, 1, 4]),
                                    bytes([SOF, Request.INFER, 5, 0]),
                                    bytes([SOF, 0x42])])
def test_a_refused_header_drops_bytes_until_quiet(header):
    bench = Bench(preloaded=COUNTS)
    bench.send(header + bytes([SOF, Request.STATUS, 0, 0]))
    bench.quiet()
    bench.request(Request.STATUS)
    bench.run()
    assert [a[0] for a in bench.answers] == [AnswerKind.ERROR, AnswerKind.STATUS]


@pytest.mark.parametrize("seed", range(4))
def test_random_traffic(seed):
    """Good, damaged, cut and out-of-order requests back to back; each answer as the model's."""
    rng = random.Random(seed)
    bench = Bench(seed=seed)
    for _ in range(16):
        action = rng.choice(["status", "status", "load", "bad-load", "too-big", "infer",
                             "infer", "corrupt", "cut", "noise", "line", "sequence"])
        frame = encode_frame(Request.INFER, infer_payload(
            [rng.randrange(-128, 128) for _ in range(COUNTS[0])]))
        if action == "status":
            bench.request(Request.STATUS)
        elif action == "load":
            bench.load(GOOD, chunk=rng.randrange(1, 12))
        elif action == "bad-load":
            image = bytearray(GOOD + bytes(rng.randrange(3)))
            image[rng.randrange(len(image))] ^= rng.choice([0, 1])
            bench.load(bytes(image[:rng.randrange(len(GOOD) - 2, len(image) + 1)]))
        elif action == "too-big":
            bench.request(Request.LOAD_START, load_start_payload(
                rng.randrange(1 << load_length_bits(CONFIG), 1 << 32)))
        elif action == "infer":
            bench.send(frame)
        elif action == "corrupt":
            damaged = bytearray(frame)
            damaged[rng.randrange(1, len(frame))] ^= 1 << rng.randrange(8)
            bench.send(damaged)
            bench.quiet()
        elif action == "cut":
            bench.send(frame[:rng.randrange(1, len(frame))])
            bench.quiet()
        elif action == "noise":
            bench.send(bytes(rng.randrange(256) for _ in range(3)))
            bench.quiet()
        elif action == "line":
            bench.send(frame[:rng.randrange(len(frame))])
            bench.line_error()
            bench.quiet()
        else:
            bench.request(rng.choice([Request.LOAD_DATA, Request.LOAD_END]),
                          b"\x01" if rng.random() < 0.5 else b"")
    bench.run()


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="timeout_cycles must be at least 2, not 1"):
        RequestReceiver(CONFIG, timeout_cycles=1)
    with pytest.raises(TypeError, match="timeout_cycles must be an integer"):
        RequestReceiver(CONFIG, timeout_cycles=2.5)
    with pytest.raises(ValueError, match=r"\(in_count, out_count\), each 1..4095, not \(0, 3\)"):
        RequestReceiver(CONFIG, preloaded=(0, 3))
