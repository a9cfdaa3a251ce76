"""cocotb drivers for Amaranth streams (payload/valid/ready), and clock and reset.

Amaranth's stream rules, which both ends here keep and :class:`StreamRules` checks: a transfer
happens on a rising clock edge where ``valid`` and ``ready`` are both high; once ``valid`` is
high, the payload is stable and ``valid`` stays high until that transfer; ``valid`` never waits
for ``ready``; ``ready`` may look at ``valid``. A stream port ``i_stream`` of a component is the
three Verilog ports ``i_stream__payload``, ``i_stream__valid`` and ``i_stream__ready``.

Timing, as cocotb 2.1 runs Verilator (writes are inertial): the values read right after
``await RisingEdge(clk)`` are those the edge sampled, and values written then take effect after
the edge. So each end samples the transfer and drives the next cycle in one wake-up per clock
cycle, and sleeps while it has nothing to do: a source with nothing to send waits for
:meth:`StreamSource.send`, a sink waits for ``valid`` to rise. A cycle costs about 4 us for the
wake-up and 2 us for each signal read or written, so 160,000 transfers take about 2 s.

Example, inside a ``@cocotb.test()``::

    clock = await start_clock(dut)
    source = StreamSource(dut, "i_stream", dut.clk, idle_prob=0.3)
    sink = StreamSink(dut, "o_stream", dut.clk, backpressure_prob=0.3, signed=True)
    source.send([1, -2, 3])
    assert await sink.recv(3) == [1, -2, 3]
"""

from __future__ import annotations

import collections
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, Event, RisingEdge
from cocotb.utils import get_sim_time

__all__ = ["StreamSource", "StreamSink", "StreamRules", "StreamRuleError", "start_clock",
           "to_signed", "to_unsigned"]


def to_signed(value, width=None):
    """Interpret a value's bits as a two's complement integer.

    Parameters
    ----------
    value : LogicArray or int or str
        A cocotb ``LogicArray`` (what ``handle.value`` returns), an unsigned ``int``, or a
        string of binary digits. Objects with ``to_unsigned()`` (cocotb 2) or ``integer``
        (cocotb 1's ``BinaryValue``) are accepted too.
    width : int, optional
        The number of bits; required for an ``int``, taken from the value otherwise.

    Returns
    -------
    int
        The value in ``[-2**(width-1), 2**(width-1))``.

    Examples
    --------
    >>> to_signed(0xFF, 8), to_signed(0x7F, 8), to_signed("1110")
    (-1, 127, -2)
    """
    if isinstance(value, str):
        digits = value.replace("_", "")
        width = len(digits) if width is None else width
        value = int(digits, 2)
    elif not isinstance(value, int):
        if width is None:
            width = len(value)
        value = value.to_unsigned() if hasattr(value, "to_unsigned") else int(value.integer)
    if width is None or width < 1:
        raise ValueError(f"to_signed() needs the width of an int value, got width={width!r}")
    value &= (1 << width) - 1
    return value - (1 << width) if value >> (width - 1) else value


def to_unsigned(value, width):
    """Return the ``width``-bit two's complement bits of ``value`` as a non-negative int.

    Examples
    --------
    >>> to_unsigned(-1, 8), to_unsigned(5, 8)
    (255, 5)
    """
    if not -(1 << (width - 1)) <= value < (1 << width):
        raise ValueError(f"{value} does not fit in {width} bits")
    return value & ((1 << width) - 1)


async def start_clock(dut, clk="clk", rst="rst", period_ns=10, reset_cycles=2):
    """Start the clock and hold the synchronous reset for a few cycles.

    Parameters
    ----------
    dut : HierarchyObject
        The design, as cocotb passes it to the test.
    clk, rst : str
        The clock and reset port names (Amaranth's defaults); ``rst=None`` for no reset.
    period_ns : int
        The clock period in nanoseconds (even).
    reset_cycles : int
        Rising edges with reset high before it is released.

    Returns
    -------
    cocotb.clock.Clock
        The running clock (``clock.stop()`` stops it). On return the design is out of reset
        and the next rising edge is its first working one.
    """
    reset = getattr(dut, rst) if rst else None
    if reset is not None:
        reset.value = 1
    clock = Clock(getattr(dut, clk), period_ns, "ns")
    clock.start()
    if reset is not None:
        await ClockCycles(clock.signal, reset_cycles)
        reset.value = 0
    return clock


def _port(dut, prefix, field, required=True):
    name = f"{prefix}__{field}"
    try:
        return getattr(dut, name)
    except AttributeError:
        if not required:
            return None
        raise AttributeError(f"the design has no port {name!r}: an Amaranth stream port "
                             f"{prefix!r} needs {prefix}__payload, __valid and __ready") from None


def _bit_reader(handle):
    """Return a function reading a 1-bit signal as a bool, in the fewest Python steps."""
    # handle.value builds a Logic object for every read; the raw string is twice as cheap,
    # and Verilator, being two-state, never returns X or Z.
    raw = getattr(getattr(handle, "_handle", None), "get_signal_val_binstr", None)
    if raw is None:
        return lambda: bool(handle.value)
    return lambda: raw() == "1"


