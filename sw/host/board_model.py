"""What a board answers to any byte stream: the reference for the gateware and the host's tests.

:class:`BoardModel` keeps the state docs/protocol.md describes, given models of the board's
engine and loader (:func:`image_verdict` is the gateware loader's, from the contract).
"""

import struct

from tinyeie.contract.image import load_length_bits, loader_model
from tinyeie.contract.protocol import (
    MAX_OUTPUTS,
    PROTOCOL_VERSION,
    ErrorCode,
    Feature,
    LoaderError,
    Request,
    Response,
)
from tinyeie.sw.host.frames import FrameDecoder, FrameError, encode_frame
from tinyeie.sw.host.payloads import (
    Status,
    ack_payload,
    error_payload,
    result_payload,
    sparse_activations,
    status_payload,
)

__all__ = ["image_verdict", "BoardModel"]


def image_verdict(data, config, check_model=False):
    """The board's loader as :class:`BoardModel` wants it: ``(LoaderError, in_count, out_count)``.

    Uses the gateware loader's model (:func:`tinyeie.hw.loader.loader_model`); anything but
    exactly one good image is refused, an image cut short or followed by more bytes with
    ``LENGTH``.
    """
    result = loader_model(bytes(data), config, check_model)
    if not result.done:
        return LoaderError.LENGTH, 0, 0
    if not result.ok:
        return result.error, 0, 0
    if data and loader_model(bytes(data[:-1]), config, check_model).done:
        return LoaderError.LENGTH, 0, 0        # the image ended before the bytes did
    return LoaderError.NONE, result.in_count, result.out_count



class BoardModel:
    """What a board answers: the reference for the gateware and the host's fake board.

    Give it the byte stream the host sends with :meth:`receive` (and the line's other events with
    :meth:`line_error` and :meth:`quiet`); each returns the bytes the board sends in answer. It
    keeps the state docs/protocol.md describes: the model's validity, a load under way, the last
    error and loader error.

    Parameters
    ----------
    config : :class:`~tinyeie.contract.config.EngineConfig`
        The board's engine (STATUS reports its PEs and widths).
    engine : callable
        ``engine(activations) -> (logits, cycles)`` for a list of signed activations, or None
        for an engine that does not finish (within the board's engine timeout). An INFER whose
        engine does not finish, or gives another number of logits than the model's output count
        (or more than a RESULT carries), is answered ENGINE-FAULT, and the model is then
        invalid.
    loader : callable
        ``loader(image) -> (LoaderError, in_count, out_count)`` for the bytes of a whole load;
        ``LoaderError.NONE`` when they are exactly one good image. :func:`image_verdict` is the
        gateware loader's.
    preloaded : (int, int), optional
        ``(in_count, out_count)`` of a model already in the engine (valid from power-up).
    sparse : bool
        The board takes INFER-SPARSE (else its type is unknown).
    rx_buffer, bit_cycles : int
        What STATUS reports of the board's request inbox and UART.
    check_model : bool
        STATUS reports the model check in its features (``loader`` must then check too:
        :func:`image_verdict` with ``check_model``).
    """

    def __init__(self, config, engine, loader, *, preloaded=None, sparse=True, rx_buffer=0,
                 bit_cycles=0, check_model=False):
        self.config = config
        self.check_model = check_model
        self.sparse, self.rx_buffer, self.bit_cycles = sparse, rx_buffer, bit_cycles
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
        self.decoder = FrameDecoder(types=[t for t in Request if sparse
                                           or t != Request.INFER_SPARSE], check=self._check)

    def status(self):
        c = self.config
        return Status(PROTOCOL_VERSION, self.model_valid, c.pes, c.act_width, c.code_width,
                      c.acc_width, self.in_count, self.out_count, int(self.last_error),
                      int(self.last_loader_error),
                      (Feature.SPARSE if self.sparse else 0)
                      | (Feature.MODEL_CHECK if self.check_model else 0),
                      self.rx_buffer, self.bit_cycles)

    def receive(self, data):
        """The board's answers to the bytes ``data``."""
        # A byte at a time, as the board: a frame's length is checked against the state its
        # header finds, which a frame before it in ``data`` may have changed (a LOAD-START).
        return b"".join(self._answer(self.decoder.feed(bytes([b]))) for b in bytes(data))

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
                Request.INFER: not self.model_valid or 0 < length == self.in_count,
                Request.INFER_SPARSE: not self.model_valid or length > 0}
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
        # INFER, INFER-SPARSE
        if not self.model_valid:
            return self._error(ErrorCode.NO_MODEL, request)
        if request == Request.INFER_SPARSE:
            payload = sparse_activations(payload, self.in_count)
            if payload is None:
                return self._error(ErrorCode.BAD_SPARSE, request)
        # the engine takes each byte's low act_width bits as a signed number
        bits = self.config.act_width
        acts = [(b & (1 << bits) - 1) - ((b << 1) & (1 << bits)) if bits < 8
                else b - ((b & 0x80) << 1) for b in payload]
        result = self._engine(acts)
        if result is None or len(result[0]) != self.out_count \
                or not 1 <= self.out_count <= MAX_OUTPUTS:
            self.model_valid = False
            return self._error(ErrorCode.ENGINE_FAULT, request)
        logits, cycles = result
        return encode_frame(Response.RESULT, result_payload(logits, cycles))
