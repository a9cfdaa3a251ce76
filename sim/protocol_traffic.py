"""The host protocol under random traffic, through the board top's UART, against the real
loader and engine: every answer byte equals :class:`~tinyeie.sw.host.board_model.BoardModel`'s
(whose loader is the gateware loader's model and whose engine is the golden model of the image
last loaded), except the engine's cycle count, which only the RTL knows.

Requests: STATUS; whole loads of one of several random models (in random chunks), or of a
damaged image; INFER of random inputs (the input count of the model loaded, or a wrong one);
and damaged traffic: a flipped bit, a frame cut short, noise, a UART framing error mid-frame.
The host waits for each answer before the next request, as the protocol asks.
"""

import random
import tempfile
from pathlib import Path

import numpy as np

from tinyeie.contract.protocol import Request, Response
from tinyeie.sim.board_run import SIM_DIVISOR, SIM_PERIOD_NS, SIM_TIMEOUT, board_build
from tinyeie.sim.harness import run
from tinyeie.sw.compiler.compile import golden_logits
from tinyeie.sw.compiler.image import read_image, write_image
from tinyeie.sw.compiler.pack import pack
from tinyeie.sw.compiler.random_model import random_layers
from tinyeie.sw.host.board_model import BoardModel, image_verdict
from tinyeie.sw.host.frames import Frame, FrameDecoder, encode_frame
from tinyeie.sw.host.payloads import infer_payload, load_start_payload, sparse_payload

__all__ = ["traffic", "run_traffic"]

SHAPES = ([40, 24, 10], [23, 9], [64, 17, 5])


class _Golden:
    """The engine and loader of the model: the golden logits of the image last loaded."""

    def __init__(self, config, packed, check_model=False):
        self.config = config
        self.packed = packed
        self.check_model = check_model

    def loader(self, data):
        verdict = image_verdict(data, self.config, self.check_model)
        if verdict[0] == 0:
            self.pending = read_image(bytes(data), self.config)
        return verdict

    def engine(self, activations):
        logits = golden_logits(self.packed, np.array([activations]))[0]
        return [int(v) for v in logits], 0


def traffic(config, baked, frames, seed, link=None):
    """Random events for about ``frames`` request frames; returns (events, expected bytes).
    ``link``: the board's protocol options for the model (``sparse``, ``rx_buffer``,
    ``bit_cycles``); with ``sparse``, half the INFERs go as INFER-SPARSE.

    An event is ``(kind, bytes, quiet cycles after, answers expected)``: kind ``send`` or
    ``line`` (the bytes, then a byte with a broken stop bit)."""
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    images = []
    for shape in SHAPES:
        layers = random_layers(nrng, shape, density=0.4, cfg=config, gap_rows=17)
        images.append(write_image(pack(layers, config)))
    link = link or {}
    golden = _Golden(config, baked, link.get("check_model", False))
    in_count = _inputs(baked)
    model = BoardModel(config, golden.engine, golden.loader,
                       preloaded=(in_count, _outputs(baked)), **link)
    events, expected, sent = [], bytearray(), 0

    def emit(kind, data, quiet=0):
        answer = bytearray(model.receive(data))
        if kind == "line":
            answer += model.line_error()
        if quiet:
            answer += model.quiet()
        expected.extend(answer)
        count = sum(1 for e in FrameDecoder(types=list(Response)).feed(bytes(answer))
                    if isinstance(e, Frame))
        events.append((kind, bytes(data).hex(), quiet, count))

    while sent < frames:
        action = rng.choice(["status", "load", "infer", "infer", "infer", "bad-infer",
                             "corrupt", "cut", "noise", "line", "bad-load"])
        acts = [rng.randrange(-128, 128) for _ in range(in_count)]
        good = encode_frame(Request.INFER, infer_payload(acts)) if in_count else b""
        if link.get("sparse") and in_count and rng.random() < 0.5:
            acts = [a if rng.random() < 0.3 else 0 for a in acts]
            good = encode_frame(Request.INFER_SPARSE, sparse_payload(acts))
        if action == "status":
            emit("send", encode_frame(Request.STATUS))
        elif action in ("load", "bad-load"):
            image = bytearray(rng.choice(images))
            if action == "bad-load":
                image[rng.randrange(len(image))] ^= 1 << rng.randrange(8)
            emit("send", encode_frame(Request.LOAD_START, load_start_payload(len(image))))
            at = 0
            while at < len(image):
                step = rng.randrange(1, 1025)
                emit("send", encode_frame(Request.LOAD_DATA, bytes(image[at:at + step])))
                at += step
                sent += 1
            emit("send", encode_frame(Request.LOAD_END))
            sent += 1
            if model.model_valid:
                golden.packed = golden.pending
                in_count = _inputs(golden.packed)
        elif action == "infer" and good:
            emit("send", good)
        elif action == "bad-infer":
            emit("send", encode_frame(Request.INFER, bytes(rng.randrange(1, 50))),
                 SIM_TIMEOUT * 2)
        elif action == "corrupt" and good:
            damaged = bytearray(good)
            damaged[rng.randrange(1, len(good))] ^= 1 << rng.randrange(8)
            emit("send", damaged, SIM_TIMEOUT * 2)
        elif action == "cut" and good:
            emit("send", good[:rng.randrange(1, len(good))], SIM_TIMEOUT * 2)
        elif action == "noise":
            emit("send", bytes(rng.randrange(256) for _ in range(rng.randrange(1, 5))),
                 SIM_TIMEOUT * 2)
        elif action == "line" and good:
            emit("line", good[:rng.randrange(len(good))], SIM_TIMEOUT * 2)
        sent += 1
    return events, bytes(expected)


