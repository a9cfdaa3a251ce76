"""The host protocol's gateware: UART frames in, the loader and the engine driven, answers out.

:class:`HostProtocol` implements docs/protocol.md between :class:`~tinyeie.hw.uart.UARTReceiver`,
:class:`~tinyeie.hw.uart.UARTTransmitter`, :class:`~tinyeie.hw.loader.ImageLoader` and
:class:`~tinyeie.hw.engine.Engine`. Its Python model is
:class:`tinyeie.sw.host.board_model.BoardModel`: for any byte stream the two send the same bytes.
"""

import operator
from contextlib import contextmanager

from amaranth.hdl import Cat, Module, Mux, Signal, Value, signed
from amaranth.lib import crc, enum, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from tinyeie.contract.image import load_length_bits
from tinyeie.contract.layouts import COUNT_BITS
from tinyeie.contract.protocol import (
    DROPPING,
    MAX_PAYLOAD,
    PROTOCOL_VERSION,
    SOF,
    STATUS_BYTES,
    STATUS_FIELDS,
    TIMEOUT_CYCLES,
    ErrorCode,
    LoaderError,
    Request,
    Response,
)
from tinyeie.hw.engine import CYCLE_WIDTH, Result
from tinyeie.hw.uart import RxByte, RxError

__all__ = ["HostProtocol"]


class _Sink(enum.Enum, shape=2):
    """Where a request's payload bytes go as they arrive."""

    NONE = 0        # nowhere (STATUS, LOAD-START's length is shifted in aside, refused frames)
    LOADER = 1      # LOAD-DATA: o_image
    ENGINE = 2      # INFER: o_activations


class _Answer(enum.Enum, shape=2):
    """The kind of answer the transmitter sends."""

    STATUS = 0
    ACK = 1
    RESULT = 2
    ERROR = 3


