"""The UART host protocol in Python: frames, payloads, and a reference model of the board.

docs/protocol.md is the specification; this module is its executable form and the reference the
gateware (:mod:`tinyeie.hw.protocol`) is tested against:

* the numbers: :class:`Request`, :class:`Response`, :class:`ErrorCode`, :class:`LoaderError`;
* frames: :func:`crc16`, :func:`encode_frame`, and :class:`FrameDecoder`, a streaming decoder that
  reports damaged input the way the board does;
* payloads: builders (:func:`status_payload`, :func:`result_payload`, :func:`error_payload`, ...)
  and parsers (:func:`parse_status`, :func:`parse_result`, :func:`parse_error`, ...);
* :class:`BoardModel`: what a board answers to any byte stream, given a model of its engine and
  loader. The host's tests talk to it through a fake serial port, and the gateware's tests
  compare every byte the RTL sends with it.

Nothing here needs Amaranth or a serial port.
"""

import binascii
import enum
import struct
from dataclasses import dataclass
from typing import NamedTuple

from ..hw.loader import LoaderError, loader_model   # LoaderError: the gateware's codes

__all__ = ["SOF", "MAX_PAYLOAD", "PROTOCOL_VERSION", "TIMEOUT_CYCLES", "Request", "Response",
           "ErrorCode", "LoaderError", "doc_name", "crc16", "encode_frame", "Frame", "FrameError",
           "FrameDecoder", "Status", "InferResult", "status_payload", "parse_status",
           "result_payload", "parse_result", "ack_payload", "parse_ack", "error_payload",
           "parse_error", "load_start_payload", "infer_payload", "argmax", "max_image_bytes",
           "image_verdict", "load_length_bits", "BoardModel"]

SOF = 0x5A                  # start of frame
MAX_PAYLOAD = 1024          # payload bytes of a frame, either direction
PROTOCOL_VERSION = 1        # STATUS's first byte
TIMEOUT_CYCLES = 1 << 20    # the board's timeout, in clock cycles (44 ms at 24 MHz)
STATUS_BYTES = 12


class Request(enum.IntEnum):
    """Frame types the host sends."""

    STATUS = 0x01
    LOAD_START = 0x02
    LOAD_DATA = 0x03
    LOAD_END = 0x04
    INFER = 0x05


class Response(enum.IntEnum):
    """Frame types the board sends."""

    STATUS = 0x81
    ACK = 0x82
    RESULT = 0x85
    ERROR = 0xEE


class ErrorCode(enum.IntEnum):
    """The first byte of an ERROR payload (docs/protocol.md, "Errors")."""

    NONE = 0            # STATUS's last error code before any error
    BAD_CRC = 1
    BAD_LENGTH = 2
    UNKNOWN_TYPE = 3
    TIMEOUT = 4
    NO_MODEL = 5
    BAD_IMAGE = 6
    SEQUENCE = 7
    LINE = 8
    NOISE = 9


# After these errors the board drops bytes until the line has been quiet for the timeout.
DROPPING = frozenset({ErrorCode.BAD_LENGTH, ErrorCode.UNKNOWN_TYPE, ErrorCode.LINE})


def doc_name(value, enum_type=None):
    """The name docs/protocol.md gives a code: ``doc_name(ErrorCode.NO_MODEL) == "NO-MODEL"``.

    With ``enum_type``, ``value`` may be a plain integer; one the enumeration lacks is named
    ``"0x.."``.

    >>> doc_name(3, Request)
    'LOAD-DATA'
    >>> doc_name(0x42, Request)
    '0x42'
    """
    if enum_type is not None:
        try:
            value = enum_type(value)
        except ValueError:
            return f"0x{value:02X}"
    return value.name.replace("_", "-")


# -- frames ------------------------------------------------------------------------------------

def crc16(data, crc=0xFFFF):
    """CRC-16/CCITT-FALSE of ``data`` (poly 0x1021, init 0xFFFF), the frames' checksum.

    ``crc`` continues a running CRC.

    >>> hex(crc16(b"123456789"))
    '0x29b1'
    """
    return binascii.crc_hqx(bytes(data), crc)


