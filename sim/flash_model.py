"""A W25Q128-style SPI flash on the pins of a simulated design: the protocol and a cocotb task.

:class:`FlashChip` is the flash's side of the protocol in pure Python, fed the levels of the
pins (``cs_n``, ``sck``, ``copi``) with a time stamp and answering with the level to drive on
``cipo``. It knows the two commands a boot loader needs: Release from Deep Power-Down
(``0xAB``) and Read Data (``0x03``, 24-bit address, then bytes for as long as the clock runs),
and it checks how the controller uses them: SPI mode 0, no clock while deselected, no command
but ``0xAB`` while powered down, the wake-up time tRES1 after ``0xAB``, the deselect time
tSHSL. Each breach is a violation, raised at once as :class:`FlashProtocolError`
(``strict=True``, the default) and kept in :attr:`FlashChip.violations`. CS rising inside a
command or an address is no violation: the flash drops the command, which
:attr:`FlashChip.log` records (``aborted``).

Two front ends put a chip on a design's pins, both sharing this one model of the protocol:

- :class:`SPIFlashModel`, here: a cocotb task for Verilator runs, woken only by edges of
  ``sck`` and ``cs_n`` (time in nanoseconds);
- :func:`flash_testbench`: a testbench for Amaranth's simulator, which looks
  at the pins after every clock edge (time in cycles) and so also checks when ``copi`` changes.

This module imports cocotb but needs no simulator to import, so Amaranth tests can use
:class:`FlashChip` too.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import cocotb
from cocotb.utils import get_sim_time

__all__ = ["RELEASE_POWER_DOWN", "READ_DATA", "DEVICE_ID", "FLASH_SIZE", "T_RES1_NS",
           "T_SHSL_NS", "FlashProtocolError", "Transaction", "FlashChip", "SPIFlashModel",
           "flash_testbench"]

RELEASE_POWER_DOWN = 0xAB
READ_DATA = 0x03
DEVICE_ID = 0x17          # what a W25Q128 answers after 0xAB and three dummy bytes
FLASH_SIZE = 1 << 24      # 128 Mbit; addresses wrap around at the end
T_RES1_NS = 3000          # W25Q128JV: CS high to the next command after 0xAB
T_SHSL_NS = 10            # W25Q128JV tSHSL1: CS high time between read commands

_COMMAND_BITS = 8
_ADDRESS_BITS = 24


class FlashProtocolError(AssertionError):
    """The controller broke a rule of the flash's protocol or timing."""


@dataclass
class Transaction:
    """One CS-low period as the flash saw it (:attr:`FlashChip.log`).

    Attributes
    ----------
    command : int or None
        The command byte, or None when CS rose before eight bits.
    address : int or None
        The start address of a Read Data, or None.
    data_bits : int
        Rising SCK edges after the command and address: the bits the controller clocked in.
    selected, deselected : int or float
        Time stamps of the falling and the rising edge of CS (in the caller's unit).
    ignored : bool
        The flash ignored the command (it was asleep or waking up); a violation says why.
    bits : int
        Rising SCK edges in all.
    aborted : bool
        CS rose inside the command byte or the address, so nothing was done. A controller
        may do that (it is no violation), but the flash then stays as it was: asleep after an
        aborted ``0xAB``.
    """

    command: int | None
    address: int | None
    data_bits: int
    selected: float
    deselected: float
    ignored: bool = False
    bits: int = 0
    aborted: bool = False

    @property
    def data_bytes(self):
        """Whole bytes clocked in after the command and address."""
        return self.data_bits // 8


