"""The proof runner fails when it should: a false assertion gives a counterexample, an
unreachable cover is reported, a queue model of the wrong depth or delay is refuted, and an
order bound one cycle short fails. (An earlier
draft of the runner left the spec's clock undriven, which yosys folds to a constant: every
proof then passed, whatever it said.)"""

import pytest
from amaranth.asserts import AnySeq
from amaranth.hdl import Assert, ClockDomain, Cover, Elaboratable, Module, Signal

from tinyeie.sim.formal import Proof, ProofFailure, check
from tinyeie.sim.proofs import _pe_queue, _request_inbox
from tinyeie.sim.proofs_fifo import QueueEquivalence, QueueOrder

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


def test_the_icebreaker_queue_proven_is_the_one_slot_queue_it_builds():
    from tinyeie.hw.slot import OneSlot
    from tinyeie.sim.proofs import _config
    assert _config("icebreaker").queue_depth == 1
    assert isinstance(_pe_queue("icebreaker"), OneSlot)


def test_a_one_slot_queue_misses_an_order_bound_one_cycle_short(tmp_path):
    # 2 x (depth + 2) = 6 cycles is the bound sim/proofs.py proves; 5 must not hold.
    with pytest.raises(ProofFailure):
        check(Proof("one-slot-short", "", lambda: QueueOrder(_pe_queue("icebreaker"), 1, 5),
                    "bmc", 7), root=tmp_path)


def test_the_request_inbox_is_refuted_against_a_model_without_its_delay(tmp_path):
    # Its block RAM offers a byte two cycles after it is written: a model that offers it the
    # next cycle (delay 0), or one a byte short, is not the inbox.
    for model in (lambda: QueueEquivalence(_request_inbox("ulx3s"), 1024, delay=0),
                  lambda: QueueEquivalence(_request_inbox("ulx3s"), 1023, delay=1)):
        with pytest.raises(ProofFailure):
            check(Proof("inbox-wrong-model", "", model, "prove", 3), root=tmp_path)


def test_the_request_inbox_misses_an_order_bound_one_cycle_short(tmp_path):
    with pytest.raises(ProofFailure):
        check(Proof("inbox-order-short", "",
                    lambda: QueueOrder(_request_inbox("ulx3s", 16), 16, 19), "bmc", 21),
              root=tmp_path)


def test_the_loader_is_refuted_against_an_engine_a_word_smaller(tmp_path):
    # The loader writes a PE memory's last word, which an engine one word smaller lacks: a
    # counterexample 40 cycles long (the header, a section header, one data word).
    from dataclasses import replace

    from tinyeie.sim.proofs import LOADER_CONFIG, LOADER_DEPTH
    from tinyeie.sim.proofs_loader import LoaderSafety
    smaller = replace(LOADER_CONFIG, pe_depth=LOADER_CONFIG.pe_depth - 1)
    with pytest.raises(ProofFailure, match="step 40"):
        check(Proof("loader-too-big", "", lambda: LoaderSafety(LOADER_CONFIG, smaller), "bmc",
                    LOADER_DEPTH), root=tmp_path)


@pytest.mark.parametrize("sparse", [False, True])
def test_the_receiver_misses_a_liveness_bound_one_cycle_short(tmp_path, sparse):
    # A frame cut short 8 activations before its end: 16 quiet cycles to its TIMEOUT, 8 zeros
    # to the engine, the ERROR, idle; one cycle fewer than LIVENESS_BOUND is refuted.
    from tinyeie.sim.proofs import LIVENESS_BOUND, LIVENESS_CONFIG, LIVENESS_TIMEOUT
    from tinyeie.sim.proofs_protocol import ReceiverLiveness
    short = LIVENESS_BOUND - 1
    with pytest.raises(ProofFailure, match="FAIL"):
        check(Proof("liveness-short", "",
                    lambda: ReceiverLiveness(LIVENESS_CONFIG, timeout_cycles=LIVENESS_TIMEOUT,
                                             sparse=sparse, bound=short),
                    "bmc", short + 14), root=tmp_path)


def test_the_loader_induction_fails_against_an_engine_a_word_smaller(tmp_path):
    from dataclasses import replace

    from tinyeie.sim.proofs import PROOFS, _config
    from tinyeie.sim.proofs_loader import LoaderSafety
    proof = next(p for p in PROOFS if p.name == "loader-safety-icebreaker")
    cfg = _config("icebreaker")
    smaller = replace(cfg, pe_depth=cfg.pe_depth - 1)
    with pytest.raises(ProofFailure):
        check(replace(proof, name="loader-induction-too-big",
                      spec=lambda: LoaderSafety(cfg, smaller, invariants=True)), root=tmp_path)
