"""A host's end of an 8N1 UART for cocotb: bytes to the design's ``rx`` pin, bytes from its
``tx`` pin, bit-timed like the design's UART (``divisor`` clock periods a bit).

Bits are timed with timers, not by counting clock edges: one wake-up a bit instead of one a
clock cycle, so a long wait costs nothing (counting edges, cocotb wakes Python every cycle).
"""

import collections

import cocotb
from cocotb.triggers import Event, FallingEdge, First, Timer

__all__ = ["UARTHost"]


class UARTHost:
    """Drive ``rx`` and listen on ``tx`` of a design.

    Parameters
    ----------
    rx, tx : LogicObject
        The design's receive (driven here) and transmit (watched here) pins.
    period_ns : int
        The design's clock period.
    divisor : int
        Clock cycles per bit.

    The receiver starts when the object is created (create it inside a running test); bytes
    whose stop bit is low are recorded as ``None`` (a framing error on the host's side).
    """

    def __init__(self, rx, tx, period_ns, divisor):
        self.rx, self.tx = rx, tx
        self.period_ns = period_ns
        self.bit_ns = period_ns * divisor
        self.rx.value = 1
        self._received = collections.deque()
        self._arrived = Event()
        cocotb.start_soon(self._listen())

    async def send(self, data, *, stop=1):
        """Send bytes, back to back; ``stop=0`` sends them with a broken stop bit."""
        for byte in bytes(data):
            for level in [0, *((byte >> k) & 1 for k in range(8)), stop]:
                self.rx.value = level
                await Timer(self.bit_ns, "ns")
            if not stop:
                self.rx.value = 1
                await Timer(self.bit_ns, "ns")

    async def idle(self, cycles):
        """Hold the line idle (high) for ``cycles`` clock cycles."""
        self.rx.value = 1
        await Timer(cycles * self.period_ns, "ns")

    async def _listen(self):
        while True:
            await FallingEdge(self.tx)
            await Timer(self.bit_ns // 2, "ns")
            if int(self.tx.value):
                continue            # a glitch, not a start bit
            byte = 0
            for k in range(8):
                await Timer(self.bit_ns, "ns")
                byte |= int(self.tx.value) << k
            await Timer(self.bit_ns, "ns")
            self._received.append(byte if int(self.tx.value) else None)
            self._arrived.set()

    async def recv(self, count, *, timeout_cycles):
        """The next ``count`` bytes; fewer if ``timeout_cycles`` pass with nothing new."""
        out = []
        while len(out) < count:
            if not self._received:
                self._arrived.clear()
                waited = Timer(timeout_cycles * self.period_ns, "ns")
                if await First(self._arrived.wait(), waited) is waited:
                    break
                continue
            out.append(self._received.popleft())
        return out

    def drain(self):
        """Bytes received and not yet taken."""
        out = list(self._received)
        self._received.clear()
        return out
