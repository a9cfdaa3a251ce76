"""Payloads of the UART protocol: builders and parsers for every request and answer.

The layouts are docs/protocol.md's; STATUS's fields are the contract's
(:data:`tinyeie.contract.protocol.STATUS_FIELDS`). Nothing here needs Amaranth.
"""

import struct
from dataclasses import dataclass
from typing import NamedTuple

from tinyeie.contract.protocol import (
    MAX_RUN,
    STATUS_BYTES,
    STATUS_FIELDS,
    STATUS_V1_BYTES,
    ErrorCode,
    LoaderError,
    Request,
    doc_name,
    status_format,
)

__all__ = ["Status", "InferResult", "status_payload", "parse_status", "argmax",
           "result_payload", "parse_result", "ack_payload", "parse_ack", "error_payload",
           "parse_error", "load_start_payload", "infer_payload", "sparse_payload",
           "sparse_activations"]


@dataclass(frozen=True)
class Status:
    """A STATUS answer: the board's engine, its model and its last errors."""

    version: int
    model_valid: bool
    pes: int
    act_width: int
    code_width: int
    acc_width: int
    in_count: int
    out_count: int
    last_error: int
    last_loader_error: int
    features: int = 0           # version 2: Feature bits (INFER-SPARSE)
    rx_buffer: int = 0          # version 2: the request inbox's bytes (0: none)
    bit_cycles: int = 0         # version 2: the board's clock cycles a UART bit

    @property
    def last_error_name(self):
        return doc_name(self.last_error, ErrorCode)

    @property
    def last_loader_error_name(self):
        return doc_name(self.last_loader_error, LoaderError)


class InferResult(NamedTuple):
    """A RESULT answer: the logits (row order), their argmax, and the engine's cycle count."""

    logits: list
    cls: int
    cycles: int


def status_payload(status):
    """The payload of a STATUS answer for a :class:`Status` (a version-1 board's 12 bytes for
    ``version`` 1)."""
    size = STATUS_V1_BYTES if status.version == 1 else STATUS_BYTES
    values = [int(getattr(status, name)) for name, _ in STATUS_FIELDS]
    fmt = status_format(size)
    return struct.pack(fmt, *values[:len(fmt) - 1])


def parse_status(payload):
    """A STATUS answer's payload as a :class:`Status`: a version-1 board's 12 bytes (its
    ``features``, ``rx_buffer`` and ``bit_cycles`` are then 0) or the current 17, whichever
    the version byte says."""
    want = STATUS_V1_BYTES if payload[:1] == b"\x01" else STATUS_BYTES
    _expect_length("STATUS", payload, want)
    fields = dict(zip((name for name, _ in STATUS_FIELDS), struct.unpack(status_format(want),
                                                                          payload)))
    return Status(**{**fields, "model_valid": bool(fields["model_valid"])})


def argmax(logits):
    """The index of the largest logit, ties to the lowest index (the RESULT's class).

    >>> argmax([3, -1, 7, 7])
    2
    """
    best = 0
    for k, value in enumerate(logits):
        if value > logits[best]:
            best = k
    return best


def result_payload(logits, cycles):
    """The payload of a RESULT answer: i32 logits, the class (u8, their argmax), u32 cycles.

    Logits are sent as their low 32 bits, so an ``acc_width`` of at most 32 keeps them exact.
    """
    logits = [int(v) for v in logits]
    words = b"".join(struct.pack("<I", v & 0xFFFF_FFFF) for v in logits)
    return words + struct.pack("<BI", argmax(logits) & 0xFF, int(cycles) & 0xFFFF_FFFF)


def parse_result(payload):
    """A RESULT answer's payload as an :class:`InferResult` (logits as signed integers)."""
    if len(payload) < 5 or (len(payload) - 5) % 4:
        raise ValueError(f"a RESULT payload is 4 x outputs + 5 bytes, not {len(payload)}")
    n = (len(payload) - 5) // 4
    logits = list(struct.unpack(f"<{n}i", payload[:4 * n]))
    cls, cycles = struct.unpack("<BI", payload[4 * n:])
    return InferResult(logits, cls, cycles)


def ack_payload(request_type):
    """An ACK's payload: the request type acknowledged."""
    return bytes([request_type])


def parse_ack(payload):
    """The request type an ACK acknowledges."""
    _expect_length("ACK", payload, 1)
    return payload[0]


def error_payload(code, request_type):
    """An ERROR's payload: the error code, the request type (0 outside a frame)."""
    return bytes([code, request_type])


def parse_error(payload):
    """An ERROR answer's payload as names: ``(error, request)``, e.g. ``("NO-MODEL", "INFER")``.

    The request is ``"-"`` for errors outside any frame (type 0, as NOISE has).
    """
    _expect_length("ERROR", payload, 2)
    code, request = payload
    return doc_name(code, ErrorCode), doc_name(request, Request) if request else "-"


def load_start_payload(length):
    """LOAD-START's payload: the image length, u32."""
    if not 0 <= length < 1 << 32:
        raise ValueError(f"an image length is a u32, not {length}")
    return struct.pack("<I", length)


def infer_payload(activations):
    """INFER's payload: one signed byte (-128..127) per activation."""
    values = [int(a) for a in activations]
    bad = [a for a in values if not -128 <= a <= 127]
    if bad:
        raise ValueError(f"INFER carries one signed byte per activation (-128..127), not "
                         f"{bad[0]}")
    return struct.pack(f"<{len(values)}b", *values)


def sparse_payload(activations):
    """INFER-SPARSE's payload: runs, each the count of zero activations it skips (u8), the
    count of activations it carries (u8), and those activations (signed bytes). A run carries
    the non-zero activations that follow one another, and a lone zero between two of them (one
    byte, where a new run would take two); longer gaps, and more than 255 activations, take
    more runs. The zeros after the last run are implied; an input of zeros is the one run
    ``(0, 0)`` (a frame carries at least one).

    >>> sparse_payload([0, 0, 5, -1, 0, 3] + [0] * 300 + [7]).hex(" ")
    '02 04 05 ff 00 03 ff 00 2d 01 07'
    """
    values = infer_payload(activations)     # checks the range
    out = bytearray()
    at = 0
    n = len(values)
    while True:
        start = next((k for k in range(at, n) if values[k]), None)
        if start is None:
            break
        gap = start - at
        while gap > MAX_RUN:
            out += bytes([MAX_RUN, 0])
            gap -= MAX_RUN
        end = start + 1
        while end < n and end - start < MAX_RUN and (
                values[end] or (end + 1 < n and values[end + 1] and end + 1 - start < MAX_RUN)):
            end += 1
        out += bytes([gap, end - start]) + values[start:end]
        at = end
    return bytes(out) or bytes(2)


def sparse_activations(payload, in_count):
    """The ``in_count`` activation bytes an INFER-SPARSE payload stands for, or None when it
    places one at or past ``in_count`` or ends inside a run (the board answers BAD-SPARSE)."""
    out = bytearray()
    at = 0
    while at < len(payload):
        if at + 2 > len(payload):
            return None                     # a run's zeros without its count
        zeros, count = payload[at], payload[at + 1]
        carried = payload[at + 2:at + 2 + count]
        if len(carried) < count:
            return None                     # the frame ends inside the run
        out += bytes(zeros) + carried
        if len(out) > in_count:
            return None
        at += 2 + count
    return bytes(out) + bytes(in_count - len(out))


def _expect_length(name, payload, length):
    if len(payload) != length:
        article = "an" if name[0] in "AEIOU" else "a"
        raise ValueError(f"{article} {name} payload has {length} bytes, not {len(payload)}")
