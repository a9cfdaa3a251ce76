"""The host protocol's gateware: UART frames in, the loader and the engine driven, answers out.

:class:`HostProtocol` implements docs/protocol.md between :class:`~tinyeie.hw.uart.UARTReceiver`,
:class:`~tinyeie.hw.uart.UARTTransmitter`, :class:`~tinyeie.hw.loader.ImageLoader` and
:class:`~tinyeie.hw.engine.Engine`, as three blocks: :class:`~tinyeie.hw.request_receiver.
RequestReceiver`, :class:`~tinyeie.hw.answer_slot.AnswerSlot` and
:class:`~tinyeie.hw.answer_transmitter.AnswerTransmitter`. Its Python model is
:class:`tinyeie.sw.host.board_model.BoardModel`: for any byte stream the two send the same bytes.
"""

from amaranth.hdl import Module, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from tinyeie.contract.layouts import COUNT_BITS
from tinyeie.contract.protocol import ENGINE_TIMEOUT_CYCLES, TIMEOUT_CYCLES
from tinyeie.hw.answer import AnswerKind
from tinyeie.hw.answer_slot import AnswerSlot
from tinyeie.hw.answer_transmitter import AnswerTransmitter
from tinyeie.hw.configured import Configured
from tinyeie.hw.engine import CYCLE_WIDTH, Result
from tinyeie.hw.engine_watchdog import EngineWatchdog
from tinyeie.hw.loader import loader_control
from tinyeie.hw.request_inbox import RequestInbox
from tinyeie.hw.request_receiver import RequestReceiver
from tinyeie.hw.uart import RxByte

__all__ = ["HostProtocol"]


