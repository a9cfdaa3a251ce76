"""The host protocol's receiver: request frames in, payloads streamed on, one answer posted each.

:class:`RequestReceiver` is the receiving half of :class:`~tinyeie.hw.protocol.HostProtocol`
(docs/protocol.md): it checks each frame as its bytes arrive, gives LOAD-DATA bytes to the
loader and INFER activations to the engine, keeps the state STATUS reports, and posts the
frame's answer (an :class:`~tinyeie.hw.answer.Answer`) for the transmitter.
"""

import operator
from contextlib import contextmanager

from amaranth.hdl import C, Cat, Module, Mux, Signal, signed
from amaranth.lib import crc, enum, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from tinyeie.contract.image import load_length_bits
from tinyeie.contract.layouts import COUNT_BITS
from tinyeie.contract.protocol import (
    DROPPING,
    MAX_OUTPUTS,
    MAX_PAYLOAD,
    PROTOCOL_VERSION,
    SOF,
    TIMEOUT_CYCLES,
    ErrorCode,
    Feature,
    LoaderError,
    Request,
)
from tinyeie.hw.answer import Answer, AnswerKind, Status
from tinyeie.hw.configured import Configured
from tinyeie.hw.crc_unit import restartable_crc
from tinyeie.hw.loader import loader_control
from tinyeie.hw.uart import RxByte, RxError

__all__ = ["RequestReceiver"]


class _Run(enum.Enum, shape=2):
    """Where an INFER-SPARSE is in a run; one counter, ``left_in_run``, serves each part."""

    ZEROS = 0       # the next byte is a run's count of zeros
    SKIP = 1        # its zeros go out (the count byte waits), then the count byte is taken
    BODY = 2        # its activations come (then the next run's ZEROS)


class _Sink(enum.Enum, shape=2):
    """Where a request's payload bytes go as they arrive."""

    NONE = 0        # nowhere (STATUS, LOAD-START's length is shifted in aside, refused frames)
    LOADER = 1      # LOAD-DATA: o_image
    ENGINE = 2      # INFER, INFER-SPARSE: o_activations


