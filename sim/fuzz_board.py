"""The board-top fuzzers: mutated model images and byte streams through a board's whole design
(UART, host protocol, the gateware loader and engine) on Verilator, every answer byte against
:class:`~tinyeie.sw.host.board_model.BoardModel`.

    python -m tinyeie.sim.fuzz_board images|streams [--cases N] [--seed S] [--board B]
                                                    [--json FILE]

* ``images``: each case loads a mutated model image (LOAD-START, LOAD-DATA in random pieces,
  LOAD-END), sends an INFER when the loader took it, then a STATUS. The images are small random
  networks packed for the board's engine, edited as :mod:`tinyeie.sim.fuzz_images` edits them
  (a structural edit with the CRC-32 recomputed), or with bytes damaged (CRC recomputed or not),
  or whole. An image the loader takes and ``read_image`` refuses (its structure breaks
  ``check_packed``, which the gateware does not check: docs/formats.md) has no golden RESULT:
  its INFER may end in ENGINE-FAULT or in any well-formed RESULT (the model's logit count, its
  class their argmax), and the STATUS after it must be exactly the one that answer leaves; a
  STATUS frame with a damaged CRC (BAD-CRC) then brings both states together again.
* ``streams``: each case sends a random or mutated byte stream (random bytes, random frame
  headers, good frames damaged: bits flipped, bytes lost, added or repeated, cut short; a
  broken stop bit at times), waits for the answers, lets the line go quiet where that changes
  what the board does, and then sends one good frame (INFER, INFER-SPARSE or STATUS; a whole
  load of the model when a stream has left none), which must be served exactly.

Each case's answers are compared byte for byte with the model's (a RESULT's cycle count, the
RTL's own figure, and its CRC left out). A *hang* is a request whose answer frames have not all
come within a deadline of cycles (the engine timeout, four frame timeouts and twice the bytes'
time, at the least); the run then stops there, is reported (which case, what was sent) and the
next case starts in a new run from reset. After a mismatch, too, the next case starts afresh.

The figures (JSON): ``tried``; ``refused`` (images: the loader refused them at LOAD-END;
streams: the board answered the stream with an ERROR, or not at all); ``accepted``; ``crashed``
(simulation runs that ended without their answers); ``hung``; ``mismatches`` (cases with an
answer byte unlike the model's); for images, ``refused_by`` (the loader errors of the refused),
``ran_refused_by_read_image`` (images the board took and ran although ``read_image`` refuses
them: none on a board with the model check) and how those INFERs ended.

Speed: the board's whole design runs under :mod:`tinyeie.sim.script_player`, a Verilog
testbench that plays the requests from memory and counts the answer frames itself, so Python
wakes once per run of thousands of cases. The UART runs at 4 clock cycles a bit, the frame
timeout is 2^11 cycles and the engine timeout 2^16 (the board's: 2^20 and 2^22), so that quiet
lines and engine faults cost little simulated time.
"""

import argparse
import copy
import struct
import sys
import tempfile
import time
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyeie.contract.errors import TinyeieError
from tinyeie.contract.protocol import (
    MAX_OUTPUTS,
    MAX_PAYLOAD,
    ErrorCode,
    LoaderError,
    Request,
    Response,
)
from tinyeie.sim.fuzz_images import edited_image
from tinyeie.sim.script_player import (
    DEPTH,
    MAX_FRAMES,
    WAIT,
    idle,
    play,
    player_build,
    send,
    wait,
)
from tinyeie.sim.verification_doc import print_figures
from tinyeie.sw.compiler.image import read_image, write_image
from tinyeie.sw.compiler.interpreter import Interpreter
from tinyeie.sw.compiler.pack import layer_descriptor, pack
from tinyeie.sw.compiler.random_model import random_layers
from tinyeie.sw.host.board_model import BoardModel, image_verdict
from tinyeie.sw.host.frames import Frame, FrameDecoder, encode_frame
from tinyeie.sw.host.payloads import (
    error_payload,
    infer_payload,
    load_start_payload,
    sparse_payload,
    status_payload,
)

__all__ = ["Target", "fuzz_images", "fuzz_streams", "main"]

