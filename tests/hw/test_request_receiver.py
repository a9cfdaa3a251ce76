# amaranth: UnusedElaboratable=no
"""RequestReceiver on Amaranth's simulator, against the reference `BoardModel`.

Bytes (with in-band line errors and quiet spells) go into `i_rx`; testbench processes stand in
for the loader (a stand-in image format: `GOOD` is the one good image), the engine (it takes
activations, then offers results until an answer takes them), the engine watchdog (a trip
gives the inference up) and the answer slot (it takes answers with random back-pressure). Each
posted answer is compared with the model's answer frame: its kind, error code and request
type, and at a STATUS the `status` port the transmitter would read, field by field.
"""

import random

import pytest

from tinyeie.contract.config import EngineConfig
from tinyeie.contract.image import load_length_bits
from tinyeie.contract.protocol import SOF, ErrorCode, LoaderError, Request, Response
from tinyeie.hw.answer import AnswerKind
from tinyeie.hw.request_receiver import RequestReceiver
from tinyeie.hw.uart import RxError
from tinyeie.sim.pysim import (
    DAMAGES,
    ModelBench,
    check_stream_rules,
    send_damaged,
    simulate,
    stream_put,
)
from tinyeie.sw.host.board_model import BoardModel
from tinyeie.sw.host.frames import FrameDecoder, encode_frame
from tinyeie.sw.host.payloads import (
    infer_payload,
    load_start_payload,
    parse_status,
    sparse_payload,
)

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


class Bench(ModelBench):
    """One scenario: line events in, answers, activations and image bytes out."""

    def __init__(self, *, preloaded=None, seed=0, idle=0.2, stall=0.3, slot_stall=0.5,
                 loader_stall=None, engine_takes=COUNTS[0]):
        self.rng = random.Random(seed)
        self.seed, self.idle, self.stall, self.slot_stall = seed, idle, stall, slot_stall
        self.loader_stall = stall if loader_stall is None else loader_stall
        # The stand-in engine offers its results after this many activations (the model's
        # in_count, unless a test makes them disagree).
        self.engine_takes = engine_takes
        self.dut = RequestReceiver(CONFIG, timeout_cycles=TIMEOUT, preloaded=preloaded)
        self.model_acts = []            # what the model's engine was given, INFER by INFER

        def engine(acts):
            self.model_acts.append(list(acts))
            return ([0, 0, 0], 0) if engine_takes == COUNTS[0] else None
        super().__init__(BoardModel(CONFIG, engine, stand_in_verdict, preloaded=preloaded))
        self.results_owed = None          # (after answer k, for n cycles): results_owed high

    def run(self, watch=(), check=True, image_rules=True):
        """Run the scenario (``watch``: more background testbenches) and check the answers
        against the model's. ``image_rules``: check the stream rules on ``o_image`` (a byte
        left waiting for the timeout is withdrawn)."""
        dut, rng = self.dut, self.rng
        self.answers, self.acts, self.images = [], [], []
        self.results_pending, self.engine_reset, self.trips = False, False, 0

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
                ready = rng.random() >= self.loader_stall
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
            ctx.set(dut.engine_out_count, COUNTS[1])
            taken = 0
            while True:
                if self.engine_reset:
                    taken, self.results_pending, self.engine_reset = 0, False, False
                ready = not self.results_pending and rng.random() >= self.stall
                ctx.set(dut.o_activations.ready, ready)
                ctx.set(dut.results_valid, self.results_pending)
                _, _, valid, value = await ctx.tick().sample(dut.o_activations.valid,
                                                             dut.o_activations.payload)
                if ready and valid:
                    self.acts.append(value)
                    taken += 1
                    if taken == self.engine_takes:
                        self.results_pending, taken = True, 0

        async def watchdog(ctx):
            # As EngineWatchdog for a trip (this engine never keeps anyone waiting long): the
            # inference is given up until the next INFER, and the engine reset.
            given_up = False
            async for _, _, start, trip in ctx.tick().sample(dut.infer_start, dut.engine_trip):
                if trip:
                    given_up, self.engine_reset = True, True
                    self.trips += 1
                if start:
                    given_up = False
                ctx.set(dut.engine_given_up, given_up)

        async def slot(ctx):
            while True:
                ready = rng.random() >= self.slot_stall
                ctx.set(dut.o_answer.ready, ready)
                _, _, valid, answer = await ctx.tick().sample(dut.o_answer.valid,
                                                              dut.o_answer.payload)
                if valid and ready:
                    if answer.kind == AnswerKind.RESULT or answer.drain:
                        self.results_pending = False    # the transmitter takes the results
                    status = ctx.get(dut.status)
                    self.answers.append((answer.kind, answer.code, answer.type, answer.drain,
                                         {name: int(getattr(status, name))
                                          for name in ("model_valid", "in_count", "out_count",
                                                       "last_error", "last_loader_error")}))
                if self.results_owed is not None:
                    after, cycles = self.results_owed
                    ctx.set(dut.results_owed, len(self.answers) > after and cycles > 0)
                    if len(self.answers) > after:
                        self.results_owed = (after, cycles - 1)

        # (an inference given up withdraws its activation: the engine is reset meanwhile)
        rules = [check_stream_rules(dut.o_answer),
                 check_stream_rules(dut.o_activations, unless=dut.engine_given_up),
                 *([check_stream_rules(dut.o_image)] if image_rules else [])]
        simulate(dut, [host], [loader, engine, watchdog, slot, *rules, *watch],
                 timeout=100_000, name="request_receiver")
        if check:
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
    """No activation leaves while `results_owed` is high (a RESULT reads the engine's count
    last)."""
    bench = Bench(preloaded=COUNTS, stall=0.0, slot_stall=0.0)
    bench.request(Request.INFER, infer_payload(ACTS))
    bench.request(Request.INFER, infer_payload(ACTS[::-1]))
    bench.results_owed = (0, 300)
    dut = bench.dut
    seen = []

    async def watch(ctx):
        async for _, _, results_owed, valid in ctx.tick().sample(dut.results_owed,
                                                                 dut.o_activations.valid):
            seen.append((results_owed, valid))

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
            bench.load(bytes(image[:rng.randrange(len(GOOD) - 2, len(image) + 1)]), chunk=4)
        elif action == "too-big":
            bench.request(Request.LOAD_START, load_start_payload(
                rng.randrange(1 << load_length_bits(CONFIG), 1 << 32)))
        elif action == "infer":
            bench.send(frame)
        elif action in DAMAGES:
            send_damaged(bench, rng, frame, action)
        else:
            bench.request(rng.choice([Request.LOAD_DATA, Request.LOAD_END]),
                          b"\x01" if rng.random() < 0.5 else b"")
    bench.run()


