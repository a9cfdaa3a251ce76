# amaranth: UnusedElaboratable=no
"""AnswerTransmitter on Amaranth's simulator: every answer's frame, byte for byte, against the
host's encoder (`encode_frame` with the `tinyeie.sw.host.payloads` payloads).

A testbench posts answers into `i_answer` as the slot does (held until the transmitter takes
them), an engine stand-in offers logits on `i_results` with random idle cycles, and the UART's
end takes bytes from `o_tx` with random back-pressure; `check_stream_rules` watches `o_tx`.
"""

import random

import pytest

from tinyeie.contract.config import EngineConfig
from tinyeie.contract.protocol import ErrorCode, Request, Response
from tinyeie.hw.answer import AnswerKind
from tinyeie.hw.answer_transmitter import AnswerTransmitter
from tinyeie.sim.pysim import check_stream_rules, simulate
from tinyeie.sw.host.frames import encode_frame
from tinyeie.sw.host.payloads import (
    Status,
    ack_payload,
    error_payload,
    result_payload,
    status_payload,
)

CONFIG = EngineConfig(pes=2, act_width=8, code_width=8, acc_width=24)


def status_fields(**changes):
    fields = dict(version=2, model_valid=True, pes=2, act_width=8, code_width=8, acc_width=24,
                  in_count=784, out_count=3, last_error=ErrorCode.SEQUENCE,
                  last_loader_error=5, features=1, rx_buffer=1024, bit_cycles=17)
    fields.update(changes)
    return fields


def transmit(answers, *, status, results=(), config=CONFIG, seed=0, stall=0.4, idle=0.3,
             watch=()):
    """Send ``answers`` (dicts of Answer fields) through the transmitter; ``results``: the
    engine's logit lists in the order RESULT and ``drain`` answers take them.

    ``watch(dut)`` gives more background testbenches.

    Returns the bytes sent, the results left untaken, and (predicted, predicted_valid) at the
    end."""
    rng = random.Random(seed)
    dut = AnswerTransmitter(config)
    got, taken = bytearray(), []
    out = {}
    pending = [list(logits) for logits in results]

    async def poster(ctx):
        for name, value in status.items():
            ctx.set(getattr(dut.status, name), int(value))
        for answer in answers:
            ctx.set(dut.i_answer.payload, {"kind": answer["kind"], "code": answer.get("code", 0),
                                           "type": answer.get("type", 0),
                                           "drain": answer.get("drain", 0)})
            ctx.set(dut.i_answer.valid, 1)
            await ctx.tick().until(dut.i_answer.ready)
            ctx.set(dut.i_answer.valid, 0)
        for _ in range(40):
            await ctx.tick()
        out["predicted"] = (ctx.get(dut.predicted), ctx.get(dut.predicted_valid))

    # The answer each result list goes with: as on the board, the next inference starts only
    # once the answer before it is out (its cycle count is read last).
    owners = [k for k, answer in enumerate(answers)
              if answer["kind"] == AnswerKind.RESULT or answer.get("drain")]

    async def engine(ctx):
        for owner in owners[:len(pending)]:
            while len(taken) < owner:
                await ctx.tick()
            logits = pending[0]
            ctx.set(dut.cycles, 1000 + sum(logits) % 5000)
            for j, value in enumerate(logits):
                while rng.random() < idle:
                    await ctx.tick()
                ctx.set(dut.i_results.payload, {"value": value, "last": j == len(logits) - 1})
                ctx.set(dut.i_results.valid, 1)
                while not (await ctx.tick().sample(dut.i_results.ready))[2]:
                    pass
                ctx.set(dut.i_results.valid, 0)
            pending.pop(0)

    async def uart(ctx):
        while True:
            ready = rng.random() >= stall
            ctx.set(dut.o_tx.ready, ready)
            _, _, valid, byte, answer_taken = await ctx.tick().sample(
                dut.o_tx.valid, dut.o_tx.payload, dut.i_answer.ready)
            if ready and valid:
                got.append(byte)
            if answer_taken:
                taken.append(len(got))

    simulate(dut, [poster], [engine, uart, check_stream_rules(dut.o_tx),
                             *(testbench(dut) for testbench in watch)],
             timeout=20000, name="answer_transmitter")
    return bytes(got), taken, pending, out["predicted"]


