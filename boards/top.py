"""The board top: UART, host protocol, model loader, SPI flash boot, engine and LEDs.

:class:`BoardTop` is everything on the FPGA with its pins as plain ports, in the ``sync``
domain, so the same design runs on Verilator (``tinyeie sim --board``) and, wrapped by
:class:`PlatformTop` with a clock and the board's pins, on the board.
"""

from amaranth.hdl import ClockDomain, Elaboratable, Module, Signal
from amaranth.lib import io, wiring
from amaranth.lib.wiring import In, Out

from tinyeie.boards.boards import DEFAULT_BAUD, MODEL_FLASH_OFFSET
from tinyeie.boards.clocks import PLLClock, ecp5_pll, ice40_pll
from tinyeie.contract.protocol import ENGINE_TIMEOUT_CYCLES, TIMEOUT_CYCLES
from tinyeie.hw.server import ModelServer
from tinyeie.hw.spiflash import MAX_CLK_FREQ, SPIFlashReader, wake_cycles_for
from tinyeie.hw.uart import UARTReceiver, UARTTransmitter
from tinyeie.sw.compiler.pack import layer_descriptor

__all__ = ["BoardTop", "PlatformTop", "CLASS_BITS", "RX_BUFFER"]

CLASS_BITS = 4      # LEDs show the class in binary: 0..9 needs four
# The request inbox: one block RAM (iCE40: 256 x 16 bits). At 3 Mbaud it holds what arrives in
# 850 us (20,000 cycles at 24 MHz), against LeNet-300-100's 2,552 engine cycles and 51-byte RESULT.
RX_BUFFER = 256


class BoardTop(wiring.Component):
    """The whole design of a board, pins as ports.

    Parameters
    ----------
    config : :class:`~tinyeie.contract.config.EngineConfig`
    divisor : int
        Clock cycles per UART bit.
    flash_boot : bool
        Read the model image from SPI flash at ``flash_offset`` after reset.
    packed : :class:`~tinyeie.sw.compiler.pack.PackedModel`, optional
        A model in the engine's memories from the bitstream (valid from power-up).
    timeout_cycles, engine_timeout_cycles : int
        The protocol's frame timeout and engine timeout.
    clock_hz : float
        The clock frequency (the flash needs 3 us between waking up and the first read).
    sparse : bool
        The protocol takes INFER-SPARSE frames.
    rx_buffer : int
        Bytes of the protocol's request inbox (0 for none).
    check_model : bool
        The model check (:class:`~tinyeie.hw.server.ModelServer`).

    Members
    -------
    rx : In(1)
        UART from the host (idle high).
    tx : Out(1)
        UART to the host.
    flash_cs_n, flash_sck, flash_copi : Out(1)
        SPI flash (mode 0); ``flash_cipo`` In(1).
    leds : Out(4)
        The last class, in binary (all off until there is one).
    model_led : Out(1)
        A valid model is loaded.
    """

    def __init__(self, config, *, divisor, flash_boot, flash_offset=MODEL_FLASH_OFFSET,
                 packed=None, timeout_cycles=TIMEOUT_CYCLES,
                 engine_timeout_cycles=ENGINE_TIMEOUT_CYCLES, clock_hz=MAX_CLK_FREQ,
                 sparse=True, rx_buffer=RX_BUFFER, check_model=False):
        self._config = config
        self._divisor = divisor
        self._flash_boot = flash_boot
        self._flash_offset = flash_offset
        self._packed = packed
        self._timeout_cycles = timeout_cycles
        self._engine_timeout_cycles = engine_timeout_cycles
        self._clock_hz = clock_hz
        self._sparse, self._rx_buffer = sparse, rx_buffer
        self._check_model = check_model
        super().__init__({
            "rx": In(1, init=1),
            "tx": Out(1, init=1),
            "flash_cs_n": Out(1, init=1),
            "flash_sck": Out(1),
            "flash_copi": Out(1),
            "flash_cipo": In(1),
            "leds": Out(CLASS_BITS),
            "model_led": Out(1),
        })

    def elaborate(self, platform):
        # Bytes flow UART -> server (protocol -> loader or engine) -> UART. The loader takes
        # its bytes from the SPI flash while booting and from the protocol's LOAD-DATA
        # afterwards; the protocol learns the boot load's verdict when `booting` falls.
        cfg = self._config
        m = Module()
        preloaded = None
        if self._packed is not None:
            preloaded = (layer_descriptor(self._packed, 0)["in_count"],
                         layer_descriptor(self._packed, self._packed.n_layers - 1)["out_count"])

        m.submodules.rx = rx = UARTReceiver(divisor=self._divisor)
        m.submodules.tx = tx = UARTTransmitter(divisor=self._divisor)
        m.submodules.server = server = ModelServer(
            cfg, packed=self._packed, preloaded=preloaded, timeout_cycles=self._timeout_cycles,
            engine_timeout_cycles=self._engine_timeout_cycles, sparse=self._sparse,
            rx_buffer=self._rx_buffer, bit_cycles=self._divisor, check_model=self._check_model)

        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx)]
        wiring.connect(m, rx.o_stream, server.i_rx)
        wiring.connect(m, server.o_tx, tx.i_stream)

        booting = Signal(init=self._flash_boot)
        boot_start = Signal(init=self._flash_boot)    # one pulse, the cycle after reset
        m.d.sync += boot_start.eq(0)
        m.d.comb += [server.booting.eq(booting), server.boot_start.eq(boot_start)]
        if self._flash_boot:
            m.submodules.flash = flash = SPIFlashReader(
                wake_cycles=wake_cycles_for(self._clock_hz))
            m.d.comb += [
                flash.start.eq(boot_start), flash.address.eq(self._flash_offset),
                self.flash_cs_n.eq(flash.cs_n), self.flash_sck.eq(flash.sck),
                self.flash_copi.eq(flash.copi), flash.cipo.eq(self.flash_cipo),
            ]
            wiring.connect(m, flash.o_stream, server.i_boot)
            with m.If(booting & ~boot_start & server.loader_done):
                m.d.comb += flash.stop.eq(1)
                m.d.sync += booting.eq(0)

        m.d.comb += [self.leds.eq(server.predicted & server.predicted_valid.replicate(4)),
                     self.model_led.eq(server.model_valid)]
        return m