class RequestReceiver(Configured, wiring.Component):
    """Reads request frames byte by byte and posts one answer for each.

    A frame's header is checked when its length has arrived; its payload then streams on
    without a buffer (LOAD-DATA to ``o_image``, INFER to ``o_activations``), and its CRC-16 is
    checked at its end, after which the answer is posted on ``o_answer``. An error found on the
    way (a bad length or type, a line error, a timeout) is posted at once. A failed INFER first
    completes the engine's input with zeros and posts its ERROR with ``drain``, so that the
    transmitter throws the engine's results away before it sends it. A frame times out when
    its bytes stop moving: the line is quiet, or the loader leaves a byte waiting.

    The state STATUS reports is kept here, and changes only when an answer is posted, so an
    answer going out never sees a later request's effects. The model's counts are kept here
    (not read from the loader) so that a model from the bitstream has them too.

    Parameters
    ----------
    config : :class:`~tinyeie.contract.config.EngineConfig`
    timeout_cycles : int
        How long the line must be quiet to end a frame under way (TIMEOUT) or a run of dropped
        bytes.
    preloaded : (int, int), optional
        ``(in_count, out_count)`` of a model in the engine from the bitstream (valid from
        power-up).
    sparse : bool
        Take INFER-SPARSE frames: runs of zero activations skipped, runs of others carried
        (without, their type is unknown: the iCE40UP5K has no room for them).
    rx_buffer, bit_cycles : int
        What STATUS reports of the request inbox in front of this block and of the UART.
    check_model : bool
        STATUS reports the model check in its features.

    Members
    -------
    i_rx : ``In(stream.Signature(RxByte))``
        Bytes from the UART with their line errors in band.
    o_image : ``Out(stream.Signature(8))``
        LOAD-DATA bytes, to the loader. A byte the loader leaves waiting for the timeout is
        withdrawn (against the stream rules): the frame ends in TIMEOUT, the load abandoned.
    loader_start : ``Out(1)``
        A one-cycle pulse, the cycle after LOAD-START's ACK is posted.
    loader_done, loader_ok, loader_error, loader_in_count, loader_out_count, loader_received
        The loader's verdict, counts and bytes taken (:class:`~tinyeie.hw.loader.ImageLoader`).
    loader_checking : ``In(1)``
        The loader's model check is under way: with ``check_model``, LOAD-END waits for it.
    o_activations : ``Out(stream.Signature(signed(act_width)))``
        INFER's activations, each byte's low ``act_width`` bits. An activation offered when
        the inference is given up is withdrawn (the engine is being reset).
    boot_busy : ``In(1)``
        A boot load is under way (see :class:`~tinyeie.hw.protocol.HostProtocol`).
    results_owed : ``In(1)``
        The answer slot holds an answer that takes the engine's results (a RESULT, or an ERROR
        that throws them away): activations wait, as a RESULT reads the engine's cycle count
        last, and results seen meanwhile are that answer's.
    results_valid : ``In(1)``
        The engine offers a result (its ``o_stream.valid``).
    engine_out_count : ``In(12)``
        The engine's ``out_count``: with its first result, how many it gives.
    infer_start : ``Out(1)``
        A pulse when an INFER's header is accepted (its activations go to the engine).
    engine_trip : ``Out(1)``
        A pulse: the engine does what the model's header rules out (it gives results before
        it has all the activations, wants more than there are, or gives another number of
        results than the model's output count): give the inference up.
    engine_given_up : ``In(1)``
        The inference is given up (:class:`~tinyeie.hw.engine_watchdog.EngineWatchdog`) and
        the engine reset: the frame's other activations are swallowed, and a good INFER is
        answered ENGINE-FAULT.
    o_answer : ``Out(stream.Signature(Answer))``
        The frame's answer, to the answer slot.
    status : ``Out(Status)``
        What STATUS reports.
    """

    def __init__(self, config, *, timeout_cycles=TIMEOUT_CYCLES, preloaded=None, sparse=True,
                 rx_buffer=0, bit_cycles=0, check_model=False, src_loc_at=0):
        if isinstance(timeout_cycles, bool) or not isinstance(timeout_cycles, int):
            raise TypeError(f"timeout_cycles must be an integer, not {timeout_cycles!r}")
        if timeout_cycles < 2:
            raise ValueError(f"timeout_cycles must be at least 2, not {timeout_cycles}")
        if preloaded is not None:
            preloaded = tuple(operator.index(n) for n in preloaded)
            if len(preloaded) != 2 or not all(0 < n < 1 << COUNT_BITS for n in preloaded):
                raise ValueError(f"preloaded must be (in_count, out_count), each 1..4095, not "
                                 f"{preloaded}")
        for name, value in (("rx_buffer", rx_buffer), ("bit_cycles", bit_cycles)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 16:
                raise ValueError(f"{name} must be an integer 0..65535, not {value!r}")
        self._config = config
        self._timeout_cycles = timeout_cycles
        self._preloaded = preloaded
        self._rx_buffer, self._bit_cycles = rx_buffer, bit_cycles
        self._sparse = bool(sparse)
        self._check_model = bool(check_model)
        self._features = ((Feature.SPARSE if sparse else 0)
                          | (Feature.MODEL_CHECK if check_model else 0))
        self._length_bits = load_length_bits(config)
        super().__init__({
            "i_rx": In(stream.Signature(RxByte)),
            "o_image": Out(stream.Signature(8)),
            **loader_control(),
            "o_activations": Out(stream.Signature(signed(config.act_width))),
            "boot_busy": In(1),
            "results_owed": In(1),
            "results_valid": In(1),
            "engine_out_count": In(COUNT_BITS),
            "infer_start": Out(1),
            "engine_trip": Out(1),
            "engine_given_up": In(1),
            "o_answer": Out(stream.Signature(Answer)),
            "status": Out(Status),
        }, src_loc_at=1 + src_loc_at)

    @property
    def timeout_cycles(self):
        return self._timeout_cycles

    @property
    def preloaded(self):
        return self._preloaded

    def elaborate(self, platform):
        # The FSM walks each frame byte by byte, decides at the end of the header where the
        # payload goes (nowhere, the loader, the engine) and which error, if any, to answer
        # once the CRC holds, and at the frame's end posts the answer. All errors go through
        # one state (ERROR), which also abandons a load whose LOAD-* frame failed; a failed
        # INFER passes PAD first, which completes the engine's input. A good INFER's RESULT
        # is posted once the engine offers its first logit and its count of results agrees
        # with the model's; an engine doing what the model's header rules out trips the
        # watchdog, and the INFER is answered ENGINE-FAULT. One counter measures the line's
        # quiet time for TIMEOUT, the end of dropping and of noise runs.
        cfg = self._config
        m = Module()

        crc_unit, idle = restartable_crc(m, crc.catalog.CRC16_CCITT_FALSE)   # between frames

        # -- what STATUS reports ---------------------------------------------------------------
        pre_in, pre_out = self._preloaded or (0, 0)
        model_valid = Signal(init=self._preloaded is not None)
        in_count = Signal(COUNT_BITS, init=pre_in)      # the valid model's counts
        out_count = Signal(COUNT_BITS, init=pre_out)
        last_error = Signal(ErrorCode)
        last_loader_error = Signal(LoaderError)
        status = self.status
        m.d.comb += [status.version.eq(PROTOCOL_VERSION), status.model_valid.eq(model_valid),
                     status.pes.eq(cfg.pes), status.act_width.eq(cfg.act_width),
                     status.code_width.eq(cfg.code_width), status.acc_width.eq(cfg.acc_width),
                     status.in_count.eq(in_count), status.out_count.eq(out_count),
                     status.last_error.eq(last_error),
                     status.last_loader_error.eq(last_loader_error),
                     status.features.eq(self._features),
                     status.rx_buffer.eq(self._rx_buffer), status.bit_cycles.eq(self._bit_cycles)]

        rx = self.i_rx
        byte = rx.payload.data
        good = rx.payload.error == RxError.NONE
        take = rx.valid & rx.ready

        acts, image = self.o_activations, self.o_image

        # Counts up from 2**n - timeout_cycles to 2**n, where its top bit says the line is quiet.
        # A byte the loader leaves waiting is no sign of life: a frame whose bytes stop moving
        # times out whether the line is quiet or not. (A byte waits on the engine only while
        # it is busy with a model's inference, which the engine watchdog bounds, and on the
        # answer slot only while an answer goes out.)
        n = ceil_log2(self._timeout_cycles)
        restart = (1 << n) - self._timeout_cycles
        timer = Signal(n + 1, init=restart)
        quiet = timer[n]
        with m.If(rx.valid & ~(image.valid & ~image.ready)):
            m.d.sync += timer.eq(restart)
        with m.Elif(~quiet):
            m.d.sync += timer.eq(timer + 1)

        frame_type = Signal(8)
        count = Signal(range(MAX_PAYLOAD + 1))     # payload bytes still to come
        sink = Signal(_Sink)
        if self._sparse:
            left = Signal(COUNT_BITS)   # activations the engine still needs for this INFER
            sparse = frame_type == Request.INFER_SPARSE
        else:
            left = count                # one payload byte an activation
            sparse = C(0)
        phase = Signal(_Run)            # INFER-SPARSE: where in a run the frame is
        in_run = Signal(8)              # ... zeros still to go (SKIP), activations to come (BODY)
        # The frame's error: set when found (or, for NO-MODEL and SEQUENCE, at the header and
        # answered once the CRC holds); 0 while all is well.
        code = Signal(ErrorCode)
        noise = Signal()                # this run of noise has had its NOISE
        loading = Signal()              # a host load is under way (LOAD-START accepted)
        announced = Signal(self._length_bits)   # LOAD-START's image length
        too_big = Signal()              # ... had bits beyond `announced`
        overlong = Signal()             # an image byte reached the loader after its image ended
        boot_was_busy = Signal()
        judge = Signal()                # LOAD-END takes the loader's verdict
        given_up = self.engine_given_up

        with m.If(quiet):
            m.d.sync += noise.eq(0)

        length = Cat(count[:8], byte)  # at LENGTH-HIGH: count holds the low byte
        is_load = frame_type.matches(Request.LOAD_START, Request.LOAD_DATA, Request.LOAD_END)
        drop = code.matches(*DROPPING)
        # The loader has every byte LOAD-START announced (it counts the bytes it is given).
        load_full = self.loader_received[:self._length_bits] == announced
        boot_end = boot_was_busy & ~self.boot_busy
        # The image passed every check (at LOAD-END or the end of a boot load).
        image_ok = self.loader_done & self.loader_ok & (boot_end | (load_full & ~overlong))
        zero_out = Signal()             # the activation offered is a zero the frame skipped
        m.d.comb += [acts.payload.eq(Mux(zero_out, 0, byte.as_signed())), image.payload.eq(byte)]
        if self._sparse:
            with m.If(acts.valid & acts.ready):
                m.d.sync += left.eq(left - 1)
        # The RESULT announces out_count logits up front: the engine must give that many, and
        # they must fit a frame.
        counts_agree = ((self.engine_out_count == out_count) & (out_count != 0)
                        & (out_count <= MAX_OUTPUTS))

        answer = self.o_answer.payload
        posted = self.o_answer.valid & self.o_answer.ready
        # The loader starts the cycle after LOAD-START's ACK is posted (the next LOAD-DATA byte
        # is cycles away): a register, so that no path runs from the engine's results (which
        # decide when an INFER's answer is posted) into the loader and the flash reader.
        start_loader = Signal()
        m.d.sync += self.loader_start.eq(start_loader)
        m.d.comb += answer.type.eq(frame_type)

        # A frame under way ends at a line error or a timeout: to PAD, which gives an INFER's
        # engine the rest of its input as zeros, then ERROR.
        in_frame = Signal()
        got = take & good
        abort = in_frame & Mux(take, ~good, quiet)
        with m.If(abort):
            m.d.sync += code.eq(Mux(take, ErrorCode.LINE, ErrorCode.TIMEOUT))

        @contextmanager
        def frame_state(name):
            with m.State(name):
                m.d.comb += [in_frame.eq(1), rx.ready.eq(1)]
                yield
                with m.If(abort):
                    m.next = "PAD"

        with m.FSM(name="rx"):
            with m.State("IDLE"):
                m.d.comb += [idle.eq(1), rx.ready.eq(1)]
                with m.If(take):
                    m.d.sync += [frame_type.eq(0), sink.eq(_Sink.NONE)]
                    with m.If(good & (byte == SOF)):
                        m.d.sync += [noise.eq(0), code.eq(0), too_big.eq(0),
                                     phase.eq(_Run.ZEROS)]
                        m.next = "TYPE"
                    with m.Elif(~noise):
                        m.d.sync += [noise.eq(1), code.eq(ErrorCode.NOISE)]
                        m.next = "ERROR"

            with frame_state("TYPE"):
                with m.If(got):
                    m.d.sync += frame_type.eq(byte)
                    last_type = Request.INFER_SPARSE if self._sparse else Request.INFER
                    with m.If((byte == 0) | (byte > last_type)):
                        m.d.sync += code.eq(ErrorCode.UNKNOWN_TYPE)
                        m.next = "ERROR"
                    with m.Else():
                        m.next = "LENGTH-LOW"

            with frame_state("LENGTH-LOW"):
                with m.If(got):
                    m.d.sync += count.eq(byte)
                    m.next = "LENGTH-HIGH"

            with frame_state("LENGTH-HIGH"):
                fits = Signal()
                with m.Switch(frame_type[:3]):
                    with m.Case(Request.STATUS, Request.LOAD_END):
                        m.d.comb += fits.eq(length == 0)
                    with m.Case(Request.LOAD_START):
                        m.d.comb += fits.eq(length == 4)
                    with m.Case(Request.LOAD_DATA):
                        m.d.comb += fits.eq(length != 0)
                    with m.Case(Request.INFER):
                        # without a model any length is swallowed and answered NO-MODEL
                        m.d.comb += fits.eq(~model_valid
                                            | ((length == in_count) & (length != 0)))
                    if self._sparse:
                        with m.Case(Request.INFER_SPARSE):
                            # runs: (zeros, count, count activations)
                            m.d.comb += fits.eq(~model_valid | (length != 0))
                with m.If(got):
                    m.d.sync += count.eq(length)
                    with m.If(~fits | (length > MAX_PAYLOAD)):
                        m.d.sync += code.eq(ErrorCode.BAD_LENGTH)
                        m.next = "ERROR"
                    with m.Else():
                        with m.If(length == 0):
                            m.next = "CRC-HIGH"
                        with m.Else():
                            m.next = "PAYLOAD"
                        with m.Switch(frame_type[:3]):
                            with m.Case(Request.LOAD_START):
                                with m.If(self.boot_busy):
                                    m.d.sync += code.eq(ErrorCode.SEQUENCE)
                            with m.Case(Request.LOAD_DATA):
                                with m.If(loading):
                                    m.d.sync += sink.eq(_Sink.LOADER)
                                with m.Else():
                                    m.d.sync += code.eq(ErrorCode.SEQUENCE)
                            with m.Case(Request.LOAD_END):
                                with m.If(~loading):
                                    m.d.sync += code.eq(ErrorCode.SEQUENCE)
                            with m.Case(Request.INFER, Request.INFER_SPARSE):
                                with m.If(model_valid):
                                    m.d.comb += self.infer_start.eq(1)
                                    m.d.sync += sink.eq(_Sink.ENGINE)
                                    if self._sparse:
                                        m.d.sync += left.eq(in_count)
                                with m.Else():
                                    m.d.sync += code.eq(ErrorCode.NO_MODEL)

            with frame_state("PAYLOAD"):
                with m.Switch(sink):
                    with m.Case(_Sink.LOADER):
                        # past the announced length, bytes are swallowed: SEQUENCE at the end
                        m.d.comb += [image.valid.eq(rx.valid & good & ~load_full),
                                     rx.ready.eq(~good | load_full | image.ready)]
                    with m.Case(_Sink.ENGINE):
                        # swallowed once the inference is given up
                        offer = rx.valid & good & ~self.results_owed & ~given_up
                        dense = [acts.valid.eq(offer),
                                 rx.ready.eq(~good | given_up | (acts.ready & ~self.results_owed))]
                        if not self._sparse:
                            m.d.comb += dense
                        else:
                            self._sparse_payload(m, dense, offer, sparse, phase, in_run, left,
                                                 zero_out, code, got)
                with m.If(got):
                    m.d.sync += count.eq(count - 1)
                    with m.If(count == 1):
                        m.next = "CRC-HIGH"
                    with m.If(frame_type == Request.LOAD_START):
                        # the u32, little-endian: byte 4 - count
                        with m.Switch(count[:3]):
                            for k in range(4):
                                with m.Case(4 - k):
                                    for j in range(8):
                                        if 8 * k + j < len(announced):
                                            m.d.sync += announced[8 * k + j].eq(byte[j])
                                    high = byte[max(0, len(announced) - 8 * k):]
                                    if len(high):
                                        with m.If(high.any()):
                                            m.d.sync += too_big.eq(1)
                    with m.If(sink == _Sink.LOADER):
                        with m.If(load_full):
                            m.d.sync += code.eq(ErrorCode.SEQUENCE)
                        with m.If(self.loader_done):
                            m.d.sync += overlong.eq(1)

            with frame_state("CRC-HIGH"):
                with m.If(got):
                    m.next = "CRC-LOW"

            with frame_state("CRC-LOW"):
                with m.If(got):
                    # INFER-SPARSE: the zeros after the last run first, and its checks
                    with m.If((sink == _Sink.ENGINE) & sparse):
                        m.next = "PAD"
                    with m.Else():
                        m.next = "END"

            with m.State("END"):
                # The last CRC byte is in the CRC register now.
                with m.If(~crc_unit.match_detected):
                    m.d.sync += code.eq(ErrorCode.BAD_CRC)
                    m.next = "ERROR"
                with m.Elif(code != 0):
                    m.next = "ERROR"
                if self._check_model:
                    # LOAD-END's verdict waits while the loader checks the model (LeNet-300-100
                    # on 16 PEs: 8,610 cycles, longer than a LOAD-END frame at 3 Mbaud)
                    with m.Elif(frame_type.matches(Request.LOAD_END) & self.loader_checking):
                        pass
                with m.Elif((sink == _Sink.ENGINE)
                            & ~(self.results_valid & counts_agree & ~given_up)):
                    # A RESULT waits for the engine's first logit, when the engine's count of
                    # results is known; an engine still taking activations wants more.
                    with m.If(self.results_valid | acts.ready | given_up):
                        m.d.comb += self.engine_trip.eq(~given_up)
                        m.d.sync += code.eq(ErrorCode.ENGINE_FAULT)
                        m.next = "ERROR"
                with m.Else():
                    # The request's answer; LOAD-START and LOAD-END can still fail here.
                    m.d.comb += [self.o_answer.valid.eq(1), answer.code.eq(ErrorCode.BAD_IMAGE)]
                    with m.Switch(frame_type[:3]):
                        with m.Case(Request.STATUS):
                            m.d.comb += answer.kind.eq(AnswerKind.STATUS)
                        with m.Case(Request.LOAD_START):
                            m.d.comb += answer.kind.eq(Mux(too_big, AnswerKind.ERROR,
                                                           AnswerKind.ACK))
                        with m.Case(Request.LOAD_DATA):
                            m.d.comb += answer.kind.eq(AnswerKind.ACK)
                        with m.Case(Request.LOAD_END):
                            m.d.comb += answer.kind.eq(Mux(image_ok, AnswerKind.ACK,
                                                           AnswerKind.ERROR))
                        with m.Case(Request.INFER, Request.INFER_SPARSE):
                            m.d.comb += answer.kind.eq(AnswerKind.RESULT)
                    with m.If(posted):
                        m.next = "IDLE"
                        with m.Switch(frame_type[:3]):
                            with m.Case(Request.LOAD_START):
                                with m.If(too_big):
                                    m.d.sync += last_loader_error.eq(LoaderError.TOO_LARGE)
                                with m.Else():
                                    m.d.comb += start_loader.eq(1)
                                    m.d.sync += [loading.eq(1), overlong.eq(0),
                                                 model_valid.eq(0),
                                                 last_loader_error.eq(LoaderError.NONE)]
                            with m.Case(Request.LOAD_END):
                                m.d.comb += judge.eq(1)
                                m.d.sync += loading.eq(0)

            with m.State("PAD"):
                # An INFER's engine must get its whole input: zeros for what never came (a
                # frame cut short), or for what an INFER-SPARSE leaves out after its last run.
                m.d.comb += [
                    acts.valid.eq((sink == _Sink.ENGINE) & (left != 0) & ~self.results_owed
                                  & ~given_up),
                    zero_out.eq(1)]
                if not self._sparse:
                    with m.If(acts.valid & acts.ready):
                        m.d.sync += count.eq(count - 1)
                aborted = code.matches(ErrorCode.LINE, ErrorCode.TIMEOUT)
                with m.If((sink != _Sink.ENGINE) | (left == 0) | given_up):
                    if not self._sparse:
                        m.next = "ERROR"        # (only a frame cut short comes here)
                    else:
                        with m.If(aborted):
                            m.next = "ERROR"
                        with m.Else():
                            m.next = "END"
                        # an INFER-SPARSE must end at a run's end, its zeros within the inputs
                        with m.If(sparse & ~aborted & ~given_up
                                  & ((phase == _Run.SKIP)
                                     | ((phase == _Run.BODY) & (in_run != 0)))):
                            m.d.sync += code.eq(ErrorCode.BAD_SPARSE)

            with m.State("ERROR"):
                # A failed INFER's results are thrown away, unless the engine was reset or
                # still wants activations (then it is reset now).
                wants_more = (sink == _Sink.ENGINE) & acts.ready
                m.d.comb += [self.o_answer.valid.eq(1), answer.kind.eq(AnswerKind.ERROR),
                             answer.code.eq(code),
                             answer.drain.eq((sink == _Sink.ENGINE) & ~given_up & ~acts.ready),
                             self.engine_trip.eq(wants_more & ~given_up)]
                with m.If(posted):
                    with m.If(drop):
                        m.next = "DROP"
                    with m.Else():
                        m.next = "IDLE"

            with m.State("DROP"):
                m.d.comb += rx.ready.eq(1)
                with m.If(quiet):
                    m.next = "IDLE"

        m.d.comb += [crc_unit.data.eq(byte), crc_unit.valid.eq(got & in_frame)]

        # Results while the engine still has activations of this INFER to come, and no answer
        # takes earlier results, are this inference's: its model's counts disagree.
        with m.If((sink == _Sink.ENGINE) & (left != 0) & self.results_valid
                  & ~self.results_owed & ~given_up):
            m.d.comb += self.engine_trip.eq(1)

        # Any ERROR posted is STATUS's last error, and abandons a load if it answers a LOAD-*;
        # after ENGINE-FAULT the model is not one the engine can run.
        with m.If(posted & (answer.kind == AnswerKind.ERROR)):
            m.d.sync += last_error.eq(answer.code)
            with m.If(is_load):
                m.d.sync += loading.eq(0)
            with m.If(answer.code == ErrorCode.ENGINE_FAULT):
                m.d.sync += model_valid.eq(0)

        # The loader's verdict, taken at LOAD-END and at the end of a boot load (which has no
        # announced length to check).
        m.d.sync += boot_was_busy.eq(self.boot_busy)
        with m.If(judge | boot_end):
            m.d.sync += [model_valid.eq(image_ok),
                         last_loader_error.eq(Mux(self.loader_done & ~self.loader_ok,
                                                  self.loader_error, LoaderError.LENGTH))]
            with m.If(image_ok):
                m.d.sync += [in_count.eq(self.loader_in_count),
                             out_count.eq(self.loader_out_count),
                             last_loader_error.eq(LoaderError.NONE)]
        with m.If(boot_end & ~image_ok):
            m.d.sync += last_error.eq(ErrorCode.BAD_IMAGE)
        with m.If(self.boot_busy):
            m.d.sync += model_valid.eq(0)
        return m

    def _sparse_payload(self, m, dense, offer, sparse, phase, in_run, left, zero_out, code,
                        got):
        """An INFER(-SPARSE)'s payload bytes to the engine: a dense INFER's as they come, an
        INFER-SPARSE's runs as their zeros then their activations, nothing past the inputs
        (BAD-SPARSE at the end)."""
        rx, acts = self.i_rx, self.o_activations
        good = rx.payload.error == RxError.NONE
        given_up = self.engine_given_up
        full = left == 0
        counted = in_run != 0
        with m.If(~sparse):
            m.d.comb += dense
        with m.Elif((phase == _Run.SKIP) & counted):
            # the run's zeros, while its count byte waits (past the inputs: dropped)
            with m.If(full):
                m.d.comb += rx.ready.eq(0)
                m.d.sync += [in_run.eq(0), code.eq(ErrorCode.BAD_SPARSE)]
            with m.Else():
                m.d.comb += [acts.valid.eq(offer), zero_out.eq(1), rx.ready.eq(~good | given_up)]
                with m.If(acts.valid & acts.ready):
                    m.d.sync += in_run.eq(in_run - 1)
        with m.Elif((phase == _Run.BODY) & counted):
            # the run's activations (past the inputs: swallowed)
            with m.If(full):
                with m.If(got):
                    m.d.sync += code.eq(ErrorCode.BAD_SPARSE)
            with m.Else():
                m.d.comb += dense
            with m.If(got):
                m.d.sync += in_run.eq(in_run - 1)
        with m.Else():
            # a count byte: of the next run's zeros (ZEROS, or BODY at a run's end), or of the
            # run's activations (SKIP, its zeros out)
            with m.If(got):
                m.d.sync += [in_run.eq(rx.payload.data),
                             phase.eq(Mux(phase == _Run.SKIP, _Run.BODY, _Run.SKIP))]