DIVISOR = 4                 # clock cycles a UART bit
TIMEOUT = 1 << 11           # the frame timeout, cycles (51 byte times, as the other sims' 2^12)
ENGINE_TIMEOUT = 1 << 16    # the engine timeout, cycles (the networks here take under 2,000)
PERIOD_NS = 20
BAKED_SHAPE = [16, 12, 6]   # the model in the bitstream (ECP5) and reloaded by the streams
BOOT_CYCLES = 5_000         # a flash-boot board's boot from an empty flash, and to spare
MAX_STREAM = 160            # bytes of a stream: with its answers, well inside a 1 KiB inbox


class _Engine:
    """The golden engine of the model last loaded (the interpreter, which reads a model as the
    engine does, where ``read_image`` accepts it); None (no golden answer) for a model that
    ``read_image`` refuses, which the gateware may still run."""

    def __init__(self, config, packed, check_model):
        self.config = config
        self.packed = packed
        self.check_model = check_model
        self.pending = None
        self.interpreter = None
        self.ran_unknown = False

    def loader(self, data):
        verdict = image_verdict(data, self.config, self.check_model)
        self.pending = None
        if verdict[0] == LoaderError.NONE:
            try:
                self.pending = read_image(bytes(data), self.config)
            except TinyeieError:
                pass
        return verdict

    def loaded(self):
        self.packed = self.pending
        self.interpreter = None if self.packed is None else Interpreter(self.packed)

    def __call__(self, activations):
        if self.packed is None:
            self.ran_unknown = True
            return None
        if self.interpreter is None:
            self.interpreter = Interpreter(self.packed)
        return [int(v) for v in self.interpreter.run(activations).logits], 0


class Target:
    """A board's top (4 PEs, small memories) under the script player, and its model."""

    def __init__(self, board):
        self.board = board
        self.config = board.engine_config(pes=4, pe_words=2048)
        rng = np.random.default_rng(1000)
        packed = pack(random_layers(rng, BAKED_SHAPE, density=0.4, cfg=self.config,
                                    gap_rows=17), self.config)
        self.baked_image = write_image(packed)
        # A flash-boot board boots from an empty flash (all ones: the loader refuses it, MAGIC)
        # and has no model until one is loaded.
        self.baked = packed if board.model_in_bitstream else None
        self.link = {**board.link_options(), "bit_cycles": DIVISOR}
        self._sim = None

    def sim(self):
        """The Verilator build (made once, reused by every run)."""
        if self._sim is None:
            from tinyeie.boards.top import BoardTop

            config, baked, link = self.config, self.baked, self.board.link_options()
            flash_boot = self.board.flash_boot
            self._sim = player_build(
                lambda: BoardTop(config, divisor=DIVISOR, flash_boot=flash_boot, packed=baked,
                                 timeout_cycles=TIMEOUT, engine_timeout_cycles=ENGINE_TIMEOUT,
                                 clock_hz=1e9 / PERIOD_NS, **link),
                f"fuzz_{self.board.name}", DIVISOR)
        return self._sim

    def model(self):
        """A fresh :class:`BoardModel` of the board after reset, and its engine."""
        engine = _Engine(self.config, self.baked, self.board.model_check)
        preloaded = None
        if self.baked is not None:
            preloaded = (layer_descriptor(self.baked, 0)["in_count"],
                         layer_descriptor(self.baked, self.baked.n_layers - 1)["out_count"])
        model = BoardModel(self.config, engine, engine.loader, preloaded=preloaded,
                           **self.link)
        if self.board.flash_boot:
            model.boot_begin()
            model.boot(b"\xff\xff")      # the loader is done at the first two bytes
        return model, engine


@dataclass
class _Event:
    """One request (or stream) sent and the answer the model gives."""

    case: int
    kind: str
    sent: bytes
    want: bytes
    frames: int
    check: str = "exact"    # "either": ENGINE-FAULT (want) or any well-formed RESULT;
    alt: bytes = b""        # "branch": want after ENGINE-FAULT, alt after a RESULT
    out_count: int = 0
    wait_at: int = None     # where its wait is in the script


