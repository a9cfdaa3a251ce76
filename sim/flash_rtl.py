"""A SPI flash in gateware, for simulating a board's boot at full speed on Verilator.

The cocotb model (:mod:`tinyeie.sim.flash_model`) wakes Python on every SCK edge, a minute for a
70 KB image; this one answers 0xAB (wake up) and 0x03 (read) in the design itself, from a
memory the testbench fills through a write port while the board is held in reset.
:class:`SimBoard` wraps a board top with it.
"""

from amaranth.hdl import Cat, Module, Mux, ResetInserter, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

__all__ = ["RTLFlash", "SimBoard"]

READ, WAKE = 0x03, 0xAB


class RTLFlash(wiring.Component):
    """A flash of ``size`` bytes at ``base``, SPI mode 0, in the same clock domain as its
    master (edges of ``sck`` are seen as changes between two clock cycles). Reads outside the
    stored bytes give 0xFF.

    Members
    -------
    cs_n, sck, copi : In(1); cipo : Out(1)
    load_addr, load_data, load_en : In
        Write the stored bytes (offsets from ``base``).
    """

    def __init__(self, size, base):
        self._size = size
        self._base = base
        self._addr_width = ceil_log2(size)
        super().__init__({
            "cs_n": In(1, init=1), "sck": In(1), "copi": In(1), "cipo": Out(1),
            "load_addr": In(self._addr_width), "load_data": In(8), "load_en": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = memory.Memory(shape=8, depth=self._size, init=[])
        rd, wr = mem.read_port(domain="comb"), mem.write_port()
        m.d.comb += [wr.addr.eq(self.load_addr), wr.data.eq(self.load_data),
                     wr.en.eq(self.load_en)]

        sck_was = Signal()
        m.d.sync += sck_was.eq(self.sck)
        rise, fall = self.sck & ~sck_was, ~self.sck & sck_was
        bits = Signal(range(33))        # bits received in this transaction
        shift_in = Signal(32)           # command and address
        address = Signal(24)
        bit = Signal(3)
        reading = Signal()
        shifting = Signal()             # past the falling edge that put out the first bit
        with m.If(self.cs_n):
            m.d.sync += [bits.eq(0), reading.eq(0), shifting.eq(0)]
        with m.Elif(rise & ~reading):
            m.d.sync += [shift_in.eq(Cat(self.copi, shift_in[:31])), bits.eq(bits + 1)]
            with m.If((bits == 31) & (shift_in[23:31] == READ)):
                m.d.sync += [reading.eq(1), address.eq(Cat(self.copi, shift_in[:23])),
                             bit.eq(0)]
        offset = (address - self._base).as_unsigned()[:24]
        inside = (address >= self._base) & (offset < self._size)
        m.d.comb += rd.addr.eq(offset)
        byte = Signal(8)
        m.d.comb += byte.eq(Mux(inside, rd.data, 0xFF))
        # Mode 0: the data's first bit goes out at the falling edge after the address's last
        # bit, each next bit at the next falling edge.
        with m.If(~self.cs_n & reading & fall):
            m.d.sync += shifting.eq(1)
            with m.If(shifting):
                m.d.sync += bit.eq(bit + 1)
                with m.If(bit == 7):
                    m.d.sync += address.eq(address + 1)
        m.d.comb += self.cipo.eq(byte.bit_select(~bit, 1))     # MSB first: bit 7 - k
        return m


class SimBoard(wiring.Component):
    """A board top with an :class:`RTLFlash` on its flash pins; the top is held in reset while
    ``hold`` is high (fill the flash meanwhile)."""

    def __init__(self, top, flash_size, base):
        self._top = top
        self._flash = RTLFlash(flash_size, base)
        super().__init__({
            "rx": In(1, init=1), "tx": Out(1), "leds": Out(len(top.leds)), "model_led": Out(1),
            "hold": In(1, init=1),
            "load_addr": In(len(self._flash.load_addr)), "load_data": In(8), "load_en": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.top = top = ResetInserter(self.hold)(self._top)
        m.submodules.flash = flash = self._flash
        m.d.comb += [
            top.rx.eq(self.rx), self.tx.eq(top.tx), self.leds.eq(top.leds),
            self.model_led.eq(top.model_led),
            flash.cs_n.eq(top.flash_cs_n), flash.sck.eq(top.flash_sck),
            flash.copi.eq(top.flash_copi), top.flash_cipo.eq(flash.cipo),
            flash.load_addr.eq(self.load_addr), flash.load_data.eq(self.load_data),
            flash.load_en.eq(self.load_en),
        ]
        return m