class FlashChip:
    """The flash's side of the SPI protocol, driven by pin levels and time stamps.

    The chip starts asleep (deep power-down, as a bitstream can leave it) unless told
    otherwise. It answers Read Data with the bytes of a 16 MiB array holding ``contents`` at
    ``base`` and ``0xFF`` (erased) everywhere else, from any address, wrapping around at the
    end. Bits go out on ``cipo`` after falling SCK edges, most significant first, the first one
    after the falling edge that follows the address's last bit (mode 0). When the flash does
    not drive ``cipo`` (CS high, command and address phases) :meth:`step` returns random bits,
    so a controller that samples at the wrong time reads garbage rather than plausible data.

    Parameters
    ----------
    contents : bytes-like
        The image.
    base : int
        Its address in the flash.
    t_res1 : int or float
        tRES1: after the Release from Deep Power-Down command, CS must stay high this long
        before the next command. In the time stamps' unit (nanoseconds for cocotb, cycles for
        Amaranth's simulator).
    t_shsl : int or float
        Minimum CS high time between any two commands, in the same unit.
    asleep : bool
        Start in deep power-down, where only ``0xAB`` is obeyed.
    strict : bool
        Raise :class:`FlashProtocolError` at the first violation (besides recording it).
    exact : bool
        The caller looks at the pins after every change of any of them (every clock edge of a
        design whose pins are registers), so a ``copi`` change can be placed relative to the
        SCK edges and is checked; a caller woken only by SCK and CS edges leaves it False,
        and ``copi`` then only counts at rising SCK edges, as for the flash. Front ends set
        it.
    unit : str
        Name of the time stamps' unit, for messages (``" cycles"``, say).
    seed : int
        Seed of the random bits driven while the flash does not drive ``cipo``.

    Attributes
    ----------
    violations : list of str
        Every breach of the protocol so far, with its time stamp.
    log : list of Transaction
        Every finished CS-low period.
    asleep : bool
        In deep power-down now.
    """

    def __init__(self, contents, *, base=0, t_res1=T_RES1_NS, t_shsl=T_SHSL_NS, asleep=True,
                 strict=True, exact=False, unit="ns", seed=0):
        contents = bytes(contents)
        if not 0 <= base < FLASH_SIZE or base + len(contents) > FLASH_SIZE:
            raise ValueError(f"an image of {len(contents)} bytes at {base:#x} does not fit in "
                             f"a flash of {FLASH_SIZE:#x} bytes")
        self.contents, self.base = contents, base
        self.t_res1, self.t_shsl = t_res1, t_shsl
        self.asleep = asleep
        self.strict, self.exact, self.unit = strict, exact, unit
        self.violations = []
        self.log = []
        self._rng = random.Random(seed)
        self._pins = (1, 0, 0)            # cs_n, sck, copi as last seen
        self._deselected_at = None        # when CS last rose
        self._awake_at = None             # when the wake-up after 0xAB ends
        self._open = None                 # the Transaction in progress
        self._bits = 0                    # bits clocked in this transaction
        self._shift = 0                   # command and address bits, as they arrive
        self._phase = "idle"              # idle, command, address, data, release, ignore
        self._out_bits = 0                # bits sent in the data or device-ID phase
        self._pointer = 0                 # the next byte to send

    def byte_at(self, address):
        """The byte stored at ``address`` (taken modulo the flash's size)."""
        offset = address % FLASH_SIZE - self.base
        return self.contents[offset] if 0 <= offset < len(self.contents) else 0xFF

    def read(self, address, count):
        """``count`` bytes from ``address``, as a Read Data command returns them."""
        return bytes(self.byte_at(address + i) for i in range(count))

    def reads(self):
        """``(address, whole bytes)`` of every Read Data obeyed so far, in order."""
        return [(t.address, t.data_bytes) for t in self.log
                if t.command == READ_DATA and not t.aborted and not t.ignored]

    def _violate(self, now, message):
        text = f"{now}{self.unit}: {message}"
        self.violations.append(text)
        if self.strict:
            raise FlashProtocolError(f"SPI flash: {text}")

    def _hi_z(self):
        return self._rng.getrandbits(1)

    def step(self, now, cs_n, sck, copi):
        """Take the pins' levels at time ``now``; return the level to drive on ``cipo``.

        Call it whenever a pin may have changed; a call where nothing changed does nothing
        and returns None, and so does one that leaves ``cipo`` as it is.
        """
        cs_n, sck, copi = int(cs_n), int(sck), int(copi)
        was_cs_n, was_sck, was_copi = self._pins
        self._pins = (cs_n, sck, copi)
        if cs_n != was_cs_n:
            if cs_n:
                # SCK may fall in the same instant: CS wins, as the clock then no longer counts
                self._deselect(now)
                return self._hi_z()
            if sck:
                self._violate(now, "CS fell with SCK high: SPI mode 0 keeps SCK low between "
                                   "transactions")
            self._select(now)
            return None
        if cs_n:
            if sck != was_sck and sck:
                self._violate(now, "SCK rose while CS was high: the flash ignores such "
                                   "clocks, so the controller has lost count")
            return None
        if sck != was_sck:
            if sck:
                if self.exact and copi != was_copi:
                    self._violate(now, "COPI changed as SCK rose: in mode 0 it changes while "
                                       "SCK is low and the flash samples it on the rising edge")
                self._rise(now, copi)
                return None
            return self._fall()
        if self.exact and sck and copi != was_copi:
            self._violate(now, "COPI changed while SCK was high: in mode 0 it changes with the "
                               "falling edge")
        return None

    def _select(self, now):
        if self._deselected_at is not None and now - self._deselected_at < self.t_shsl:
            self._violate(now, f"CS was high for only {now - self._deselected_at}{self.unit} "
                               f"between commands, less than tSHSL = {self.t_shsl}{self.unit}")
        self._open = Transaction(None, None, 0, now, None)
        self._bits = self._shift = self._out_bits = 0
        self._phase = "command"
        if self._awake_at is not None and now < self._awake_at:
            waited = now - (self._awake_at - self.t_res1)
            self._violate(now, f"CS fell {waited}{self.unit} after the Release from Deep "
                               f"Power-Down, before the wake-up time tRES1 = "
                               f"{self.t_res1}{self.unit} had passed")
            self._open.ignored = True
            self._phase = "ignore"

    def _rise(self, now, copi):
        phase = self._phase
        self._bits += 1
        if phase == "command":
            self._shift = (self._shift << 1) | copi
            if self._bits == _COMMAND_BITS:
                self._command(now, self._shift)
        elif phase == "address":
            self._shift = (self._shift << 1) | copi
            if self._bits == _COMMAND_BITS + _ADDRESS_BITS:
                self._open.address = self._pointer = self._shift & (FLASH_SIZE - 1)
                self._phase = "data"
        elif phase == "data":
            self._open.data_bits += 1

    def _command(self, now, command):
        self._open.command = command
        self._shift = 0
        if command == RELEASE_POWER_DOWN:
            self._phase = "release"
        elif self.asleep:
            self._violate(now, f"command {command:#04x} while in deep power-down, where the "
                               f"flash obeys only Release ({RELEASE_POWER_DOWN:#04x})")
            self._open.ignored = True
            self._phase = "ignore"
        elif command == READ_DATA:
            self._phase = "address"
        else:
            self._violate(now, f"command {command:#04x} is not modelled (only "
                               f"{RELEASE_POWER_DOWN:#04x} and {READ_DATA:#04x})")
            self._phase = "ignore"

    def _fall(self):
        phase = self._phase
        if phase == "data":
            index = self._out_bits
            self._out_bits += 1
            byte = self.byte_at(self._pointer + index // 8)
            return (byte >> (7 - index % 8)) & 1
        if phase == "release" and self._bits >= _COMMAND_BITS + _ADDRESS_BITS:
            # with the clock still running after three dummy bytes, 0xAB reads the device ID
            index = self._out_bits
            self._out_bits += 1
            return (DEVICE_ID >> (7 - index % 8)) & 1
        return self._hi_z()

    def _deselect(self, now):
        transaction, phase, bits = self._open, self._phase, self._bits
        self._deselected_at = now
        self._open, self._phase = None, "idle"
        if transaction is None:
            return
        transaction.deselected = now
        transaction.bits = bits
        transaction.aborted = phase in ("command", "address") and bits > 0
        self.log.append(transaction)
        if phase == "release" and self.asleep:
            # awake tRES1 from now (a chip already awake obeys the next command at once)
            self.asleep = False
            self._awake_at = now + self.t_res1


class SPIFlashModel:
    """A :class:`FlashChip` on the pins of a design under cocotb, running as its own tasks.

    It wakes only on edges of ``sck`` and ``cs_n`` (two tasks, one per pin, no clock), reads
    the pins then, and drives ``cipo``; time stamps are the simulation time in nanoseconds.
    Create it inside a running cocotb test. With ``strict=True`` a protocol violation raises
    :class:`FlashProtocolError` in the model's task, which fails the test there and then.

    Parameters
    ----------
    dut : HierarchyObject
        The design.
    cs_n, sck, copi, cipo : str or LogicObject
        The pins, by port name or handle.
    contents : bytes-like
        The image stored in the flash.
    base : int
        Its address (``0x100000``, where tinyeie's boards keep the model image).
    **kwargs
        More :class:`FlashChip` parameters: ``t_res1`` and ``t_shsl`` in nanoseconds
        (defaults: W25Q128JV's 3000 and 10), ``asleep``, ``strict``, ``seed``.

    Attributes
    ----------
    chip : FlashChip
        The model, with its :attr:`~FlashChip.violations` and :attr:`~FlashChip.log`.

    Notes
    -----
    ``copi`` is read only at SCK and CS edges, so this model cannot tell when it changed
    between them; :func:`flash_testbench` checks that on Amaranth's
    simulator.
    """

    def __init__(self, dut, cs_n, sck, copi, cipo, contents, base=0x100000, **kwargs):
        def pin(p):
            return getattr(dut, p) if isinstance(p, str) else p
        self._cs_n, self._sck, self._copi, self._cipo = map(pin, (cs_n, sck, copi, cipo))
        self.chip = FlashChip(contents, base=base, exact=False, unit="ns", **kwargs)
        self._cipo.value = 1
        self._update()
        self._tasks = [cocotb.start_soon(self._watch(self._sck)),
                       cocotb.start_soon(self._watch(self._cs_n))]

    def _update(self):
        level = self.chip.step(get_sim_time("ns"), int(self._cs_n.value), int(self._sck.value),
                               int(self._copi.value))
        if level is not None:
            self._cipo.value = level

    async def _watch(self, handle):
        change = handle.value_change
        while True:
            await change
            # SCK and CS changing at once wake both tasks: the first sees both changes and the
            # second nothing new
            self._update()

    def stop(self):
        """End the model's tasks (the chip and its log stay)."""
        for task in self._tasks:
            task.cancel()


def flash_testbench(chip, cs_n, sck, copi, cipo):
    """A testbench for Amaranth's simulator that puts a flash model on the given pins.

    Add it with ``sim.add_testbench(flash_testbench(...), background=True)``. It looks at the
    pins after every clock edge, so its time stamps are clock cycles (give the chip's
    ``t_res1`` and ``t_shsl`` in cycles), and it also checks when ``copi`` changes (it sets
    the chip's ``exact``). That is exact for pins driven by registers of the clock, as those
    of :class:`~tinyeie.hw.spiflash.SPIFlashReader` are.

    Parameters
    ----------
    chip : FlashChip
        The flash model.
    cs_n, sck, copi, cipo : Signal
        The pins, e.g. those of a :class:`tinyeie.hw.spiflash.SPIFlashReader`.

    Returns
    -------
    async function
        The testbench. A protocol violation raises
        :class:`FlashProtocolError` in it, which stops the
        simulation, when the chip is ``strict``.
    """
    chip.exact, chip.unit = True, " cycles"

    async def testbench(ctx):
        cycle = 0
        level = chip.step(cycle, ctx.get(cs_n), ctx.get(sck), ctx.get(copi))
        while True:
            if level is not None:
                ctx.set(cipo, level)
            await ctx.tick()
            cycle += 1
            level = chip.step(cycle, ctx.get(cs_n), ctx.get(sck), ctx.get(copi))
    return testbench