def _count_frames(data):
    return sum(isinstance(e, Frame) for e in FrameDecoder(types=list(Response)).feed(data))


def _quiet_matters(decoder):
    """Whether a quiet line would change the decoder's state (a frame or a run of noise under
    way, bytes being dropped)."""
    probe = copy.copy(decoder)
    before = dict(vars(probe))
    probe.quiet()
    return vars(probe) != before


class _Script:
    """The requests of a run and the model's answers, case by case."""

    def __init__(self, target):
        self.target = target
        self.model, self.engine = target.model()
        self.words, self.events, self.frames = [], [], 0
        self.cases = {}         # case -> its figures, counted once the case is judged
        self.cycles = 0
        if target.board.flash_boot:
            self.words += idle(BOOT_CYCLES)
            self.cycles += BOOT_CYCLES

    def full(self):
        return len(self.words) > DEPTH - 40_000 or self.frames > MAX_FRAMES - 4_000

    def exchange(self, case, kind, pieces, check="exact", alt=b""):
        """Send ``pieces`` (``(bytes, broken stop bit on the last)``) and wait for the answer's
        frames; then, if a quiet line matters, let it be quiet for twice the timeout (a board
        with an inbox counts the timeout from when it takes a byte from it, which may be long
        after the byte came while answers go out) and wait for what that brings. Returns the
        model's answer to ``pieces``."""
        model = self.model
        want, sent = bytearray(), bytearray()
        for data, broken in pieces:
            data = bytes(data)
            self.words += send(data, broken)
            sent += data
            if broken:
                want += model.receive(data[:-1]) + model.line_error()
            else:
                want += model.receive(data)
        self.cycles += len(sent) * 11 * DIVISOR
        self._wait(case, kind, bytes(sent), bytes(want), check, alt)
        if _quiet_matters(model.decoder):
            self.words += idle(2 * TIMEOUT)
            self.cycles += 2 * TIMEOUT
            self._wait(case, f"{kind}, then a quiet line", b"", model.quiet(), "exact", b"")
        return bytes(want)

    def _wait(self, case, kind, sent, want, check, alt):
        """Wait for the frames of ``want`` (if any), as the event of ``sent``."""
        frames = _count_frames(want)
        wait_at = None
        if frames:
            wait_at = len(self.words)
            self.frames += frames
            deadline = (ENGINE_TIMEOUT + 4 * TIMEOUT + 20 * DIVISOR * (len(sent) + len(want))
                        + 5_000)
            self.words += wait(self.frames, deadline)
            self.cycles += deadline
        self.events.append(_Event(case, kind, sent, want, frames, check, alt,
                                  self.model.out_count, wait_at))

    def request(self, case, kind, frame_type, payload=b"", **how):
        return self.exchange(case, kind, [(encode_frame(frame_type, payload), False)], **how)

    def load(self, case, image, rng, kind="load"):
        """A whole load of ``image`` in random pieces; True when LOAD-END was acknowledged."""
        self.request(case, f"{kind}: LOAD-START", Request.LOAD_START,
                     load_start_payload(len(image)))
        at = 0
        while at < len(image):
            step = int(rng.choice([int(rng.integers(1, 64)), int(rng.integers(64, 1025))]))
            self.request(case, f"{kind}: LOAD-DATA at {at}", Request.LOAD_DATA,
                         image[at:at + step])
            at += step
        self.request(case, f"{kind}: LOAD-END", Request.LOAD_END)
        if self.model.model_valid:
            self.engine.loaded()
        return self.model.model_valid

    def finish(self):
        """The script's words, with a quiet end that catches any answer too many."""
        return self.words + idle(4 * TIMEOUT)


def _frames(data):
    return list(FrameDecoder(types=list(Response)).feed(bytes(data)))


def _masked(frames):
    """Frames as compared: a RESULT without its cycle count (the RTL's own figure)."""
    out = []
    for f in frames:
        if not isinstance(f, Frame):
            out.append(("damaged", str(f)))
        else:
            payload = f.payload[:-4] if f.type == Response.RESULT else f.payload
            out.append((f.type, payload.hex()))
    return out


