"""`tinyeie build`: a board's bitstream, model image and flash image, with the resources used.

The build folder (``build/<board>`` by default) gets the packed model (``model/``: model.bin,
manifest.json, mem/*.hex), the board top's Verilog (``top.v``), the bitstream and the tools'
logs; on flash-boot boards also ``flash.bin``, the bitstream and the model image at
:data:`~tinyeie.boards.boards.MODEL_FLASH_OFFSET` in one file, ready for the SPI flash.
"""

import json
from dataclasses import replace
from pathlib import Path

from amaranth.back import verilog

from tinyeie.boards.boards import DEFAULT_BAUD, MODEL_FLASH_OFFSET
from tinyeie.boards.toolchain import build_bitstream, netlist_path, read_utilisation, synthesize
from tinyeie.boards.top import BoardTop, PlatformTop
from tinyeie.contract.errors import TinyeieError
from tinyeie.sw.compiler.compile import is_model_image, packed_model
from tinyeie.sw.compiler.image import fit_to_engine, load_image, save_packed
from tinyeie.sw.outputs import write_bytes, write_text

__all__ = ["packing_config", "board_packed", "build_board", "synthesize_board", "flash_image",
           "DESIGN_NAME"]

DESIGN_NAME = "tinyeie"


def flash_image(bitstream, model, offset=MODEL_FLASH_OFFSET):
    """The bitstream at 0, the model image at ``offset``, erased flash (0xFF) between."""
    if len(bitstream) > offset:
        raise TinyeieError(f"the bitstream ({len(bitstream):,} bytes) runs past the model's "
                           f"flash offset {offset:#x}")
    return bitstream + b"\xff" * (offset - len(bitstream)) + model


def packing_config(board, pes=None):
    """The engine a model is packed for on ``board``: its default one, except that an ECP5
    build sizes the PE memories to the model afterwards, so it packs without their bound."""
    cfg = board.engine_config(pes)
    return replace(cfg, pe_depth=1 << 16) if board.family == "ecp5" else cfg


def board_packed(board, model, pes=None, data=None):
    """The model at path ``model`` (or a PackedModel) for ``board``'s engine (with ``pes`` PEs
    if given): a model image as it is, a compressed model packed (once) for the board,
    calibrated on ``data`` (a :class:`~tinyeie.sw.data.Dataset`, default MNIST). The packed
    model's config is the engine to build: ECP5 PE memories are sized to the model."""
    cfg = board.engine_config(pes)
    if hasattr(model, "pe_words") or is_model_image(model):
        packed = model if hasattr(model, "pe_words") else load_image(model)
        if pes is None and packed.config.pes != cfg.pes:
            cfg = board.engine_config(packed.config.pes)
    else:
        # ECP5 sizes its PE memories to the model: pack without a bound, size, then fit.
        packed = packed_model(model, packing_config(board, pes), data)
    cfg = board.engine_config(cfg.pes, pe_words=max(len(w) for w in packed.pe_words))
    return fit_to_engine(packed, cfg)


def synthesize_board(board, packed, build_dir, *, baud=DEFAULT_BAUD):
    """Synthesise ``board``'s design with the packed model as ``tinyeie build`` does (ECP5:
    the model in block RAM), without place and route; returns the netlist's path."""
    baked = packed if board.model_in_bitstream else None
    top = PlatformTop(board, packed.config, baked, baud)
    return synthesize(board.make_platform(), top, DESIGN_NAME, build_dir)


def build_board(board, model, *, pes=None, build_dir=None, baud=DEFAULT_BAUD, progress=True,
                data=None):
    """Build ``board`` with the model at path ``model`` (a model image, or a compressed model
    to pack, calibrated on ``data``); returns the JSON fields."""
    build_dir = Path(build_dir or Path("build") / board.name)
    divisor = board.uart_divisor(baud)         # a rate the board cannot run fails first
    packed = board_packed(board, model, pes, data)
    cfg = packed.config
    image_path, _ = save_packed(packed, build_dir / "model")
    baked = packed if board.model_in_bitstream else None
    top = PlatformTop(board, cfg, baked, baud)

    clock_hz = top.clock_hz()
    write_text(build_dir / "top.v", verilog.convert(
        BoardTop(cfg, divisor=divisor, flash_boot=board.flash_boot, **board.link_options(),
                 packed=baked, clock_hz=clock_hz), name="tinyeie_board", emit_src=False))
    result = build_bitstream(board.make_platform(), top, DESIGN_NAME, build_dir,
                             nextpnr_opts="--timing-allow-fail", progress=progress)
    use = read_utilisation(result.report, result.family)
    fields = {
        "board": board.name,
        "pes": cfg.pes,
        "config": cfg.as_dict(),
        **{k: v for k, v in use.items() if v is not None},
        "clock_mhz": clock_hz / 1e6,
        "baud": baud,
        "uart_divisor": divisor,
        "uart_baud_actual": round(clock_hz / divisor),
        "timing_met": use["fmax_mhz"] >= clock_hz / 1e6,
        "bitstream": str(result.bitstream),
        "model_image": str(image_path),
        "model_in_bitstream": board.model_in_bitstream,
        "verilog": str(build_dir / "top.v"),
        "netlist": str(netlist_path(build_dir, DESIGN_NAME)),
        "build_dir": str(build_dir),
        "build_seconds": round(result.seconds.get("total", 0.0), 1),
    }
    if board.flash_boot:
        flash = build_dir / "flash.bin"
        write_bytes(flash, flash_image(result.bitstream.read_bytes(), image_path.read_bytes()))
        fields["flash_image"] = str(flash)
        fields["model_flash_offset"] = MODEL_FLASH_OFFSET
    write_text(build_dir / "build.json", json.dumps(fields, indent=2) + "\n")
    return fields