def encode_frame(frame_type, payload=b""):
    """One frame's bytes: start, type, length (LE), payload, CRC-16 (BE) of type to payload.

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


# -- payloads ----------------------------------------------------------------------------------

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
    """The 12 payload bytes of a STATUS answer for a :class:`Status`."""
    s = status
    return struct.pack("<6B2H2B", s.version, int(s.model_valid), s.pes, s.act_width,
                       s.code_width, s.acc_width, s.in_count, s.out_count, s.last_error,
                       s.last_loader_error)


def parse_status(payload):
    """A STATUS answer's payload as a :class:`Status`."""
    _expect_length("STATUS", payload, STATUS_BYTES)
    fields = struct.unpack("<6B2H2B", payload)
    return Status(fields[0], bool(fields[1]), *fields[2:])


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


def max_image_bytes(config):
    """The length of the largest model image an engine built with ``config`` can take.

    Every memory full, in as few sections as ``sw/image.py`` cuts them into.
    """
    from ..hw.layouts import LAYER_WORDS, column_slices
    from .image import HEADER_WORDS, MAX_SECTION, SECTION_WORDS

    c = config
    pe_sections = -(-c.pe_depth // MAX_SECTION)
    slices = column_slices(c.pes)
    words = (HEADER_WORDS + c.pes * (c.pe_depth + SECTION_WORDS * pe_sections)
             + slices * (c.col_depth + SECTION_WORDS) + LAYER_WORDS * c.max_layers + SECTION_WORDS
             + 2)
    return 2 * words


def load_length_bits(config):
    """Bits of an image length the board keeps: LOAD-START may announce less than ``2**bits``.

    A longer announcement cannot be an image for this engine: the board refuses it with
    BAD-IMAGE and loader error TOO-LARGE.
    """
    return max_image_bytes(config).bit_length()


def image_verdict(data, config):
    """The board's loader as :class:`BoardModel` wants it: ``(LoaderError, in_count, out_count)``.

    Uses the gateware loader's model (:func:`tinyeie.hw.loader.loader_model`); anything but
    exactly one good image is refused, an image cut short or followed by more bytes with
    ``LENGTH``.
    """
    result = loader_model(bytes(data), config)
    if not result.done:
        return LoaderError.LENGTH, 0, 0
    if not result.ok:
        return result.error, 0, 0
    if data and loader_model(bytes(data[:-1]), config).done:
        return LoaderError.LENGTH, 0, 0        # the image ended before the bytes did
    return LoaderError.NONE, result.in_count, result.out_count


def infer_payload(activations):
    """INFER's payload: one signed byte (-128..127) per activation."""
    values = [int(a) for a in activations]
    bad = [a for a in values if not -128 <= a <= 127]
    if bad:
        raise ValueError(f"INFER carries one signed byte per activation (-128..127), not "
                         f"{bad[0]}")
    return struct.pack(f"<{len(values)}b", *values)


def _expect_length(name, payload, length):
    if len(payload) != length:
        raise ValueError(f"a {name} payload has {length} bytes, not {len(payload)}")


# -- the board -------------------------------------------------------------------------------

class BoardModel:
    """What a board answers: the reference for the gateware and the host's fake board.

    Give it the byte stream the host sends with :meth:`receive` (and the line's other events with
    :meth:`line_error` and :meth:`quiet`); each returns the bytes the board sends in answer. It
    keeps the state docs/protocol.md describes: the model's validity, a load under way, the last
    error and loader error.

    Parameters
    ----------
    config : :class:`~tinyeie.sw.config.EngineConfig`
        The board's engine (STATUS reports its PEs and widths).
    engine : callable
        ``engine(activations) -> (logits, cycles)`` for a list of signed activations.
    loader : callable
        ``loader(image) -> (LoaderError, in_count, out_count)`` for the bytes of a whole load;
        ``LoaderError.NONE`` when they are exactly one good image. :func:`image_verdict` is the
        gateware loader's.
    preloaded : (int, int), optional
        ``(in_count, out_count)`` of a model already in the engine (valid from power-up).
    """

    def __init__(self, config, engine, loader, *, preloaded=None):
        self.config = config
        self._engine = engine
        self._loader = loader
        self.model_valid = preloaded is not None
        self.in_count, self.out_count = preloaded or (0, 0)
        self.last_error = ErrorCode.NONE
        self.last_loader_error = LoaderError.NONE
        self.loading = False
        self.booting = False
        self._left = 0
        self._image = bytearray()
        self.decoder = FrameDecoder(types=list(Request), check=self._check)

    def status(self):
        c = self.config
        return Status(PROTOCOL_VERSION, self.model_valid, c.pes, c.act_width, c.code_width,
                      c.acc_width, self.in_count, self.out_count, int(self.last_error),
                      int(self.last_loader_error))

    def receive(self, data):
        """The board's answers to the bytes ``data``."""
        return self._answer(self.decoder.feed(data))

    def line_error(self):
        """The board's answer to a UART framing error or overrun."""
        return self._answer(self.decoder.line_error())

    def quiet(self):
        """The board's answer to a line quiet for the timeout."""
        return self._answer(self.decoder.quiet())

    def boot_begin(self):
        """A boot load (from SPI flash) starts: no model until it ends, LOAD-START refused."""
        self.booting, self.model_valid = True, False

    def boot(self, image):
        """A boot load of ``image`` ended: the model is valid if it passed.

        Boot answers nothing; a failure shows in STATUS (BAD-IMAGE and the loader error).
        """
        self.booting = False
        error, in_count, out_count = self._loader(bytes(image))
        self.model_valid = error == LoaderError.NONE
        self.last_loader_error = LoaderError(error)
        if self.model_valid:
            self.in_count, self.out_count = in_count, out_count
        else:
            self.last_error = ErrorCode.BAD_IMAGE

    def _check(self, frame_type, length):
        need = {Request.STATUS: length == 0, Request.LOAD_END: length == 0,
                Request.LOAD_START: length == 4, Request.LOAD_DATA: length > 0,
                # without a model, an INFER of any length is answered NO-MODEL
                Request.INFER: not self.model_valid or 0 < length == self.in_count}
        return None if need[frame_type] else ErrorCode.BAD_LENGTH

    def _answer(self, events):
        out = bytearray()
        for event in events:
            if isinstance(event, FrameError):
                out += self._error(event.code, event.type)
            else:
                out += self._serve(Request(event.type), event.payload)
        return bytes(out)

    def _error(self, code, request_type):
        self.last_error = ErrorCode(code)
        if request_type in (Request.LOAD_START, Request.LOAD_DATA, Request.LOAD_END):
            self.loading = False    # any failed step abandons a load
        return encode_frame(Response.ERROR, error_payload(code, request_type))

    def _ack(self, request):
        return encode_frame(Response.ACK, ack_payload(request))

    def _serve(self, request, payload):
        if request == Request.STATUS:
            return encode_frame(Response.STATUS, status_payload(self.status()))
        if request == Request.LOAD_START:
            if self.booting:
                return self._error(ErrorCode.SEQUENCE, request)
            (self._left,) = struct.unpack("<I", payload)
            if self._left >> load_length_bits(self.config):
                self.last_loader_error = LoaderError.TOO_LARGE
                return self._error(ErrorCode.BAD_IMAGE, request)
            self._image = bytearray()
            self.loading, self.model_valid = True, False
            self.last_loader_error = LoaderError.NONE
            return self._ack(request)
        if request == Request.LOAD_DATA:
            if not self.loading or len(payload) > self._left:
                return self._error(ErrorCode.SEQUENCE, request)
            self._image += payload
            self._left -= len(payload)
            return self._ack(request)
        if request == Request.LOAD_END:
            if not self.loading:
                return self._error(ErrorCode.SEQUENCE, request)
            self.loading = False
            error, in_count, out_count = self._loader(bytes(self._image))
            if error == LoaderError.NONE and self._left:
                error = LoaderError.LENGTH
            self.last_loader_error = LoaderError(error)
            if error != LoaderError.NONE:
                return self._error(ErrorCode.BAD_IMAGE, request)
            self.model_valid, self.in_count, self.out_count = True, in_count, out_count
            return self._ack(request)
        # INFER
        if not self.model_valid:
            return self._error(ErrorCode.NO_MODEL, request)
        # the engine takes each byte's low act_width bits as a signed number
        bits = self.config.act_width
        acts = [(b & (1 << bits) - 1) - ((b << 1) & (1 << bits)) if bits < 8
                else b - ((b & 0x80) << 1) for b in payload]
        logits, cycles = self._engine(acts)
        return encode_frame(Response.RESULT, result_payload(logits, cycles))
