"""Run a board's whole design (:class:`~tinyeie.boards.top.BoardTop`) on Verilator: boot from
the SPI flash model or from block RAM, then the UART protocol, as `tinyeie sim --board` and the
board regression do."""

import tempfile
from pathlib import Path

import numpy as np

from tinyeie.sim.harness import build, run
from tinyeie.sw.compiler.image import write_image

__all__ = ["SIM_DIVISOR", "SIM_TIMEOUT", "board_build", "run_board"]

SIM_DIVISOR = 8            # clock cycles per UART bit in simulation (the board's is ~200)
SIM_TIMEOUT = 1 << 12      # the protocol's frame timeout in simulation (the board's is 2**20)
SIM_PERIOD_NS = 20         # a 50 MHz clock: the SPI flash model keeps real time
RTL_FLASH_BYTES = 1 << 17  # the RTL flash model's size: room for any image of a 4-PE iCE40


def board_build(board, config, packed, rtl_flash=False, waves=False, divisor=SIM_DIVISOR,
                timeout=SIM_TIMEOUT):
    """The Verilator build of ``board``'s top, its UART at ``divisor`` clock cycles a bit and
    its frame timeout ``timeout`` cycles; ECP5 boards carry ``packed`` in block RAM.

    ``rtl_flash``: the flash is :class:`~tinyeie.sim.flash_rtl.RTLFlash`, in the design (fast),
    rather than the cocotb model on the pins (exact about the flash's timing, slow). ``waves``
    as for :func:`~tinyeie.sim.harness.build`.
    """
    from tinyeie.boards.boards import MODEL_FLASH_OFFSET
    from tinyeie.boards.top import BoardTop
    from tinyeie.sim.flash_rtl import SimBoard

    baked = packed if board.model_in_bitstream else None

    def design():
        top = BoardTop(config, divisor=divisor, flash_boot=board.flash_boot,
                       packed=baked, timeout_cycles=timeout, clock_hz=1e9 / SIM_PERIOD_NS,
                       **board.link_options())
        return SimBoard(top, RTL_FLASH_BYTES, MODEL_FLASH_OFFSET) if rtl_flash else top
    timing = "" if (divisor, timeout) == (SIM_DIVISOR, SIM_TIMEOUT) else f"_d{divisor}t{timeout}"
    link = board.link_options()
    link = f"_s{int(link['sparse'])}r{link['rx_buffer']}c{int(link['check_model'])}"
    return build(design, f"board_{board.name}{config.pes}" + ("_rtlflash" if rtl_flash else "")
                 + timing + link, waves=waves or None)


def run_board(board, config, packed, inputs, testcase="board_classifies", *, flash_image=None,
              args=None, seed=1, rtl_flash=False, sim=None, divisor=SIM_DIVISOR,
              timeout=SIM_TIMEOUT, waves=False, run_dir=None):
    """Run one cocotb test of :mod:`tinyeie.sim.cocotb_board`; returns its output arrays.

    The flash (flash-boot boards) holds ``flash_image`` (default: the image of ``packed``);
    ``rtl_flash`` and ``waves`` as for :func:`board_build`. ``sim``: another build of the board
    to run (a gate-level one, :mod:`tinyeie.sim.gate`), whose UART ``divisor`` and frame
    ``timeout`` are given. ``run_dir`` as for :func:`~tinyeie.sim.harness.run` (where the
    waveform goes).
    """
    if sim is None:
        sim = board_build(board, config, packed, rtl_flash and board.flash_boot, waves,
                          divisor, timeout)
    with tempfile.TemporaryDirectory(prefix="tinyeie-board-") as tmp:
        tmp = Path(tmp)
        np.save(tmp / "inputs.npy", np.asarray(inputs, dtype=np.int64))
        spec = {"inputs": str(tmp / "inputs.npy"), "output": str(tmp / "out.npz"),
                "divisor": divisor, "period_ns": SIM_PERIOD_NS,
                "answer_cycles": 2 * timeout + 20 * 2048 * divisor + 100_000,
                "boot_polls": 200, "poll_cycles": 20_000, "settle_cycles": 3 * timeout}
        if board.flash_boot:
            (tmp / "flash.bin").write_bytes(flash_image if flash_image is not None
                                            else write_image(packed))
            spec["flash"] = str(tmp / "flash.bin")
            spec["rtl_flash"] = bool(rtl_flash)
        spec.update(args or {})
        for key, value in list(spec.items()):
            if isinstance(value, bytes):          # images for the UART tests
                (tmp / f"{key}.bin").write_bytes(value)
                spec[key] = str(tmp / f"{key}.bin")
        run(sim, "tinyeie.sim.cocotb_board", testcase=testcase, seed=seed, args=spec,
            run_dir=run_dir)
        out = tmp / "out.npz"
        if not out.exists():
            return None
        with np.load(out) as data:
            return {key: data[key] for key in data.files}
