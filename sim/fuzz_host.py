"""Damaged answers against the host (:class:`tinyeie.sw.host.board.Board`).

The host talks to :class:`~tinyeie.sw.host.board_model.BoardModel` (the reference the
gateware is tested against) through :class:`FakeLine`, a pyserial stand-in with virtual time:
a read that comes up short costs the port's timeout, a sleep costs its length, bytes cost their
time on the wire, and the board sees a quiet line when virtual time says so. Runs are fast and,
seeded, reproducible to the byte.

Each case is one host operation (STATUS, INFER, or a whole LOAD) whose answers the line
damages, in one of the ways a real line or a broken board could: bits flipped, an answer cut
short, lost, late, doubled, stale, with bytes before or after it, replaced by a well-formed
frame (good CRC) of the wrong type or length (an ERROR with a 0-, 1- or 3-byte payload, a
STATUS one byte short, a RESULT whose class is not its argmax, an ACK for another request), or a
line that never goes quiet (endless noise, endless NOISE reports, a trickle). Each case is
classified:

* ``refused``: the host raised a :class:`~tinyeie.contract.errors.TinyeieError` (one clear
  message);
* ``accepted``: the host returned an answer; for damage a CRC must catch it must be the
  undamaged answer (``wrong`` counts those that are not);
* ``crashed``: any other exception;
* ``hung``: the host was still reading after 10,000 reads or 1,000 virtual seconds, or 10 s of
  real time.

``python -m tinyeie.sim.fuzz_host --cases 10000 --seed 1`` prints the counts as JSON
(``--json PATH`` also writes them; ``make fuzz-host``).
"""

import argparse
import signal
import sys
import time
import traceback
from collections import Counter

import numpy as np

from tinyeie.contract.config import EngineConfig
from tinyeie.contract.errors import TinyeieError
from tinyeie.contract.protocol import SOF, ErrorCode, Request, Response
from tinyeie.sim.verification_doc import print_figures
from tinyeie.sw.compiler.golden import int_forward
from tinyeie.sw.compiler.image import write_image
from tinyeie.sw.compiler.pack import pack
from tinyeie.sw.compiler.random_model import random_inputs, random_layers
from tinyeie.sw.host.board import Board
from tinyeie.sw.host.board_model import BoardModel, image_verdict
from tinyeie.sw.host.frames import crc16, encode_frame
from tinyeie.sw.host.payloads import argmax, result_payload

__all__ = ["Hung", "VirtualClock", "FakeLine", "DAMAGES", "run_case", "fuzz", "main"]

CONFIG = EngineConfig(pes=2, pe_depth=256, col_depth=128, act_depth=64, max_layers=3)
BAUD = 115200


class Hung(BaseException):
    """Raised into the host when it reads for too long: no ``except Exception`` catches it."""


