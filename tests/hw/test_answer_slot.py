# amaranth: UnusedElaboratable=no
"""AnswerSlot on Amaranth's simulator: it holds one answer, unchanged, until it is taken."""

import random

import pytest

from tinyeie.hw.answer import AnswerKind
from tinyeie.hw.answer_slot import AnswerSlot
from tinyeie.sim.pysim import check_stream_rules, simulate, stream_get, stream_put, watch_level


def random_answer(rng):
    return {"kind": rng.choice(list(AnswerKind)), "code": rng.randrange(16),
            "type": rng.randrange(256), "drain": rng.randrange(2)}


@pytest.mark.parametrize("seed", range(3))
def test_answers_pass_in_order_one_at_a_time(seed):
    rng = random.Random(seed)
    answers = [random_answer(rng) for _ in range(40)]
    dut = AnswerSlot()
    got = []
    held = []           # answers posted and not yet taken, each cycle

    async def receiver(ctx):
        for answer in answers:
            await stream_put(ctx, dut.i_answer, answer, idle=0.5, rng=rng)

    async def transmitter(ctx):
        for _ in answers:
            payload = await stream_get(ctx, dut.o_answer, stall=0.7, rng=rng)
            got.append({"kind": payload.kind, "code": payload.code, "type": payload.type,
                        "drain": payload.drain})


    simulate(dut, [receiver, transmitter],
             [watch_level(dut.i_answer, dut.o_answer, held), check_stream_rules(dut.o_answer)],
             timeout=5000, name="answer_slot")
    assert got == answers
    assert max(held) == 1


def test_a_full_slot_refuses_the_next_answer():
    dut = AnswerSlot()
    seen = {}

    async def testbench(ctx):
        await stream_put(ctx, dut.i_answer, {"kind": AnswerKind.ACK, "type": 3})
        ctx.set(dut.i_answer.payload, {"kind": AnswerKind.ERROR, "code": 9})
        ctx.set(dut.i_answer.valid, 1)
        for _ in range(5):
            await ctx.tick()
        seen["ready while full"] = ctx.get(dut.i_answer.ready)
        seen["held"] = ctx.get(dut.o_answer.payload.kind), ctx.get(dut.o_answer.payload.type)
        ctx.set(dut.o_answer.ready, 1)
        await ctx.tick()
        ctx.set(dut.o_answer.ready, 0)
        seen["ready once taken"] = ctx.get(dut.i_answer.ready)
        await ctx.tick()
        seen["next"] = ctx.get(dut.o_answer.payload.kind), ctx.get(dut.o_answer.payload.code)

    simulate(dut, [testbench], timeout=100, name="answer_slot_full")
    assert seen == {"ready while full": 0, "held": (AnswerKind.ACK, 3), "ready once taken": 1,
                    "next": (AnswerKind.ERROR, 9)}