def test_status_sends_the_status_fields_in_contract_order():
    fields = status_fields()
    got, taken, _, _ = transmit([{"kind": AnswerKind.STATUS}], status=fields)
    assert got == encode_frame(Response.STATUS, status_payload(Status(**fields)))
    assert taken == [len(got)]          # the answer is taken with its last byte


def test_ack_and_error_name_the_request():
    answers = [{"kind": AnswerKind.ACK, "type": Request.LOAD_DATA},
               {"kind": AnswerKind.ERROR, "code": ErrorCode.NOISE, "type": 0},
               {"kind": AnswerKind.ERROR, "code": ErrorCode.BAD_LENGTH, "type": 0x77}]
    got, taken, _, _ = transmit(answers, status=status_fields(), seed=1)
    frames = [encode_frame(Response.ACK, ack_payload(Request.LOAD_DATA)),
              encode_frame(Response.ERROR, error_payload(ErrorCode.NOISE, 0)),
              encode_frame(Response.ERROR, error_payload(ErrorCode.BAD_LENGTH, 0x77))]
    assert got == b"".join(frames)
    assert taken == [len(frames[0]), len(frames[0]) + len(frames[1]), len(got)]


@pytest.mark.parametrize("seed", range(3))
def test_result_streams_the_logits_then_class_and_cycles(seed):
    rng = random.Random(seed)
    results = [[rng.randrange(-1 << 23, 1 << 23) for _ in range(3)] for _ in range(2)]
    results[1][2] = results[1][0]           # a tie: the lowest index wins
    got, _, left, predicted = transmit([{"kind": AnswerKind.RESULT}] * 2,
                                       status=status_fields(out_count=3), results=results,
                                       seed=seed)
    cycles = [1000 + sum(logits) % 5000 for logits in results]
    assert got == b"".join(encode_frame(Response.RESULT, result_payload(logits, c))
                           for logits, c in zip(results, cycles))
    assert not left
    best = max(range(3), key=lambda j: (results[1][j], -j))
    assert predicted == (best, 1)


def test_logits_of_32_bits():
    config = EngineConfig(pes=1, act_width=12, code_width=8, acc_width=32)
    results = [[-(1 << 31), (1 << 31) - 1]]
    got, _, _, _ = transmit([{"kind": AnswerKind.RESULT}], status=status_fields(out_count=2),
                            results=results, config=config)
    assert got == encode_frame(Response.RESULT, result_payload(results[0], 1000 + (-1) % 5000))


def test_drain_throws_the_results_away_first():
    answers = [{"kind": AnswerKind.ERROR, "code": ErrorCode.BAD_CRC, "type": Request.INFER,
                "drain": 1},
               {"kind": AnswerKind.RESULT}]
    results = [[7, 8, 9], [-4, 5, -6]]
    got, _, left, _ = transmit(answers, status=status_fields(), results=results, seed=4)
    assert got == (encode_frame(Response.ERROR, error_payload(ErrorCode.BAD_CRC, Request.INFER))
                   + encode_frame(Response.RESULT, result_payload([-4, 5, -6],
                                                                  1000 + (-5) % 5000)))
    assert not left


def test_a_drain_the_engine_never_ends_is_given_up():
    """Results that never come are waited for until the inference is given up (the engine is
    reset then); the ERROR goes out after that, not before."""
    given_up_at = []

    def watchdog(dut):
        async def testbench(ctx):
            await ctx.tick().repeat(300)
            ctx.set(dut.engine_reset, 1)
            given_up_at.append(True)
            await ctx.tick()
            ctx.set(dut.engine_reset, 0)
        return testbench

    def first_byte(dut):
        async def testbench(ctx):
            async for _, _, valid in ctx.tick().sample(dut.o_tx.valid):
                if valid:
                    assert given_up_at, "the ERROR started before the results were given up"
                    return
        return testbench

    answers = [{"kind": AnswerKind.ERROR, "code": ErrorCode.TIMEOUT, "type": Request.INFER,
                "drain": 1}]
    got, _, _, _ = transmit(answers, status=status_fields(), watch=[watchdog, first_byte])
    assert got == encode_frame(Response.ERROR, error_payload(ErrorCode.TIMEOUT, Request.INFER))


def test_the_class_is_forgotten_while_no_model_is_valid():
    _, _, _, predicted = transmit([{"kind": AnswerKind.RESULT}],
                                  status=status_fields(model_valid=False), results=[[1, 9, 3]])
    assert predicted == (1, 0)


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="acc_width must be at most 32, not 40"):
        AnswerTransmitter(EngineConfig(acc_width=40))
