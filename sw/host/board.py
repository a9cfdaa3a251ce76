"""The host's side of the UART protocol: a board as a Python object.

:class:`Board` sends requests and reads answers over anything with pyserial's ``read(n)``,
``write(data)`` and ``timeout`` (a ``serial.Serial``, or a fake in tests); :meth:`Board.open`
opens a serial port by name. Every failure is a :class:`~tinyeie.contract.errors.TinyeieError` that
says what the board reported and what to do about it.

Nothing the line brings can crash or hang it: every answer is checked (type, length, payload)
before it is used; each exchange has a deadline and a budget of bytes, so a line that never
goes quiet ends in a clear "noisy line" error; and a request that is safe to repeat (STATUS,
INFER, a whole load from LOAD-START) is tried again, a bounded number of times, when its answer
was lost or damaged on the line.
"""

import time

from tinyeie.contract.errors import TinyeieError
from tinyeie.contract.protocol import (
    DROPPING,
    MAX_PAYLOAD,
    ErrorCode,
    LoaderError,
    Request,
    Response,
    doc_name,
)
from tinyeie.sw.host.frames import Frame, FrameDecoder, encode_frame
from tinyeie.sw.host.link import infer_request, send_ahead
from tinyeie.sw.host.payloads import (
    argmax,
    infer_payload,
    load_start_payload,
    parse_ack,
    parse_error,
    parse_result,
    parse_status,
)

__all__ = ["Board", "BoardError", "LinkError", "LOAD_HINT"]

#: How the messages tell a user to load a model.
LOAD_HINT = "load a model image onto it first (tinyeie.sw.host.board.Board.load)"

# What each error means for the user, and what to do.
_ADVICE = {
    ErrorCode.BAD_CRC: "the board received a corrupted frame: check the cable and the baud "
                       "rate, then try again",
    ErrorCode.BAD_LENGTH: "the board refused the frame's length",
    ErrorCode.UNKNOWN_TYPE: "the board does not know this request: are host and bitstream from "
                            "the same tinyeie version?",
    ErrorCode.TIMEOUT: "the frame stopped arriving half-way (bytes lost, or the host wrote too "
                       "slowly): try again",
    ErrorCode.NO_MODEL: f"the board has no valid model: {LOAD_HINT}",
    ErrorCode.BAD_IMAGE: "the board refused the model image",
    ErrorCode.SEQUENCE: "the board was not expecting this step of a load (a load was "
                        "interrupted or announced another length): start the load again",
    ErrorCode.LINE: "the board's UART saw a framing error or overrun: check the baud rate and "
                    "the wiring, then try again",
    ErrorCode.NOISE: "the board saw stray bytes outside a frame",
    ErrorCode.BAD_SPARSE: "the board refused an INFER-SPARSE whose runs place an activation "
                          "past the model's inputs or end early: are host and bitstream from "
                          "the same tinyeie version?",
    ErrorCode.ENGINE_FAULT: "the board's engine could not finish the model (it ran past the "
                            "engine timeout, or took or gave other numbers of values than the "
                            "model image's header counts): the image disagrees with itself; "
                            f"the board has no valid model now: {LOAD_HINT}",
}

_LOADER_ADVICE = {
    LoaderError.MAGIC: "it is not a tinyeie model image",
    LoaderError.VERSION: "its format version is not the one this bitstream reads",
    LoaderError.CONFIG: "it was packed for other engine parameters (PEs, widths) than the "
                        "board's: pack it again for this board",
    LoaderError.TOO_LARGE: "it needs more memory than the board's engine has",
    LoaderError.SECTION: "a section names a memory the engine lacks or runs past its end",
    LoaderError.CRC: "its CRC-32 does not match: the file is corrupted, or bytes were damaged on "
                     "the way: load it again",
    LoaderError.LENGTH: "it ended early, or its length is not the one announced",
    LoaderError.MODEL: "it is whole, but what it writes is not a model the engine can run (the "
                       "board's model check; any tinyeie command that reads the image names "
                       "the rule it breaks)",
}


class BoardError(TinyeieError):
    """The board answered a request with ERROR.

    Members
    -------
    code : int
        The error code (:class:`~tinyeie.contract.protocol.ErrorCode`).
    request : int
        The request type the board named.
    """

    def __init__(self, message, code, request):
        super().__init__(message)
        self.code = code
        self.request = request


class LinkError(TinyeieError):
    """The line failed an exchange: no answer, a damaged, malformed or out-of-step one, or a
    noisy line. A request that is safe to repeat is tried again after one."""


