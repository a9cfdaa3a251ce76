"""Frames of the UART protocol: the CRC-16, encoding, and a streaming decoder.

docs/protocol.md is the specification. :class:`FrameDecoder` refuses damaged input the way the
board's receiver does, so the host and :class:`~tinyeie.sw.host.board_model.BoardModel` both
use it. Nothing here needs Amaranth or a serial port.
"""

import binascii
import struct
from typing import NamedTuple

from tinyeie.contract.protocol import DROPPING, MAX_PAYLOAD, SOF, ErrorCode

__all__ = ["crc16", "encode_frame", "Frame", "FrameError", "FrameDecoder"]


def crc16(data, crc=0xFFFF):
    """CRC-16/CCITT-FALSE of ``data`` (poly 0x1021, init 0xFFFF), the frames' checksum.

    ``crc`` continues a running CRC.

    >>> hex(crc16(b"123456789"))
    '0x29b1'
    """
    return binascii.crc_hqx(bytes(data), crc)


def encode_frame(frame_type, payload=b""):
    """One frame's bytes: start, type, length (LE), payload, CRC-16 (BE) of type to payload.

    >>> from tinyeie.contract.protocol import Request
    >>> encode_frame(Request.STATUS).hex(" ")
    '5a 01 00 00 fb ac'
    """
    payload = bytes(payload)
    if not 0 <= frame_type <= 0xFF:
        raise ValueError(f"a frame type is a byte (0..255), not {frame_type}")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"a frame carries at most {MAX_PAYLOAD} payload bytes, not "
                         f"{len(payload)}")
    body = struct.pack("<BH", frame_type, len(payload)) + payload
    return bytes([SOF]) + body + struct.pack(">H", crc16(body))


class Frame(NamedTuple):
    """A frame received whole and with a good CRC."""

    type: int
    payload: bytes


class FrameError(NamedTuple):
    """A frame (or run of noise) the decoder refused: the error code and the frame's type.

    ``type`` is 0 when the frame never got as far as its type byte, as in ERROR payloads.
    """

    code: ErrorCode
    type: int


class FrameDecoder:
    """Frames from a byte stream, refusing damaged input exactly as the board's receiver does.

    Feed bytes with :meth:`feed` as they arrive; it returns the :class:`Frame` and
    :class:`FrameError` events they complete, in order. The line's other events have their own
    methods: :meth:`line_error` (a UART framing error or overrun in place of a byte) and
    :meth:`quiet` (no byte for the timeout).

    Bytes outside a frame other than ``SOF`` are noise: one ``NOISE`` for each run of them (a
    run ends at a start of frame or when the line is quiet). A frame refused for its length or
    type or for a line error is followed by dropping every byte until the line is quiet.

    Parameters
    ----------
    types : collection of int, optional
        The frame types this end knows; any other is ``UNKNOWN-TYPE``. Default: all.
    check : callable, optional
        ``check(type, length)``, called once a frame's length is known (and at most
        :data:`MAX_PAYLOAD`); returns an :class:`ErrorCode` to refuse the frame there, or None.
        The board's per-type length rules go here.
    """

    def __init__(self, types=None, check=None):
        self._types = None if types is None else frozenset(int(t) for t in types)
        self._check = check
        self._state = "idle"
        self._noise = False     # a NOISE was reported for the run under way
        self._type = 0
        self._length = 0
        self._buffer = bytearray()

    @property
    def in_frame(self):
        """A frame is under way (started, not yet complete or refused)."""
        return self._state not in ("idle", "drop")

    @property
    def wanted(self):
        """Bytes that would complete the frame under way (1 when none is): what to read next."""
        if self._state == "payload":
            return self._length - len(self._buffer) + 2
        return {"type": 3, "len0": 2, "len1": 1, "crc0": 2, "crc1": 1}.get(self._state, 1)

    def feed(self, data):
        """Take bytes; return the events (:class:`Frame`, :class:`FrameError`) they complete."""
        events = []
        for byte in bytes(data):
            event = self._byte(byte)
            if event is not None:
                events.append(event)
        return events

    def line_error(self):
        """A UART framing error or overrun where a byte should be: the events it completes.

        Inside a frame it is ``LINE``; between frames it counts as noise.
        """
        if self.in_frame:
            return [self._refuse(ErrorCode.LINE, drop=True)]
        if self._state == "drop":
            return []
        return self._noise_byte()

    def quiet(self):
        """The line was quiet for the timeout: a frame under way ends in ``TIMEOUT``."""
        events = []
        if self.in_frame:
            events.append(self._refuse(ErrorCode.TIMEOUT, drop=False))
        self._state = "idle"
        self._noise = False
        return events

    def _refuse(self, code, *, drop):
        event = FrameError(ErrorCode(code), self._type)
        self._state = "drop" if drop else "idle"
        return event

    def _noise_byte(self):
        if self._noise:
            return []
        self._noise = True
        return [FrameError(ErrorCode.NOISE, 0)]

    def _byte(self, byte):
        state = self._state
        if state == "drop":
            return None
        if state == "idle":
            if byte == SOF:
                self._state, self._noise, self._type = "type", False, 0
                self._buffer = bytearray()
                return None
            events = self._noise_byte()
            return events[0] if events else None
        if state == "type":
            self._type = byte
            if self._types is not None and byte not in self._types:
                return self._refuse(ErrorCode.UNKNOWN_TYPE, drop=True)
            self._state = "len0"
        elif state == "len0":
            self._length = byte
            self._state = "len1"
        elif state == "len1":
            self._length |= byte << 8
            if self._length > MAX_PAYLOAD:
                return self._refuse(ErrorCode.BAD_LENGTH, drop=True)
            code = self._check(self._type, self._length) if self._check else None
            if code is not None:
                return self._refuse(code, drop=ErrorCode(code) in DROPPING)
            self._state = "payload" if self._length else "crc0"
        elif state == "payload":
            self._buffer.append(byte)
            if len(self._buffer) == self._length:
                self._state = "crc0"
        elif state == "crc0":
            self._crc = byte << 8
            self._state = "crc1"
        elif state == "crc1":
            self._state = "idle"
            body = struct.pack("<BH", self._type, self._length) + self._buffer
            if crc16(body) != self._crc | byte:
                return FrameError(ErrorCode.BAD_CRC, self._type)
            return Frame(self._type, bytes(self._buffer))
        return None
