"""The host protocol in Python: frames, the streaming decoder, payloads, the board's reference
model, and `Board` (the host) against a fake serial port whose far end is that model."""

import binascii
import doctest
import random
import struct
import time
import zlib

import numpy as np
import pytest

from tinyeie.contract import protocol as contract_protocol
from tinyeie.contract.config import EngineConfig
from tinyeie.contract.errors import TinyeieError
from tinyeie.contract.image import (
    HEADER_WORDS,
    header_words,
    load_length_bits,
    max_image_bytes,
    read_header,
)
from tinyeie.contract.protocol import (
    MAX_PAYLOAD,
    PROTOCOL_VERSION,
    SOF,
    ErrorCode,
    LoaderError,
    Request,
    Response,
)
from tinyeie.sw.compiler.golden import classify, int_forward
from tinyeie.sw.compiler.image import write_image
from tinyeie.sw.compiler.pack import pack
from tinyeie.sw.compiler.random_model import random_inputs, random_layers
from tinyeie.sw.host import frames, payloads
from tinyeie.sw.host.board import Board, BoardError
from tinyeie.sw.host.board_model import BoardModel, image_verdict
from tinyeie.sw.host.frames import Frame, FrameDecoder, FrameError, crc16, encode_frame
from tinyeie.sw.host.payloads import (
    InferResult,
    Status,
    argmax,
    error_payload,
    infer_payload,
    load_start_payload,
    parse_error,
    parse_result,
    parse_status,
    result_payload,
    status_payload,
)


@pytest.mark.parametrize("module", [contract_protocol, frames, payloads])
def test_doctests(module):
    assert doctest.testmod(module).failed == 0


# -- frames ------------------------------------------------------------------------------------

def test_crc16_is_ccitt_false():
    assert crc16(b"123456789") == 0x29B1 == binascii.crc_hqx(b"123456789", 0xFFFF)


def test_frame_layout():
    frame = encode_frame(Request.LOAD_START, struct.pack("<I", 0x01020304))
    assert frame[:4] == bytes([SOF, 0x02, 4, 0]) and frame[4:8] == b"\x04\x03\x02\x01"
    assert frame[8:] == crc16(frame[1:8]).to_bytes(2, "big")


def test_encode_refuses_oversized_payloads():
    encode_frame(Request.LOAD_DATA, bytes(MAX_PAYLOAD))
    with pytest.raises(ValueError, match="at most 1024"):
        encode_frame(Request.LOAD_DATA, bytes(MAX_PAYLOAD + 1))


@pytest.mark.parametrize("seed", range(3))
def test_round_trip_in_random_chunks(seed):
    rng = random.Random(seed)
    frames = [Frame(rng.choice(list(Request)), rng.randbytes(rng.choice([0, 1, 5, 300, 1024])))
              for _ in range(20)]
    stream = b"".join(encode_frame(*f) for f in frames)
    decoder, got = FrameDecoder(), []
    k = 0
    while k < len(stream):
        n = rng.randrange(1, 50)
        got += decoder.feed(stream[k:k + n])
        k += n
    assert got == frames, f"seed {seed}"
    assert not decoder.in_frame


def test_wanted_is_what_completes_the_frame():
    frame = encode_frame(Request.INFER, bytes(7))
    decoder = FrameDecoder()
    fed = 0
    while True:
        wanted = decoder.wanted
        events = decoder.feed(frame[fed:fed + wanted])
        fed += wanted
        if events:
            break
    assert events == [Frame(Request.INFER, bytes(7))] and fed == len(frame)


def test_every_single_bit_flip_is_caught():
    """A flipped bit never yields a wrong frame: it is refused, or the frame never completes."""
    frame = encode_frame(Request.INFER, bytes(range(12)))
    for k in range(1, len(frame)):
        for bit in range(8):
            damaged = bytearray(frame)
            damaged[k] ^= 1 << bit
            events = FrameDecoder(types=list(Request)).feed(damaged)
            assert all(isinstance(e, FrameError) for e in events), (k, bit)