def _int_reader(handle):
    """Return a function reading a signal's bits as a non-negative int, of any width."""
    # As above: LogicArray construction costs more than the read itself (3 us against 1 us).
    raw = getattr(getattr(handle, "_handle", None), "get_signal_val_binstr", None)
    if raw is None:
        return lambda: handle.value.to_unsigned()
    return lambda: int(raw(), 2)


def _rng(seed, prefix):
    # A seed of None still gives a repeatable run: cocotb's seed (set by harness.run) with the
    # port name, so two streams of one test do not share a pattern.
    if seed is None:
        seed = f"{cocotb.RANDOM_SEED}:{prefix}"
    return random.Random(seed)


class StreamSource:
    """Drive an Amaranth stream into the design, with random idle cycles.

    Parameters
    ----------
    dut : HierarchyObject
        The design.
    prefix : str
        The stream port's name, e.g. ``"i_stream"``.
    clk : LogicObject
        The clock the stream is synchronous to, e.g. ``dut.clk``.
    idle_prob : float
        Chance, each cycle the source could offer an item, that it leaves ``valid`` low
        instead. Once ``valid`` is high it stays high, payload unchanged, until the transfer.
    seed : int or str, optional
        Seed of the idle pattern; default derived from ``cocotb.RANDOM_SEED`` and ``prefix``.

    Attributes
    ----------
    sent : int
        Items transferred so far.
    width : int
        Payload width in bits (0 for a stream without payload).

    Notes
    -----
    The source starts its own task when created, so create it inside a running test. Call
    :meth:`send` from a task (not from a ``ReadOnly`` phase, where nothing may be written).
    """

    def __init__(self, dut, prefix, clk, idle_prob=0.0, seed=None):
        if not 0.0 <= idle_prob < 1.0:
            raise ValueError(f"idle_prob must be in [0, 1), not {idle_prob}")
        self._payload = _port(dut, prefix, "payload", required=False)
        self._valid = _port(dut, prefix, "valid")
        self._ready = _bit_reader(_port(dut, prefix, "ready"))
        self.width = len(self._payload) if self._payload is not None else 0
        self.prefix = prefix
        self.idle_prob = idle_prob
        self.sent = 0
        self._edge = RisingEdge(clk)
        self._rng = _rng(seed, prefix)
        self._queue = collections.deque()
        self._more = Event()
        self._idle = Event()
        self._idle.set()
        self._valid.value = 0
        self._task = cocotb.start_soon(self._drive())

    def send(self, items):
        """Queue items to send, in order; returns at once.

        Parameters
        ----------
        items : iterable of int
            Payloads as integers; negative ones are sent as their two's complement bits.

        Raises
        ------
        ValueError
            An item does not fit in the payload's width.
        """
        mask = (1 << self.width) - 1
        low = -(1 << (self.width - 1)) if self.width else 0
        queue = self._queue
        for item in items:
            item = int(item)
            if not low <= item <= mask:
                raise ValueError(f"{self.prefix}: item {item} does not fit in the "
                                 f"{self.width}-bit payload")
            queue.append(item & mask)
        if queue:
            self._idle.clear()
            self._more.set()

    @property
    def pending(self):
        """Items queued and not yet transferred (the one offered now included)."""
        return len(self._queue)

    async def wait_idle(self):
        """Wait until every queued item has been transferred."""
        await self._idle.wait()

    async def _drive(self):
        queue, rng, idle_prob = self._queue, self._rng.random, self.idle_prob
        valid, payload, ready, edge = self._valid, self._payload, self._ready, self._edge
        valid_high = False
        holding = False  # valid is high with queue[0] on the payload, not yet taken
        while True:
            if not holding:
                if not queue:
                    if valid_high:
                        valid.value = 0
                        valid_high = False
                    self._idle.set()
                    # Sleep until send(): no wake-up per cycle while there is nothing to do.
                    self._more.clear()
                    await self._more.wait()
                if idle_prob and rng() < idle_prob:
                    if valid_high:
                        valid.value = 0
                        valid_high = False
                else:
                    if payload is not None:
                        payload.value = queue[0]
                    if not valid_high:
                        valid.value = 1
                        valid_high = True
                    holding = True
            await edge
            if holding and ready():
                queue.popleft()
                self.sent += 1
                holding = False