def _well_formed_result(frame, out_count):
    if not isinstance(frame, Frame) or frame.type != Response.RESULT:
        return False
    payload = frame.payload
    if len(payload) != 4 * out_count + 5:
        return False
    logits = struct.unpack(f"<{out_count}i", payload[:4 * out_count])
    return payload[4 * out_count] == int(np.argmax(logits))


def _judge(script, segments, hung, finished):
    """Compare a run's answers with the model's: ``(per-case outcome, failures, stopped at)``;
    ``stopped at`` is the first case that hung or answered otherwise than the model (None when
    none did): the run is judged up to it."""
    outcome, failures = {}, []
    waits_done = len(segments) - 1      # a segment per wait that ended, then the rest
    k, branch, stopped_at = 0, None, None
    for event in script.events:
        got = []
        if event.frames:
            if k >= waits_done:
                got = segments[k] if k < len(segments) else []
                what = "hung" if hung else "crashed"
                outcome[event.case] = what
                failures.append(_failure(event, got, what))
                stopped_at = event.case
                break
            got = segments[k]
            k += 1
        good = None not in got
        frames = _masked(_frames(bytes(b for b in got if b is not None)))
        if event.check == "exact":
            good = good and frames == _masked(_frames(event.want))
        elif event.check == "either":
            branch = None
            if good and frames == _masked(_frames(event.want)):
                branch = "fault"
            elif good and len(frames) == 1 and _well_formed_result(
                    _frames(bytes(got))[0], event.out_count):
                branch = "result"
            else:
                good = False
            outcome[f"branch {event.case}"] = branch
        else:                           # "branch": the STATUS after an "either"
            want = event.alt if branch == "result" else event.want
            good = good and frames == _masked(_frames(want))
        if not good:
            # What follows may be out of step (an answer too many or too few): the next case
            # starts afresh in a new run.
            outcome[event.case] = "mismatch"
            failures.append(_failure(event, got, "mismatch"))
            stopped_at = event.case
            break
    if stopped_at is None and script.events:
        last = script.events[-1].case
        tail = [b for segment in segments[k:] for b in segment]
        if not finished:
            outcome[last] = "crashed"
        elif tail:
            outcome[last] = "mismatch"
            failures.append({"case": last, "what": "answer bytes after the last request",
                             "got": "".join("!!" if b is None else f"{b:02x}" for b in tail)})
    return outcome, failures, stopped_at


def _failure(event, got, what):
    return {"case": event.case, "what": what, "request": event.kind,
            "sent": event.sent[:64].hex() + ("..." if len(event.sent) > 64 else ""),
            "want": event.want.hex(), "got": "".join("!!" if b is None else f"{b:02x}"
                                                     for b in got)}


def _run(target, cases, make_case, name, seed, progress, sabotage=None):
    """Play ``cases`` cases (``make_case(script, case)`` adds one) in as many runs as the
    script player's memory needs; returns the per-case outcomes, case figures and failures."""
    from tqdm import tqdm

    sim = target.sim()
    outcomes, figures, failures, runs = {}, {}, [], 0
    bar = tqdm(total=cases, desc=name, unit="case", disable=not progress, mininterval=5)
    case = 0
    with tempfile.TemporaryDirectory(prefix=f"tinyeie-fuzz-board-{name}-") as tmp:
        while case < cases:
            script = _Script(target)
            first = case
            while case < cases and not script.full():
                script.cases[case] = make_case(script, case)
                case += 1
            if sabotage and not runs:
                _sabotage(script, sabotage)
            runs += 1
            try:
                segments, hung, finished = play(sim, script.finish(), Path(tmp) / f"run{runs}",
                                                period_ns=PERIOD_NS,
                                                budget_cycles=script.cycles + 100_000)
            except AssertionError as error:     # the simulation failed: every case crashed
                for k in range(first, case):
                    outcomes[k] = "crashed"
                failures.append({"case": first, "what": "crashed", "error": str(error)[:500]})
                bar.update(case - first)
                continue
            outcome, found, stopped_at = _judge(script, segments, hung, finished)
            failures += found
            last = case if stopped_at is None else stopped_at + 1
            for k in range(first, last):
                outcomes[k] = outcome.get(k, "ok")
                figures[k] = dict(script.cases[k], branch=outcome.get(f"branch {k}"))
            bar.update(last - first)
            case = last
    bar.close()
    return outcomes, figures, failures, runs


