"""The host protocol's engine watchdog: it gives up an inference the engine cannot finish."""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["EngineWatchdog"]


class EngineWatchdog(wiring.Component):
    """Resets the engine when it cannot finish an inference, and says whose inference it was.

    Whatever model image is loaded, every inference must end. One the engine is still working
    on when its cycle count (which leaves out the cycles it waits for its consumer) reaches the
    protocol's bound is given up (a run of entries that never ends), and so is one the receiver
    sees going wrong (``trip``: the engine wants more activations than the model's header
    counts, or gives results early or in another number). Either way the engine is reset, which
    returns it to idle. The inference is the answer slot's while ``owed`` (the transmitter then
    stops waiting for its results), else the receiver's, which then answers ENGINE-FAULT.

    Members
    -------
    restart : ``In(1)``
        The receiver starts a new inference: ``given_up`` falls.
    overtime : ``In(1)``
        The engine's cycle count has reached the bound.
    trip : ``In(1)``
        The receiver gives its inference up.
    owed : ``In(1)``
        The engine's results are owed to an answer already posted (not the receiver's).
    given_up : ``Out(1)``
        The receiver's inference is given up, until the next ``restart``.
    reset : ``Out(1)``
        One cycle, the cycle after the inference is given up: resets the engine.
    """

    restart: In(1)
    overtime: In(1)
    trip: In(1)
    owed: In(1)
    given_up: Out(1)
    reset: Out(1)

    def elaborate(self, platform):
        m = Module()
        with m.If(self.restart):
            m.d.sync += self.given_up.eq(0)
        with m.Elif(self.trip | (self.overtime & ~self.owed)):
            m.d.sync += self.given_up.eq(1)
        # (the engine's count is 0 again once it has been reset: one pulse)
        m.d.sync += self.reset.eq((self.trip | self.overtime) & ~self.reset)
        return m