class HostProtocol(wiring.Component):
    """Serves the host protocol: frames from the UART, model loads, inferences, answers.

    Requests are checked as they arrive and their payloads stream through without a buffer:
    LOAD-DATA bytes go to the loader and INFER activations to the engine as soon as the header
    has been accepted, and a frame's CRC-16 is only known at its end. So a LOAD-DATA or INFER
    frame that turns out bad (wrong CRC, a UART error, a timeout) has already reached its
    consumer. For LOAD-DATA that abandons the load (the host starts it again with LOAD-START;
    the model stays invalid). For INFER the block completes the engine's input with zeros if the
    frame stopped early, throws the engine's results away, and only then sends the ERROR: so
    once the host has its answer the engine is idle again.

    Answers are built byte by byte as the transmitter takes them, the RESULT's logits straight
    from the engine (its length is known up front from the model's output count); the class
    (argmax, ties to the lowest index) and the engine's cycle count follow them.

    Parameters
    ----------
    config : :class:`~tinyeie.contract.config.EngineConfig`
        The engine's parameters (STATUS reports them). ``acc_width`` must be at most 32 (the
        logits travel as i32).
    timeout_cycles : int
        How long the line must be quiet to end a frame under way (TIMEOUT) or a run of dropped
        bytes. docs/protocol.md: 2**20.
    preloaded : (int, int), optional
        ``(in_count, out_count)`` of a model the engine holds from the bitstream: ``model_valid``
        is then 1 from power-up.

    Members
    -------
    i_rx : ``In(stream.Signature(RxByte))``
        From :class:`~tinyeie.hw.uart.UARTReceiver`: bytes with their line errors in band.
    o_tx : ``Out(stream.Signature(8))``
        To :class:`~tinyeie.hw.uart.UARTTransmitter`.
    o_image : ``Out(stream.Signature(8))``
        LOAD-DATA bytes to the loader's ``i_stream``.
    loader_start : ``Out(1)``
        A one-cycle pulse when LOAD-START is accepted (to the loader's ``start``).
    loader_done, loader_ok : ``In(1)``
        The loader's ``done`` and ``ok``, read at LOAD-END and at the end of a boot load.
    loader_error : ``In(3)``
        The loader's ``error`` (:class:`~tinyeie.contract.protocol.LoaderError` codes).
    loader_in_count, loader_out_count : ``In(12)``
        The loader's counts, kept when a load succeeds.
    o_activations : ``Out(stream.Signature(signed(act_width)))``
        INFER's activations to the engine's ``i_stream``: each byte's low ``act_width`` bits.
    i_results : ``In(stream.Signature(Result(acc_width)))``
        The engine's ``o_stream``.
    cycles : ``In(32)``
        The engine's ``cycles``, read after the last result.
    boot_busy : ``In(1)``
        High while the board top feeds the loader from SPI flash. Meanwhile the model is invalid
        and LOAD-START is refused (SEQUENCE); at its falling edge the loader's verdict is taken
        as at LOAD-END. Tie to 0 without a boot load.
    model_valid : ``Out(1)``
        A model is loaded and checked: cleared by LOAD-START and boot, set by a good LOAD-END
        or boot load.
    predicted : ``Out(4)``
        The last RESULT's class (its low 4 bits), for LEDs.
    predicted_valid : ``Out(1)``
        ``predicted`` holds a class of the current model.
    """

    def __init__(self, config, *, timeout_cycles=TIMEOUT_CYCLES, preloaded=None):
        if config.acc_width > 32:
            raise ValueError(f"RESULT carries the logits as i32, so acc_width must be at most 32, "
                             f"not {config.acc_width}")
        if isinstance(timeout_cycles, bool) or not isinstance(timeout_cycles, int):
            raise TypeError(f"timeout_cycles must be an integer, not {timeout_cycles!r}")
        if timeout_cycles < 2:
            raise ValueError(f"timeout_cycles must be at least 2, not {timeout_cycles}")
        if preloaded is not None:
            preloaded = tuple(operator.index(n) for n in preloaded)
            if len(preloaded) != 2 or not all(0 < n < 1 << COUNT_BITS for n in preloaded):
                raise ValueError(f"preloaded must be (in_count, out_count), each 1..4095, not "
                                 f"{preloaded}")
        self._config = config
        self._timeout_cycles = timeout_cycles
        self._preloaded = preloaded
        self._length_bits = load_length_bits(config)
        super().__init__({
            "i_rx": In(stream.Signature(RxByte)),
            "o_tx": Out(stream.Signature(8)),
            "o_image": Out(stream.Signature(8)),
            "loader_start": Out(1),
            "loader_done": In(1),
            "loader_ok": In(1),
            "loader_error": In(3),
            "loader_in_count": In(COUNT_BITS),
            "loader_out_count": In(COUNT_BITS),
            "loader_received": In(32),
            "o_activations": Out(stream.Signature(signed(config.act_width))),
            "i_results": In(stream.Signature(Result(config.acc_width))),
            "cycles": In(CYCLE_WIDTH),
            "boot_busy": In(1),
            "model_valid": Out(1, init=preloaded is not None),
            "predicted": Out(4),
            "predicted_valid": Out(1),
        })

    @property
    def config(self):
        return self._config

    @property
    def timeout_cycles(self):
        return self._timeout_cycles

    @property
    def preloaded(self):
        return self._preloaded

    def elaborate(self, platform):
        # Two FSMs share one answer slot. The receiver walks each frame byte by byte, decides at
        # the end of the header where the payload goes (nowhere, the loader, the engine) and
        # which error, if any, to answer once the CRC holds, and at the frame's end (or at an
        # error) posts the answer into the slot: kind, error code, request type. The
        # transmitter sends what the slot holds, computing every byte from it and from the
        # state as the UART takes it (no frame buffer: the logits come straight off the engine's
        # stream, the engine waiting meanwhile) and running a CRC-16 over the bytes as they
        # leave; the slot frees after the last CRC byte. A receiver with an answer to post waits
        # while the slot is taken, and the UART receiver's register holds the next byte
        # meanwhile. The host sends a request only after the previous answer, so this wait
        # happens only after noise or a refused frame, the byte waiting being the next frame's.
        # All errors go through one state (ERROR), which also abandons a load whose LOAD-* frame
        # failed; a failed INFER passes PAD first, which completes the engine's input, and has
        # the transmitter throw the results away before it sends the ERROR. One counter,
        # restarted whenever a byte is waiting, measures the line's quiet time for TIMEOUT, the
        # end of dropping and of noise runs. Everything stored is what the answers need; the
        # model's counts are kept here (not read from the loader) so that a model from the
        # bitstream has them too.
        cfg = self._config
        m = Module()

        m.submodules.rx_crc = rx_crc = crc.catalog.CRC16_CCITT_FALSE(data_width=8).create()
        m.submodules.tx_crc = tx_crc = crc.catalog.CRC16_CCITT_FALSE(data_width=8).create()

        # -- state shared by both sides ----------------------------------------------------
        pre_in, pre_out = self._preloaded or (0, 0)
        in_count = Signal(COUNT_BITS, init=pre_in)      # the valid model's counts
        out_count = Signal(COUNT_BITS, init=pre_out)
        last_error = Signal(4)
        last_loader_error = Signal(3)

        slot_busy = Signal()            # an answer is posted and not yet fully sent
        slot_kind = Signal(_Answer)
        slot_code = Signal(4)
        slot_type = Signal(8)
        slot_drain = Signal()           # first throw the engine's results away (a failed INFER)

        def post(kind, code=0, frame_type=0, drain=0):
            return [slot_busy.eq(1), slot_kind.eq(kind), slot_code.eq(code),
                    slot_type.eq(frame_type), slot_drain.eq(drain)]

        # -- receiver ------------------------------------------------------------------------
        rx = self.i_rx
        byte = rx.payload.data
        good = rx.payload.error == RxError.NONE
        take = rx.valid & rx.ready

        # Counts up from 2**n - timeout_cycles to 2**n, where its top bit says the line is quiet.
        n = ceil_log2(self._timeout_cycles)
        restart = (1 << n) - self._timeout_cycles
        timer = Signal(n + 1, init=restart)
        quiet = timer[n]
        with m.If(rx.valid):
            m.d.sync += timer.eq(restart)
        with m.Elif(~quiet):
            m.d.sync += timer.eq(timer + 1)

        frame_type = Signal(8)
        length_low = Signal(8)
        count = Signal(range(MAX_PAYLOAD + 1))     # payload bytes still to come (or to pad)
        sink = Signal(_Sink)
        # The frame's error: set when found (or, for NO-MODEL and SEQUENCE, at the header and
        # answered once the CRC holds); 0 while all is well.
        code = Signal(4)
        noise = Signal()                # this run of noise has had its NOISE
        loading = Signal()              # a host load is under way (LOAD-START accepted)
        announced = Signal(self._length_bits)   # LOAD-START's image length
        too_big = Signal()              # ... had bits beyond `announced`
        overlong = Signal()             # an image byte reached the loader after its image ended
        boot_was_busy = Signal()
        judge = Signal()                # LOAD-END takes the loader's verdict

        with m.If(quiet):
            m.d.sync += noise.eq(0)

        length = Cat(length_low, byte)
        is_load = frame_type.matches(Request.LOAD_START, Request.LOAD_DATA, Request.LOAD_END)
        drop = code.matches(*DROPPING)
        result_out = slot_busy & (slot_kind == _Answer.RESULT)
        # The loader has every byte LOAD-START announced (it counts the bytes it is given).
        load_full = self.loader_received[:self._length_bits] == announced
        boot_end = boot_was_busy & ~self.boot_busy
        # The image passed every check (at LOAD-END or the end of a boot load).
        image_ok = self.loader_done & self.loader_ok & (boot_end | (load_full & ~overlong))
        acts, image = self.o_activations, self.o_image
        m.d.comb += [acts.payload.eq(byte.as_signed()), image.payload.eq(byte)]

        # A frame under way ends at a line error or a timeout: to PAD, which gives an INFER's
        # engine the rest of its input as zeros, then ERROR.
        in_frame = Signal()
        got = take & good
        abort = in_frame & Mux(take, ~good, ~rx.valid & quiet)
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
                m.d.comb += rx.ready.eq(1)
                with m.If(take):
                    m.d.sync += [frame_type.eq(0), sink.eq(_Sink.NONE)]
                    with m.If(good & (byte == SOF)):
                        m.d.sync += [noise.eq(0), code.eq(0), too_big.eq(0)]
                        m.next = "TYPE"
                    with m.Elif(~noise):
                        m.d.sync += [noise.eq(1), code.eq(ErrorCode.NOISE)]
                        m.next = "ERROR"

            with frame_state("TYPE"):
                m.d.comb += rx_crc.start.eq(1)
                with m.If(got):
                    m.d.sync += frame_type.eq(byte)
                    with m.If((byte == 0) | (byte > max(Request))):
                        m.d.sync += code.eq(ErrorCode.UNKNOWN_TYPE)
                        m.next = "ERROR"
                    with m.Else():
                        m.next = "LENGTH-LOW"

            with frame_state("LENGTH-LOW"):
                with m.If(got):
                    m.d.sync += length_low.eq(byte)
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
                        m.d.comb += fits.eq(~self.model_valid
                                            | ((length == in_count) & (length != 0)))
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
                            with m.Case(Request.INFER):
                                with m.If(self.model_valid):
                                    m.d.sync += sink.eq(_Sink.ENGINE)
                                with m.Else():
                                    m.d.sync += code.eq(ErrorCode.NO_MODEL)

            with frame_state("PAYLOAD"):
                with m.Switch(sink):
                    with m.Case(_Sink.LOADER):
                        # past the announced length, bytes are swallowed: SEQUENCE at the end
                        m.d.comb += [image.valid.eq(rx.valid & good & ~load_full),
                                     rx.ready.eq(~good | load_full | image.ready)]
                    with m.Case(_Sink.ENGINE):
                        # not while a RESULT is still going out: it reads the engine's cycles
                        m.d.comb += [acts.valid.eq(rx.valid & good & ~result_out),
                                     rx.ready.eq(~good | (acts.ready & ~result_out))]
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
                    m.next = "END"

            with m.State("END"):
                # The last CRC byte is in the CRC register now.
                with m.If(~rx_crc.match_detected):
                    m.d.sync += code.eq(ErrorCode.BAD_CRC)
                    m.next = "ERROR"
                with m.Elif(code != 0):
                    m.next = "ERROR"
                with m.Elif(~slot_busy):
                    m.next = "IDLE"
                    with m.Switch(frame_type[:3]):
                        with m.Case(Request.STATUS):
                            m.d.sync += post(_Answer.STATUS)
                        with m.Case(Request.LOAD_START):
                            with m.If(too_big):
                                m.d.sync += [last_loader_error.eq(LoaderError.TOO_LARGE),
                                             code.eq(ErrorCode.BAD_IMAGE)]
                                m.next = "ERROR"
                            with m.Else():
                                m.d.comb += self.loader_start.eq(1)
                                m.d.sync += [loading.eq(1), overlong.eq(0),
                                             self.model_valid.eq(0), self.predicted_valid.eq(0),
                                             last_loader_error.eq(LoaderError.NONE)]
                                m.d.sync += post(_Answer.ACK, frame_type=frame_type)
                        with m.Case(Request.LOAD_DATA):
                            m.d.sync += post(_Answer.ACK, frame_type=frame_type)
                        with m.Case(Request.LOAD_END):
                            m.d.comb += judge.eq(1)
                            m.d.sync += loading.eq(0)
                            with m.If(image_ok):
                                m.d.sync += post(_Answer.ACK, frame_type=frame_type)
                            with m.Else():
                                m.d.sync += code.eq(ErrorCode.BAD_IMAGE)
                                m.next = "ERROR"
                        with m.Case(Request.INFER):
                            m.d.sync += post(_Answer.RESULT)

            with m.State("PAD"):
                # An INFER's engine must get its whole input: zeros for what never came.
                m.d.comb += [
                    acts.valid.eq((sink == _Sink.ENGINE) & (count != 0) & ~result_out),
                    acts.payload.eq(0)]
                with m.If(acts.valid & acts.ready):
                    m.d.sync += count.eq(count - 1)
                with m.If((sink != _Sink.ENGINE) | (count == 0)):
                    m.next = "ERROR"

            with m.State("ERROR"):
                with m.If(~slot_busy):
                    m.d.sync += post(_Answer.ERROR, code=code, frame_type=frame_type,
                                     drain=sink == _Sink.ENGINE)
                    m.d.sync += last_error.eq(code)
                    with m.If(is_load):
                        m.d.sync += loading.eq(0)
                    with m.If(drop):
                        m.next = "DROP"
                    with m.Else():
                        m.next = "IDLE"

            with m.State("DROP"):
                m.d.comb += rx.ready.eq(1)
                with m.If(quiet):
                    m.next = "IDLE"

        m.d.comb += [rx_crc.data.eq(byte), rx_crc.valid.eq(got & in_frame)]

        # The loader's verdict, taken at LOAD-END and at the end of a boot load (which has no
        # announced length to check).
        m.d.sync += boot_was_busy.eq(self.boot_busy)
        with m.If(judge | boot_end):
            m.d.sync += [self.model_valid.eq(image_ok),
                         last_loader_error.eq(Mux(self.loader_done & ~self.loader_ok,
                                                  self.loader_error, LoaderError.LENGTH))]
            with m.If(image_ok):
                m.d.sync += [in_count.eq(self.loader_in_count),
                             out_count.eq(self.loader_out_count),
                             last_loader_error.eq(LoaderError.NONE)]
        with m.If(boot_end & ~image_ok):
            m.d.sync += last_error.eq(ErrorCode.BAD_IMAGE)
        with m.If(self.boot_busy):
            m.d.sync += [self.model_valid.eq(0), self.predicted_valid.eq(0)]

        # -- transmitter -----------------------------------------------------------------------
        tx = self.o_tx
        sent = tx.valid & tx.ready
        results = self.i_results
        got_result = results.valid & results.ready

        body_index = Signal(range(STATUS_BYTES))
        byte_index = body_index[:2]     # the byte of a logit or of the cycle count on o_tx
        logit = Signal(signed(32))
        m.d.comb += logit.eq(results.payload.value)
        row = Signal(8)                 # the index of the logit on i_results
        best = Signal(signed(cfg.acc_width))
        best_row = Signal(8)

        answer_type = Signal(8)
        with m.Switch(slot_kind):
            for kind, response in ((_Answer.STATUS, Response.STATUS), (_Answer.ACK, Response.ACK),
                                   (_Answer.RESULT, Response.RESULT),
                                   (_Answer.ERROR, Response.ERROR)):
                with m.Case(kind):
                    m.d.comb += answer_type.eq(response)
        answer_length = Signal(16)
        with m.Switch(slot_kind):
            with m.Case(_Answer.STATUS):
                m.d.comb += answer_length.eq(STATUS_BYTES)
            with m.Case(_Answer.ACK):
                m.d.comb += answer_length.eq(1)
            with m.Case(_Answer.ERROR):
                m.d.comb += answer_length.eq(2)
            with m.Case(_Answer.RESULT):
                m.d.comb += answer_length.eq(out_count * 4 + 5)

        # The STATUS payload, byte by byte, in the contract's field order.
        status_values = {"version": PROTOCOL_VERSION, "model_valid": self.model_valid,
                         "pes": cfg.pes, "act_width": cfg.act_width,
                         "code_width": cfg.code_width, "acc_width": cfg.acc_width,
                         "in_count": in_count, "out_count": out_count,
                         "last_error": last_error, "last_loader_error": last_loader_error}
        status = [Value.cast(status_values[name]).word_select(k, 8) if size > 1
                  else status_values[name]
                  for name, size in STATUS_FIELDS for k in range(size)]
        body = Signal(8)
        body_last = Signal()
        with m.Switch(slot_kind):
            with m.Case(_Answer.STATUS):
                with m.Switch(body_index):
                    for index, value in enumerate(status):
                        with m.Case(index):
                            m.d.comb += body.eq(value)
                m.d.comb += body_last.eq(body_index == STATUS_BYTES - 1)
            with m.Case(_Answer.ACK):
                m.d.comb += [body.eq(slot_type), body_last.eq(1)]
            with m.Case(_Answer.ERROR):
                m.d.comb += [body.eq(Mux(body_index[0], slot_type, slot_code)),
                             body_last.eq(body_index[0])]

        with m.FSM(name="tx") as tx_fsm:
            with m.State("IDLE"):
                m.d.sync += [body_index.eq(0), row.eq(0)]
                with m.If(slot_busy):
                    with m.If(slot_drain):
                        m.next = "DRAIN"
                    with m.Else():
                        m.next = "START"
            with m.State("DRAIN"):
                m.d.comb += results.ready.eq(1)
                with m.If(got_result & results.payload.last):
                    m.next = "START"
            with m.State("START"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(SOF)]
                with m.If(sent):
                    m.next = "TYPE"
            with m.State("TYPE"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(answer_type), tx_crc.start.eq(1)]
                with m.If(sent):
                    m.next = "LENGTH-LOW"
            with m.State("LENGTH-LOW"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(answer_length[:8])]
                with m.If(sent):
                    m.next = "LENGTH-HIGH"
            with m.State("LENGTH-HIGH"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(answer_length[8:])]
                with m.If(sent):
                    with m.If(slot_kind == _Answer.RESULT):
                        m.next = "LOGIT"
                    with m.Else():
                        m.next = "BODY"
            with m.State("BODY"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(body)]
                with m.If(sent):
                    m.d.sync += body_index.eq(body_index + 1)
                    with m.If(body_last):
                        m.next = "CRC-HIGH"
            with m.State("LOGIT"):
                # A logit stays on i_results until its fourth byte leaves. (Selected from its
                # unsigned bits: yosys 0.70's wreduce drops the sign bits of a signed word_select,
                # so the synthesised board sent negative logits without their top byte.)
                m.d.comb += [tx.valid.eq(results.valid),
                             tx.payload.eq(logit.as_unsigned().word_select(byte_index, 8))]
                with m.If(sent):
                    m.d.sync += body_index.eq(body_index + 1)
                    with m.If(byte_index == 3):
                        m.d.comb += results.ready.eq(1)
                        m.d.sync += row.eq(row + 1)
                        with m.If((row == 0) | (logit > best)):
                            m.d.sync += [best.eq(logit), best_row.eq(row)]
                        with m.If(results.payload.last):
                            m.next = "CLASS"
            with m.State("CLASS"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(best_row)]
                with m.If(sent):
                    m.d.sync += [self.predicted.eq(best_row[:4]), self.predicted_valid.eq(1)]
                    m.next = "CYCLES"
            with m.State("CYCLES"):
                # The engine is idle now, its count final (no INFER starts during a RESULT).
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(self.cycles.word_select(byte_index, 8))]
                with m.If(sent):
                    m.d.sync += body_index.eq(body_index + 1)
                    with m.If(byte_index == 3):
                        m.next = "CRC-HIGH"
            with m.State("CRC-HIGH"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(tx_crc.crc[8:])]
                with m.If(sent):
                    m.next = "CRC-LOW"
            with m.State("CRC-LOW"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(tx_crc.crc[:8])]
                with m.If(sent):
                    m.d.sync += slot_busy.eq(0)
                    m.next = "IDLE"

        in_answer = ~(tx_fsm.ongoing("START") | tx_fsm.ongoing("CRC-HIGH")
                      | tx_fsm.ongoing("CRC-LOW"))
        m.d.comb += [tx_crc.data.eq(tx.payload), tx_crc.valid.eq(sent & in_answer)]
        return m