def test_corruptions_are_reported_like_the_board_does():
    decoder = FrameDecoder(types=list(Request))
    good = encode_frame(Request.STATUS)
    bad_crc = bytearray(good)
    bad_crc[-1] ^= 0x10
    assert decoder.feed(bad_crc + good) == [FrameError(ErrorCode.BAD_CRC, Request.STATUS),
                                            Frame(Request.STATUS, b"")]
    # noise: one report for a run, however long, and again after a start of frame or quiet
    assert decoder.feed(b"abc" + good + b"xyz") == [FrameError(ErrorCode.NOISE, 0),
                                                    Frame(Request.STATUS, b""),
                                                    FrameError(ErrorCode.NOISE, 0)]
    assert decoder.feed(b"more") == [] and decoder.quiet() == []
    assert decoder.feed(b"!") == [FrameError(ErrorCode.NOISE, 0)]
    decoder.quiet()
    # too long: refused at once, then everything (a good frame too) dropped until quiet
    assert decoder.feed(bytes([SOF, 1, 0x01, 0x04]) + good) == [
        FrameError(ErrorCode.BAD_LENGTH, Request.STATUS)]
    assert decoder.quiet() == [] and decoder.feed(good) == [Frame(Request.STATUS, b"")]
    # unknown type: refused at its type byte, then dropping
    assert decoder.feed(bytes([SOF, 0x42]) + good) == [FrameError(ErrorCode.UNKNOWN_TYPE, 0x42)]
    decoder.quiet()
    # a frame that stops: TIMEOUT when the line goes quiet, with the type if it came
    assert decoder.feed(good[:3]) == [] and decoder.in_frame
    assert decoder.quiet() == [FrameError(ErrorCode.TIMEOUT, Request.STATUS)]
    assert decoder.feed(good[:1]) == [] and decoder.quiet() == [FrameError(ErrorCode.TIMEOUT, 0)]
    # a line error: LINE inside a frame (then dropping), noise outside
    decoder.feed(good[:2])
    assert decoder.line_error() == [FrameError(ErrorCode.LINE, Request.STATUS)]
    assert decoder.feed(good) == [] and decoder.line_error() == []
    decoder.quiet()
    assert decoder.line_error() == [FrameError(ErrorCode.NOISE, 0)]


def test_header_check_hook():
    decoder = FrameDecoder(check=lambda t, n: ErrorCode.BAD_LENGTH if n != 3 else None)
    assert decoder.feed(encode_frame(9, b"12")) == [FrameError(ErrorCode.BAD_LENGTH, 9)]
    decoder.quiet()
    assert decoder.feed(encode_frame(9, b"123")) == [Frame(9, b"123")]


# -- payloads ----------------------------------------------------------------------------------

def test_status_round_trip():
    status = Status(1, True, 4, 8, 8, 24, 784, 10, ErrorCode.LINE, LoaderError.CRC)
    payload = status_payload(status)
    assert len(payload) == 12 and payload[6:8] == (784).to_bytes(2, "little")
    back = parse_status(payload)
    assert back == status
    assert (back.last_error_name, back.last_loader_error_name) == ("LINE", "CRC")
    with pytest.raises(ValueError, match="12 bytes"):
        parse_status(payload[:-1])
    # version 2: the inbox and the bit time follow
    status = Status(2, True, 4, 8, 8, 24, 784, 10, 0, 0, 1, 256, 8)
    payload = status_payload(status)
    assert len(payload) == 17 and payload[12:] == bytes([1, 0, 1, 8, 0])
    assert parse_status(payload) == status
    with pytest.raises(ValueError, match="17 bytes, not 12"):
        parse_status(payload[:12])


