"""Formal spec for the host protocol's request receiver
(:class:`~tinyeie.hw.request_receiver.RequestReceiver`): bounded liveness.

After any traffic, once the line goes quiet the receiver is back in its idle state (ready for
a new frame: the next SOF starts one) within ``bound`` cycles: a frame under way times out
after ``timeout_cycles`` of quiet, an INFER's engine gets the rest of its input as zeros, the
ERROR is posted, and a run of dropped bytes ends with the quiet.

What the receiver's neighbours do is free while bytes arrive: any bytes (line errors
included) at any times, any answer-slot and engine behaviour, any loader verdicts whose counts
the loader's header rules allow (at most ``act_depth``). Once the line is quiet the spec
assumes what the rest of the board gives then: the answer slot is free (the transmitter has
sent the previous answer; how long that takes is the transmitter's and the UART's, not
counted here), nothing owed to an answer, and an engine that takes each activation offered.
The engine's results and the watchdog's verdict stay free.

The receiver's idle state is read from its FSM (:func:`~tinyeie.sim.formal.fsm_state`): the
block has no port that says it. With ``invariants`` the spec also asserts facts about the
receiver's inner state that every reachable state keeps (a valid FSM state and sink, a frame's
type known past TYPE, activations owed at most ``act_depth``, ...), found by name
(:func:`~tinyeie.sim.formal.fragment_signal`): with them k-induction closes, so the property
holds from *every* reachable state, not only those a bounded trace reaches. They are proven
with it (asserted, not assumed).
"""

from amaranth.asserts import AnySeq
from amaranth.hdl import Assert, Assume, ClockDomain, Cover, Elaboratable, Fragment, Module, Signal

from tinyeie.contract.protocol import Request
from tinyeie.hw.request_receiver import RequestReceiver
from tinyeie.sim.formal import fragment_signal, fsm_state

__all__ = ["ReceiverLiveness"]

_ENGINE_SINK = 2    # request_receiver._Sink.ENGINE: the payload goes to the engine


class ReceiverLiveness(Elaboratable):
    """``config``, ``timeout_cycles``, ``sparse``: the receiver's; a model of ``in_count``
    inputs is loaded from power-up (so INFERs reach the engine without a load first).
    ``bound``: cycles of quiet line after which the receiver must be idle."""

    def __init__(self, config, *, timeout_cycles, sparse, bound, invariants=False):
        self.config = config
        self.timeout_cycles = timeout_cycles
        self.sparse = sparse
        self.bound = bound
        self.invariants = invariants

    def elaborate(self, platform):
        cfg = self.config
        m = Module()
        m.domains.sync = sync = ClockDomain("sync")
        m.d.comb += sync.rst.eq(0)
        dut = RequestReceiver(cfg, timeout_cycles=self.timeout_cycles,
                              preloaded=(cfg.act_depth, min(cfg.act_depth, 10)),
                              sparse=self.sparse)
        fragment = Fragment.get(dut, platform)
        m.submodules.dut = fragment
        state, encoding = fsm_state(fragment, "rx")

        # The line goes quiet at some cycle and stays so.
        silent = Signal()
        with m.If(AnySeq(1)):
            m.d.sync += silent.eq(1)
        quiet_for = Signal(range(self.bound + 1))
        with m.If(silent & (quiet_for != self.bound)):
            m.d.sync += quiet_for.eq(quiet_for + 1)

        rx = dut.i_rx
        m.d.comb += [
            rx.valid.eq(~silent & AnySeq(1)), rx.payload.eq(AnySeq(len(rx.payload.as_value()))),
            dut.o_image.ready.eq(AnySeq(1)),
            dut.loader_done.eq(AnySeq(1)), dut.loader_ok.eq(AnySeq(1)),
            dut.loader_error.eq(AnySeq(3)),
            dut.loader_in_count.eq(AnySeq(len(dut.loader_in_count))),
            dut.loader_out_count.eq(AnySeq(len(dut.loader_out_count))),
            dut.loader_received.eq(AnySeq(len(dut.loader_received))),
            dut.boot_busy.eq(AnySeq(1)),
            dut.results_valid.eq(AnySeq(1)),
            dut.engine_out_count.eq(AnySeq(len(dut.engine_out_count))),
            dut.engine_given_up.eq(AnySeq(1)),
            # the answer slot and the engine: free while bytes come, then as the board gives
            dut.o_answer.ready.eq(silent | AnySeq(1)),
            dut.results_owed.eq(~silent & AnySeq(1)),
            dut.o_activations.ready.eq(silent | AnySeq(1)),
            # a model the loader passed has at most act_depth inputs and outputs
            Assume(dut.loader_in_count <= cfg.act_depth),
            Assume(dut.loader_out_count <= cfg.act_depth),
        ]

        if self.invariants:
            # What induction needs besides the property: the spec's quiet count only runs on
            # a quiet line, and the receiver's counts of activations owed stay within a model
            # the loader passes.
            # (A dense receiver counts the activations owed with the payload's byte count.)
            owed = fragment_signal(fragment, "left" if self.sparse else "count")
            sink = fragment_signal(fragment, "sink")
            count = fragment_signal(fragment, "count")
            header = [encoding[name] for name in ("TYPE", "LENGTH-LOW", "LENGTH-HIGH")]
            m.d.comb += [
                Assert(silent | (quiet_for == 0)),
                Assert(state < len(encoding)),
                Assert(sink <= _ENGINE_SINK),
                Assert(fragment_signal(fragment, "in_count") <= cfg.act_depth),
                # (a frame's sink is chosen at the end of its header)
                Assert((sink != _ENGINE_SINK) | ~state.matches(*header)),
                Assert((sink != _ENGINE_SINK) | (owed <= cfg.act_depth)),
                Assert((state != encoding["PAYLOAD"]) | (count != 0)),
            ]
            # past TYPE, a frame's type is one the receiver knows
            frame_type = fragment_signal(fragment, "frame_type")
            last_type = Request.INFER_SPARSE if self.sparse else Request.INFER
            typed = state.matches(*[encoding[name] for name in (
                "LENGTH-LOW", "LENGTH-HIGH", "PAYLOAD", "CRC-HIGH", "CRC-LOW", "END")])
            m.d.comb += Assert(~typed | ((frame_type != 0) & (frame_type <= last_type)))
            if self.sparse:
                # a dense INFER's payload bytes and the activations it owes go down together
                # (bytes alone once the inference is given up)
                dense_infer = ((sink == _ENGINE_SINK) & (state == encoding["PAYLOAD"])
                               & (frame_type == Request.INFER))
                m.d.comb += [
                    Assert((sink != _ENGINE_SINK)
                           | frame_type.matches(Request.INFER, Request.INFER_SPARSE)),
                    Assert(~dense_infer | (owed >= count)),
                ]
        idle = state == encoding["IDLE"]
        with m.If(quiet_for == self.bound):
            m.d.comb += Assert(idle, "a quiet line returns the receiver to idle within the bound")
        # Witnesses: the receiver is seen outside idle when the line goes quiet.
        m.d.comb += Cover(silent & (quiet_for == 0) & ~idle)
        return m
