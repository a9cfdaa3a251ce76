"""The host protocol with the model loader and the engine behind it: a board but its pins."""

from amaranth.hdl import Module, ResetInserter, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from tinyeie.contract.protocol import ENGINE_TIMEOUT_CYCLES, TIMEOUT_CYCLES
from tinyeie.hw.configured import Configured
from tinyeie.hw.engine import Engine, wipe_cycles
from tinyeie.hw.loader import ImageLoader
from tinyeie.hw.protocol import HostProtocol
from tinyeie.hw.uart import RxByte

__all__ = ["ModelServer", "connect_model_check"]


def connect_model_check(m, loader, engine):
    """The model check's wires between an :class:`~tinyeie.hw.loader.ImageLoader` and an
    :class:`~tinyeie.hw.engine.Engine`, both built with ``check_model``: the loader starts the
    check with what its header said and takes the engine's verdict."""
    m.d.comb += [
        engine.check_start.eq(loader.check_start), loader.check_done.eq(engine.check_done),
        loader.check_ok.eq(engine.check_ok), engine.check_layers.eq(loader.layers),
        engine.check_column_rows.eq(loader.column_rows),
        engine.check_in_count.eq(loader.in_count),
        engine.check_out_count.eq(loader.out_count),
    ]


class ModelServer(Configured, wiring.Component):
    """Serves the UART protocol with a model loader and an engine: all of a board but its pins.

    Bytes from the UART go to :class:`~tinyeie.hw.protocol.HostProtocol`, which gives LOAD-DATA
    to :class:`~tinyeie.hw.loader.ImageLoader` (whose writes fill
    :class:`~tinyeie.hw.engine.Engine`'s memories) and INFER's activations to the engine, and
    sends the answers back. During a boot load the loader takes its bytes from ``i_boot``
    instead. When the protocol gives up an inference the engine is reset, which returns it to
    idle with its accumulators cleared; its memories, the model, stay.

    Parameters
    ----------
    config : :class:`~tinyeie.contract.config.EngineConfig`
    packed : :class:`~tinyeie.sw.compiler.pack.PackedModel`, optional
        A model in the engine's memories from the bitstream.
    preloaded : (int, int), optional
        That model's ``(in_count, out_count)``: it is valid from power-up.
    timeout_cycles, engine_timeout_cycles, sparse, rx_buffer, bit_cycles
        The protocol's frame timeout, engine timeout, INFER-SPARSE, request inbox and UART bit
        time (:class:`~tinyeie.hw.protocol.HostProtocol`).
    check_model : bool
        The model check (an ECP5 option): each load starts from zeroed memories and a loaded
        image must pass the structure rules (docs/formats.md), else it is refused with loader
        error MODEL; STATUS reports it in its features. The memories are zeroed in
        :func:`~tinyeie.hw.engine.wipe_cycles` cycles after LOAD-START's ACK, while the image's
        first bytes arrive; the first write waits for them, so they must not exceed the frame
        timeout (a byte left waiting for it ends the frame).

    Members
    -------
    i_rx : ``In(stream.Signature(RxByte))``
        From the UART receiver.
    o_tx : ``Out(stream.Signature(8))``
        To the UART transmitter.
    i_boot : ``In(stream.Signature(8))``
        A boot load's image bytes (from SPI flash), taken while ``booting``.
    boot_start : ``In(1)``
        A one-cycle pulse: a boot load starts (the loader drops any image under way).
    booting : ``In(1)``
        A boot load is under way, from ``boot_start`` until the loader is done. Tie to 0
        without a boot load.
    loader_done : ``Out(1)``
        The loader has finished its image (``booting`` may fall).
    model_valid, predicted, predicted_valid : ``Out``
        The protocol's (:class:`~tinyeie.hw.protocol.HostProtocol`).
    """

    i_rx: In(stream.Signature(RxByte))
    o_tx: Out(stream.Signature(8))
    i_boot: In(stream.Signature(8))
    boot_start: In(1)
    booting: In(1)
    loader_done: Out(1)
    model_valid: Out(1)
    predicted: Out(4)
    predicted_valid: Out(1)

    def __init__(self, config, *, packed=None, preloaded=None, timeout_cycles=TIMEOUT_CYCLES,
                 engine_timeout_cycles=ENGINE_TIMEOUT_CYCLES, sparse=True, rx_buffer=0,
                 bit_cycles=0, check_model=False):
        # Built here so that testbenches can watch the parts.
        self.protocol = HostProtocol(config, timeout_cycles=timeout_cycles,
                                     engine_timeout_cycles=engine_timeout_cycles,
                                     preloaded=preloaded, sparse=sparse, rx_buffer=rx_buffer,
                                     bit_cycles=bit_cycles, check_model=check_model)
        if check_model and timeout_cycles < wipe_cycles(config):
            # (a byte waits less than the wipe lasts: it starts before the first one arrives)
            raise ValueError(f"with the model check the frame timeout ({timeout_cycles} cycles) "
                             f"must be at least the {wipe_cycles(config)} cycles the memories "
                             f"take to be zeroed")
        self.loader = ImageLoader(config, check_model=check_model)
        self.engine = Engine(config, packed, check_model=check_model)
        self._config = config
        self._check_model = check_model
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        protocol, loader, engine = self.protocol, self.loader, self.engine
        m.submodules.protocol = protocol
        m.submodules.loader = loader
        # The engine is reset when the watchdog gives an inference up, and when a load starts:
        # an image the loader takes but whose structure is broken (docs/formats.md) can leave
        # the engine finishing a RESULT with state behind that spoils the next model's results.
        # (LOAD-START's ACK is posted only once the slot is free, so no RESULT is then owed.)
        # With the model check, a boot load's start resets it too: it clears the check's record
        # of what the load writes. (Without, the power-up reset has just run.)
        reset = protocol.engine_reset | protocol.loader_start
        if self._check_model:
            reset |= self.boot_start
            # the wipe starts in the cycle after the reset
            wipe = Signal()
            m.d.sync += wipe.eq(protocol.loader_start | self.boot_start)
            m.d.comb += engine.wipe.eq(wipe)
            connect_model_check(m, loader, engine)
        m.submodules.engine = ResetInserter(reset)(engine)

        wiring.connect(m, wiring.flipped(self.i_rx), protocol.i_rx)
        wiring.connect(m, protocol.o_tx, wiring.flipped(self.o_tx))
        wiring.connect(m, protocol.o_activations, engine.i_stream)
        wiring.connect(m, engine.o_stream, protocol.i_results)
        wiring.connect(m, loader.o_model, engine.i_model)
        m.d.comb += [
            protocol.cycles.eq(engine.cycles),
            protocol.engine_out_count.eq(engine.out_count),
            protocol.loader_done.eq(loader.done), protocol.loader_ok.eq(loader.ok),
            protocol.loader_error.eq(loader.error), protocol.loader_in_count.eq(loader.in_count),
            protocol.loader_out_count.eq(loader.out_count),
            protocol.loader_received.eq(loader.received),
            protocol.loader_checking.eq(loader.checking),
            protocol.boot_busy.eq(self.booting),
            loader.start.eq(protocol.loader_start | self.boot_start),
            self.loader_done.eq(loader.done),
            self.model_valid.eq(protocol.model_valid),
            self.predicted.eq(protocol.predicted),
            self.predicted_valid.eq(protocol.predicted_valid),
        ]
        with m.If(self.booting):
            wiring.connect(m, wiring.flipped(self.i_boot), loader.i_stream)
        with m.Else():
            wiring.connect(m, protocol.o_image, loader.i_stream)
        return m
