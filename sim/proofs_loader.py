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

It is a bounded proof (BMC from the first ``start``): the catalogue runs it to a depth that
covers the whole header, a section header and a few data words (``sim/proofs.py``).
"""

from amaranth.asserts import AnySeq, Initial
from amaranth.hdl import Assert, Assume, Cat, ClockDomain, Cover, Elaboratable, Module, Signal

from tinyeie.contract.image import HEADER_WORDS, HeaderRule, header_rules, memories
from tinyeie.contract.protocol import LoaderError
from tinyeie.hw.loader import ImageLoader

__all__ = ["LoaderSafety"]


class LoaderSafety(Elaboratable):
    """The loader for ``config``; its writes checked against the memories of ``engine`` (the
    same config unless given: another one shows that the proof can fail)."""

    def __init__(self, config, engine=None):
        self.config = config
        self.engine = config if engine is None else engine

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = sync = ClockDomain("sync")
        m.d.comb += sync.rst.eq(0)
        m.submodules.dut = dut = ImageLoader(self.config)
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
        # Witness that the depth reaches writes (the cover proof): an image's third write.
        writes = Signal(range(4))
        with m.If(dut.start):
            m.d.sync += writes.eq(0)
        with m.Elif(o.valid & o.ready & (writes != 3)):
            m.d.sync += writes.eq(writes + 1)
        m.d.comb += Cover(writes == 3)
        return m