def test_a_frame_times_out_while_the_loader_leaves_its_byte_waiting():
    """A byte waiting to be taken is no sign of life: the frame ends in TIMEOUT."""
    bench = Bench(loader_stall=1.0)
    bench.request(Request.LOAD_START, load_start_payload(len(GOOD)))
    bench.events.append(("bytes", encode_frame(Request.LOAD_DATA, GOOD)[:6]))
    bench.run(check=False, image_rules=False)
    assert (bench.answers[0][0], bench.answers[0][2]) == (AnswerKind.ACK, Request.LOAD_START)
    assert bench.answers[1][:3] == (AnswerKind.ERROR, ErrorCode.TIMEOUT, Request.LOAD_DATA)
    assert bench.answers[1][4]["last_error"] == ErrorCode.TIMEOUT     # (from then on)


@pytest.mark.parametrize("takes", [4, 8])
def test_an_engine_that_takes_another_number_of_activations_is_given_up(takes):
    """Results before the input is complete, or an engine still wanting activations when the
    frame has ended, give the inference up: ENGINE-FAULT, and the model is then invalid."""
    bench = Bench(preloaded=COUNTS, engine_takes=takes)
    bench.request(Request.INFER, infer_payload(ACTS))
    bench.request(Request.STATUS)
    bench.request(Request.INFER, infer_payload(ACTS))
    bench.run()
    assert bench.trips == 1 and bench.acts == ACTS[:takes]
    assert bench.answers[0][:3] == (AnswerKind.ERROR, ErrorCode.ENGINE_FAULT, Request.INFER)
    assert bench.answers[1][4]["model_valid"] == 0
    assert bench.answers[2][:3] == (AnswerKind.ERROR, ErrorCode.NO_MODEL, Request.INFER)


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="timeout_cycles must be at least 2, not 1"):
        RequestReceiver(CONFIG, timeout_cycles=1)
    with pytest.raises(TypeError, match="timeout_cycles must be an integer"):
        RequestReceiver(CONFIG, timeout_cycles=2.5)
    with pytest.raises(ValueError, match=r"\(in_count, out_count\), each 1..4095, not \(0, 3\)"):
        RequestReceiver(CONFIG, preloaded=(0, 3))


# -- INFER-SPARSE ------------------------------------------------------------------------------

SPARSE_CASES = [[0, 0, 5, 0, 0, -3], [7, 0, 0, 0, 0, 0], [0] * 6, [0, 0, 0, 0, 0, 1], ACTS]


@pytest.mark.parametrize("seed", range(2))
def test_sparse_infers_give_the_engine_what_dense_ones_do(seed):
    """Each INFER-SPARSE gives the engine the activations of the dense input, zeros and all,
    and is answered as the model answers it; dense and sparse frames back to back."""
    bench = Bench(preloaded=COUNTS, seed=seed)
    for acts in SPARSE_CASES:
        bench.request(Request.INFER_SPARSE, sparse_payload(acts))
        bench.request(Request.INFER, infer_payload(acts))
    # runs that carry zeros of their own, runs of nothing, a run ending at the last input
    bench.request(Request.INFER_SPARSE, bytes([1, 2, 0, 9, 0, 0, 1, 1, 4]))
    bench.request(Request.INFER_SPARSE, bytes([0, 0, 5, 1, 8]))
    bench.run()
    assert bench.acts == [a for acts in SPARSE_CASES for a in infer_acts(acts) * 2] \
        + [0, 0, 9, 0, 4, 0] + [0, 0, 0, 0, 0, 8]
    assert [b for a in bench.model_acts for b in a] == bench.acts
    assert all(answer[0] == AnswerKind.RESULT for answer in bench.answers)


