"""Formal spec for the model-image loader (:class:`~tinyeie.hw.loader.ImageLoader`): the
engine never receives a write from an image the loader refuses, and never one outside its
memories.

Bytes arrive at random times with any values, the engine takes writes at random times, and
``start`` may come at any time. The spec keeps its own reading of the byte stream: it counts
the bytes since ``start``, assembles the header's words and checks each against the contract's
:func:`~tinyeie.contract.image.header_rules` (written here again from what the rules mean, not
from the loader's table lookup). It asserts that a write is offered only

* after the whole header has arrived and passed every rule;
* while the loader has not given its verdict (``done`` low, ``error`` NONE);
* to a memory the engine has, below its depth (:func:`~tinyeie.contract.image.memories`).

The CRC-32 is checked only at the image's end, so a damaged image's earlier sections do reach
the engine; the host protocol keeps the model invalid until the loader says ``ok``.

With ``invariants`` the spec also asserts what k-induction needs to close: the spec's reading
of the header agrees with the loader's state (word index, byte half, low byte, the two-word
bound), no verdict while an image is under way, and a data section's range inside its memory.
They are found by name in the elaborated loader (:func:`~tinyeie.sim.formal.fragment_signal`)
and proven with the property, which then holds in every reachable state. Without them, the
spec is the bounded check from the first ``start`` (BMC, and the cover proof that the depth
reaches writes).
"""

from amaranth.asserts import AnySeq, Initial
from amaranth.hdl import (
    Assert,
    Assume,
    Cat,
    ClockDomain,
    Cover,
    Elaboratable,
    Fragment,
    Module,
    Signal,
)

from tinyeie.contract.image import (
    HEADER_WORDS,
    SECTION_WORDS,
    HeaderRule,
    header_rules,
    memories,
)
from tinyeie.contract.protocol import LoaderError
from tinyeie.hw.loader import ImageLoader
from tinyeie.sim.formal import fragment_signal, fsm_state

__all__ = ["LoaderSafety"]


class LoaderSafety(Elaboratable):
    """The loader for ``config``; its writes checked against the memories of ``engine`` (the
    same config unless given: another one shows that the proof can fail)."""

    def __init__(self, config, engine=None, *, invariants=False):
        self.config = config
        self.engine = config if engine is None else engine
        self.invariants = invariants

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = sync = ClockDomain("sync")
        m.d.comb += sync.rst.eq(0)
        dut = ImageLoader(self.config)
        fragment = Fragment.get(dut, platform)
        m.submodules.dut = fragment
        i, o = dut.i_stream, dut.o_model
        m.d.comb += [i.valid.eq(AnySeq(1)), i.payload.eq(AnySeq(8)), o.ready.eq(AnySeq(1)),
                     dut.start.eq(AnySeq(1))]
        with m.If(Initial()):
            m.d.comb += Assume(dut.start)

        # The spec's reading of the header: bytes since start, the low byte of a word, and
        # whether every word so far kept its rule.
        rules = header_rules(self.config)
        count = Signal(range(2 * HEADER_WORDS + 1))
        low = Signal(8)
        low_above = Signal()        # the word before was a LOW_HALF word above its bound
        good = Signal()             # every header word so far kept its rule
        take = i.valid & i.ready
        word = Cat(low, i.payload)
        with m.If(dut.start):
            m.d.sync += [count.eq(0), good.eq(1), low_above.eq(0)]
        with m.Elif(take & (count != 2 * HEADER_WORDS)):
            m.d.sync += count.eq(count + 1)
            with m.If(~count[0]):
                m.d.sync += low.eq(i.payload)
            for k, (rule, bound, _) in enumerate(rules):
                with m.If(count == 2 * k + 1):
                    # a two-word number: the high word is at most its bound, and if equal to
                    # it, so is the low word
                    m.d.sync += low_above.eq(0)
                    if rule == HeaderRule.EQUAL:
                        m.d.sync += good.eq(good & (word == bound))
                    elif rule == HeaderRule.AT_MOST:
                        m.d.sync += good.eq(good & ((word < bound)
                                                    | ((word == bound) & ~low_above)))
                    elif rule == HeaderRule.LOW_HALF:
                        m.d.sync += low_above.eq(word > bound)

        addr = o.payload.addr
        inside = 0
        for target, (slices, depth) in memories(self.engine).items():
            inside |= (addr.target == target) & (addr.slice < slices) & (addr.word < depth)
        with m.If(o.valid):
            m.d.comb += [
                Assert((count == 2 * HEADER_WORDS) & good,
                       "a write only after a whole header that kept every rule"),
                Assert(~dut.done & (dut.error == LoaderError.NONE),
                       "no write once the loader has given its verdict"),
                Assert(inside, "a write only to a memory the engine has, below its depth"),
            ]
        if self.invariants:
            self._invariants(m, fragment, dut, count=count, low=low, low_above=low_above,
                             good=good)
        # Witness that the depth reaches writes (the cover proof): an image's third write.
        writes = Signal(range(4))
        with m.If(dut.start):
            m.d.sync += writes.eq(0)
        with m.Elif(o.valid & o.ready & (writes != 3)):
            m.d.sync += writes.eq(writes + 1)
        m.d.comb += Cover(writes == 3)
        return m

    def _invariants(self, m, fragment, dut, *, count, low, low_above, good):
        """What k-induction needs besides the property: the spec's reading of the header agrees
        with the loader's state, and a data section's range lies inside its memory. Asserted,
        so proven with the rest."""
        state, encoding = fsm_state(fragment, "fsm")
        inner = {name: fragment_signal(fragment, name)
                 for name in ("idx", "high", "low", "low_above", "addr", "end", "target",
                              "slice_", "sections")}

        def in_state(*names):
            return state.matches(*[encoding[name] for name in names])

        after_low_half = [k + 1 for k, (rule, _, _) in enumerate(header_rules(self.config))
                          if rule == HeaderRule.LOW_HALF]
        kind_ok = depth_ok = 0
        for target, (slices, depth) in memories(self.config).items():
            here = inner["target"] == target
            kind_ok |= here & (inner["slice_"] < slices)
            depth_ok |= here & (inner["end"] <= depth)
        m.d.comb += [
            Assert(state < len(encoding)),
            Assert(~in_state("HEADER", "SECTION", "DATA", "TRAILER", "CHECK")
                   | (~dut.done & (dut.error == LoaderError.NONE))),
            Assert(~in_state("HEADER") | (good & (count == 2 * inner["idx"] + inner["high"]))),
            # (the loader's is stale after `start` until the first word, which needs none)
            Assert(~in_state("HEADER") | (inner["idx"] == 0)
                   | (low_above == inner["low_above"])),
            Assert(~in_state("HEADER") | ~inner["high"] | (low == inner["low"])),
            Assert(~in_state("HEADER") | ~low_above | inner["idx"].matches(*after_low_half)),
            Assert(~in_state("SECTION", "DATA", "TRAILER", "CHECK")
                   | (good & (count == 2 * HEADER_WORDS))),
            Assert(~in_state("SECTION") | (inner["idx"] < SECTION_WORDS)),
            Assert(~in_state("SECTION", "DATA") | (inner["sections"] != 0)),
            Assert(~in_state("DATA") | (inner["idx"] == 0)),
            Assert(~in_state("TRAILER") | (inner["idx"] <= 1)),
            Assert(~in_state("SECTION") | (inner["idx"] == 0) | kind_ok),
            Assert(~in_state("DATA") | (kind_ok & depth_ok & (inner["addr"] < inner["end"]))),
        ]
