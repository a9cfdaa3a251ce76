"""Finding the board's serial port by USB ID, with the ports seen listed when that fails."""

from types import SimpleNamespace

import pytest

from tinyeie.contract.errors import TinyeieError
from tinyeie.sw.host.ports import find_port


def port(device, vid=None, pid=None, location=None, description="n/a"):
    return SimpleNamespace(device=device, vid=vid, pid=pid, location=location,
                           description=description)


ICEBREAKER = [port("/dev/ttyUSB0", 0x0403, 0x6010, "1-2:1.0", "iCEBreaker V1.0e"),
              port("/dev/ttyUSB1", 0x0403, 0x6010, "1-2:1.1", "iCEBreaker V1.0e")]
ULX3S = [port("/dev/ttyUSB2", 0x0403, 0x6015, "1-3:1.0", "FT231X USB UART")]
OTHER = [port("/dev/ttyS0"), port("/dev/ttyACM0", 0x2341, 0x0043, "1-4:1.0", "Arduino Uno")]


def test_the_icebreaker_uart_is_its_second_interface():
    assert find_port(ports=OTHER + ICEBREAKER) == "/dev/ttyUSB1"
    assert find_port("icebreaker", ports=ICEBREAKER + ULX3S) == "/dev/ttyUSB1"


def test_the_ulx3s():
    assert find_port(ports=OTHER + ULX3S) == "/dev/ttyUSB2"
    assert find_port("ulx3s", ports=ICEBREAKER + ULX3S) == "/dev/ttyUSB2"


def test_no_board_lists_the_ports_seen():
    with pytest.raises(TinyeieError) as error:
        find_port(ports=OTHER)
    message = str(error.value)
    assert "no board found on USB" in message and "FTDI FT2232H (0403:6010, interface 1)" in message
    assert "/dev/ttyS0" in message and "/dev/ttyACM0 2341:0043 (Arduino Uno)" in message
    assert "--port" in message
    with pytest.raises(TinyeieError, match="serial ports seen: none"):
        find_port(ports=[])


def test_two_boards_need_a_choice():
    with pytest.raises(TinyeieError, match=r"several boards found \(/dev/ttyUSB1 \(icebreaker or "
                                           r"ecpix5\), /dev/ttyUSB2 \(ulx3s\)\)"):
        find_port(ports=ICEBREAKER + ULX3S)


def test_the_upduino_needs_its_adapter_named():
    with pytest.raises(TinyeieError, match="USB-serial adapter of your choice.*--port"):
        find_port("upduino3", ports=OTHER)
    with pytest.raises(TinyeieError, match="unknown board 'de10'"):
        find_port("de10", ports=OTHER)