#: Board errors that say the request was damaged on its way: worth sending again.
_RESENDABLE = frozenset({ErrorCode.BAD_CRC, ErrorCode.TIMEOUT, ErrorCode.LINE})
#: The longest frame either side sends, in bytes.
_MAX_FRAME = 1 + 3 + MAX_PAYLOAD + 2


class Board:
    """A board running the tinyeie bitstream, over a serial port.

    Parameters
    ----------
    port
        A pyserial-like object: ``read(n)`` returns up to ``n`` bytes, fewer once its
        ``timeout`` (seconds) passes; ``write(data)``.
    settle : float
        Seconds to leave the line quiet after an error that makes the board drop bytes until
        the line is quiet (BAD-LENGTH, UNKNOWN-TYPE, LINE), and before a request is tried
        again: longer than the board's timeout, 2**20 clock cycles (87 ms at 12 MHz).
    deadline : float
        Seconds an exchange may take, from the request to its whole answer. A read blocks for
        at most the port's timeout, so an exchange ends within ``deadline`` plus that.
    retries : int
        How many more times a request that is safe to repeat is sent after its answer was
        lost or damaged, or the board said the request arrived damaged.
    clock, sleep
        ``time.monotonic`` and ``time.sleep`` unless a test gives the host its own time.

    Examples
    --------
    >>> board = Board.open("/dev/ttyUSB1")                      # doctest: +SKIP
    >>> board.load(open("model.bin", "rb").read())              # doctest: +SKIP
    >>> board.infer(pixels).cls                                 # doctest: +SKIP
    7
    """

    def __init__(self, port, settle=0.1, *, deadline=5.0, retries=2, clock=time.monotonic,
                 sleep=time.sleep):
        if retries < 0 or not deadline > 0:
            raise TinyeieError(f"retries must be at least 0 and deadline over 0 s, not "
                               f"{retries} and {deadline}")
        self.port = port
        self.settle = settle
        self.deadline = deadline
        self.retries = retries
        self._clock = clock
        self._sleep = sleep
        self._quiet_from = clock()      # when the board listens again
        self._status = None             # the last STATUS: which frames the board takes

    @classmethod
    def open(cls, device, baudrate=115200, timeout=2.0):
        """A :class:`Board` on the serial port ``device`` (pyserial, 8N1)."""
        try:
            import serial
        except ImportError:
            raise TinyeieError("talking to a board needs pyserial: pip install pyserial") \
                from None
        try:
            port = serial.Serial(device, baudrate=baudrate, timeout=timeout)
        except (serial.SerialException, ValueError) as error:
            raise TinyeieError(f"cannot open the serial port {device}: {error}") from None
        return cls(port)

    # -- requests ----------------------------------------------------------------------------

    def status(self):
        """The board's :class:`~tinyeie.sw.host.payloads.Status`."""
        self._status = self._retrying(lambda: self._parse(
            parse_status, self._request(Request.STATUS, expect=Response.STATUS)))
        return self._status

    def load(self, image, chunk=MAX_PAYLOAD, progress=True):
        """Load a model image (the bytes of a ``model.bin``); the board checks it at the end.

        Sends LOAD-START, the image in LOAD-DATA frames of ``chunk`` bytes (each acknowledged
        before the next goes), then LOAD-END. A refused image raises :class:`BoardError` naming
        the board's reason; the board then has no valid model. A LOAD-DATA is never sent twice:
        when a step's answer is lost or damaged, the whole load starts again from LOAD-START
        (at most ``retries`` times).
        """
        image = bytes(image)
        if not 1 <= chunk <= MAX_PAYLOAD:
            raise TinyeieError(f"chunk must be 1..{MAX_PAYLOAD} bytes, not {chunk}")
        if not image:
            raise TinyeieError("the model image is empty")
        from tqdm import tqdm

        with tqdm(total=len(image), unit="B", unit_scale=True, desc="load",
                  disable=not progress, leave=False) as bar:
            def attempt():
                bar.reset()
                self._request(Request.LOAD_START, load_start_payload(len(image)),
                              expect=Response.ACK)
                for offset in range(0, len(image), chunk):
                    part = image[offset:offset + chunk]
                    self._request(Request.LOAD_DATA, part, expect=Response.ACK)
                    bar.update(len(part))
                self._request(Request.LOAD_END, expect=Response.ACK)
            # A load abandoned half-way (SEQUENCE) is also one to start again.
            self._retrying(attempt, also=(ErrorCode.SEQUENCE,))

    def infer(self, activations):
        """Classify one input: ``activations`` are the model's inputs as signed integers.

        Returns an :class:`~tinyeie.sw.host.payloads.InferResult` (logits, class, cycles). The
        input goes as an INFER-SPARSE when the board takes those and it is shorter
        (:func:`~tinyeie.sw.host.link.infer_request`; known once :meth:`status` was asked).
        """
        request, payload = self._infer_request(activations)
        return self._retrying(lambda: self._parse(
            _checked_result, self._request(request, payload, expect=Response.RESULT)))

    def infer_many(self, inputs, progress=None):
        """Classify inputs one after another; a list of
        :class:`~tinyeie.sw.host.payloads.InferResult`, in order.

        On a board that lets a host send ahead (protocol version 2, docs/protocol.md), the next
        request goes out before the previous answer is in, when the board's inbox holds what
        arrives meanwhile (:func:`~tinyeie.sw.host.link.send_ahead`, with twice the longest
        engine run seen): the board's engine and UART never wait for the host. An answer lost
        or refused on the way makes the rest go one at a time, each with :meth:`infer`'s
        retries. ``progress(n)`` is called with each answer's count.
        """
        status = self._status or self.status()
        requests = [self._infer_request(vector) for vector in inputs]
        results = []
        sent = 0
        longest = None
        try:
            while len(results) < len(requests):
                window = send_ahead(status, None if longest is None else 2 * longest)
                while sent < len(requests) and sent - len(results) < window:
                    if sent == len(results):        # nothing under way: as _request does
                        self._wait_quiet()
                    self.port.write(encode_frame(*requests[sent]))
                    sent += 1
                request = requests[len(results)][0]
                frame = self._read_frame(request)
                if frame.type == Response.ERROR:
                    raise self._board_error(request, frame.payload)
                if frame.type != Response.RESULT:
                    raise LinkError(f"the board answered {doc_name(request, Request)} with "
                                    f"{doc_name(frame.type, Response)}: out of step")
                result = self._parse(_checked_result, frame.payload)
                results.append(result)
                longest = max(longest or 0, result.cycles)
                if progress is not None:
                    progress(len(results))
        except TinyeieError as error:
            if not isinstance(error, LinkError) and not (
                    isinstance(error, BoardError) and error.code in _RESENDABLE):
                raise
            self._recover()     # what was sent ahead is answered and thrown away meanwhile
            for request, payload in requests[len(results):]:
                results.append(self._retrying(lambda r=request, p=payload: self._parse(
                    _checked_result, self._request(r, p, expect=Response.RESULT))))
                if progress is not None:
                    progress(len(results))
        return results

    def _infer_request(self, activations):
        try:
            payload = infer_payload(activations)
        except ValueError as error:
            raise TinyeieError(str(error)) from None
        if not 1 <= len(payload) <= MAX_PAYLOAD:
            raise TinyeieError(f"INFER carries 1..{MAX_PAYLOAD} activations, not {len(payload)}")
        if self._status is None:       # a board not asked yet gets the frame every one takes
            return Request.INFER, payload
        return infer_request(activations, self._status)

    # -- retries -----------------------------------------------------------------------------

    def _retrying(self, exchange, also=()):
        """``exchange()``, tried again (at most ``retries`` times) after a failure on the line
        or a board error in ``_RESENDABLE`` or ``also``; the last failure is raised, saying how
        many tries it took."""
        tries = 1 + self.retries
        for attempt in range(1, tries + 1):
            try:
                return exchange()
            except TinyeieError as error:
                again = isinstance(error, LinkError) or (
                    isinstance(error, BoardError) and error.code in _RESENDABLE | set(also))
                if not again:
                    raise
                if attempt == tries:
                    if tries > 1:
                        error.args = (f"{error} ({tries} tries)",)
                    raise
                self._recover()

    def _recover(self):
        """Let the line go quiet (the board drops a part frame at its timeout, and stops any
        answer under way), then throw away whatever arrived meanwhile."""
        self._quiet_from = max(self._quiet_from, self._clock() + self.settle)

    # -- frames ------------------------------------------------------------------------------

    def _request(self, request, payload=b"", *, expect):
        """Send one request, return the payload of its answer of type ``expect``."""
        self._wait_quiet()
        self.port.write(encode_frame(request, payload))
        frame = self._read_frame(request)
        if frame.type == Response.ERROR:
            raise self._board_error(request, frame.payload)
        if frame.type != expect:
            raise LinkError(f"the board answered {doc_name(request, Request)} with "
                            f"{doc_name(frame.type, Response)} instead of "
                            f"{doc_name(expect, Response)}: host and board are out of step; "
                            f"try again")
        if expect == Response.ACK and (acked := self._parse(parse_ack, frame.payload)) != request:
            raise LinkError(f"the board acknowledged {doc_name(acked, Request)} "
                            f"instead of {doc_name(request, Request)}: host and board are out "
                            f"of step; try again")
        return frame.payload

    def _wait_quiet(self):
        """Wait until the board listens again, and throw away what is left of an answer that
        went wrong before."""
        wait = self._quiet_from - self._clock()
        if wait > 0:
            self._sleep(wait)
        flush = getattr(self.port, "reset_input_buffer", None)
        if flush is not None:
            flush()

    @staticmethod
    def _parse(parser, payload):
        try:
            return parser(payload)
        except ValueError as error:
            raise LinkError(f"the board's answer does not parse ({error}): are host and "
                            f"bitstream from the same tinyeie version?") from None

    def _read_frame(self, request):
        """The next answer, skipping NOISE reports (they concern bytes sent before).

        Ends with a :class:`LinkError` when the answer does not come (the port's timeout
        passes with nothing), comes damaged, or does not come whole within the deadline or
        within four frames' worth of bytes: a line that never goes quiet cannot hold the host.
        """
        decoder = FrameDecoder(types=list(Response))
        name = doc_name(request, Request)
        saw_noise = False
        received = 0
        start = self._clock()
        while True:
            wanted = decoder.wanted
            data = self.port.read(wanted)
            received += len(data)
            for event in decoder.feed(data):
                if isinstance(event, Frame):
                    if (event.type == Response.ERROR and len(event.payload) == 2
                            and event.payload[0] == ErrorCode.NOISE):
                        saw_noise = True
                        continue
                    return event
                if event.code != ErrorCode.NOISE:
                    raise LinkError(f"the board's answer to {name} arrived damaged "
                                    f"({doc_name(event.code)}): check the cable and the baud "
                                    f"rate, then try again")
                saw_noise = True
            elapsed = self._clock() - start
            if received > 4 * _MAX_FRAME or (data and elapsed > self.deadline):
                raise LinkError(f"the line from the board is noisy: {received:,} bytes in "
                                f"{elapsed:.1f} s without a whole answer to {name}: check the "
                                f"cable, the baud rate and that nothing else writes to the "
                                f"port")
            if len(data) < wanted:
                timeout = getattr(self.port, "timeout", None)
                within = f" within {timeout} s" if timeout is not None else ""
                what = ("it only reported stray bytes (the request's start was lost?)"
                        if saw_noise else "check the port, the baud rate and that the board "
                        "runs the tinyeie bitstream")
                raise LinkError(f"the board did not answer {name}{within}: {what}")

    def _board_error(self, request, payload):
        try:
            name, about_name = parse_error(payload)
        except ValueError as error:
            raise LinkError(f"the board's answer to {doc_name(request, Request)} does not "
                            f"parse ({error})") from None
        code, about = payload
        if code in DROPPING:
            self._quiet_from = self._clock() + self.settle
        advice = _ADVICE.get(code, "an error this host does not know")
        if code == ErrorCode.BAD_LENGTH and request == Request.INFER:
            advice += f": {self._expected_inputs()}"
        elif code == ErrorCode.BAD_IMAGE:
            advice += f": {self._loader_reason()}"
        if about not in (0, request):
            about_name = f"{about_name} (sent {doc_name(request, Request)})"
        return BoardError(f"the board answered {about_name} with ERROR {name}: {advice}",
                          code, about)

    def _expected_inputs(self):
        try:
            status = self.status()
        except TinyeieError:
            return "the model takes another number of inputs"
        return f"its model takes {status.in_count} inputs"

    def _loader_reason(self):
        try:
            status = self.status()
        except TinyeieError:
            return "the reason could not be read back"
        error = status.last_loader_error
        reason = _LOADER_ADVICE.get(error, "for a reason this host does not know")
        return f"{doc_name(error, LoaderError)}: {reason}; the board has no valid model now"


def _checked_result(payload):
    """A RESULT whose class is the argmax of its logits, as the board computes it."""
    result = parse_result(payload)
    if not result.logits:
        raise ValueError("it carries no logits")
    if result.cls != argmax(result.logits):
        raise ValueError(f"its class {result.cls} is not the largest of its "
                         f"{len(result.logits)} logits")
    return result
