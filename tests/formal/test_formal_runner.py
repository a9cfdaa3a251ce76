"""The proof runner fails when it should: a false assertion gives a counterexample, an
unreachable cover is reported, and a queue model of the wrong depth is refuted. (An earlier
draft of the runner left the spec's clock undriven, which yosys folds to a constant: every
proof then passed, whatever it said.)"""

import pytest
from amaranth.asserts import AnySeq
from amaranth.hdl import Assert, ClockDomain, Cover, Elaboratable, Module, Signal

from tinyeie.sim.formal import Proof, ProofFailure, check
from tinyeie.sim.proofs import _pe_queue
from tinyeie.sim.proofs_fifo import QueueEquivalence

pytestmark = pytest.mark.formal


class Counter(Elaboratable):
    """Counts the cycles a free input is high; asserts (falsely) that it stays below 3."""

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = sync = ClockDomain("sync")
        m.d.comb += sync.rst.eq(0)
        count = Signal(4)
        with m.If(AnySeq(1)):
            m.d.sync += count.eq(count + 1)
        m.d.comb += [Assert(count < 3), Cover(count == 15)]
        return m


def test_a_false_assertion_fails(tmp_path):
    with pytest.raises(ProofFailure, match="counter.*FAIL"):
        check(Proof("counter", "", Counter, "bmc", 6), root=tmp_path)


def test_an_unreachable_cover_fails(tmp_path):
    with pytest.raises(ProofFailure, match="FAIL"):
        check(Proof("counter-cover", "", Counter, "cover", 6), root=tmp_path)


def test_a_queue_model_of_the_wrong_depth_is_refuted(tmp_path):
    queue = _pe_queue("icebreaker")
    with pytest.raises(ProofFailure):
        check(Proof("short-model", "", lambda: QueueEquivalence(queue, queue.depth - 1), "bmc",
                    6), root=tmp_path)