@pytest.mark.parametrize("payload, acts", [
    (bytes([6, 1, 1]), [0] * 6),                            # the 7th activation
    (bytes([2, 2, 1, 0, 0, 3, 7, 8, 9]), [0, 0, 1, 0, 7, 8]),
    (bytes([0, 6, 1, 2, 3, 4, 5, 6, 0, 1, 9]), [1, 2, 3, 4, 5, 6]),
    (bytes([255, 0]), [0] * 6),                             # zeros past the inputs
    (bytes([4, 1, 3, 3, 0]), [0, 0, 0, 0, 3, 0]),           # ... after the last run
    (bytes([0, 2, 1, 2, 3, 0, 0]), [1, 2, 0, 0, 0, 0]),     # ... then a run of nothing
    (bytes([1, 3, 5]), [0, 5, 0, 0, 0, 0]),                 # a run cut short by the frame
    (bytes([1, 1, 5, 2]), [0, 5, 0, 0, 0, 0]),              # zeros without their count
])
def test_a_sparse_infer_that_does_not_fit_is_bad_sparse(payload, acts):
    """Activations past the model's inputs are swallowed (the engine gets exactly its own), a
    frame ending inside a run is refused too; the results are thrown away, the frame answered
    BAD-SPARSE once its CRC holds, and the next INFER served."""
    code = ErrorCode.BAD_SPARSE
    bench = Bench(preloaded=COUNTS)
    bench.request(Request.INFER_SPARSE, payload)
    bench.request(Request.INFER, infer_payload(ACTS))
    bench.run()
    assert bench.answers[0][:4] == (AnswerKind.ERROR, code, Request.INFER_SPARSE, 1)
    assert bench.answers[1][0] == AnswerKind.RESULT
    assert bench.acts == acts + ACTS


@pytest.mark.parametrize("length", [0, 1025])
def test_a_sparse_infer_of_a_bad_length_is_refused_at_its_header(length):
    bench = Bench(preloaded=COUNTS)
    bench.send(bytes([SOF, Request.INFER_SPARSE, length & 0xFF, length >> 8]))
    bench.quiet()
    bench.request(Request.INFER_SPARSE, sparse_payload(ACTS))
    bench.run()
    assert bench.answers[0][:3] == (AnswerKind.ERROR, ErrorCode.BAD_LENGTH,
                                    Request.INFER_SPARSE)
    assert bench.answers[1][0] == AnswerKind.RESULT
    assert bench.acts == ACTS


def test_a_sparse_infer_without_a_model_is_swallowed():
    bench = Bench()
    bench.request(Request.INFER_SPARSE, bytes([0, 9]))    # any runs without a model
    bench.request(Request.INFER_SPARSE, sparse_payload(ACTS))
    bench.run()
    assert [a[:3] for a in bench.answers] == [
        (AnswerKind.ERROR, ErrorCode.NO_MODEL, Request.INFER_SPARSE)] * 2
    assert bench.acts == []


@pytest.mark.parametrize("seed", range(4))
def test_random_sparse_traffic(seed):
    """Sparse frames good, damaged, cut, overlong and of odd lengths, between dense ones; each
    answer as the model's, and the engine always gets whole inputs."""
    rng = random.Random(100 + seed)
    bench = Bench(preloaded=COUNTS, seed=seed)
    for _ in range(14):
        acts = [rng.choice([0, 0, 0, rng.randrange(-128, 128)]) for _ in range(COUNTS[0])]
        frame = encode_frame(Request.INFER_SPARSE, sparse_payload(acts))
        action = rng.choice(["sparse", "sparse", "dense", "corrupt", "cut", "overlong",
                             "runs", "line", "status"])
        if action == "sparse":
            bench.send(frame)
        elif action == "dense":
            bench.request(Request.INFER, infer_payload(acts))
        elif action == "corrupt":
            damaged = bytearray(frame)
            damaged[rng.randrange(4, len(frame))] ^= 1 << rng.randrange(8)
            bench.send(damaged)
            bench.quiet()
        elif action == "cut":
            bench.send(frame[:rng.randrange(1, len(frame))])
            bench.quiet()
        elif action == "overlong":
            bench.request(Request.INFER_SPARSE, bytes(rng.randrange(256) for _ in range(
                rng.randrange(1, 14))))
        elif action == "runs":
            # random runs, some fitting, some not
            payload = bytearray()
            for _ in range(rng.randrange(1, 4)):
                count = rng.randrange(4)
                payload += bytes([rng.randrange(4), count]) + bytes(
                    rng.randrange(256) for _ in range(count - (rng.random() < 0.2)))
            bench.request(Request.INFER_SPARSE, bytes(payload))
        elif action == "line":
            bench.send(frame[:rng.randrange(len(frame))])
            bench.line_error()
            bench.quiet()
        else:
            bench.request(Request.STATUS)
    bench.run()
    assert len(bench.acts) % COUNTS[0] == 0