def test_sparse_payloads():
    rng = np.random.default_rng(5)
    for n in (1, 6, 300, 784, 1024):
        for density in (0.0, 0.05, 0.5, 1.0):
            acts = np.where(rng.random(n) < density, rng.integers(-128, 128, n), 0)
            payload = payloads.sparse_payload(acts)
            assert len(payload) >= 2
            assert payloads.sparse_activations(payload, n) == infer_payload(acts)
            # two bytes per run and one per activation carried: never more than dense + 2
            # per 255, and no more than 2 per non-zero activation
            nonzero = int(np.count_nonzero(acts))
            assert len(payload) <= n + 2 * (n // 255 + 1)
            assert len(payload) <= max(2, 3 * nonzero + 2 * (n // 255 + 1))
            last = max(np.flatnonzero(acts), default=None)
            if last is not None:
                # one activation fewer: the last run lands past the end
                assert payloads.sparse_activations(payload, last) is None
            # cut inside a run
            if len(payload) > 2 and payload[1]:
                assert payloads.sparse_activations(payload[:-1], n) is None


def test_result_round_trip():
    logits = [-(1 << 23), 5, (1 << 23) - 1, (1 << 23) - 1, 0]
    payload = result_payload(logits, 123456)
    assert len(payload) == 4 * 5 + 5
    assert parse_result(payload) == InferResult(logits, 2, 123456)
    with pytest.raises(ValueError, match=r"4 x outputs \+ 5"):
        parse_result(payload[:-1])


def test_argmax_ties_to_the_lowest_index():
    rng = np.random.default_rng(3)
    for _ in range(50):
        logits = rng.integers(-3, 3, 10).tolist()
        assert argmax(logits) == classify(np.array(logits))


def test_error_names():
    assert parse_error(error_payload(ErrorCode.NO_MODEL, Request.INFER)) == ("NO-MODEL", "INFER")
    assert parse_error(error_payload(ErrorCode.NOISE, 0)) == ("NOISE", "-")
    assert parse_error(bytes([42, 0x77])) == ("0x2A", "0x77")


def test_infer_payload_range():
    assert infer_payload([-128, 127, 0]) == b"\x80\x7f\x00"
    with pytest.raises(ValueError, match="-128..127"):
        infer_payload([128])


def test_max_image_bytes_bounds_real_images():
    cfg = EngineConfig(pes=2, pe_depth=512, col_depth=64, act_depth=40, max_layers=2)
    packed = pack(random_layers(np.random.default_rng(0), [40, 20, 10], cfg=cfg), cfg)
    assert len(write_image(packed)) <= max_image_bytes(cfg)
    assert load_length_bits(EngineConfig()) == 18       # the default iCE40 engine: < 256 KiB


# -- a board: the reference model, over a fake serial port ------------------------------------

CFG = EngineConfig(pes=2, pe_depth=256, col_depth=80, act_depth=64, max_layers=3)


@pytest.fixture(scope="module")
def network():
    rng = np.random.default_rng(11)
    layers = random_layers(rng, [40, 24, 10], cfg=CFG)
    return layers, write_image(pack(layers, CFG))


def make_board_model(layers, preloaded=None):
    def engine(activations):
        logits = int_forward(layers, np.array(activations), CFG)
        return logits.tolist(), 7 * len(activations)
    return BoardModel(CFG, engine, lambda data: image_verdict(data, CFG), preloaded=preloaded)


SETTLE = 0.02      # the host's quiet time after a dropping error; the fake board's timeout is half


class FakeSerial:
    """A pyserial stand-in whose far end is a :class:`BoardModel`.

    ``mangle(answer) -> bytes`` may damage each answer on its way back; ``mute`` drops them. A
    pause of ``SETTLE / 2`` between writes is a quiet line for the board.
    """

    def __init__(self, board, timeout=0.2):
        self.board, self.timeout = board, timeout
        self.pending = bytearray()
        self.requests = []
        self.mangle = None
        self.mute = False
        self.last_write = time.monotonic()

    def write(self, data):
        now = time.monotonic()
        if now - self.last_write >= SETTLE / 2:
            self.pending += self.board.quiet()
        self.last_write = now
        self.requests += [e for e in FrameDecoder().feed(data) if isinstance(e, Frame)]
        answer = self.board.receive(data)
        if self.mangle:
            answer = self.mangle(answer)
        if not self.mute:
            self.pending += answer
        return len(data)

    def read(self, n):
        out = bytes(self.pending[:n])
        del self.pending[:n]
        return out


@pytest.fixture
def board(network):
    layers, _ = network
    port = FakeSerial(make_board_model(layers))
    return Board(port, settle=SETTLE), port


def test_the_model_checks_a_length_against_the_state_its_header_finds(network):
    """Several frames in one receive(): an INFER after a LOAD-START meets an invalid model,
    so any length is taken (NO-MODEL), as on the board (found by `fuzz_board streams`; the
    model used to check the length before serving the LOAD-START: BAD-LENGTH)."""
    layers, _ = network
    model = make_board_model(layers, preloaded=(40, 10))
    infer = encode_frame(Request.INFER, bytes(3))
    together = model.receive(encode_frame(Request.LOAD_START, load_start_payload(100)) + infer)
    single = make_board_model(layers, preloaded=(40, 10))
    apart = single.receive(encode_frame(Request.LOAD_START, load_start_payload(100)))
    apart += single.receive(infer)
    assert together == apart
    assert [e.payload[0] for e in FrameDecoder().feed(together)] == [
        Request.LOAD_START, ErrorCode.NO_MODEL]


def test_load_and_infer_equals_the_integer_model(board, network):
    host, port = board
    layers, image = network
    assert not host.status().model_valid
    host.load(image, chunk=100, progress=False)
    data_frames = [f for f in port.requests if f.type == Request.LOAD_DATA]
    assert len(data_frames) == -(-len(image) // 100)
    assert b"".join(f.payload for f in data_frames) == image
    status = host.status()
    assert status.model_valid and (status.in_count, status.out_count) == (40, 10)
    x = random_inputs(np.random.default_rng(5), 8, 40, cfg=CFG)
    want = int_forward(layers, x, CFG)
    for row, logits in zip(x, want):
        result = host.infer(row)
        assert result.logits == logits.tolist()
        assert result.cls == classify(logits) and result.cycles == 7 * 40


def test_infer_without_a_model_says_what_to_do(board):
    host, _ = board
    with pytest.raises(BoardError, match="no valid model: load a model") as info:
        host.infer([1, 2, 3])
    assert info.value.code == ErrorCode.NO_MODEL and info.value.request == Request.INFER


def test_wrong_input_count_names_the_models(board, network):
    host, _ = board
    host.load(network[1], progress=False)
    with pytest.raises(BoardError, match="BAD-LENGTH.*takes 40 inputs"):
        host.infer([1, 2, 3])


@pytest.mark.parametrize("damage, reason", [
    (lambda im: im[:20] + bytes([im[20] ^ 1]) + im[21:], "CRC: its CRC-32 does not match"),
    (lambda im: b"XXXX" + im[4:], "MAGIC"),
    (lambda im: im[:-3], "LENGTH"),
])
def test_a_refused_image_names_the_loader_error(board, network, damage, reason):
    host, _ = board
    with pytest.raises(BoardError, match=f"BAD-IMAGE.*{reason}"):
        host.load(damage(network[1]), chunk=512, progress=False)
    assert not host.status().model_valid


def test_announced_length_too_large(board):
    host, _ = board
    with pytest.raises(BoardError, match="TOO-LARGE"):
        host.load(bytes(1 << load_length_bits(CFG)), progress=False)


def test_silence_is_a_timeout(board):
    host, port = board
    port.mute = True
    with pytest.raises(TinyeieError, match=r"did not answer STATUS within 0.2 s: check the port"):
        host.status()


def test_noise_reports_are_skipped(board):
    host, port = board
    port.write(b"\x00\x01")                 # stray bytes: the board reports NOISE
    assert host.status().last_error == ErrorCode.NOISE


def test_a_damaged_answer(board):
    host, port = board
    port.mangle = lambda answer: answer[:-1] + bytes([answer[-1] ^ 1])
    with pytest.raises(TinyeieError, match="arrived damaged .BAD-CRC."):
        host.status()


def test_a_request_damaged_on_the_way(board):
    host, port = board
    real_write = port.write

    def flip(data):
        data = bytearray(data)
        data[-1] ^= 1
        return real_write(bytes(data))
    port.write = flip
    with pytest.raises(BoardError, match="BAD-CRC: the board received a corrupted frame"):
        host.status()


def test_out_of_step_answers(board):
    host, port = board
    port.mangle = lambda answer: encode_frame(Response.ACK, bytes([Request.LOAD_END]))
    with pytest.raises(TinyeieError, match="acknowledged LOAD-END instead of LOAD-START"):
        host.load(b"1234", progress=False)
    with pytest.raises(TinyeieError, match="with ACK instead of STATUS"):
        host.status()


def test_bad_activations_are_refused_before_sending(board):
    host, port = board
    with pytest.raises(TinyeieError, match="-128..127"):
        host.infer([0, 300])
    with pytest.raises(TinyeieError, match="1..1024 activations"):
        host.infer([])
    assert port.requests == []


def test_preloaded_board(network):
    layers, _ = network
    host = Board(FakeSerial(make_board_model(layers, preloaded=(40, 10))))
    assert host.status().model_valid
    assert host.infer([0] * 40).logits == int_forward(layers, np.zeros(40, int), CFG).tolist()


def test_open_without_a_port():
    with pytest.raises(TinyeieError, match="serial port|pyserial"):
        Board.open("/dev/nonexistent-tinyeie-port")


def test_board_model_sequence_rules(network):
    layers, image = network
    model = make_board_model(layers)

    def answer(frame_type, payload=b""):
        return FrameDecoder().feed(model.receive(encode_frame(frame_type, payload)))

    def error_of(frame_type, payload=b""):
        [frame] = answer(frame_type, payload)
        return parse_error(frame.payload)

    assert error_of(Request.LOAD_DATA, b"x") == ("SEQUENCE", "LOAD-DATA")
    assert error_of(Request.LOAD_END) == ("SEQUENCE", "LOAD-END")
    answer(Request.LOAD_START, struct.pack("<I", 3))
    assert error_of(Request.LOAD_DATA, b"four") == ("SEQUENCE", "LOAD-DATA")
    assert error_of(Request.LOAD_DATA, b"abc") == ("SEQUENCE", "LOAD-DATA")  # load abandoned
    assert error_of(Request.INFER, bytes(5)) == ("NO-MODEL", "INFER")
    assert model.status().last_error == ErrorCode.NO_MODEL


def test_an_answer_that_does_not_parse(board):
    host, port = board
    port.mangle = lambda answer: encode_frame(Response.STATUS, b"abc")
    with pytest.raises(TinyeieError, match="does not parse"):
        host.status()


class FlushableSerial(FakeSerial):
    def reset_input_buffer(self):
        self.pending.clear()


def test_leftovers_of_a_failed_answer_are_flushed(network):
    port = FlushableSerial(make_board_model(network[0]))
    host = Board(port, settle=SETTLE)
    port.mangle = lambda answer: answer[:5]             # the answer stops half-way
    with pytest.raises(TinyeieError, match="did not answer STATUS"):
        host.status()
    port.pending += encode_frame(Response.ACK, b"\x02")  # and a stale frame follows
    port.mangle = None
    assert host.status().version == PROTOCOL_VERSION


def test_an_engine_fault_says_the_image_disagrees_with_itself(board, network):
    """A model image whose header promises 9 outputs of layers that give 10 (its CRC-32
    recomputed, so it loads): the INFER is answered ENGINE-FAULT, and the model is gone."""
    host, _ = board
    image = bytearray(network[1])
    header = read_header(np.frombuffer(bytes(image[:2 * HEADER_WORDS]), dtype="<u2"))
    header.update(out_count=9)
    del header["magic"], header["version"]
    image[:2 * HEADER_WORDS] = np.array(header_words(**header), dtype="<u2").tobytes()
    image[-4:] = struct.pack("<I", zlib.crc32(bytes(image[:-4])))
    host.load(bytes(image), progress=False)
    with pytest.raises(BoardError, match="ENGINE-FAULT.*disagrees with itself") as info:
        host.infer([1] * 40)
    assert info.value.code == ErrorCode.ENGINE_FAULT
    status = host.status()
    assert not status.model_valid and status.last_error == ErrorCode.ENGINE_FAULT


# -- batches: sparse frames and sending ahead ---------------------------------------------------

def _batch_board(layers, rx_buffer=256, bit_cycles=8):
    model = make_board_model(layers)
    model.rx_buffer, model.bit_cycles = rx_buffer, bit_cycles
    port = FlushableSerial(model)       # (a serial port flushes what a failed exchange left)
    return Board(port, settle=SETTLE), port


def _sparse_inputs(n, rng):
    return [np.where(rng.random(40) < density, rng.integers(-128, 128, 40), 0)
            for density in np.linspace(0.0, 1.0, n)]


def test_a_batch_goes_sparse_and_ahead_and_equals_the_integer_model(network):
    layers, image = network
    host, port = _batch_board(layers)
    host.load(image, progress=False)
    inputs = _sparse_inputs(12, np.random.default_rng(3))
    port.requests.clear()
    order = []
    results = host.infer_many(inputs, progress=order.append)
    assert order == list(range(1, 13))
    for acts, result in zip(inputs, results):
        assert result.logits == int_forward(layers, np.asarray(acts), CFG).tolist()
    kinds = [f.type for f in port.requests if f.type != Request.STATUS]
    # the sparsest inputs went as INFER-SPARSE, the densest as INFER
    assert kinds[0] == Request.INFER_SPARSE and kinds[-1] == Request.INFER
    for frame, acts in zip([f for f in port.requests if f.type != Request.STATUS], inputs):
        assert len(frame.payload) == min(40, len(payloads.sparse_payload(acts)))


class AheadSerial(FakeSerial):
    """Holds the board's answers back until asked to read: shows how far a host sends ahead."""

    def __init__(self, board):
        super().__init__(board)
        self.most_ahead = 0
        self.unanswered = 0

    def write(self, data):
        self.unanswered += sum(isinstance(e, Frame) and e.type in (Request.INFER,
                               Request.INFER_SPARSE) for e in FrameDecoder().feed(data))
        self.most_ahead = max(self.most_ahead, self.unanswered)
        return super().write(data)

    def read(self, n):
        out = super().read(n)
        self.unanswered -= sum(isinstance(e, Frame) and e.type == Response.RESULT
                               for e in self._answers.feed(out))
        return out

    _answers = FrameDecoder()


@pytest.mark.parametrize("rx_buffer, bit_cycles, ahead", [(256, 8, 2), (0, 8, 1), (256, 0, 1),
                                                          (32, 8, 1)])
def test_a_batch_sends_ahead_only_when_the_inbox_holds_it(network, rx_buffer, bit_cycles, ahead):
    layers, image = network
    model = make_board_model(layers)
    model.rx_buffer, model.bit_cycles = rx_buffer, bit_cycles
    port = AheadSerial(model)
    host = Board(port, settle=SETTLE)
    host.load(image, progress=False)
    inputs = _sparse_inputs(6, np.random.default_rng(4))
    results = host.infer_many(inputs)
    assert [r.logits for r in results] == [int_forward(layers, np.asarray(a), CFG).tolist()
                                           for a in inputs]
    assert port.most_ahead == ahead


def test_a_version_1_board_gets_dense_frames_one_at_a_time(network):
    layers, image = network
    host, port = _batch_board(layers)
    host.load(image, progress=False)
    port.board.status = lambda: payloads.Status(1, True, 2, 8, 8, 24, 40, 10, 0, 0)
    # (a version-2 board without INFER-SPARSE and inbox is served the same way)
    inputs = _sparse_inputs(4, np.random.default_rng(5))
    port.requests.clear()
    results = host.infer_many(inputs)
    assert [f.type for f in port.requests] == [Request.STATUS] + [Request.INFER] * 4
    assert [r.logits for r in results] == [int_forward(layers, np.asarray(a), CFG).tolist()
                                           for a in inputs]


def test_a_batch_whose_answer_is_damaged_finishes_one_at_a_time(network):
    layers, image = network
    host, port = _batch_board(layers)
    host.load(image, progress=False)
    inputs = _sparse_inputs(8, np.random.default_rng(6))
    damaged = []

    def mangle(answer):
        # the fourth RESULT arrives with a flipped bit
        if answer and answer[1] == Response.RESULT:
            damaged.append(answer)
            if len(damaged) == 4:
                answer = bytearray(answer)
                answer[6] ^= 0x10
                return bytes(answer)
        return answer
    port.mangle = mangle
    results = host.infer_many(inputs)
    assert [r.logits for r in results] == [int_forward(layers, np.asarray(a), CFG).tolist()
                                           for a in inputs]
    assert len(damaged) > len(inputs)        # some were asked again


def test_a_batch_on_a_board_without_a_model_says_so(network):
    layers, _ = network
    host, _ = _batch_board(layers)
    with pytest.raises(BoardError, match="NO-MODEL"):
        host.infer_many(_sparse_inputs(3, np.random.default_rng(7)))
