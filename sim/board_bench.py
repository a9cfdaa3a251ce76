"""Test images through a board's whole design on Verilator: what `tinyeie sim --board` prints.

The same measurements as :func:`tinyeie.sim.engine_bench.simulate_engine`, but through the board
top: the model boots from the SPI flash model (iCE40 boards) or sits in block RAM (ECP5), and
every image goes over the UART as an INFER frame.
"""

import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from tinyeie.boards.boards import DEFAULT_BAUD
from tinyeie.contract.protocol import ErrorCode, Request
from tinyeie.sim.board_run import SIM_TIMEOUT, run_board
from tinyeie.sim.engine_bench import cycle_figures, data_inputs
from tinyeie.sim.mismatch import first_mismatch
from tinyeie.sim.waves import keep_waves, wave_format
from tinyeie.sw.compiler.compile import golden_logits
from tinyeie.sw.compiler.golden import classify
from tinyeie.sw.host.frames import encode_frame

__all__ = ["simulate_board", "link_figures"]


def _follow(path, bar, stop):
    """Move ``bar`` to the count the cocotb side writes into ``path``, until ``stop``."""
    while not stop.wait(0.5):
        try:
            done = int(path.read_text() or 0)
        except (OSError, ValueError):
            continue
        bar.update(done - bar.n)


def link_figures(board, baud, divisor, out):
    """The link's speed on a run: the clock cycles from the first request byte to the last
    answer byte, and images per second at the board's clock.

    ``images_per_second``: the run's images over its time, as measured. ``images_per_second_long``:
    a long run's, computed from the run's steady state (the mean time between successive
    answers, which leaves out the first request's latency). ``images_per_second_wire``: the
    ceiling the request frames' bytes alone set (10 bits a byte at the baud rate)."""
    clock_hz = board.clock_output_hz()
    answered = out["answered_at"]
    requests = out["request_bytes"]
    figures = {
        "baud": baud,
        "uart_divisor": divisor,
        "uart_baud_actual": round(clock_hz / divisor),
        "clock_mhz": clock_hz / 1e6,
        "request_bytes_mean": float(requests.mean()),
        "link_cycles": int(answered[-1]),
        "images_per_second": len(answered) * clock_hz / float(answered[-1]),
        "images_per_second_wire": clock_hz / (10 * divisor * float(requests.mean())),
    }
    if len(answered) > 1:
        figures["images_per_second_long"] = clock_hz / float(np.diff(answered).mean())
    return figures


def _link_label(board, link_v1):
    """How the host sent the INFERs: the board's protocol options decide (the iCE40 boards take
    neither INFER-SPARSE nor a request sent ahead)."""
    if link_v1:
        return "version 1: dense, one at a time"
    options = board.link_options()
    return (f"{'sparse where shorter' if options['sparse'] else 'dense'}, "
            f"{'ahead' if options['rx_buffer'] else 'one at a time'}")


def simulate_board(board, packed, images, *, data=None, progress=True, netlist=None,
                   waves=None, baud=DEFAULT_BAUD, link_v1=False):
    """Run the first ``images`` test inputs of ``data`` (default MNIST) through ``board``'s
    design with the packed model ``packed`` (its config is the board's engine); a dict of the
    measurements, as :func:`~tinyeie.sim.engine_bench.simulate_engine` gives them.

    ``netlist``: simulate this gate-level netlist of the board (:mod:`tinyeie.sim.gate`; built
    with ``packed`` on ECP5, where the model is in its block RAM) instead of the RTL, at the
    board's own UART divisor and frame timeout. ``waves``: a file (``.fst`` or ``.vcd``) for
    the RTL's waveforms. The UART runs at the board's real bit time for ``baud``, so the
    images per second (:func:`link_figures`) are the board's. The host sends INFER-SPARSE
    frames where shorter and sends ahead where the board allows (as
    :class:`~tinyeie.sw.host.board.Board`); ``link_v1``: dense INFERs, one at a time, as
    protocol version 1 had it."""
    cfg = packed.config
    divisor = board.uart_divisor(baud)
    # the frame timeout only has to outlast a byte: short, so bad-frame waits stay short
    sim_options = {"rtl_flash": True, "divisor": divisor,
                   "timeout": max(SIM_TIMEOUT, 64 * divisor)}
    # the netlist's only reset is the PLL's lock
    reset = {"reset": None} if netlist is not None else {}
    if netlist is not None:
        from tinyeie.sim.gate import board_gate_build, gate_timing
        divisor, timeout = gate_timing(board, baud)
        sim_options.update(sim=board_gate_build(board, netlist), divisor=divisor,
                           timeout=timeout)
    elif waves is not None:
        sim_options.update(waves=wave_format(waves))
    inputs, labels = data_inputs(packed, images, data)
    with tempfile.TemporaryDirectory(prefix="tinyeie-progress-") as tmp:
        counter = Path(tmp) / "done"
        bar = tqdm(total=images, unit="image", desc=f"{board.name} (boot, then UART)",
                   disable=not progress)
        stop = threading.Event()
        follower = threading.Thread(target=_follow, args=(counter, bar, stop), daemon=True)
        follower.start()
        started = time.monotonic()
        try:
            args = {"progress": str(counter), "link": not link_v1, **reset}
            out = run_board(board, cfg, packed, inputs, args=args,
                            run_dir=Path(tmp) / "run" if waves else None, **sim_options)
        finally:
            stop.set()
            follower.join()
            bar.update(images - bar.n)
            bar.close()
        written = keep_waves(Path(tmp) / "run", waves) if waves else None
    golden = golden_logits(packed, inputs)
    figures = cycle_figures(packed, inputs, out["cycles"])
    del figures["cycles_max"]
    stats = {
        "board": board.name,
        "images": images,
        "pes": cfg.pes,
        "mismatches": int((out["logits"] != golden).any(axis=1).sum()),
        "first_mismatch": first_mismatch(packed, inputs, out["logits"], golden),
        "class_mismatches": int((out["classes"] != classify(golden)).sum()),
        "errors": int((out["classes"] != labels).sum()),
        **figures,
        **link_figures(board, baud, divisor, out),
        "link": _link_label(board, link_v1),
        "boot": "SPI flash" if board.flash_boot else "block RAM from the bitstream",
        "level": "gate" if netlist is not None else "rtl",
        **({"netlist": str(netlist)} if netlist is not None else {}),
        "simulation_seconds": round(time.monotonic() - started, 1),
        "config": cfg.as_dict(),
    }
    if written is not None:
        stats["waves"] = str(written)
    if netlist is not None:
        stats["bad_frame"] = _bad_frame_answered(board, packed, inputs[:1], golden[0],
                                                 sim_options, reset)
    return stats


def _bad_frame_answered(board, packed, inputs, logits, sim_options, reset):
    """Boot the board's build again, send a STATUS whose CRC is damaged, and check that it is
    answered BAD-CRC and that an INFER is served right after (raises if not); what was shown."""
    raw = bytearray(encode_frame(Request.STATUS, b""))
    raw[-1] ^= 0x01
    case = {"what": "a STATUS with a damaged CRC", "raw": bytes(raw).hex(), "quiet": 0,
            "code": int(ErrorCode.BAD_CRC), "type": int(Request.STATUS)}
    run_board(board, packed.config, packed, inputs, "board_answers_bad_frames",
              args={"bad_frames": [case], "good_logits": [int(v) for v in logits],
                    # no timeout is involved: the receiver is idle once it has answered
                    "settle_cycles": 1000, **reset},
              **sim_options)
    return f"{case['what']} answered BAD-CRC, then an INFER served with the golden logits"