class HostProtocol(Configured, wiring.Component):
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
    from the engine once it offers the first (its length is known up front from the model's
    output count); the class (argmax, ties to the lowest index) and the engine's cycle count
    follow them.

    Whatever model image is loaded, every inference ends: one the engine cannot finish (its
    cycle count reaches ``engine_timeout_cycles``, or it takes or gives other numbers of values
    than the model's header says) is given up: ``engine_reset`` returns the engine to idle, and
    a good INFER is answered ENGINE-FAULT, after which the model is invalid.

    Parameters
    ----------
    config : :class:`~tinyeie.contract.config.EngineConfig`
        The engine's parameters (STATUS reports them). ``acc_width`` must be at most 32 (the
        logits travel as i32).
    timeout_cycles : int
        How long the line must be quiet to end a frame under way (TIMEOUT) or a run of dropped
        bytes. docs/protocol.md: 2**20.
    engine_timeout_cycles : int
        The engine cycles an inference may take, a power of two. docs/protocol.md: 2**22.
    preloaded : (int, int), optional
        ``(in_count, out_count)`` of a model the engine holds from the bitstream: ``model_valid``
        is then 1 from power-up.
    sparse : bool
        Take INFER-SPARSE frames (:class:`~tinyeie.hw.request_receiver.RequestReceiver`).
    rx_buffer : int
        Bytes of the request inbox (:class:`~tinyeie.hw.request_inbox.RequestInbox`, a power
        of two) between the UART and the receiver, where a request sent ahead waits while the
        board is busy; 0 for none. STATUS reports it.
    bit_cycles : int
        The UART's clock cycles a bit, for STATUS (0: not given).
    check_model : bool
        STATUS reports the model check in its features (the loader and engine have it).

    Members
    -------
    i_rx : ``In(stream.Signature(RxByte))``
        From :class:`~tinyeie.hw.uart.UARTReceiver`: bytes with their line errors in band.
    o_tx : ``Out(stream.Signature(8))``
        To :class:`~tinyeie.hw.uart.UARTTransmitter`.
    o_image : ``Out(stream.Signature(8))``
        LOAD-DATA bytes to the loader's ``i_stream``.
    loader_start : ``Out(1)``
        A one-cycle pulse the cycle after LOAD-START is accepted (to the loader's ``start``).
    loader_done, loader_ok : ``In(1)``
        The loader's ``done`` and ``ok``, read at LOAD-END and at the end of a boot load.
    loader_error : ``In(4)``
        The loader's ``error`` (:class:`~tinyeie.contract.protocol.LoaderError` codes).
    loader_in_count, loader_out_count : ``In(12)``
        The loader's counts, kept when a load succeeds.
    o_activations : ``Out(stream.Signature(signed(act_width)))``
        INFER's activations to the engine's ``i_stream``: each byte's low ``act_width`` bits.
    i_results : ``In(stream.Signature(Result(acc_width)))``
        The engine's ``o_stream``.
    cycles : ``In(32)``
        The engine's ``cycles``, read after the last result (and watched against
        ``engine_timeout_cycles``).
    engine_out_count : ``In(12)``
        The engine's ``out_count``: with its first result, how many it gives.
    engine_reset : ``Out(1)``
        One cycle: resets the engine (an inference is given up).
    boot_busy : ``In(1)``
        High while the board top feeds the loader from SPI flash. Meanwhile the model is invalid
        and LOAD-START is refused (SEQUENCE); at its falling edge the loader's verdict is taken
        as at LOAD-END. Tie to 0 without a boot load.
    model_valid : ``Out(1)``
        A model is loaded and checked: cleared by LOAD-START, boot and ENGINE-FAULT, set by a
        good LOAD-END or boot load.
    predicted : ``Out(4)``
        The last RESULT's class (its low 4 bits), for LEDs.
    predicted_valid : ``Out(1)``
        ``predicted`` holds a class of the current model.
    """

    def __init__(self, config, *, timeout_cycles=TIMEOUT_CYCLES,
                 engine_timeout_cycles=ENGINE_TIMEOUT_CYCLES, preloaded=None, sparse=True,
                 rx_buffer=0, bit_cycles=0, check_model=False):
        if (isinstance(engine_timeout_cycles, bool) or not isinstance(engine_timeout_cycles, int)
                or not 2 <= engine_timeout_cycles < 1 << CYCLE_WIDTH
                or engine_timeout_cycles & (engine_timeout_cycles - 1)):
            raise ValueError(f"engine_timeout_cycles must be a power of two from 2 to 2**31, "
                             f"not {engine_timeout_cycles!r}")
        # Built here, so that bad parameters fail now and testbenches can watch the parts (which
        # count as created where this block is, for Amaranth's warning about unused blocks).
        self.inbox = RequestInbox(rx_buffer, src_loc_at=1) if rx_buffer else None
        self.receiver = RequestReceiver(config, timeout_cycles=timeout_cycles,
                                        preloaded=preloaded, sparse=sparse, rx_buffer=rx_buffer,
                                        bit_cycles=bit_cycles, check_model=check_model,
                                        src_loc_at=1)
        self.slot = AnswerSlot(src_loc_at=1)
        self.transmitter = AnswerTransmitter(config, src_loc_at=1)
        self.watchdog = EngineWatchdog(src_loc_at=1)
        self._engine_timeout_bit = engine_timeout_cycles.bit_length() - 1
        self._config = config
        super().__init__({
            "i_rx": In(stream.Signature(RxByte)),
            "o_tx": Out(stream.Signature(8)),
            "o_image": Out(stream.Signature(8)),
            **loader_control(),
            "o_activations": Out(stream.Signature(signed(config.act_width))),
            "i_results": In(stream.Signature(Result(config.acc_width))),
            "cycles": In(CYCLE_WIDTH),
            "boot_busy": In(1),
            "model_valid": Out(1),
            "predicted": Out(4),
            "predicted_valid": Out(1),
            "engine_out_count": In(COUNT_BITS),
            "engine_reset": Out(1),
        })

    @property
    def timeout_cycles(self):
        return self.receiver.timeout_cycles

    @property
    def preloaded(self):
        return self.receiver.preloaded

    def elaborate(self, platform):
        # A receiver, a slot and a transmitter. The receiver checks each request as it arrives
        # and posts its answer into the slot, where the transmitter reads it for as long as it
        # sends it; a receiver with an answer to post waits while the slot is taken, and the
        # UART receiver's register holds the next byte meanwhile. The host sends a request only
        # after the previous answer, so this wait happens only after noise or a refused frame,
        # the byte waiting being the next frame's.
        m = Module()
        m.submodules.receiver = receiver = self.receiver
        m.submodules.slot = slot = self.slot
        m.submodules.transmitter = transmitter = self.transmitter
        m.submodules.watchdog = watchdog = self.watchdog
        wiring.connect(m, receiver.o_answer, slot.i_answer)
        wiring.connect(m, slot.o_answer, transmitter.i_answer)
        m.d.comb += [
            watchdog.restart.eq(receiver.infer_start),
            watchdog.overtime.eq(self.cycles[self._engine_timeout_bit]),
            watchdog.trip.eq(receiver.engine_trip),
            receiver.engine_given_up.eq(watchdog.given_up),
            watchdog.owed.eq(receiver.results_owed),
            transmitter.engine_reset.eq(watchdog.reset),
            self.engine_reset.eq(watchdog.reset),
            receiver.results_valid.eq(self.i_results.valid),
            receiver.engine_out_count.eq(self.engine_out_count),
            transmitter.status.eq(receiver.status),
            receiver.results_owed.eq(slot.o_answer.valid
                                     & ((slot.o_answer.payload.kind == AnswerKind.RESULT)
                                        | slot.o_answer.payload.drain)),
        ]

        if self.inbox is not None:
            m.submodules.inbox = inbox = self.inbox
            wiring.connect(m, wiring.flipped(self.i_rx), inbox.i_stream)
            wiring.connect(m, inbox.o_stream, receiver.i_rx)
        else:
            wiring.connect(m, wiring.flipped(self.i_rx), receiver.i_rx)
        wiring.connect(m, receiver.o_image, wiring.flipped(self.o_image))
        wiring.connect(m, receiver.o_activations, wiring.flipped(self.o_activations))
        wiring.connect(m, wiring.flipped(self.i_results), transmitter.i_results)
        wiring.connect(m, transmitter.o_tx, wiring.flipped(self.o_tx))
        m.d.comb += [
            self.loader_start.eq(receiver.loader_start),
            receiver.loader_done.eq(self.loader_done),
            receiver.loader_ok.eq(self.loader_ok),
            receiver.loader_error.eq(self.loader_error),
            receiver.loader_in_count.eq(self.loader_in_count),
            receiver.loader_out_count.eq(self.loader_out_count),
            receiver.loader_received.eq(self.loader_received),
            receiver.loader_checking.eq(self.loader_checking),
            receiver.boot_busy.eq(self.boot_busy),
            self.model_valid.eq(receiver.status.model_valid[0]),
            transmitter.cycles.eq(self.cycles),
            self.predicted.eq(transmitter.predicted),
            self.predicted_valid.eq(transmitter.predicted_valid),
        ]
        return m
