"""Formal specs for the engine's queues: each PE's column queue and the broadcaster's inbox,
taken from the elaborated PE and broadcaster (:func:`~tinyeie.sim.formal.submodule`), so the
proof is about the very queue the design builds, with its depth and width.

Three specs, as Amaranth checks its own FIFOs (its FIFO model equivalence, split in two so
that each part scales with the depth):

* :class:`QueueEquivalence`: driven by free inputs, the queue offers an item exactly when a
  FIFO model of its depth holds one, is ready exactly when the model has room, and its
  ``level`` (when it has one) is the model's;
* :class:`QueueData`: the ``k``-th item read is the ``k``-th written, for any ``k``;
* :class:`QueueOrder`: two arbitrary items written one after the other, after an arbitrary
  number of others, come out one after the other, within a bound of a reader that always
  reads (``2 x depth + 1`` cycles for Amaranth's FIFOs; ``sim/proofs.py`` gives each queue's).

They talk to the queue through its stream ports (``w_stream`` and ``r_stream``, or
``i_stream`` and ``o_stream``), so any queue component with those passes or fails on its
behaviour, not its build. A queue whose items take ``delay`` cycles more than one to be offered
(the request inbox's block RAM reads a cycle late) is compared with a model that holds each item
back that long.
"""

from amaranth.asserts import AnyConst, AnySeq, Initial
from amaranth.hdl import (
    Assert,
    Assume,
    ClockDomain,
    Cover,
    Elaboratable,
    Module,
    Signal,
    Value,
)

__all__ = ["QueueEquivalence", "QueueData", "QueueOrder", "queue_ports"]


def _clock(m):
    """The spec's clock domain, never reset: registers start at their init values."""
    m.domains.sync = sync = ClockDomain("sync")
    m.d.comb += sync.rst.eq(0)


class _Port:
    def __init__(self, valid, ready, payload):
        self.valid, self.ready, self.payload = valid, ready, payload


def queue_ports(queue):
    """The queue's write and read streams: ``w_stream``/``r_stream`` (Amaranth's FIFOs, the PE
    queues) or ``i_stream``/``o_stream`` (the request inbox)."""
    if hasattr(queue, "w_stream"):
        return queue.w_stream, queue.r_stream
    return queue.i_stream, queue.o_stream


def _spec(queue, *, free_traffic):
    """A module holding ``queue`` on a never-reset clock, its write and read streams (payloads
    as plain values) and their width; with ``free_traffic``, writer and reader do anything
    (AnySeq) every cycle."""
    m = Module()
    m.submodules.dut = queue
    _clock(m)
    w, r = queue_ports(queue)
    w = _Port(w.valid, w.ready, Value.cast(w.payload))
    r = _Port(r.valid, r.ready, Value.cast(r.payload))
    width = len(w.payload)
    if free_traffic:
        m.d.comb += [w.valid.eq(AnySeq(1)), w.payload.eq(AnySeq(width)), r.ready.eq(AnySeq(1))]
    return m, w, r, width


class QueueEquivalence(Elaboratable):
    """The queue offers, takes and counts items exactly as a FIFO model of its depth, for any
    inputs (k-induction closes: this holds in every reachable state). ``delay``: cycles beyond
    one an item written takes to be offered."""

    def __init__(self, queue, depth, delay=0):
        self.queue = queue
        self.depth = depth
        self.delay = delay

    def elaborate(self, platform):
        m, w, r, width = _spec(self.queue, free_traffic=True)
        queue = self.queue
        count = Signal(range(self.depth + 1))
        m.d.sync += count.eq(count + (w.valid & w.ready) - (r.valid & r.ready))
        # Items written in the last `delay` cycles, not offered yet.
        recent = [Signal(name=f"written_{k + 1}_ago") for k in range(self.delay)]
        for k, flag in enumerate(recent):
            m.d.sync += flag.eq(recent[k - 1] if k else w.valid & w.ready)
        arrived = count - sum(recent) if recent else count
        m.d.comb += Assert(count <= self.depth, "the model never holds more than its depth")
        if recent:
            m.d.comb += Assert(sum(recent) <= count, "the items written lately are still held")
        m.d.comb += [
            Assert(r.valid == (arrived != 0),
                   "the queue offers an item exactly when it holds one written long enough ago"),
            Assert(w.ready == (count != self.depth), "the queue takes an item exactly when it has "
                                                     "room"),
        ]
        if hasattr(queue, "level"):
            m.d.comb += Assert(queue.level == count, "the level is the number of items held")
        m.d.comb += Cover(count == self.depth)
        return m