def _inputs(packed):
    from tinyeie.sw.compiler.pack import layer_descriptor
    return layer_descriptor(packed, 0)["in_count"]


def _outputs(packed):
    from tinyeie.sw.compiler.pack import layer_descriptor
    return layer_descriptor(packed, packed.n_layers - 1)["out_count"]


def _frames(data):
    return list(FrameDecoder(types=list(Response)).feed(data))


def _masked(frame):
    """A frame as compared: a RESULT without its cycle count (the RTL's own figure)."""
    if not isinstance(frame, Frame):
        return ("damaged", str(frame))
    payload = frame.payload[:-4] if frame.type == Response.RESULT else frame.payload
    return (Response(frame.type).name, payload.hex())


def run_traffic(board, frames, seed=1):
    """Run about ``frames`` random request frames on ``board``'s top (4 PEs, small memories,
    a random model in block RAM); returns the figures."""
    import time

    config = board.engine_config(pes=4, pe_words=2048)
    nrng = np.random.default_rng(seed + 1000)
    baked = pack(random_layers(nrng, [40, 24, 10], density=0.4, cfg=config, gap_rows=17), config)
    events, expected = traffic(config, baked, frames, seed,
                               {**board.link_options(), "bit_cycles": SIM_DIVISOR})
    sim = board_build(board, config, baked)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tinyeie-traffic-") as tmp:
        out = Path(tmp) / "answers.bin"
        run(sim, "tinyeie.sim.cocotb_protocol_traffic", seed=seed,
            args={"events": events, "output": str(out), "divisor": SIM_DIVISOR,
                  "period_ns": SIM_PERIOD_NS, "answer_cycles": 40 * SIM_TIMEOUT})
        got = out.read_bytes()
    want_frames = [_masked(f) for f in _frames(expected)]
    got_frames = [_masked(f) for f in _frames(got)]
    mismatches = sum(a != b for a, b in zip(got_frames, want_frames)) + abs(
        len(got_frames) - len(want_frames))
    first = next((k for k, (a, b) in enumerate(zip(got_frames, want_frames)) if a != b), None)
    kinds = {}
    for kind, _ in want_frames:
        kinds[kind] = kinds.get(kind, 0) + 1
    return {"check": "protocol", "board": board.name, "frames": len(events),
            "answers": len(want_frames), "answer_kinds": kinds, "mismatches": mismatches,
            "seed": seed,
            "first_mismatch": None if first is None else
            {"index": first, "got": got_frames[first], "want": want_frames[first]},
            "seconds": round(time.monotonic() - started, 1)}
