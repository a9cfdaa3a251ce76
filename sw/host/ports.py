"""Finding a board's serial port by the USB vendor and product ID of its USB-serial chip.

The iCEBreaker's FT2232H has two ports: the first (interface 0) programs the flash, the second
(interface 1) is the FPGA's UART. The ULX3S's FT231X has one. pyserial's ``list_ports`` gives
every port's USB IDs and, on Linux, its interface in ``location`` (``1-2:1.1``: interface 1).
"""

from dataclasses import dataclass

from tinyeie.contract.errors import TinyeieError

__all__ = ["UsbSerial", "BOARD_PORTS", "serial_ports", "matching_ports", "find_port"]


@dataclass(frozen=True)
class UsbSerial:
    """A USB-serial chip as a board wires it: IDs, and which interface carries the UART (None
    when the chip has one)."""

    chip: str
    vid: int
    pid: int
    interface: int = None

    def matches(self, port):
        if (port.vid, port.pid) != (self.vid, self.pid):
            return False
        if self.interface is None:
            return True
        number = _interface_number(port)
        return number is None or number == self.interface

    def describe(self):
        where = f", interface {self.interface}" if self.interface is not None else ""
        return f"{self.chip} ({self.vid:04x}:{self.pid:04x}{where})"


FT2232H_UART = UsbSerial("FTDI FT2232H", 0x0403, 0x6010, interface=1)
FT231X = UsbSerial("FTDI FT231X", 0x0403, 0x6015)

#: The USB-serial chips each board's UART is reached through. The UPduino v3's FTDI only
#: programs its flash: its UART needs a USB-serial adapter of the user's choice (``--port``).
BOARD_PORTS = {"icebreaker": (FT2232H_UART,), "ulx3s": (FT231X,), "ecpix5": (FT2232H_UART,),
               "upduino3": ()}


def _interface_number(port):
    """The USB interface of ``port`` from pyserial's ``location`` (``"1-2:1.1"``), if any."""
    location = getattr(port, "location", None) or ""
    tail = location.rsplit(".", 1)[-1] if ":" in location else ""
    return int(tail) if tail.isdigit() else None


def serial_ports():
    """pyserial's :func:`serial.tools.list_ports.comports`: every serial port on this machine."""
    try:
        from serial.tools import list_ports
    except ImportError:
        raise TinyeieError("finding a board needs pyserial: pip install pyserial") from None
    return sorted(list_ports.comports(), key=lambda p: p.device)


def _describe_port(port):
    ids = f" {port.vid:04x}:{port.pid:04x}" if port.vid is not None else ""
    what = port.description if port.description and port.description != "n/a" else ""
    return f"{port.device}{ids}" + (f" ({what})" if what else "")


def matching_ports(board=None, ports=None):
    """``{device: [board names]}`` of every port whose USB IDs are a tinyeie board's
    (``board``'s only, when named); boards sharing a chip share the port."""
    ports = serial_ports() if ports is None else ports
    boards = {board: BOARD_PORTS.get(board, ())} if board else BOARD_PORTS
    found = {}
    for port in ports:
        for name, chips in boards.items():
            if any(chip.matches(port) for chip in chips):
                found.setdefault(port.device, []).append(name)
    return found


def find_port(board=None, ports=None):
    """The device name (``/dev/ttyUSB1``, ``COM4``) of the one attached board's UART; a
    TinyeieError listing the ports seen when there is none, or several."""
    if board is not None and board not in BOARD_PORTS:
        raise TinyeieError(f"unknown board {board!r}: tinyeie knows the serial ports of "
                           f"{', '.join(sorted(BOARD_PORTS))}")
    ports = serial_ports() if ports is None else ports
    if board is not None and not BOARD_PORTS[board]:
        raise TinyeieError(f"the {board}'s UART is on a USB-serial adapter of your choice: name "
                           f"its port with --port (serial ports seen: {_seen(ports)})")
    found = matching_ports(board, ports)
    if len(found) == 1:
        return next(iter(found))
    if not found:
        chips = sorted({chip.describe() for name, chips in BOARD_PORTS.items()
                        if board in (None, name) for chip in chips})
        raise TinyeieError(f"no board found on USB (looked for {', '.join(chips)}); serial "
                           f"ports seen: {_seen(ports)}; plug the board in or name its port "
                           f"with --port")
    listed = ", ".join(f"{device} ({' or '.join(names)})" for device, names in found.items())
    raise TinyeieError(f"several boards found ({listed}): name one with --port")


def _seen(ports):
    return "; ".join(_describe_port(p) for p in ports) if ports else "none"