class VirtualClock:
    """Time that passes only when the line or the host says so."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += max(0.0, seconds)


class FakeLine:
    """A pyserial-like port whose far end is a :class:`BoardModel`, in virtual time.

    ``damage(answer, exchange) -> bytes`` may change each answer the board sends (``exchange``
    counts the requests); ``endless`` (a function of the byte count) makes the line produce
    bytes forever once set. ``quiet`` is the board's timeout: a gap that long between writes
    ends any frame under way, as on the board.
    """

    def __init__(self, board, clock, timeout=0.2, quiet=0.05, max_reads=10_000,
                 max_seconds=1000.0):
        self.board, self.clock, self.timeout, self.quiet = board, clock, timeout, quiet
        self.pending = bytearray()
        self.later = []             # (time, bytes) that arrive once virtual time passes
        self.damage = None
        self.endless = None
        self.exchanges = 0
        self.writes = []
        self.reads = 0
        self.max_reads, self.max_seconds = max_reads, max_seconds
        self.last_write = -1e9

    def write(self, data):
        data = bytes(data)
        if self.clock.now - self.last_write >= self.quiet:
            self.pending += self.board.quiet()
        self.clock.now += len(data) * 10 / BAUD
        self.last_write = self.clock.now
        self.writes.append(data)
        answer = self.board.receive(data)
        if answer and self.damage is not None:
            answer = self.damage(answer, self.exchanges)
        self.exchanges += 1
        self.pending += answer
        return len(data)

    def read(self, n):
        """Up to ``n`` bytes, as pyserial gives them: waits (in virtual time) until ``n`` have
        arrived or its timeout has passed since the call."""
        self.reads += 1
        if self.reads > self.max_reads or self.clock.now > self.max_seconds:
            raise Hung(f"{self.reads} reads, {self.clock.now:.0f} virtual seconds")
        give_up = self.clock.now + self.timeout
        while True:
            self._arrive()
            if self.endless is not None and len(self.pending) < n:
                self.pending += self.endless(n - len(self.pending))
            if len(self.pending) >= n:
                break
            coming = [when for when, _ in self.later if when <= give_up]
            if not coming:
                self.clock.now = give_up
                break
            self.clock.now = max(self.clock.now, min(coming))
        out = bytes(self.pending[:n])
        del self.pending[:n]
        self.clock.now += len(out) * 10 / BAUD
        return out

    def _arrive(self):
        """Move what the line has delivered by now into the input buffer, in order."""
        due = sorted((item for item in self.later if item[0] <= self.clock.now),
                     key=lambda item: item[0])
        for item in due:
            self.pending += item[1]
            self.later.remove(item)

    def reset_input_buffer(self):
        self.pending.clear()


# -- the damages ----------------------------------------------------------------------------

def _frame(frame_type, payload):
    return encode_frame(frame_type, payload)


def _forged(rng):
    """A well-formed frame (good CRC) that is no right answer: wrong type or wrong length."""
    choice = int(rng.integers(9))
    if choice == 0:
        return _frame(Response.ERROR, bytes(int(rng.integers(0, 256))
                                            for _ in range(int(rng.choice([0, 1, 3, 4])))))
    if choice == 1:
        return _frame(Response.STATUS, rng.bytes(int(rng.choice([0, 1, 11, 13]))))
    if choice == 2:
        return _frame(Response.ACK, rng.bytes(int(rng.choice([0, 2]))))
    if choice == 3:
        return _frame(Response.ACK, bytes([int(rng.choice([0, 0x42, *list(Request)]))]))
    if choice == 4:
        return _frame(Response.RESULT, rng.bytes(int(rng.choice([0, 4, 6, 9, 14]))))
    if choice == 5:
        logits = [int(v) for v in rng.integers(-100, 100, 10)]
        payload = bytearray(result_payload(logits, 77))
        payload[40] = (argmax(logits) + 1) % 10             # class is not the argmax
        return _frame(Response.RESULT, bytes(payload))
    if choice == 6:
        return _frame(int(rng.integers(0, 256)), rng.bytes(int(rng.integers(0, 8))))
    if choice == 7:
        return _frame(Response.ERROR, bytes([int(rng.integers(0, 256)),
                                             int(rng.integers(0, 256))]))
    return _frame(Response.RESULT, b"")


def _noise(rng, n):
    return bytes(int(b) for b in rng.integers(0, 256, n))


def _flip(rng, answer):
    damaged = bytearray(answer)
    for _ in range(int(rng.integers(1, 4))):
        damaged[int(rng.integers(len(damaged)))] ^= 1 << int(rng.integers(8))
    return bytes(damaged)


#: name -> (damage(rng, line, answer) -> bytes, whether a CRC must catch it)
DAMAGES = {
    "none": (lambda rng, line, a: a, True),
    "flip": (lambda rng, line, a: _flip(rng, a), True),
    "cut": (lambda rng, line, a: a[:int(rng.integers(0, len(a)))], True),
    "lost": (lambda rng, line, a: b"", True),
    "noise-before": (lambda rng, line, a: _noise(rng, int(rng.integers(1, 40))) + a, True),
    "noise-after": (lambda rng, line, a: a + _noise(rng, int(rng.integers(1, 40))), True),
    "doubled": (lambda rng, line, a: a + a, True),
    "stale-first": (lambda rng, line, a: _frame(Response.ACK, bytes([Request.LOAD_END])) + a,
                    True),
    "noise-reports": (lambda rng, line, a: _frame(Response.ERROR, bytes([ErrorCode.NOISE, 0]))
                      * int(rng.integers(1, 5)) + a, True),
    "huge-length": (lambda rng, line, a: bytes([SOF, Response.STATUS, 0xFF, 0xFF]) + a, True),
    "bad-crc-frame": (lambda rng, line, a: a[:-2] + (crc16(a[1:-2]) ^ 1).to_bytes(2, "big"),
                      True),
    "forged": (lambda rng, line, a: _forged(rng), False),
    "forged-then-good": (lambda rng, line, a: _forged(rng) + a, False),
    "late": (lambda rng, line, a: _late(line, a, rng), True),
    "endless-noise": (lambda rng, line, a: _endless(line, rng, reports=False), True),
    "endless-reports": (lambda rng, line, a: _endless(line, rng, reports=True), True),
    "trickle": (lambda rng, line, a: _trickle(line, a, rng), True),
}


def _late(line, answer, rng):
    """The answer arrives after the host has given up on it (and may be read as stale)."""
    line.later.append((line.clock.now + line.timeout * float(rng.uniform(1.5, 20)), answer))
    return b""


def _endless(line, rng, reports):
    """From now on the line never goes quiet."""
    report = _frame(Response.ERROR, bytes([ErrorCode.NOISE, 0]))
    if reports:
        line.endless = lambda n: report * (n // len(report) + 1)
    else:
        line.endless = lambda n: _noise(rng, n)
    return b""


def _trickle(line, answer, rng):
    """The answer's bytes come one every half a timeout, then noise follows forever."""
    period = line.timeout * 0.5
    for k, byte in enumerate(answer):
        line.later.append((line.clock.now + period * (k + 1), bytes([byte])))
    if rng.random() < 0.5:
        line.later.extend((line.clock.now + period * (len(answer) + k), b"\x00")
                          for k in range(1, 200))
    return b""


