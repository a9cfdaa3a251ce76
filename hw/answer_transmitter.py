"""The host protocol's transmitter: each posted answer as a frame, built byte by byte.

:class:`AnswerTransmitter` is the sending half of :class:`~tinyeie.hw.protocol.HostProtocol`
(docs/protocol.md): it turns the :class:`~tinyeie.hw.answer.Answer` in the slot into a frame
as the UART takes its bytes, with its CRC-16, a RESULT's logits straight from the engine.
"""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import crc, stream, wiring
from amaranth.lib.wiring import In, Out

from tinyeie.contract.protocol import SOF, STATUS_BYTES, Response
from tinyeie.hw.answer import Answer, AnswerKind, Status
from tinyeie.hw.configured import Configured
from tinyeie.hw.crc_unit import restartable_crc
from tinyeie.hw.engine import CYCLE_WIDTH, Result

__all__ = ["AnswerTransmitter"]

# A RESULT's payload besides its logits: the class (u8) and the cycle count (u32).
RESULT_TAIL_BYTES = 5


class AnswerTransmitter(Configured, wiring.Component):
    """Sends each answer it is given as a frame, computing every byte as the UART takes it.

    There is no frame buffer: STATUS bytes are read from ``status`` as they go (the receiver
    changes it only when it posts an answer, so never during one), a RESULT's logits come off
    ``i_results`` as they are sent (the engine waits meanwhile), then their argmax (ties to the
    lowest index) and the engine's ``cycles``. The CRC-16 runs over the bytes as they leave. A
    RESULT's length is known up front from the model's output count. The answer is taken from
    ``i_answer`` with the frame's last byte; an answer with ``drain`` first takes the engine's
    results up to the last and throws them away.

    Parameters
    ----------
    config : :class:`~tinyeie.contract.config.EngineConfig`
        ``acc_width`` must be at most 32 (the logits travel as i32).

    Members
    -------
    i_answer : ``In(stream.Signature(Answer))``
        The answer to send, from the answer slot.
    status : ``In(Status)``
        What STATUS reports; ``out_count`` also gives a RESULT's length.
    i_results : ``In(stream.Signature(Result(acc_width)))``
        The engine's results.
    cycles : ``In(32)``
        The engine's cycle count, read after the last result.
    o_tx : ``Out(stream.Signature(8))``
        To the UART transmitter.
    predicted : ``Out(4)``
        The last RESULT's class (its low 4 bits), for LEDs.
    predicted_valid : ``Out(1)``
        ``predicted`` holds a class of the current model (cleared while ``status`` says no
        model is valid).
    engine_reset : ``In(1)``
        The engine is reset (its inference given up): results to throw away are no longer
        waited for.
    """

    def __init__(self, config, *, src_loc_at=0):
        if config.acc_width > 32:
            raise ValueError(f"RESULT carries the logits as i32, so acc_width must be at most 32, "
                             f"not {config.acc_width}")
        self._config = config
        super().__init__({
            "i_answer": In(stream.Signature(Answer)),
            "status": In(Status),
            "i_results": In(stream.Signature(Result(config.acc_width))),
            "cycles": In(CYCLE_WIDTH),
            "o_tx": Out(stream.Signature(8)),
            "predicted": Out(4),
            "predicted_valid": Out(1),
            "engine_reset": In(1),
        }, src_loc_at=1 + src_loc_at)

    def elaborate(self, platform):
        # One state per part of the frame; the payload states index their bytes with one
        # counter (a STATUS byte, or a byte of a logit or of the cycle count by its low bits).
        cfg = self._config
        m = Module()

        crc_unit, idle = restartable_crc(m, crc.catalog.CRC16_CCITT_FALSE)   # while idle

        answer = self.i_answer.payload
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
        answer_length = Signal(16)
        with m.Switch(answer.kind):
            with m.Case(AnswerKind.STATUS):
                m.d.comb += [answer_type.eq(Response.STATUS), answer_length.eq(STATUS_BYTES)]
            with m.Case(AnswerKind.ACK):
                m.d.comb += [answer_type.eq(Response.ACK), answer_length.eq(1)]
            with m.Case(AnswerKind.RESULT):
                m.d.comb += [answer_type.eq(Response.RESULT),
                             answer_length.eq(self.status.out_count * 4 + RESULT_TAIL_BYTES)]
            with m.Case(AnswerKind.ERROR):
                m.d.comb += [answer_type.eq(Response.ERROR), answer_length.eq(2)]

        # A STATUS, ACK or ERROR payload byte.
        body = Signal(8)
        body_last = Signal()
        with m.Switch(answer.kind):
            with m.Case(AnswerKind.STATUS):
                m.d.comb += [body.eq(self.status.as_value().word_select(body_index, 8)),
                             body_last.eq(body_index == STATUS_BYTES - 1)]
            with m.Case(AnswerKind.ACK):
                m.d.comb += [body.eq(answer.type), body_last.eq(1)]
            with m.Case(AnswerKind.ERROR):
                m.d.comb += [body.eq(Mux(body_index[0], answer.type, answer.code)),
                             body_last.eq(body_index[0])]

        with m.If(~self.status.model_valid[0]):
            m.d.sync += self.predicted_valid.eq(0)

        with m.FSM(name="tx") as fsm:
            with m.State("IDLE"):
                m.d.comb += idle.eq(1)
                m.d.sync += [body_index.eq(0), row.eq(0)]
                with m.If(self.i_answer.valid):
                    with m.If(answer.drain):
                        m.next = "DRAIN"
                    with m.Else():
                        m.next = "START"
            with m.State("DRAIN"):
                m.d.comb += results.ready.eq(1)
                with m.If((got_result & results.payload.last) | self.engine_reset):
                    m.next = "START"
            with m.State("START"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(SOF)]
                with m.If(sent):
                    m.next = "TYPE"
            with m.State("TYPE"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(answer_type)]
                with m.If(sent):
                    m.next = "LENGTH-LOW"
            with m.State("LENGTH-LOW"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(answer_length[:8])]
                with m.If(sent):
                    m.next = "LENGTH-HIGH"
            with m.State("LENGTH-HIGH"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(answer_length[8:])]
                with m.If(sent):
                    with m.If(answer.kind == AnswerKind.RESULT):
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
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(crc_unit.crc[8:])]
                with m.If(sent):
                    m.next = "CRC-LOW"
            with m.State("CRC-LOW"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(crc_unit.crc[:8])]
                with m.If(sent):
                    m.d.comb += self.i_answer.ready.eq(1)
                    m.next = "IDLE"

        in_frame = ~(fsm.ongoing("START") | fsm.ongoing("CRC-HIGH") | fsm.ongoing("CRC-LOW"))
        m.d.comb += [crc_unit.data.eq(tx.payload), crc_unit.valid.eq(sent & in_frame)]
        return m
