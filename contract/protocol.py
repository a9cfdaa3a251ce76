"""The UART protocol's numbers: frame types, error codes, limits and the STATUS payload.

docs/protocol.md is the specification. The gateware (:mod:`tinyeie.hw.protocol`) and the host
(:mod:`tinyeie.sw.host`) both take every number from here, so a change is made once. Pure
Python: the serial host imports it without Amaranth.
"""

import enum

__all__ = ["SOF", "MAX_PAYLOAD", "PROTOCOL_VERSION", "TIMEOUT_CYCLES", "ENGINE_TIMEOUT_CYCLES",
           "MAX_OUTPUTS", "MAX_RUN", "Request", "Response", "Feature",
           "ErrorCode", "LoaderError", "DROPPING", "STATUS_FIELDS", "STATUS_BYTES",
           "STATUS_V1_BYTES", "status_format", "doc_name"]

SOF = 0x5A                  # start of frame
MAX_PAYLOAD = 1024          # payload bytes of a frame, either direction
# STATUS's first byte. Version 2 added INFER-SPARSE, BAD-SPARSE, the request inbox (a host
# may send an INFER before the previous one is answered) and STATUS's features, rx_buffer and
# bit_cycles (a build says there which of them it has).
PROTOCOL_VERSION = 2
TIMEOUT_CYCLES = 1 << 20    # the board's timeout, in clock cycles (44 ms at 24 MHz)
# How long an INFER may keep the board waiting on its engine, in clock cycles (175 ms at 24 MHz):
# over 1,000 times LeNet-300-100's 2,552 on 4 PEs, 60 times the same layers run dense.
ENGINE_TIMEOUT_CYCLES = 1 << 22
MAX_OUTPUTS = (MAX_PAYLOAD - 5) // 4    # logits a RESULT carries: 254
MAX_RUN = 255               # zeros an INFER-SPARSE run skips, or activations it carries, at most


class Request(enum.IntEnum):
    """Frame types the host sends."""

    STATUS = 0x01
    LOAD_START = 0x02
    LOAD_DATA = 0x03
    LOAD_END = 0x04
    INFER = 0x05
    #: The activations as runs: zeros skipped (u8), then a count (u8) of activations carried;
    #: the rest are zero.
    INFER_SPARSE = 0x06


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
    ENGINE_FAULT = 10
    #: An INFER-SPARSE places an activation at or past the model's input count, or ends inside
    #: a run.
    BAD_SPARSE = 11


class Feature(enum.IntFlag):
    """STATUS's ``features`` bits: what a version-2 board's build takes beyond version 1."""

    #: INFER-SPARSE frames (without it the type is unknown to the board).
    SPARSE = 1
    #: The model check: a loaded image must also pass the structure rules
    #: (:mod:`tinyeie.contract.structure`), else it is refused with loader error MODEL.
    MODEL_CHECK = 2


class LoaderError(enum.IntEnum):
    """Why a model image was refused: the loader's verdict, reported in STATUS.

    :func:`tinyeie.contract.image.loader_model` says which an image earns; the gateware loader
    (:class:`tinyeie.hw.loader.ImageLoader`) gives the same.
    """

    NONE = 0
    #: The image does not start with ``TEIE``.
    MAGIC = 1
    #: A format version other than :data:`tinyeie.contract.image.VERSION`.
    VERSION = 2
    #: Packed for other PEs or widths than the engine's.
    CONFIG = 3
    #: Needs more layers, activations, column rows or PE words than the engine has.
    TOO_LARGE = 4
    #: A section names a memory the engine does not have, or runs past its end.
    SECTION = 5
    #: The CRC-32 trailer does not match the bytes before it.
    CRC = 6
    #: The image's length is wrong. The loader never raises it (it cannot know where a stream
    #: should have ended): the host protocol does, from the length LOAD-START announced.
    LENGTH = 7
    #: A board with the model check: the image is whole, but what it writes is not a model
    #: (:func:`tinyeie.contract.structure.structure_fault`).
    MODEL = 8


# After these errors the board drops bytes until the line has been quiet for the timeout.
DROPPING = frozenset({ErrorCode.BAD_LENGTH, ErrorCode.UNKNOWN_TYPE, ErrorCode.LINE})

#: The STATUS payload, in order: (field, bytes), each little-endian unsigned. ``features``:
#: :class:`Feature` bits; ``rx_buffer``: the bytes the board's request inbox holds (what may
#: arrive while it is busy, 0 for none); ``bit_cycles``: its clock cycles a UART bit (so a
#: host converts engine cycles to bytes).
STATUS_FIELDS = (
    ("version", 1), ("model_valid", 1), ("pes", 1), ("act_width", 1), ("code_width", 1),
    ("acc_width", 1), ("in_count", 2), ("out_count", 2), ("last_error", 1),
    ("last_loader_error", 1), ("features", 1), ("rx_buffer", 2), ("bit_cycles", 2),
)
STATUS_BYTES = sum(size for _, size in STATUS_FIELDS)
#: A version-1 board's STATUS: the fields up to ``last_loader_error``.
STATUS_V1_BYTES = 12


def status_format(size=STATUS_BYTES):
    """The :mod:`struct` format of the STATUS payload (its first ``size`` bytes)."""
    fields, total = [], 0
    for _, width in STATUS_FIELDS:
        if total + width > size:
            break
        fields.append({1: "B", 2: "H", 4: "I"}[width])
        total += width
    return "<" + "".join(fields)


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