# -- one case ---------------------------------------------------------------------------------

class _Network:
    """A small random network, its image, and a board model for it (fresh per case)."""

    def __init__(self, seed=11):
        rng = np.random.default_rng(seed)
        self.layers = random_layers(rng, [40, 24, 10], cfg=CONFIG)
        self.image = write_image(pack(self.layers, CONFIG))

    def board(self, loaded):
        def engine(activations):
            logits = int_forward(self.layers, np.array(activations), CONFIG)
            return logits.tolist(), 7 * len(activations)
        return BoardModel(CONFIG, engine, lambda data: image_verdict(data, CONFIG),
                          preloaded=(40, 10) if loaded else None)


def run_case(network, seed):
    """One seeded case: returns ``(verdict, damage, operation, detail)``."""
    rng = np.random.default_rng(seed)
    damage = list(DAMAGES)[int(rng.integers(len(DAMAGES)))]
    damage_fn, crc_catches = DAMAGES[damage]
    operation = ["status", "infer", "load", "infer-wrong-length"][int(rng.integers(4))]
    loaded = operation != "load" and rng.random() < 0.8
    clock = VirtualClock()
    board = network.board(loaded)
    line = FakeLine(board, clock)
    host = Board(line, settle=0.1, deadline=3.0, retries=int(rng.integers(0, 3)), clock=clock,
                 sleep=clock.sleep)
    # Damage one chosen exchange, or every one, or each with some probability.
    mode = int(rng.integers(3))
    target = int(rng.integers(0, 4))

    def damage_at(answer, exchange):
        hit = (mode == 0 and exchange == target) or mode == 1 or (
            mode == 2 and rng.random() < 0.3)
        return damage_fn(rng, line, answer) if hit else answer
    line.damage = damage_at
    inputs = random_inputs(rng, 1, 40, cfg=CONFIG)[0]
    alarm = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, 10.0)
    try:
        if operation == "status":
            got = host.status()
            want = board.status()
            right = got == want or not crc_catches
        elif operation == "infer":
            got = host.infer(inputs)
            right = not crc_catches or (
                list(got.logits) == int_forward(network.layers, inputs, CONFIG).tolist())
        elif operation == "load":
            host.load(network.image, chunk=int(rng.choice([64, 256, 1024])), progress=False)
            right = board.model_valid or not crc_catches
        else:       # the board refuses it (BAD-LENGTH or NO-MODEL): no answer is right
            host.infer(inputs[:int(rng.integers(1, 39))])
            right = not crc_catches
        return ("accepted" if right else "wrong"), damage, operation, ""
    except TinyeieError as error:
        return "refused", damage, operation, str(error)
    except Hung as error:
        return "hung", damage, operation, str(error)
    except Exception:
        return "crashed", damage, operation, traceback.format_exc(limit=3)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, alarm)


def _alarm(signum, frame):
    raise Hung("10 s of real time")


def fuzz(cases=10_000, seed=1, progress=True):
    """Run ``cases`` cases (case ``k`` seeded with ``seed * 1_000_003 + k``); the figures."""
    from tqdm import tqdm

    network = _Network()
    verdicts = Counter()
    by_damage = {}
    failures = []
    start = time.monotonic()
    for k in tqdm(range(cases), disable=not progress, desc="host answers", unit="case"):
        verdict, damage, operation, detail = run_case(network, seed * 1_000_003 + k)
        verdicts[verdict] += 1
        entry = by_damage.setdefault(damage, Counter())
        entry[verdict] += 1
        if verdict in ("crashed", "hung", "wrong") and len(failures) < 20:
            failures.append({"case": k, "damage": damage, "operation": operation,
                             "verdict": verdict, "detail": detail})
    return {
        "cases": cases,
        "seed": seed,
        "tried": cases,
        "refused": verdicts["refused"],
        "accepted": verdicts["accepted"],
        "crashed": verdicts["crashed"],
        "hung": verdicts["hung"],
        "wrong": verdicts["wrong"],
        "seconds": round(time.monotonic() - start, 1),
        "by_damage": {name: dict(count) for name, count in sorted(by_damage.items())},
        "failures": failures,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tinyeie.sim.fuzz_host",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000, help="damaged exchanges (10000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    figures = fuzz(args.cases, args.seed)
    print_figures(figures, args.json)
    return 0 if figures["crashed"] == figures["hung"] == figures["wrong"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