class PlatformTop(Elaboratable):
    """:class:`BoardTop` on a board: its clock and pins.

    Parameters
    ----------
    board : :class:`~tinyeie.boards.boards.Board`
    config : :class:`~tinyeie.contract.config.EngineConfig`
    packed : PackedModel, optional
        The model for the bitstream's block RAM (ECP5).
    baud : int
    """

    def __init__(self, board, config, packed=None, baud=DEFAULT_BAUD):
        self.board = board
        self.config = config
        self.packed = packed
        self.baud = baud

    def clock_hz(self):
        return self.board.clock_output_hz()

    def elaborate(self, platform):
        m = Module()
        board = self.board
        if board.clock[0] == "pll":
            _, resource, source = board.clock
            solve = ice40_pll if board.family == "ice40" else ecp5_pll
            settings = solve(source, board.clock_hz)
            pin = platform.request(resource, dir="-")
            if board.family == "ecp5":      # the ECP5 PLL takes the buffered input
                pin = _buffer(m, "clk_in", "i", pin).i
            m.domains.sync = sync = ClockDomain("sync", reset_less=PLLClock.reset_less(settings))
            platform.add_clock_constraint(sync.clk, settings.output_hz)
            m.submodules.clock = PLLClock(settings, pin)
        else:   # the iCE40 internal oscillator: the platform makes the sync domain from it
            platform.hfosc_div = {48e6: 0, 24e6: 1, 12e6: 2, 6e6: 3}[board.clock_hz]

        m.submodules.top = top = BoardTop(
            self.config, divisor=board.uart_divisor(self.baud),
            flash_boot=board.flash_boot, packed=self.packed, clock_hz=self.clock_hz(),
            **board.link_options())
        uart = platform.request("uart", 0, dir="-")
        m.d.comb += [top.rx.eq(_buffer(m, "uart_rx", "i", uart.rx).i),
                     _buffer(m, "uart_tx", "o", uart.tx).o.eq(top.tx)]
        if board.flash_boot:
            flash = platform.request("spi_flash_1x", 0, dir="-")
            m.d.comb += [
                _buffer(m, "flash_cs", "o", flash.cs).o.eq(~top.flash_cs_n),   # cs: active high
                _buffer(m, "flash_clk", "o", flash.clk).o.eq(top.flash_sck),
                _buffer(m, "flash_copi", "o", flash.copi).o.eq(top.flash_copi),
                top.flash_cipo.eq(_buffer(m, "flash_cipo", "i", flash.cipo).i)]
        self._leds(m, platform, top)
        return m

    def _leds(self, m, platform, top):
        board = self.board
        if board.leds and board.leds[0][0] == "rgb_led" and len(board.leds) == 1:
            rgb = platform.request("rgb_led", 0, dir="-")
            for bit, colour in enumerate("rgb"):
                m.d.comb += _buffer(m, f"led_{colour}", "o", getattr(rgb, colour)).o.eq(
                    top.leds[bit])
        else:
            for bit, (name, number) in enumerate(board.leds[:CLASS_BITS]):
                led = platform.request(name, number, dir="-")
                port = led.g if name == "rgb_led" else led
                m.d.comb += _buffer(m, f"led_class{bit}", "o", port).o.eq(top.leds[bit])
        if board.status_led is not None:
            led = platform.request(*board.status_led, dir="-")
            m.d.comb += _buffer(m, "led_model", "o", led).o.eq(top.model_led)


def _buffer(m, name, direction, port):
    """An I/O buffer on a pin requested with ``dir="-"`` (the platform picks the primitive)."""
    m.submodules[name] = buffer = io.Buffer(direction, port)
    return buffer
