"""`tinyeie program`: write a built bitstream and model to a board with iceprog or
openFPGALoader (Debian packages ``fpga-icestorm`` and ``openfpgaloader``)."""

import os
import shutil
import subprocess
from pathlib import Path

from tinyeie.boards.boards import MODEL_FLASH_OFFSET
from tinyeie.contract.errors import TinyeieError

__all__ = ["program_commands", "program_board"]

_TOOLS = {"iceprog": ("ICEPROG", "fpga-icestorm"),
          "openFPGALoader": ("OPENFPGALOADER", "openfpgaloader")}


def _tool(name):
    variable, package = _TOOLS[name]
    path = shutil.which(os.environ.get(variable) or name)
    if not path:
        raise TinyeieError(f"{os.environ.get(variable) or name} is not installed (or not "
                           f"executable): `apt install {package}` (Debian), or set {variable} "
                           f"to its path")
    return path


def program_commands(board, build_dir, *, model_only=False, flash=False):
    """The commands (argument lists) that program ``board`` from ``build_dir``."""
    build_dir = Path(build_dir)
    info = build_dir / "build.json"
    if not info.is_file():
        raise TinyeieError(f"{build_dir} holds no build (no build.json): run `tinyeie build "
                           f"--board {board.name} MODEL` first")
    if board.programmer[0] == "iceprog":
        tool = _tool("iceprog")
        if model_only:
            return [[tool, "-o", f"{MODEL_FLASH_OFFSET // 1024}k",
                     str(build_dir / "model" / "model.bin")]]
        return [[tool, str(build_dir / "flash.bin")]]
    tool = _tool("openFPGALoader")
    if model_only:
        raise TinyeieError(f"{board.name} carries its model in the bitstream: program the "
                           f"bitstream, or load a model over the UART (tinyeie infer --load)")
    bitstream = next(build_dir.glob("*.bit"), None)
    if bitstream is None:
        raise TinyeieError(f"no bitstream (*.bit) in {build_dir}")
    return [[tool, *board.programmer[1:], *(["--write-flash"] if flash else []),
             str(bitstream)]]


def program_board(board, build_dir, **kwargs):
    """Run :func:`program_commands`; a failing tool becomes one clear error."""
    for command in program_commands(board, build_dir, **kwargs):
        print(" ".join(command))
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            said = (result.stderr or result.stdout).strip().splitlines()
            raise TinyeieError(f"{Path(command[0]).name} could not program the {board.name}: "
                               f"{said[-1] if said else 'no output'} (is the board plugged in "
                               f"and are you allowed to use its USB device?)")