def _sabotage(script, how):
    """Make the first run wrong on purpose, to show that the fuzzer can fail: ``answer``
    expects one wrong byte in the answer to the run's fifth answered request; ``frames`` a
    frame more than the board sends from then on (a hang there)."""
    answered = [e for e in script.events if e.frames and e.check == "exact"]
    event = answered[min(4, len(answered) - 1)]
    if how == "answer":
        want = bytearray(event.want)
        want[len(want) // 2] ^= 0x01
        event.want = bytes(want)
    elif how == "frames":
        for k in range(event.wait_at, len(script.words)):
            if script.words[k] >> 60 == WAIT:
                script.words[k] += 1 << 40
    else:
        raise ValueError(f"unknown sabotage {how!r}")


# -- images -------------------------------------------------------------------------------------

def _small_network(rng, config):
    sizes = [int(rng.integers(2, 24))] + [int(rng.integers(2, 16))
                                          for _ in range(int(rng.integers(1, 3)))]
    return random_layers(rng, sizes + [int(rng.integers(2, 10))],
                         density=float(rng.uniform(0.1, 0.6)), cfg=config)


def _with_crc(body):
    return bytes(body) + struct.pack("<I", zlib.crc32(bytes(body)))


def _mutated(rng, image):
    """``image`` mutated: ``(bytes, kind)``."""
    kind = rng.choice(["structure", "structure", "structure", "structure", "structure",
                       "bytes, CRC recomputed", "bytes, CRC recomputed", "bytes", "cut",
                       "whole"])
    if kind == "structure":
        return edited_image(rng, image)[0], kind
    if kind == "whole":
        return image, "whole"
    data = bytearray(image if kind == "bytes" else image[:-4])
    if kind == "cut":
        return bytes(image[:int(rng.integers(1, len(image)))]), "cut"
    for _ in range(int(rng.integers(1, 5))):
        data[int(rng.integers(len(data)))] ^= int(rng.integers(1, 256))
    return (bytes(data) if kind == "bytes" else _with_crc(data)), kind


def _image_bases(target, seed, networks):
    """The images of ``networks`` small random networks for the target's engine."""
    rng = np.random.default_rng(seed)
    return [write_image(pack(_small_network(rng, target.config), target.config))
            for _ in range(networks)]


def _image_case(script, case, seed, bases):
    """Add image case ``case`` to ``script``; its figures."""
    rng = np.random.default_rng([seed, case])
    image, what = _mutated(rng, bases[int(rng.integers(len(bases)))])
    model, engine = script.model, script.engine
    accepted = script.load(case, image, rng)
    figures = {"accepted": accepted, "edit": what, "bytes": len(image),
               "read_image": engine.packed is not None if accepted else None,
               "loader_error": model.last_loader_error.name}
    if accepted:
        n = model.in_count
        acts = rng.integers(-128, 128, n if 1 <= n <= MAX_PAYLOAD else 1)
        before = status_payload(model.status())
        engine.ran_unknown = False
        want = script.request(case, "INFER", Request.INFER, infer_payload(acts))
        fault = encode_frame(Response.ERROR,
                             error_payload(ErrorCode.ENGINE_FAULT, Request.INFER))
        if engine.ran_unknown and want == fault and 1 <= model.out_count <= MAX_OUTPUTS:
            script.events[-1].check = "either"
            script.request(case, "STATUS", Request.STATUS, check="branch",
                           alt=encode_frame(Response.STATUS, before))
            # A STATUS with a damaged CRC: BAD-CRC whichever way the INFER ended.
            damaged = bytearray(encode_frame(Request.STATUS))
            damaged[-1] ^= 1
            script.exchange(case, "STATUS, CRC damaged", [(damaged, False)])
            figures["ran_unknown"] = True
            return figures
    script.request(case, "STATUS", Request.STATUS)
    return figures


def fuzz_images(cases, seed=1, board=None, progress=True, networks=32, sabotage=None):
    """``cases`` mutated images through ``board``'s top (default the ULX3S); the figures."""
    from tinyeie.boards.boards import board as board_named

    target = Target(board or board_named("ulx3s"))
    bases = _image_bases(target, seed, networks)

    def make_case(script, case):
        return _image_case(script, case, seed, bases)

    started = time.monotonic()
    outcomes, per_case, failures, runs = _run(target, cases, make_case, "images", seed,
                                              progress, sabotage)
    counts = Counter(outcomes.values())
    judged = per_case.values()
    unknown = [f for f in judged if f.get("ran_unknown")]
    return {"fuzzer": "board images", "board": target.board.name, "pes": target.config.pes,
            "cases": cases, "seed": seed, "networks": networks, "tried": len(outcomes),
            "refused": sum(not f["accepted"] for f in judged),
            "accepted": sum(bool(f["accepted"]) for f in judged),
            "crashed": counts["crashed"], "hung": counts["hung"],
            "mismatches": counts["mismatch"],
            "ran_refused_by_read_image": len(unknown),
            "ran_refused_by_read_image_engine_fault":
                sum(f["branch"] == "fault" for f in unknown),
            "ran_refused_by_read_image_result": sum(f["branch"] == "result" for f in unknown),
            "refused_by": dict(Counter(f["loader_error"] for f in judged if not f["accepted"])),
            "edits": dict(Counter(f["edit"] for f in judged)),
            "image_bytes_mean": round(float(np.mean([f["bytes"] for f in judged] or [0])), 1),
            "sim_runs": runs, "seconds": round(time.monotonic() - started, 1),
            "failures": failures[:20]}


# -- streams ------------------------------------------------------------------------------------

def _good_frames(rng, model, target):
    """A few good request frames, any of which a stream may carry (and damage)."""
    n = model.in_count
    acts = [int(a) if rng.random() < 0.4 else 0 for a in rng.integers(-128, 128, max(n, 1))]
    frames = [encode_frame(Request.STATUS), encode_frame(Request.INFER, infer_payload(acts)),
              encode_frame(Request.INFER, infer_payload(acts[:-1] or [1, 2])),
              encode_frame(Request.LOAD_DATA, bytes(rng.integers(0, 256, 8).tolist())),
              encode_frame(Request.LOAD_END)]
    if target.link["sparse"]:
        frames.append(encode_frame(Request.INFER_SPARSE, sparse_payload(acts)))
    if rng.random() < 0.1:
        frames.append(encode_frame(Request.LOAD_START, load_start_payload(
            int(rng.choice([len(target.baked_image), int(rng.integers(1, 1 << 20))])))))
    return frames


def _stream(rng, model, target):
    """A random or mutated byte stream: ``(pieces, what)``."""
    kind = rng.choice(["random", "headers", "frames", "frames", "frames"])
    if kind == "random":
        data = bytearray(rng.integers(0, 256, int(rng.integers(1, 64))).tolist())
    elif kind == "headers":
        data = bytearray()
        for _ in range(int(rng.integers(1, 4))):
            kind_byte = int(rng.choice([int(rng.integers(1, 7)), int(rng.integers(256))]))
            length = int(rng.choice([int(rng.integers(0, 48)), int(rng.integers(1 << 16))]))
            data += bytes([0x5A, kind_byte]) + struct.pack("<H", length)
            data += bytes(rng.integers(0, 256, int(rng.integers(0, 40))).tolist())
    else:
        pool = _good_frames(rng, model, target)
        data = bytearray(b"".join(pool[int(rng.integers(len(pool)))]
                                  for _ in range(int(rng.integers(1, 4)))))
        for _ in range(int(rng.choice([0, 1, 1, 2, 3]))):     # none: good frames sent ahead
            at = int(rng.integers(len(data)))
            how = rng.choice(["flip", "lose", "add", "repeat", "cut"])
            if how == "flip":
                data[at] ^= 1 << int(rng.integers(8))
            elif how == "lose":
                del data[at]
            elif how == "add":
                data.insert(at, int(rng.integers(256)))
            elif how == "repeat":
                data[at:at] = data[at:at + int(rng.integers(1, 12))]
            elif len(data) > 1:
                del data[max(at, 1):]
            if not data:
                data = bytearray([0x5A])
    data = bytes(data[:MAX_STREAM])
    if rng.random() < 0.2:                  # a UART framing error on one byte
        at = int(rng.integers(len(data)))
        return [(data[:at + 1], True), (data[at + 1:], False)], kind + ", line error"
    return [(data, False)], kind


def _stream_case(script, case, seed, target):
    """Add stream case ``case`` to ``script``; its figures."""
    rng = np.random.default_rng([seed, case])
    model = script.model
    pieces, what = _stream(rng, model, target)
    answer = script.exchange(case, f"stream ({what})", [p for p in pieces if p[0]])
    frames = _frames(answer)
    refused = not frames or any(f.type == Response.ERROR for f in frames
                                if isinstance(f, Frame))
    if model.loading or not model.model_valid:
        script.request(case, "good STATUS", Request.STATUS)
        if not script.load(case, target.baked_image, rng, "reload"):
            raise AssertionError("the model refused the baked image")
        good = "reload"
    else:
        n = model.in_count
        acts = [int(a) if rng.random() < 0.5 else 0 for a in rng.integers(-128, 128, n)]
        good = str(rng.choice(["INFER", "INFER", "STATUS"]
                              + (["INFER-SPARSE"] if target.link["sparse"] else [])))
        if good == "INFER":
            script.request(case, "good INFER", Request.INFER, infer_payload(acts))
        elif good == "INFER-SPARSE":
            script.request(case, "good INFER-SPARSE", Request.INFER_SPARSE,
                           sparse_payload(acts))
        else:
            script.request(case, "good STATUS", Request.STATUS)
    return {"refused": refused, "stream": what.split(",")[0], "good": good,
            "bytes": len(b"".join(p[0] for p in pieces))}


def fuzz_streams(cases, seed=1, board=None, progress=True, sabotage=None):
    """``cases`` streams, each followed by a good frame, through ``board``'s top; the figures."""
    from tinyeie.boards.boards import board as board_named

    target = Target(board or board_named("ulx3s"))
    if not target.link["rx_buffer"] or target.board.flash_boot:
        raise TinyeieError(f"the stream fuzzer sends streams that pile answers up, which a "
                           f"board needs an inbox for: {target.board.name} has none (ulx3s "
                           f"and ecpix5 do)")

    def make_case(script, case):
        return _stream_case(script, case, seed, target)

    started = time.monotonic()
    outcomes, per_case, failures, runs = _run(target, cases, make_case, "streams", seed,
                                              progress, sabotage)
    counts = Counter(outcomes.values())
    judged = per_case.values()
    return {"fuzzer": "board streams", "board": target.board.name, "pes": target.config.pes,
            "cases": cases, "seed": seed, "tried": len(outcomes),
            "refused": sum(f["refused"] for f in judged),
            "accepted": sum(not f["refused"] for f in judged),
            "crashed": counts["crashed"], "hung": counts["hung"],
            "mismatches": counts["mismatch"],
            "streams": dict(Counter(f["stream"] for f in judged)),
            "good_frames": dict(Counter(f["good"] for f in judged)),
            "stream_bytes_mean": round(float(np.mean([f["bytes"] for f in judged] or [0])), 1),
            "sim_runs": runs, "seconds": round(time.monotonic() - started, 1),
            "failures": failures[:20]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["images", "streams"])
    parser.add_argument("--cases", type=int, default=None,
                        help="default 10,000 images or 100,000 streams")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--board", default="ulx3s")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    from tinyeie.boards.boards import board

    try:
        chosen = board(args.board)
        if args.what == "images":
            figures = fuzz_images(args.cases or 10_000, args.seed, chosen)
        else:
            figures = fuzz_streams(args.cases or 100_000, args.seed, chosen)
    except TinyeieError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print_figures(figures, args.json)
    bad = figures["hung"] + figures["mismatches"] + figures["crashed"]
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