class QueueData(Elaboratable):
    """Any item leaves the queue unchanged and in its place: the ``k``-th item read is the
    ``k``-th written, for an arbitrary ``k`` below ``positions`` (one tracked item stands for
    all of them, so the proof grows with the depth, not with depth x width)."""

    def __init__(self, queue, positions):
        self.queue = queue
        self.positions = positions

    def elaborate(self, platform):
        m, w, r, width = _spec(self.queue, free_traffic=True)
        k = Signal(range(self.positions))
        m.d.comb += k.eq(AnyConst(len(k)))
        written = Signal(range(self.positions + 1))
        read = Signal(range(self.positions + 1))
        tracked = Signal(width)
        with m.If(w.valid & w.ready & (written != self.positions)):
            m.d.sync += written.eq(written + 1)
            with m.If(written == k):
                m.d.sync += tracked.eq(w.payload)
        with m.If(r.valid & r.ready & (read != self.positions)):
            m.d.sync += read.eq(read + 1)
            with m.If(read == k):
                m.d.comb += Assert(r.payload == tracked, "the k-th item read is the k-th written")
        with m.If(r.valid & (written != self.positions)):
            m.d.comb += Assert(read < written, "only items written are read")
        m.d.comb += Cover(r.valid & r.ready & (read == k) & (k == self.positions - 1))
        return m


class QueueOrder(Elaboratable):
    """Two consecutive writes are read consecutively, within ``bound`` cycles of a reader that
    reads every cycle, whatever was written before them."""

    def __init__(self, queue, depth, bound):
        self.queue = queue
        self.depth = depth
        self.bound = bound

    def elaborate(self, platform):
        m, w, r, width = _spec(self.queue, free_traffic=False)

        first, second = AnyConst(width), AnyConst(width)
        others = Signal(range(self.depth + 1))   # items written before the pair: any number
        m.d.comb += [others.eq(AnyConst(len(others))), Assume(others <= self.depth)]
        written = Signal(range(self.depth + 3))
        m.d.comb += w.valid.eq(written < others + 2)
        with m.If(written == others):
            m.d.comb += w.payload.eq(first)
        with m.Elif(written == others + 1):
            m.d.comb += w.payload.eq(second)
        with m.Else():
            m.d.comb += w.payload.eq(AnySeq(width))
        with m.If(w.valid & w.ready):
            m.d.sync += written.eq(written + 1)

        # The reader reads every cycle and keeps the last two items read, with their positions.
        m.d.comb += r.ready.eq(1)
        read = Signal(range(self.depth + 3))
        got_first = Signal(width)
        got_second = Signal(width)
        with m.If(r.valid):
            m.d.sync += read.eq(read + 1)
            with m.If(read == others):
                m.d.sync += got_first.eq(r.payload)
            with m.If(read == others + 1):
                m.d.sync += got_second.eq(r.payload)

        cycle = Signal(range(self.bound + 2))
        with m.If(cycle <= self.bound):
            m.d.sync += cycle.eq(cycle + 1)
        with m.If(Initial()):
            m.d.comb += Assume(cycle == 0)
        with m.If(read == others + 2):
            m.d.comb += Assert((got_first == first) & (got_second == second),
                               "the pair comes out in order, unchanged")
        with m.If(cycle == self.bound):
            m.d.comb += Assert(read == others + 2, "the pair is out within the bound")
        return m