class StreamSink:
    """Take transfers from an Amaranth stream of the design, with random back-pressure.

    Parameters
    ----------
    dut : HierarchyObject
        The design.
    prefix : str
        The stream port's name, e.g. ``"o_stream"``.
    clk : LogicObject
        The clock the stream is synchronous to, e.g. ``dut.clk``.
    backpressure_prob : float
        Chance, each cycle, that ``ready`` is low.
    seed : int or str, optional
        Seed of the back-pressure pattern; default derived from ``cocotb.RANDOM_SEED`` and
        ``prefix``.
    signed : bool
        Return payloads as two's complement integers instead of unsigned ones.

    Attributes
    ----------
    received : int
        Transfers taken so far (including those already returned by :meth:`recv`).
    width : int
        Payload width in bits.

    Notes
    -----
    While ``valid`` is low the sink does not wake each cycle; it waits for ``valid`` to rise,
    holding ``ready`` at its last value, so a design computing for thousands of cycles between
    outputs costs no Python time.
    """

    def __init__(self, dut, prefix, clk, backpressure_prob=0.0, seed=None, signed=False):
        if not 0.0 <= backpressure_prob < 1.0:
            raise ValueError(f"backpressure_prob must be in [0, 1), not {backpressure_prob}")
        payload = _port(dut, prefix, "payload", required=False)
        self._valid_handle = _port(dut, prefix, "valid")
        self._valid = _bit_reader(self._valid_handle)
        self._ready = _port(dut, prefix, "ready")
        self.width = len(payload) if payload is not None else 0
        self._payload = _int_reader(payload) if payload is not None else (lambda: 0)
        self.prefix = prefix
        self.signed = signed
        self.backpressure_prob = backpressure_prob
        self.received = 0
        self._edge = RisingEdge(clk)
        self._rng = _rng(seed, prefix)
        self._queue = collections.deque()
        self._wanted = None  # recv() is waiting until the queue holds this many items
        self._got = Event()
        self._ready.value = 0
        self._task = cocotb.start_soon(self._collect())

    @property
    def pending(self):
        """Items received and not yet returned by :meth:`recv`."""
        return len(self._queue)

    async def recv(self, count):
        """Wait for ``count`` more items and return them, oldest first (one caller at a time).

        Returns
        -------
        list of int
            Unsigned payloads, or two's complement ones for ``signed=True``.
        """
        if len(self._queue) < count:
            self._wanted = count
            self._got.clear()
            await self._got.wait()
            self._wanted = None
        return [self._queue.popleft() for _ in range(count)]

    def drain(self):
        """Return every item received and not yet returned, without waiting."""
        items = list(self._queue)
        self._queue.clear()
        return items

    async def _collect(self):
        queue, rng, bp = self._queue, self._rng.random, self.backpressure_prob
        ready, valid, payload, edge = self._ready, self._valid, self._payload, self._edge
        valid_rise = RisingEdge(self._valid_handle)
        width, signed = self.width, self.signed
        ready_high = False
        while True:
            want = not (bp and rng() < bp)
            if want != ready_high:
                ready.value = want
                ready_high = want
            await edge
            if not valid():
                # valid was low at this edge. If it rises at the edge itself, the rise is
                # evaluated after this task yields, so awaiting it here cannot miss it.
                await valid_rise
                continue
            if ready_high:
                item = payload()
                if signed and item >> (width - 1):
                    item -= 1 << width
                queue.append(item)
                self.received += 1
                if self._wanted is not None and len(queue) >= self._wanted:
                    self._got.set()


class StreamRuleError(AssertionError):
    """One end of a stream broke an Amaranth stream rule."""


class StreamRules:
    """Watch a stream and fail the test when its driver breaks the stream rules.

    Checked at every rising edge: once ``valid`` is high without a transfer, ``valid`` stays high
    and the payload stays the same until the transfer. Put one on a design's output to check
    the design, or on its input to check the test's driver.

    Parameters
    ----------
    dut : HierarchyObject
        The design.
    prefix : str
        The stream port's name.
    clk : LogicObject
        The stream's clock.

    Attributes
    ----------
    transfers : int
        Transfers seen so far.

    Notes
    -----
    A violation raises :class:`StreamRuleError` in the watching task, which fails the running
    cocotb test. Like :class:`StreamSink`, the watcher sleeps while ``valid`` is low.
    """

    def __init__(self, dut, prefix, clk):
        payload = _port(dut, prefix, "payload", required=False)
        self._valid_handle = _port(dut, prefix, "valid")
        self._valid = _bit_reader(self._valid_handle)
        self._ready = _bit_reader(_port(dut, prefix, "ready"))
        self._payload = _int_reader(payload) if payload is not None else (lambda: 0)
        self._edge = RisingEdge(clk)
        self.prefix = prefix
        self.transfers = 0
        self._task = cocotb.start_soon(self._watch())

    async def _watch(self):
        valid, ready, payload, edge = self._valid, self._ready, self._payload, self._edge
        valid_rise = RisingEdge(self._valid_handle)
        offered = None  # the payload offered at the previous edge and not taken
        while True:
            await edge
            if not valid():
                if offered is not None:
                    raise StreamRuleError(
                        f"{self.prefix}: valid fell at {get_sim_time('ns')} ns before payload "
                        f"{offered:#x} was taken; valid must stay high until ready")
                await valid_rise
                continue
            now = payload()
            if offered is not None and now != offered:
                raise StreamRuleError(
                    f"{self.prefix}: payload changed from {offered:#x} to {now:#x} at "
                    f"{get_sim_time('ns')} ns before it was taken; it must stay stable while "
                    f"valid is high")
            if ready():
                self.transfers += 1
                offered = None
            else:
                offered = now
